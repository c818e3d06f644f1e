"""`train_dataloader.num_workers=0` (debugging, tests) fails with PyTorch's "persistent_workers
option needs num_workers > 0" because every config sets `persistent_workers=True` (and likewise
for `prefetch_factor`, which the one-GPU config sets). MMEngine's `Runner.build_dataloader` now
drops both when there are no workers; every other case is passed through unchanged."""

WORKER_ONLY = ('persistent_workers', 'prefetch_factor')  # PyTorch refuses them without workers


def install():
    from mmengine.runner import Runner
    original = Runner.build_dataloader
    if getattr(original, '_mimco_fix', False):
        return

    def build_dataloader(dataloader, seed=None, diff_rank_seed=False):
        if isinstance(dataloader, dict) and not dataloader.get('num_workers', 0):
            dataloader = {k: v for k, v in dataloader.items() if k not in WORKER_ONLY}
        return original(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)

    build_dataloader._mimco_fix = True
    build_dataloader.__doc__ = original.__doc__
    Runner.build_dataloader = staticmethod(build_dataloader)
