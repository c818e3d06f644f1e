"""`ResumeCheckHook`: `--resume` continues a run only from a checkpoint that can continue it.

MMEngine 0.10.7's `Runner.resume` fails on a weights-only file with a bare `KeyError:
'message_hub'` (mmyolo#470, mmdet3d#2812), and on a file without optimizer or scheduler state it
goes on without a word: AdamW's moments start from zero and the lr schedule from its first step
in the middle of a run (moco-v3#29 is the same confusion the other way round). Such files are
common: extracted backbones, official releases, our `best_knn_top1.pth` (written without
optimizer). It also pairs the config's lr schedulers with the checkpoint's by position and
drops the surplus when their counts differ.

This hook, registered by tools/train.py for every run, looks at the checkpoint before
`Runner.resume` reads it and stops with an error that names what is missing and the two ways
on: `load_from` (the weights only, a new schedule) or another checkpoint of the run. A plain
`load_from` is not checked here: it restores weights only, by design.
"""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


class NotResumableError(RuntimeError):
    """A checkpoint given to --resume lacks state an exact continuation needs."""


def scheduler_count(schedulers) -> int:
    """How many lr / momentum schedulers a Runner (list, or dict per optimizer) or a checkpoint
    holds."""
    if isinstance(schedulers, dict):
        return sum(len(s) for s in schedulers.values())
    return len(schedulers or [])


def missing_training_state(checkpoint: dict, needs_schedulers: bool = True) -> list:
    """The parts an exact continuation needs that `checkpoint` lacks ([] for a full training
    checkpoint): counters, message hub, optimizer, and scheduler state when the run has
    schedulers."""
    meta = checkpoint.get('meta') or {}
    return [name for name, present in (
        ('meta.epoch / meta.iter', 'epoch' in meta and 'iter' in meta),
        ('message_hub', 'message_hub' in checkpoint),
        ('optimizer', 'optimizer' in checkpoint),
        ('param_schedulers', 'param_schedulers' in checkpoint or not needs_schedulers),
    ) if not present]


@HOOKS.register_module()
class ResumeCheckHook(Hook):
    """Checks the checkpoint of a resume (not of a load_from) in `after_load_checkpoint`."""

    priority = 'VERY_HIGH'  # before any other hook reads the checkpoint

    def after_load_checkpoint(self, runner, checkpoint):
        # Runner.load_or_resume: resume=True and nothing loaded yet means this load is the resume
        if not getattr(runner, '_resume', False) or getattr(runner, '_has_loaded', False):
            return
        where = runner._load_from or f'the newest checkpoint in {runner.work_dir}'
        missing = missing_training_state(checkpoint, bool(runner.param_schedulers))
        if missing:
            raise NotResumableError(
                f'--resume {where}: the checkpoint has no {", ".join(missing)}, so it cannot '
                f'continue a run exactly (it holds weights only: an extracted backbone, a '
                f'release, a best_*.pth copy). To start a new schedule from its weights, drop '
                f'--resume and pass --cfg-options load_from={where}; to continue the run, '
                f'--resume one of the epoch_N.pth / iter_N.pth checkpoints it wrote.')
        wanted = scheduler_count(runner.param_schedulers)
        found = scheduler_count(checkpoint['param_schedulers'])
        if runner.param_schedulers and wanted != found:
            raise NotResumableError(
                f'--resume {where}: the config has {wanted} parameter schedulers, the checkpoint '
                f'{found}; MMEngine would pair them by position and leave the rest at their '
                f'start. Resume with the param_scheduler the run was started with.')
