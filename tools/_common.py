"""What the tools share: config loading with loud checks, work_dir naming, atomic result files."""
import json
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction  # noqa: F401  (re-exported for the tools)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# Top-level keys of mmcv-1.x-era configs that MMEngine silently ignores: a config that sets one
# believes it changed something (e.g. `fp16=` "enables" AMP and trains in fp32).
DEAD_KEYS = {
    'fp16': "use optim_wrapper=dict(type='AmpOptimWrapper', ...) or --amp",
    'optimizer': 'put the optimizer inside optim_wrapper=dict(optimizer=...)',
    'optimizer_config': 'use optim_wrapper (clip_grad, accumulative_counts)',
    'lr_config': 'use param_scheduler',
    'momentum_config': 'use param_scheduler',
    'runner': 'use train_cfg=dict(type=..., max_epochs/max_iters=...)',
    'total_epochs': 'use train_cfg=dict(max_epochs=...)',
    'evaluation': 'use val_cfg / val_evaluator and train_cfg.val_interval',
    'checkpoint_config': 'use default_hooks=dict(checkpoint=...)',
    'log_config': 'use default_hooks=dict(logger=...)',
    'workflow': 'MMEngine loops have no workflow',
    'data': 'use train_dataloader / val_dataloader / test_dataloader',
}


# The random resized crops the configs use: mmpretrain's and ours (the same draws, the resize on
# torch's kernels, mimco_mm/datasets/torch_resize.py).
RANDOM_RESIZED_CROPS = ('RandomResizedCrop', 'TorchRandomResizedCrop')


def iter_transforms(steps):
    """Every transform config of a pipeline list, depth first, those inside wrappers included
    (MultiView's views, RandomApply's transforms, a nested `pipeline`). Yields the config dicts
    themselves, so that a caller may change them in place."""
    for step in steps or []:
        yield step
        for key in ('transforms', 'pipeline'):
            for group in step.get(key) or []:
                yield from iter_transforms(group if isinstance(group, (list, tuple)) else [group])


def add_runner_args(parser):
    """--cfg-options, --launcher and --local-rank, as every OpenMMLab train / test script has."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.teacher.checkpoint=t.pth')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser, argv=None):
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))  # torchrun passes it either way
    return args


def load_config(path, cfg_options=None):
    """Read a config; refuse keys MMEngine would ignore without a word."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config {path} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('find_unused_parameters') is not None and cfg.get('model_wrapper_cfg') is not None:
        # MMEngine reads the top-level key only when there is no model_wrapper_cfg
        cfg.model_wrapper_cfg.setdefault('find_unused_parameters', cfg.find_unused_parameters)
    # A key set to None is cleared on purpose (mmseg's schedule bases leave a helper `optimizer`).
    dead = {k: v for k, v in DEAD_KEYS.items() if cfg.get(k) is not None}
    if dead:
        raise ValueError(f'{path}: MMEngine ignores these top-level keys: ' +
                         '; '.join(f'{k!r} ({hint})' for k, hint in dead.items()))
    return cfg


def adapt_to_cpu_processes(cfg, launcher):
    """Multi-process runs without GPUs (tests, laptops): gloo instead of NCCL, and DDP without
    `device_ids` (MMEngine passes the local rank as a CUDA device id)."""
    import torch
    if launcher == 'none' or torch.cuda.is_available():
        return
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


_closed_process_group = False  # whether close_process_group ended this process's group


def close_process_group():
    """End a distributed run together: wait until every process is done (rank 0 may still be
    writing the last checkpoint), then tear the process group down. A process that exits while
    another still uses the group can abort in gloo's destructor (seen on CPU runs)."""
    global _closed_process_group
    import torch.distributed as torch_dist
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
        _closed_process_group = True


def _used_process_group():
    import torch.distributed as torch_dist
    return _closed_process_group or (torch_dist.is_available() and torch_dist.is_initialized())


