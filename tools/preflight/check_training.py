"""Run a real pre-training config for N iterations on generated JPEGs and check the run.

    python tools/preflight/check_training.py CONFIG [--iters 200] [--images 2048] [--batch B]
        [--workers W] [--image-size 500 375] [--work-dir D] [--json OUT] [--phases device|host]

What a new machine (a GPU node, a new PyTorch) must show before a 100-epoch run is trusted to it:
the config trains through `tools/train.py` exactly as a user would start it (its optimizer
wrapper, AMP, hooks, loop, data pipeline; only the dataset is swapped for generated JPEG files of
ImageNet-like sizes, and the teacher gets random weights of the right shape), and then:
- every logged loss is finite and the run did all N iterations;
- the teacher's weights in the final checkpoint are bit-identical to the ones it was given;
- step time, data time and peak memory are reported from the run's own log;
- with --phases, where each iteration's time goes (IterPhaseTimerHook: data preprocessor,
  forward, backward, optimizer step, each hook, the rest), as device time (CUDA synchronised
  around each phase, which slows the run) or as host time (the run's speed untouched).
Exits non-zero when a check fails.
"""
import argparse
import json
import math
import multiprocessing
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)


def _write_image(args):
    """One smooth random RGB JPEG (natural-image-like frequency content, not white noise, so
    that file size and decode cost resemble photos)."""
    path, width, height, seed = args
    from PIL import Image
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(max(2, height // 32), max(2, width // 32), 3), dtype=np.uint8)
    img = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
    arr = np.asarray(img).astype(np.int16) + rng.integers(-12, 13, size=(height, width, 3))
    Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(path, quality=90)


def make_jpeg_folder(root, count, size=(500, 375), classes=10, seed=0, workers=None):
    """root/train/class_<c>/<i>.JPEG: `count` images around `size` (width, height), +-25 %.
    Returns the number of files written."""
    rng = np.random.default_rng(seed)
    jobs = []
    for i in range(count):
        folder = osp.join(root, 'train', f'class_{i % classes}')
        os.makedirs(folder, exist_ok=True)
        w, h = (int(s * rng.uniform(0.75, 1.25)) for s in size)
        jobs.append((osp.join(folder, f'{i:06d}.JPEG'), w, h, seed * 1_000_003 + i))
    if count <= 64:  # a test's handful: no processes
        for job in jobs:
            _write_image(job)
    else:
        # spawned, not forked: a fork of a process with threads (a test runner that trained
        # in-process, torch's pools) can deadlock in the child (seen in CI)
        with multiprocessing.get_context('spawn').Pool(workers or os.cpu_count()) as pool:
            pool.map(_write_image, jobs, chunksize=16)
    return len(jobs)


def jpeg_dataset(data_root, pipeline):
    """The dataset config of a make_jpeg_folder() folder (unlabelled) with `pipeline`."""
    return dict(type='CustomDataset', data_root=data_root, data_prefix='train', with_label=False,
                pipeline=pipeline)


def prepare_config(config, work_dir, data_root, teacher_ckpt, iters, images, batch, workers,
                   log_interval, phases=None):
    """The user's config with only the dataset, the teacher file and the length changed (and a
    KNNMonitorHook switched off: the generated images have no labels); `phases` 'device' or
    'host' adds an IterPhaseTimerHook."""
    from tools._common import load_config
    cfg = load_config(config)
    loader = cfg.train_dataloader
    batch = batch or loader.batch_size
    per_epoch = images // batch
    if per_epoch < 1:
        raise ValueError(f'--images {images} is smaller than one batch of {batch}')
    loader.batch_size = batch
    loader.num_workers = workers if workers is not None else loader.num_workers
    loader.persistent_workers = loader.num_workers > 0
    # One long epoch over the files repeated, as on ImageNet: short epochs would restart the
    # workers' prefetch queue every few iterations and measure start-up, not the steady state.
    times = math.ceil(iters / per_epoch)
    loader.dataset = dict(type='RepeatDataset', times=times,
                          dataset=jpeg_dataset(data_root, loader.dataset.pipeline))
    epochs = 1
    per_epoch *= times
    cfg.train_cfg.max_epochs = epochs
    if cfg.model.get('teacher') is not None:
        cfg.model.teacher.checkpoint = teacher_ckpt
    cfg.default_hooks.logger.interval = log_interval
    # log the last, shorter window too: the run's length is rounded up to whole passes over
    # the files, rarely a multiple of the interval (MMEngine's default drops that window, and
    # the length check below would see a run that stopped early)
    cfg.default_hooks.logger.ignore_last = False
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=epochs, max_keep_ckpts=1)
    for hook in cfg.get('custom_hooks', []):  # its labelled bank is not in the generated JPEGs
        if hook['type'] == 'KNNMonitorHook':
            hook['interval'] = -1
    if phases is not None:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [dict(
            type='IterPhaseTimerHook', sync=phases == 'device', skip=min(10, iters // 4))]
    cfg.work_dir = work_dir
    path = osp.join(work_dir, 'check_training_config.py')
    os.makedirs(work_dir, exist_ok=True)
    cfg.dump(path)
    return path, per_epoch * epochs, batch


def read_scalars(work_dir):
    """The run's MMEngine scalar log (vis_data/scalars.json) as a list of dicts."""
    logs = sorted(p for p in (osp.join(work_dir, d, 'vis_data', 'scalars.json')
                              for d in os.listdir(work_dir)) if osp.exists(p))
    if not logs:
        raise FileNotFoundError(f'no vis_data/scalars.json under {work_dir}: did the run log?')
    with open(logs[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def teacher_mismatches(checkpoint, teacher_ckpt, prefix='target_generator.'):
    """Names of teacher tensors that differ (or are missing) between the given teacher file and
    the trained model's checkpoint. Empty when the teacher stayed bit-identical."""
    import torch
    from mmengine.runner.checkpoint import _load_checkpoint
    trained = _load_checkpoint(checkpoint, map_location='cpu')['state_dict']
    given = _load_checkpoint(teacher_ckpt, map_location='cpu')['state_dict']
    teacher = {k[len(prefix):]: v for k, v in trained.items() if k.startswith(prefix)}
    if not teacher:
        return [f'no {prefix}* tensors in {checkpoint}']
    bad = []
    for name, value in given.items():
        # the teacher file holds backbone.* (and neck.*), the model the same names under prefix
        if name not in teacher:
            bad.append(f'{name}: not in the trained checkpoint')
        elif not torch.equal(teacher[name], value):
            bad.append(f'{name}: changed during training')
    return bad


def summarize(scalars, expected_iters, batch):
    """Checks and numbers from the scalar log. Returns (summary dict, list of failures)."""
    train = [r for r in scalars if 'loss' in r and 'iter' in r]
    failures = []
    if not train:
        return {}, ['no training iteration was logged']
    losses = {k: [r[k] for r in train if k in r] for k in train[-1] if k.startswith('loss')}
    for key, values in losses.items():
        bad = [v for v in values if not math.isfinite(v)]
        if bad:
            failures.append(f'{key}: {len(bad)} non-finite values')
    last_iter = max(r['iter'] for r in train)
    if last_iter != expected_iters:
        failures.append(f'last logged iteration {last_iter}, expected {expected_iters}')
    # the first logged window holds start-up (worker spawn, cudnn autotune): skip it for speed
    steady = train[1:] or train
    step = float(np.median([r['time'] for r in steady]))
    summary = dict(iters=last_iter, batch=batch, s_per_iter=step, images_per_s=batch / step,
                   data_s_per_iter=float(np.median([r['data_time'] for r in steady])),
                   first_loss=train[0]['loss'], last_loss=train[-1]['loss'],
                   peak_memory_mib=max((r.get('memory', 0) for r in train), default=None))
    return summary, failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--iters', type=int, default=200)
    parser.add_argument('--images', type=int, default=2048, help='generated JPEG files')
    parser.add_argument('--image-size', type=int, nargs=2, default=(500, 375),
                        metavar=('W', 'H'), help='mean generated size (ImageNet: ~500 x 375)')
    parser.add_argument('--batch', type=int, default=None, help="default: the config's")
    parser.add_argument('--workers', type=int, default=None, help="default: the config's")
    parser.add_argument('--log-interval', type=int, default=10)
    parser.add_argument('--phases', choices=('device', 'host'), default=None,
                        help='time each part of the iteration (device: CUDA synchronised '
                             'around each part, slower; host: the host side only)')
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--json', default=None)
    parser.add_argument('--train-args', nargs=argparse.REMAINDER, default=[],
                        help='passed on to tools/train.py (e.g. --launcher pytorch)')
    args = parser.parse_args(argv)

    import torch
    from mmengine.registry import init_default_scope

    import mimco_mm  # noqa: F401
    from tools._common import load_config
    from tools.speed.benchmark_step import random_teacher_checkpoint

    work_dir = args.work_dir or tempfile.mkdtemp(prefix='check_training_')
    data_root = osp.join(work_dir, 'data')
    start = time.perf_counter()
    n = make_jpeg_folder(data_root, args.images, tuple(args.image_size))
    print(f'[check] wrote {n} JPEGs of ~{args.image_size[0]}x{args.image_size[1]} in '
          f'{time.perf_counter() - start:.1f} s', flush=True)

    teacher_ckpt = None
    cfg = load_config(args.config)
    if cfg.model.get('teacher') is not None:
        init_default_scope(cfg.get('default_scope', 'mmpretrain'))
        torch.manual_seed(0)
        teacher_ckpt = random_teacher_checkpoint(cfg.model.teacher, osp.join(work_dir, 'teacher.pth'))
    config, iters, batch = prepare_config(args.config, work_dir, data_root, teacher_ckpt,
                                          args.iters, args.images, args.batch, args.workers,
                                          args.log_interval, args.phases)
    print(f'[check] training {iters} iterations of batch {batch}: {args.config}', flush=True)
    start = time.perf_counter()
    # --overwrite: a rerun (of gpu_check.sh, in its fixed /tmp folders) trains anew
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'train.py'), config,
                           '--work-dir', work_dir, '--overwrite'] + args.train_args, cwd=ROOT)
    wall = time.perf_counter() - start
    failures = [] if proc.returncode == 0 else [f'tools/train.py exited with {proc.returncode}']
    summary = {}
    if proc.returncode == 0:
        summary, failures = summarize(read_scalars(work_dir), iters, batch)
        if teacher_ckpt is not None:
            last = open(osp.join(work_dir, 'last_checkpoint')).read().strip()
            failures += [f'teacher {m}' for m in teacher_mismatches(last, teacher_ckpt)]
            summary['teacher_bit_identical'] = not any(f.startswith('teacher') for f in failures)
        if args.phases:
            with open(osp.join(work_dir, 'phases.json')) as f:
                summary['phases'] = json.load(f)
    summary.update(config=args.config, wall_s=wall, device=(
        torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'),
        torch=torch.__version__, failures=failures)
    print('[check] ' + json.dumps(summary, indent=1), flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(summary, f, indent=1)
    if failures:
        print('[check] FAILED: ' + '; '.join(failures), file=sys.stderr)
        return 1
    print(f'[check] ok: {iters} iterations, finite losses'
          f'{", teacher bit-identical" if teacher_ckpt else ""}, {wall:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
