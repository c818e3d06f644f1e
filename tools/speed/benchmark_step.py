"""Train-step time and peak memory of MimCo against the SimMIM control, same student, same batch.

    python tools/speed/benchmark_step.py [--mimco CFG] [--simmim CFG] [--batch 8] [--iters 10]
        [--peak-tflops X] [--json OUT] [--knn-monitor 10000 1281167] [--stage1 CFG]

Both models come from the real configs (the teacher gets random weights of the right shape: the
cost does not depend on what it learned). After warm-up the two are stepped alternately
(A, B, A, B, ...) so that clock or thermal drift hits both alike; the median step time is
reported, with images/s and the MimCo / SimMIM ratio. Peak memory (CUDA only) is measured in a
separate pass per model. Runs on CUDA when available, else CPU.

MFU (model FLOPs utilisation) = model FLOPs per second / the device's bf16 peak. Model FLOPs are
counted from shapes (tools/speed/flops.py): 3x the forward of the trained parts (student,
heads, losses) + 1x the frozen teacher's forward. The peak comes from a table by GPU name or from
--peak-tflops; on CPU there is none unless given.

--stage1 CONFIG adds the stage-1 model (e.g. configs/mocov3/vit-s_300e.py) to the alternation:
two views of each image through the student and the momentum encoder; its images / s counts
source images (two views each), the unit of benchmark_data.py's images / s per worker, so the
two give the data-loader workers stage 1 needs per GPU.

--knn-monitor IMAGES EPOCH_IMAGES also times, in the same alternation, what KNNMonitorHook does
per image (the MimCo student's eval-mode CLS features, no gradients) and reports the cost of one
monitor pass over IMAGES (bank + queries; the default setting, 100 classes x 50 train images +
their 5,000 val images, is 10,000) as a share of an epoch of EPOCH_IMAGES training images.
"""
import argparse
import copy
import os.path as osp
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import mimco_mm  # noqa: E402,F401
from tools._common import RANDOM_RESIZED_CROPS, iter_transforms, load_config  # noqa: E402
from mimco_mm.models.compile import compile_backbones  # noqa: E402
from tools.speed.flops import peak_tflops, step_flops  # noqa: E402


STAGE1 = 'stage 1 (2 views)'


def random_teacher_checkpoint(teacher_cfg, path):
    """Random weights at `path` in the layout a ContrastiveTeacher config reads (its backbone
    and neck under their prefixes): for timing and tests, where what it learned is irrelevant."""
    from mmpretrain.registry import MODELS

    from mimco_mm.architecture import describe
    prefix = teacher_cfg.get('backbone_prefix', 'backbone.')
    backbone = MODELS.build(copy.deepcopy(teacher_cfg.backbone))
    state = {prefix + k: v for k, v in backbone.state_dict().items()}
    if teacher_cfg.get('neck') is not None:
        neck = MODELS.build(copy.deepcopy(teacher_cfg.neck))
        state.update({teacher_cfg.get('neck_prefix', 'neck.') + k: v
                      for k, v in neck.state_dict().items()})
    torch.save(dict(state_dict=state,
                    meta=dict(architecture={prefix.rstrip('.'): describe(backbone)})), path)
    return path


