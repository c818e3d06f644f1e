"""Train any config of mimco_mm, mmpretrain, mmdet or mmseg with MMEngine's Runner.

    python tools/train.py CONFIG [--work-dir D] [--resume [CKPT]] [--amp] [--auto-scale-lr]
        [--hang-minutes M] [--hang-exit] [--overwrite] [--cfg-options k=v ...]
    python tools/train.py CONFIG [same args] --print-work-dir   # where the run writes, for scripts
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # the repo root

from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mimco_mm  # noqa: E402,F401  stack fixes (safe checkpoint loading) for every library
from mimco_mm.engine.elastic_restart import resume_after_restart  # noqa: E402
from mimco_mm.engine.hang_watchdog import disarm as disarm_hang_watchdog  # noqa: E402
from tools._common import (adapt_to_cpu_processes, add_runner_args,  # noqa: E402
                           close_process_group, default_work_dir, load_config,
                           parse_runner_args, run_process)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/<config path under configs/>)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true', help='mixed precision (AmpOptimWrapper)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by actual batch / auto_scale_lr.base_batch_size')
    parser.add_argument('--hang-minutes', type=float, default=30.0,
                        help="when no iteration finishes for this long, print every thread's "
                        "stack, and again after each further period (0: off; a config's own "
                        "HangWatchdogHook wins)")
    parser.add_argument('--hang-exit', action='store_true',
                        help='after that print, end the process (status 1) instead of waiting')
    parser.add_argument('--overwrite', action='store_true',
                        help='start a new run in a work dir that holds checkpoints of another '
                        'one (refused without this: pass --resume to continue that run)')
    parser.add_argument('--tensorboard', action='store_true',
                        help='also log the scalars to TensorBoard (<work dir>/<timestamp>/'
                        'vis_data/); needs the tensorboard package')
    parser.add_argument('--print-work-dir', action='store_true',
                        help='print the work dir these arguments give, and exit (for scripts)')
    add_runner_args(parser)
    return parse_runner_args(parser, argv)


def build_config(args):
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or default_work_dir(args.config)
    if args.amp:
        wrapper = cfg.optim_wrapper
        if wrapper.get('type', 'OptimWrapper') != 'AmpOptimWrapper':
            wrapper.type = 'AmpOptimWrapper'
            wrapper.setdefault('loss_scale', 'dynamic')
    if args.tensorboard:
        add_tensorboard(cfg)
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise ValueError(f'{args.config} has no auto_scale_lr.base_batch_size to scale from')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    accumulate = (cfg.get('optim_wrapper') or {}).get('accumulative_counts', 1)
    if (cfg.get('model') or {}).get('type') == 'MoCoV3' and accumulate > 1:
        # (MimCo refuses it in its train step, mimco_mm/models/micro_batches.py)
        raise ValueError(f'{args.config}: accumulative_counts={accumulate} would leave MoCo v3\'s '
                         f'contrastive loss the negatives of one accumulated part only (batch - '
                         f'1 per process instead of {accumulate} x that): keep the total batch '
                         f'on more processes, or lower it with --auto-scale-lr')
    adapt_to_cpu_processes(cfg, args.launcher)
    return cfg


def add_tensorboard(cfg):
    """Add MMEngine's TensorboardVisBackend beside the config's own backends (once); without
    the tensorboard package, a SystemExit that says how to install it, before any work."""
    import importlib.util
    if importlib.util.find_spec('tensorboard') is None:
        raise SystemExit('--tensorboard: the tensorboard package is not installed '
                         '(pip install tensorboard), or drop --tensorboard')
    visualizer = cfg.setdefault('visualizer', dict(type='Visualizer'))
    backends = list(visualizer.get('vis_backends') or [dict(type='LocalVisBackend')])
    if not any(b.get('type') == 'TensorboardVisBackend' for b in backends):
        backends.append(dict(type='TensorboardVisBackend'))
    visualizer['vis_backends'] = backends


def refuse_to_start_over(cfg, overwrite=False, environ=None):
    """Stop (SystemExit with the reason) a new run whose work dir holds checkpoints of an
    earlier one. Started without --resume there, the new run would point `last_checkpoint`
    at itself, so a later `--resume` continues it instead of the earlier run, and replace the
    earlier run's files of the same names as it reaches them (epoch_10.pth, and
    best_knn_top1.pth after its first epoch); forgetting --resume after a crash is the
    usual way in. Under torchrun's agent, files this launch wrote are a restart's to take
    (mimco_mm/engine/elastic_restart.py) and do not count."""
    from mimco_mm.compat.atomic_checkpoint import resumable_checkpoints
    from mimco_mm.compat.elastic_restart_store import RESTART_COUNT_ENV
    from mimco_mm.engine.elastic_restart import launch_time
    environ = os.environ if environ is None else environ
    if cfg.get('resume') or overwrite or not osp.isdir(cfg.work_dir):
        return
    earlier = resumable_checkpoints(cfg.work_dir)  # newest first
    launched = launch_time(environ) if RESTART_COUNT_ENV in environ else None
    if launched is not None:
        earlier = [path for path in earlier if osp.getmtime(path) < launched]
    if earlier:
        more = f' and {len(earlier) - 1} more' if len(earlier) > 1 else ''
        raise SystemExit(
            f'[train] {cfg.work_dir} holds checkpoints of an earlier run ({earlier[0]}{more}), '
            f'and this run was not told to continue it. Pass --resume to continue that run, '
            f'--work-dir for a new run elsewhere, or --overwrite to start a new run in this '
            f'folder anyway (last_checkpoint will then name the new run\'s files, and files of '
            f'the same name are replaced)')


def batch_lr_warning(cfg, world_size=None):
    """The warning to print when the effective batch differs from the one the config's lr was
    set for and auto-scaling is off (None when they agree). The lr-vs-GPU-count rule: keep the
    config's total batch, or pass --auto-scale-lr."""
    auto = cfg.get('auto_scale_lr') or {}
    base = auto.get('base_batch_size')
    loader = cfg.get('train_dataloader') or {}
    if not base or auto.get('enable') or not loader.get('batch_size'):
        return None
    if world_size is None:
        world_size = int(os.environ.get('WORLD_SIZE') or os.environ.get('SLURM_NTASKS') or 1)
    accumulate = (cfg.get('optim_wrapper') or {}).get('accumulative_counts', 1)
    effective = loader['batch_size'] * world_size * accumulate
    if effective == base:
        return None
    return (f'WARNING: effective batch {effective} ({loader["batch_size"]} per process x '
            f'{world_size} processes x {accumulate} accumulation) differs from the '
            f'{base} this config\'s lr was set for, and auto-scaling is off: results will not be '
            f'comparable to the recipe. Pass --auto-scale-lr (lr x {effective}/{base}) or set '
            f'train_dataloader.batch_size={base // world_size if base % world_size == 0 else "?"}'
            f' (MimCo on fewer GPUs than that fits: with model.micro_batches, docs/pretrain.md '
            f'"Fewer GPUs: micro-batches").')