def run_process(main):
    """Run a tool's `main()` as the body of its process, and exit with its status: an int that
    main returns (the `sys.exit(main())` convention), else 0; SystemExit's code; 1 after an
    error's traceback.

    A process that used torch.distributed then ends without Python's interpreter teardown. Gloo's
    worker threads drop the work objects of the last collectives after the caller has its result
    (in the core dump: a barrier's, and with it an all-reduce's), and dropping a tensor Python
    created takes the GIL. A thread that asks for the GIL while the interpreter finalizes is
    ended by Python inside a C++ destructor, and the process aborts ("terminate called without
    an active exception", SIGABRT): a finished run, or a preempted one that must exit with 75 to
    be requeued, is reported as failed (docs/long_runs.md "The exit of a distributed process"). What a
    normal exit does before that teardown still happens here: other threads are joined, atexit
    handlers run (logging flushed, dataloader workers stopped), stdout and stderr are flushed.
    Without a process group: a plain exit."""
    try:
        result = main()
    except SystemExit as stop:
        if not _used_process_group():
            raise
        code = stop.code
    except BaseException:
        if not _used_process_group():
            raise
        import traceback
        traceback.print_exc()
        code = 1
    else:
        code = result if isinstance(result, int) and not isinstance(result, bool) else 0
        if not _used_process_group():
            sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):  # as Python does with sys.exit('message')
        print(code, file=sys.stderr)
        code = 1
    exit_without_teardown(code)


def exit_without_teardown(code):
    """Leave the process with `code` as run_process does after a process group (see there): join
    the other threads, run atexit handlers, flush output, then `os._exit` before the interpreter
    tears down. For processes that do not start as a tool (multiprocessing's workers)."""
    import atexit
    import threading
    # CPython's own two steps before Py_Finalize tears down: wait for the non-daemon threads,
    # then the atexit handlers
    threading._shutdown()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    try:  # and what C++ code printed with C's stdio (os._exit skips libc's flush)
        import ctypes
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass
    os._exit(code)


def default_work_dir(config_path):
    """work_dirs/<path under configs/ without .py>, e.g. work_dirs/mimco/vit-s_100e: the folder
    keeps configs of the same name apart (mocov3/vit-b_300e vs mimco/vit-b_300e)."""
    path = osp.abspath(config_path)
    configs = osp.join(ROOT, 'configs') + osp.sep
    rel = path[len(configs):] if path.startswith(configs) else osp.basename(path)
    return osp.join('work_dirs', osp.splitext(rel)[0])


def write_text_atomic(path, text):
    """Write to a temporary file, then rename: an interrupted run never leaves half a file
    (mimco_mm's one atomic writer, the one checkpoints use)."""
    from mimco_mm.compat.atomic_checkpoint import write_bytes_atomic
    write_bytes_atomic(text.encode(), path)


def evaluation_provenance(cfg, checkpoint, datasets=(), runner=None, wall_s=None):
    """Provenance of an evaluation (mimco_mm/provenance.py) plus, under `checkpoint`, the
    provenance the evaluated checkpoint carries: how its weights were trained."""
    from mimco_mm.compat import load_checkpoint_file
    from mimco_mm.provenance import collect
    record = collect(cfg, runner, datasets=datasets, wall_s=wall_s)
    meta = load_checkpoint_file(checkpoint).get('meta') or {}
    record['checkpoint'] = meta.get('provenance')
    return record


def write_metrics(out, record):
    """A run's metrics record ({config, checkpoint, metrics, provenance}) as JSON; the metrics
    are printed. A record without provenance is refused: every number must be traceable."""
    if not isinstance(record.get('provenance'), dict):
        raise ValueError(f'{out}: a metrics record needs its provenance '
                         f'(tools/_common.evaluation_provenance)')
    write_text_atomic(out, json.dumps(record, indent=2, default=str))
    print(json.dumps(record['metrics'], indent=2))