def build(config, tmp_dir, device):
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    cfg = load_config(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    if cfg.model.type == 'MimCo':
        cfg.model.teacher.checkpoint = osp.join(tmp_dir, 'teacher.pth')
        random_teacher_checkpoint(cfg.model.teacher, cfg.model.teacher.checkpoint)
        cfg.model.pop('micro_batches', None)  # a step here is one pass over --batch images
    model = MODELS.build(cfg.model).to(device)
    from mmengine.logging import MessageHub, MMLogger
    hub = MessageHub.get_current_instance()
    if hub.get_info('max_iters') is None:  # MoCo v3's cosine momentum reads the run's length
        hub.update_info('max_iters', 10**6)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')  # init_weights logs one paragraph per parameter
    model.init_weights()
    logger.setLevel(level)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    return model, torch.optim.AdamW(params, lr=1e-4), cfg


def make_batch(cfg, batch, device):
    """Random normalised images at the config's sizes, and what its samples carry: SimMIM block
    masks for the MIM configs; for a two-view config (MultiView, e.g. MoCo v3) the images are a
    list of one (batch, 3, H, W) tensor per view and the samples are empty."""
    from mmpretrain.structures import DataSample
    pipeline = cfg.train_dataloader.dataset.pipeline
    g = torch.Generator().manual_seed(0)
    views = next((s for s in pipeline if s.type == 'MultiView'), None)
    if views is not None:
        sizes = [next(t.scale for t in iter_transforms(view) if t.type in RANDOM_RESIZED_CROPS)
                 for view, n in zip(views.transforms, _views_per_pipeline(views))
                 for _ in range(n)]
        images = [torch.randn(batch, 3, size, size, generator=g).to(device) for size in sizes]
        return images, [DataSample() for _ in range(batch)]
    step = next(s for s in pipeline if s.type == 'SimMIMMaskGenerator')
    size, grid = step.input_size, step.input_size // step.model_patch_size
    blocks = step.input_size // step.mask_patch_size
    scale = step.mask_patch_size // step.model_patch_size
    images = torch.randn(batch, 3, size, size, generator=g).to(device)
    samples = []
    for _ in range(batch):
        block_mask = torch.zeros(blocks * blocks)
        block_mask[torch.randperm(blocks * blocks, generator=g)[:int(step.mask_ratio * blocks ** 2)]] = 1
        mask = block_mask.reshape(blocks, blocks).repeat_interleave(scale, 0).repeat_interleave(scale, 1)
        assert mask.shape == (grid, grid)
        samples.append(DataSample().set_mask(mask.to(device)))
    return images, samples


def _views_per_pipeline(multiview):
    """MultiView's num_views as one count per pipeline (an int means: one pipeline, n views)."""
    n = multiview.num_views
    return [n] if isinstance(n, int) else list(n)


def first_images(images, count):
    """The first `count` images of a batch: of each view's tensor for a two-view batch."""
    return [v[:count] for v in images] if isinstance(images, list) else images[:count]


def train_step(model, optimizer, images, samples, dtype):
    device = (images[0] if isinstance(images, list) else images).device
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        losses = model(images, samples, mode='loss')
    loss = sum(v for k, v in losses.items() if k.startswith('loss'))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def monitor_step(model, images, dtype):
    """What KNNMonitorHook computes for a batch (mimco_mm/engine/knn_monitor.py)."""
    from mimco_mm.engine.knn_monitor import global_features
    model.eval()
    try:
        with torch.no_grad(), torch.autocast(images.device.type, dtype=dtype,
                                             enabled=dtype is not None):
            global_features(model, images)
    finally:
        model.train()


def device_name(device):
    """'cuda (NVIDIA H100 ...)' or 'cpu (2 threads)': what a timing was measured on."""
    return device.type + (f' ({torch.cuda.get_device_name()})' if device.type == 'cuda' else
                          f' ({torch.get_num_threads()} threads)')


def timed(fn, device):
    if device.type == 'cuda':
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == 'cuda':
        torch.cuda.synchronize()
    return time.perf_counter() - start


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mimco', default='configs/mimco/vit-s_100e.py')
    parser.add_argument('--simmim', default='configs/simmim/vit-s_100e.py')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--dtype', choices=['bfloat16', 'float16', 'float32'], default='bfloat16')
    parser.add_argument('--peak-tflops', type=float, default=None,
                        help='the device\'s dense bf16 peak (default: looked up by GPU name)')
    parser.add_argument('--json', default=None, help='also write the results to this file')
    parser.add_argument('--compile', choices=['teacher', 'student', 'all'], default=None,
                        help='add a third run: MimCo with torch.compile on these parts')
    parser.add_argument('--compile-mode', default=None,
                        choices=['default', 'reduce-overhead', 'max-autotune'],
                        help="torch.compile's mode for --compile ('reduce-overhead': CUDA graphs)")
    parser.add_argument('--knn-monitor', type=int, nargs=2, metavar=('IMAGES', 'EPOCH_IMAGES'),
                        help="also time KNNMonitorHook's extraction and report one pass over "
                             "IMAGES as a share of an epoch of EPOCH_IMAGES")
    parser.add_argument('--stage1', default=None, metavar='CONFIG',
                        help='also time this stage-1 config (two views per image), e.g. '
                             'configs/mocov3/vit-s_300e.py')
    return parser.parse_args(argv)


def build_runs(args, tmp, device, dtype):
    """{name: dict(step, times, model, flops, images)} for MimCo, SimMIM and the optional runs,
    each with its batch on the device and its model FLOPs counted before any compilation."""
    variants = [('MimCo', args.mimco, None), ('SimMIM', args.simmim, None)]
    if args.stage1:
        variants.append((STAGE1, args.stage1, None))
    if args.compile:
        variants.append((f'MimCo, compiled {args.compile}'
                         f'{f" ({args.compile_mode})" if args.compile_mode else ""}',
                         args.mimco, dict(parts=args.compile, mode=args.compile_mode)))
    runs = {}
    for name, config, compiled in variants:
        model, optimizer, cfg = build(config, tmp, device)
        images, samples = make_batch(cfg, args.batch, device)
        flops = step_flops(model, first_images(images, 2), samples[:2])  # eager shapes
        if compiled:
            compile_backbones(model, compiled)
        runs[name] = dict(step=lambda m=model, o=optimizer, i=images, s=samples:
                          train_step(m, o, i, s, dtype), times=[], model=model, flops=flops,
                          images=images)
    return runs


def time_runs(runs, args, device, dtype):
    """Warm up, then time the runs' steps alternating (and the k-NN monitor's extraction with
    --knn-monitor); each run's peak memory from one more step on a GPU. Returns the monitor's
    times."""
    monitor = []
    mimco = runs['MimCo']
    watch = (lambda m=mimco['model'], i=mimco['images']: monitor_step(m, i, dtype))
    for _ in range(args.warmup):
        for run in runs.values():
            run['step']()
        if args.knn_monitor:
            watch()
    for i in range(args.iters):
        for run in runs.values():
            run['times'].append(timed(run['step'], device))
        if args.knn_monitor:
            monitor.append(timed(watch, device))
        print(f'[{i + 1}/{args.iters}] ' + '  '.join(
            f'{n} {r["times"][-1]:.3f}s' for n, r in runs.items()), flush=True)
    for run in runs.values():
        run['peak'] = None
        if device.type == 'cuda':
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            run['step']()
            torch.cuda.synchronize()
            run['peak'] = torch.cuda.max_memory_allocated() / 2**30
    return monitor


def report(runs, monitor, args, device):
    """Print the table (and the monitor's share of an epoch); write --json. Returns the MimCo /
    SimMIM step-time ratio."""
    peak_flops = args.peak_tflops or (peak_tflops(torch.cuda.get_device_name())
                                      if device.type == 'cuda' else None)
    what = f'{args.batch} images, {args.dtype} autocast, {device_name(device)}'
    print(f'\ntrain step, median of {args.iters} alternating steps, {what}'
          f'{f", bf16 peak {peak_flops:g} TFLOP/s" if peak_flops else ""}')
    print('| model | s / step | images / s | model GFLOPs / image | TFLOP/s | MFU | peak memory |')
    print('|---|---|---|---|---|---|---|')
    rows = {}
    for name, run in runs.items():
        med = statistics.median(run['times'])
        achieved = run['flops'] * args.batch / med / 1e12
        mfu = achieved / peak_flops if peak_flops else None
        rows[name] = dict(s_per_step=med, images_per_s=args.batch / med,
                          gflops_per_image=run['flops'] / 1e9, tflops=achieved, mfu=mfu,
                          peak_memory_gib=run['peak'])
        peak = f'{run["peak"]:.2f} GiB' if run['peak'] is not None else 'n/a (CPU)'
        print(f'| {name} | {med:.3f} | {args.batch / med:.1f} | {run["flops"] / 1e9:.1f} | '
              f'{achieved:.2f} | {f"{100 * mfu:.1f} %" if mfu is not None else "n/a"} | {peak} |')
    mimco_step = statistics.median(runs['MimCo']['times'])
    ratio = mimco_step / statistics.median(runs['SimMIM']['times'])
    print(f'MimCo / SimMIM step time: {ratio:.2f}x')
    if args.knn_monitor:
        images_seen, epoch = args.knn_monitor
        per_image = statistics.median(monitor) / args.batch
        step_per_image = mimco_step / args.batch
        share = images_seen * per_image / (epoch * step_per_image)
        print(f'KNNMonitorHook extraction: {per_image * 1e3:.2f} ms / image vs MimCo training '
              f'{step_per_image * 1e3:.2f} ms / image ({step_per_image / per_image:.1f}x); one '
              f'pass over {images_seen} images = {100 * share:.2f} % of a {epoch}-image epoch')
    for name in [n for n in list(runs)[2:] if n != STAGE1]:
        print(f'{name} / MimCo step time: '
              f'{statistics.median(runs[name]["times"]) / mimco_step:.2f}x')
    if args.json:
        import json
        with open(args.json, 'w') as f:
            json.dump(dict(device=device_name(device), batch=args.batch, dtype=args.dtype,
                           iters=args.iters, peak_tflops=peak_flops, mimco=args.mimco,
                           simmim=args.simmim, stage1=args.stage1, ratio=ratio, models=rows),
                      f, indent=1)
    return ratio


def main(argv=None):
    args = parse_args(argv)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    dtype = None if args.dtype == 'float32' else getattr(torch, args.dtype)
    with tempfile.TemporaryDirectory() as tmp:
        runs = build_runs(args, tmp, device, dtype)
        monitor = time_runs(runs, args, device, dtype)
    return report(runs, monitor, args, device)


if __name__ == '__main__':
    main()