def main(argv=None):
    """Train; returns the Runner (the demo and the tests call this in-process)."""
    args = parse_args(argv)
    cfg = build_config(args)
    if args.print_work_dir:
        print(cfg.work_dir)
        return None
    refuse_to_start_over(cfg, args.overwrite)  # before the Runner dumps its config there
    warning = batch_lr_warning(cfg)
    if warning:
        print(f'\n{"!" * 100}\n{warning}\n{"!" * 100}\n', file=sys.stderr, flush=True)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    # torchrun --max-restarts starts the workers again with this same command line: continue
    # from the checkpoint this launch wrote last, not from iteration 0 (all processes alike)
    restart = resume_after_restart(runner)
    if restart and runner.rank == 0:
        print(f'[train] {restart}', file=sys.stderr, flush=True)
    # every checkpoint records its backbones' architecture, which every load then checks
    runner.register_hook(dict(type='RecordArchitectureHook'))
    runner.register_hook(dict(type='ProvenanceHook'))  # commit, versions, batch, lr, data, ...
    # --resume only from a checkpoint holding optimizer, schedulers and counters
    runner.register_hook(dict(type='ResumeCheckHook'))
    # says when the GPUs wait for the data loader; stops a run whose lr schedule ends before
    # its training does (both unless the config sets its own)
    own_hooks = {h.get('type') for h in cfg.get('custom_hooks') or []}
    for hook in ('DataWaitMonitorHook', 'ScheduleCheckHook'):
        if hook not in own_hooks:
            runner.register_hook(dict(type=hook))
    # every thread's stack when no iteration finishes for --hang-minutes (a hung run)
    if args.hang_minutes > 0 and 'HangWatchdogHook' not in own_hooks:
        runner.register_hook(dict(type='HangWatchdogHook', timeout_minutes=args.hang_minutes,
                                  exit=args.hang_exit))
    try:
        runner.train()
    finally:
        disarm_hang_watchdog()  # also after a failure: the caller's process may go on
    close_process_group()
    return runner


if __name__ == '__main__':
    run_process(main)
