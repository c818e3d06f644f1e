"""What the long-run safety costs: the non-finite guard per step, checkpoints inside epochs, and
the per-step / per-sample seeding behind exact resume.

    python tools/overhead/benchmark_long_runs.py [--config configs/mimco/vit-s_100e.py]
        [--batch 8] [--iters 10] [--interval-minutes 20]

The same model and batch are stepped alternately with a plain MMEngine OptimWrapper and with one
guarded by NonFiniteGuardHook (A, B, A, B, ...; median step time, so drift hits both alike).
A full resumable checkpoint (model, teacher, optimizer state) is written with the atomic writer
to time one save; its share of training time is save time / checkpoint interval. Then the CRC
check every load makes of that file (mimco_mm/compat/checkpoint_integrity.py) is timed.
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import mimco_mm  # noqa: E402,F401
from mimco_mm.compat.checkpoint_integrity import verify_checkpoint_file  # noqa: E402
from tools.speed.benchmark_step import build, device_name, make_batch, timed  # noqa: E402


class _Runner:
    """The few Runner attributes NonFiniteGuardHook reads."""

    def __init__(self, model, wrapper, work_dir):
        from mmengine.logging import MessageHub
        self.model, self.optim_wrapper, self.work_dir = model, wrapper, work_dir
        self.message_hub = MessageHub.get_instance('benchmark_long_runs')
        self.iter = self.epoch = 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='configs/mimco/vit-s_100e.py')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--interval-minutes', type=float, default=20)
    parser.add_argument('--dtype', choices=['bfloat16', 'float32'], default='bfloat16')
    args = parser.parse_args(argv)
    from mmengine.optim import OptimWrapper
    from mmengine.runner.checkpoint import save_checkpoint

    from mimco_mm.engine import NonFiniteGuardHook
    from mimco_mm.seeding import SAMPLE, seed_everything
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    dtype = None if args.dtype == 'float32' else getattr(torch, args.dtype)

    with tempfile.TemporaryDirectory() as tmp:
        model, optimizer, cfg = build(args.config, tmp, device)
        images, samples = make_batch(cfg, args.batch, device)
        plain = OptimWrapper(optimizer, clip_grad=dict(max_norm=3.0))
        guarded = OptimWrapper(optimizer, clip_grad=dict(max_norm=3.0))
        guard = NonFiniteGuardHook()
        runner = _Runner(model, guarded, tmp)
        guard._install(guarded, runner)

        def step(wrapper, hook=None):
            if hook is not None:
                hook.before_train_iter(runner, 0)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                losses = model(images, samples, mode='loss')
            wrapper.update_params(sum(v for k, v in losses.items() if k.startswith('loss')))
            if hook is not None:
                hook.after_train_iter(runner, 0, outputs=losses)

        runs = {'plain': lambda: step(plain), 'guarded': lambda: step(guarded, guard)}
        for _ in range(args.warmup):
            for fn in runs.values():
                fn()
        times = {name: [] for name in runs}
        for i in range(args.iters):
            for name, fn in runs.items():
                times[name].append(timed(fn, device))
            print(f'[{i + 1}/{args.iters}] ' + '  '.join(
                f'{n} {t[-1]:.3f}s' for n, t in times.items()), flush=True)
        step_s = statistics.median(times['plain'])
        guard_ratio = statistics.median(times['guarded']) / step_s

        path = osp.join(tmp, 'iter_1.pth')
        checkpoint = dict(state_dict=model.state_dict(), optimizer=optimizer.state_dict(),
                          meta=dict(iter=1))
        saves = [timed(lambda: save_checkpoint(checkpoint, path), device) for _ in range(3)]
        save_s, size = statistics.median(saves), os.path.getsize(path) / 2**20
        verify_s = statistics.median(timed(lambda: verify_checkpoint_file(path), device)
                                     for _ in range(3))

    start = time.perf_counter()
    for i in range(1000):
        seed_everything(SAMPLE, 0, 0, 1, i, devices=False)
    seed_us = (time.perf_counter() - start) * 1e3

    interval_s = 60 * args.interval_minutes
    what = f'{args.config}, {args.batch} images, {args.dtype}, {device_name(device)}'
    print(f'\nlong-run safety overhead, {what}, median of {args.iters} alternating steps')
    print('| what | cost | share of training time |')
    print('|---|---|---|')
    print(f'| train step, plain OptimWrapper | {step_s:.3f} s | - |')
    print(f'| NonFiniteGuardHook (same run) | {guard_ratio:.3f}x the plain step | '
          f'{100 * (guard_ratio - 1):+.1f} % |')
    print(f'| one resumable checkpoint ({size:.0f} MiB, atomic write + fsync) | {save_s:.2f} s | '
          f'{100 * save_s / interval_s:.3f} % at one per {args.interval_minutes:g} min |')
    print(f'| CRC check of that checkpoint before it is loaded (page cache warm) | '
          f'{verify_s:.2f} s | once per resume, load_from or Pretrained load |')
    print(f'| seeding one sample (SeededDataset) | {seed_us:.1f} us | '
          f'{100 * seed_us * 1e-6 * args.batch / step_s:.3f} % of a step of {args.batch}, '
          f'spread over the data workers |')
    return dict(step_s=step_s, guard_ratio=guard_ratio, save_s=save_s, verify_s=verify_s,
                seed_us=seed_us)


if __name__ == '__main__':
    main()
