"""Images/s of a config's training pipeline in ONE data-loader worker, and the cores a GPU needs.

    python tools/speed/benchmark_data.py [CONFIG ...] [--images 128] [--samples 300]
        [--image-size 500 375] [--gpu-images-per-s 3489] [--backends cv2 pillow] [--json OUT]
        [--loader-workers 4 8 14 [--batches 20]]

The pipeline of each config (default: MimCo ViT-S and MoCo v3 ViT-S) runs on generated JPEG files
of ImageNet-like size (mean 500 x 375, +-25 %, smooth content so that files and decode cost are
photo-like; tools/preflight/check_training.py writes them) in this process with one torch thread,
as a DataLoader worker does. Reported per config and decode backend: images/s per worker, the
time of each transform, and how many workers (= CPU cores) one GPU needs at --gpu-images-per-s
(default: ViT-S MimCo on an H200 at batch 256, docs/speed.md).
Medians of three passes; the first pass over the files is discarded (page cache).

--loader-workers N ... also measures the whole DataLoader the config builds (its batch size,
sampler, collate, worker processes, inter-process transfer) with N workers, no model: the rate
a training run cannot exceed on this machine, to compare with one worker's rate times N.
"""
import argparse
import copy
import json
import math
import os.path as osp
import statistics
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

DEFAULT_CONFIGS = ['configs/mimco/vit-s_100e.py', 'configs/mocov3/vit-s_300e.py']
H200_VIT_S_MIMCO_IMAGES_PER_S = 3489.0  # docs/gpu_check/2026-11-26_nvidia-h200/bench_vit-s.json


class Timed:
    """A transform wrapper that accumulates its wall time (s) per call."""

    def __init__(self, transform):
        self.transform, self.name, self.seconds = transform, type(transform).__name__, 0.0

    def __call__(self, results):
        start = time.perf_counter()
        out = self.transform(results)
        self.seconds += time.perf_counter() - start
        return out


def set_crop_backend(step, crop_backend):
    """Point every random resized crop in `step` (a transform's config, wrappers such as
    MultiView and RandomApply included) at `crop_backend`, in place."""
    from tools._common import RANDOM_RESIZED_CROPS, iter_transforms
    for crop in iter_transforms([step]):
        if crop['type'] in RANDOM_RESIZED_CROPS:
            crop.pop('backend', None)
            if crop_backend == 'torch':
                crop['type'] = 'TorchRandomResizedCrop'
            else:
                crop.update(type='RandomResizedCrop', backend=crop_backend)


def build_pipeline(pipeline_cfg, backend, crop_backend=None):
    """The config's transforms, each timed, and the transforms of each MultiView view too (named
    'MultiView/view1 GaussianBlur'); LoadImageFromFile decodes with `backend`, and every random
    resized crop resizes with `crop_backend` when given ('cv2', 'pillow', or 'torch':
    TorchRandomResizedCrop, Pillow's filter on torch's kernels).
    Returns (the top-level steps, every Timed)."""
    from mmpretrain.registry import TRANSFORMS
    steps, timed = [], []
    for step in copy.deepcopy(pipeline_cfg):
        if step['type'] == 'LoadImageFromFile':
            step['imdecode_backend'] = backend
        if crop_backend:
            set_crop_backend(step, crop_backend)
        steps.append(Timed(TRANSFORMS.build(step)))
        timed.append(steps[-1])
        for v, view in enumerate(getattr(steps[-1].transform, 'pipelines', [])):  # MultiView
            view.transforms = [Timed(t) for t in view.transforms]
            for t in view.transforms:
                t.name = f'{steps[-1].name}/view{v + 1} {t.name}'
            timed.extend(view.transforms)
    return steps, timed


def leaf_costs(per_step):
    """The entries of `per_step` {name: ms} that are not split further ('MultiView' is, into its
    views' transforms)."""
    return {k: v for k, v in per_step.items() if not any(o.startswith(k + '/') for o in per_step)}


def run_pipeline(steps, files):
    """Push every file through the steps once; returns elapsed seconds."""
    start = time.perf_counter()
    for path in files:
        results = dict(img_path=path, sample_idx=0)
        for step in steps:
            results = step(results)
            if results is None:
                raise RuntimeError(f'{step.name} dropped {path}')
    return time.perf_counter() - start


def measure(pipeline_cfg, backend, files, samples, passes=3, crop_backend=None):
    """Median images/s over `passes` timed passes, and ms per image of each transform."""
    steps, timed = build_pipeline(pipeline_cfg, backend, crop_backend)
    todo = (files * math.ceil(samples / len(files)))[:samples]
    run_pipeline(steps, files)  # warm the page cache and lazy imports
    for s in timed:
        s.seconds = 0.0
    rates = [samples / run_pipeline(steps, todo) for _ in range(passes)]
    per_step = {}
    for s in timed:  # a view that runs twice (num_views=2) adds both runs to its transforms
        per_step[s.name] = per_step.get(s.name, 0.0) + 1000 * s.seconds / (passes * samples)
    return statistics.median(rates), per_step


def per_worker(rate, workers):
    """A DataLoader's images/s per worker process, as text; 0 workers means the main process
    loads (gpu_check passes nproc - 2, which is 0 on a 2-core box)."""
    return f'{rate / workers:.0f} per worker' if workers else 'in the main process'


def loader_rate(loader_cfg, data_root, workers, batches):
    """Images/s of the config's DataLoader over `data_root` with `workers` processes, after the
    first batch (worker start-up) is out."""
    from mmengine.runner import Runner

    from tools.preflight.check_training import jpeg_dataset
    cfg = copy.deepcopy(loader_cfg)
    cfg.update(num_workers=workers, persistent_workers=False)
    cfg['dataset'] = jpeg_dataset(data_root, cfg['dataset']['pipeline'])
    cfg['sampler'] = dict(type='InfiniteSampler', shuffle=True)  # never runs out of files
    if isinstance(cfg.get('collate_fn'), dict):  # the Runner drops the config's scope key too
        cfg['collate_fn'].pop('_scope_', None)
    loader = Runner.build_dataloader(cfg, seed=0)
    it = iter(loader)
    # The workers pre-fill prefetch_factor (2) batches each while starting: drain them, then time
    # at least as many again, so the steady rate is measured and not the queue.
    for _ in range(2 * max(workers, 1) + 1):
        next(it)
    batches = max(batches, 2 * workers)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    rate = batches * cfg['batch_size'] / (time.perf_counter() - start)
    del it, loader
    return rate


def available_backends(wanted):
    have = []
    for name in wanted:
        if name == 'turbojpeg':
            try:
                from turbojpeg import TurboJPEG
                TurboJPEG()
            except Exception:  # module or libturbojpeg missing
                print('[data] skipping turbojpeg: PyTurboJPEG / libturbojpeg not installed')
                continue
        have.append(name)
    return have


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*', default=DEFAULT_CONFIGS)
    parser.add_argument('--images', type=int, default=128, help='distinct JPEG files')
    parser.add_argument('--samples', type=int, default=300, help='pipeline calls per pass')
    parser.add_argument('--image-size', type=int, nargs=2, default=(500, 375), metavar=('W', 'H'))
    parser.add_argument('--gpu-images-per-s', type=float, default=H200_VIT_S_MIMCO_IMAGES_PER_S,
                        help='images/s one GPU consumes (default: ViT-S MimCo, H200, batch 256)')
    parser.add_argument('--backends', nargs='+', default=['cv2', 'pillow', 'turbojpeg'])
    parser.add_argument('--crop-backends', nargs='+', default=[None],
                        help="also time the random resized crop with these resize backends "
                             "('cv2', 'pillow', 'torch'); default: the config's")
    parser.add_argument('--json', default=None)
    parser.add_argument('--loader-workers', type=int, nargs='*', default=[],
                        help='also time the config\'s whole DataLoader with these worker counts')
    parser.add_argument('--batches', type=int, default=20, help='batches per DataLoader timing')
    parser.add_argument('--batch', type=int, default=None,
                        help='DataLoader batch size (default: the config\'s)')
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(1)  # what MMEngine's DataLoader workers run with
    import mimco_mm  # noqa: F401
    from mmengine.registry import init_default_scope

    from tools._common import load_config
    from tools.preflight.check_training import make_jpeg_folder
    init_default_scope('mmpretrain')
    import cv2
    cv2.setNumThreads(1)

    rows, loaders = [], []
    with tempfile.TemporaryDirectory() as tmp:
        make_jpeg_folder(tmp, args.images, tuple(args.image_size))
        import glob
        files = sorted(glob.glob(osp.join(tmp, 'train', '*', '*.JPEG')))
        mean_kb = statistics.mean(osp.getsize(f) for f in files) / 1024
        print(f'[data] {len(files)} JPEGs, mean {mean_kb:.0f} KiB, ~{args.image_size[0]}x'
              f'{args.image_size[1]}; {args.samples} samples per pass, 1 thread', flush=True)
        for config in args.configs:
            pipeline = load_config(config).train_dataloader.dataset.pipeline
            for backend, crop in [(b, c) for b in available_backends(args.backends)
                                  for c in args.crop_backends]:
                rate, per_step = measure(pipeline, backend, files, args.samples,
                                         crop_backend=crop)
                workers = math.ceil(args.gpu_images_per_s / rate)
                if crop:
                    backend = f'{backend}, crop resize {crop}'
                rows.append(dict(config=config, backend=backend, images_per_s=rate,
                                 workers_per_gpu=workers, ms_per_transform=per_step))
                print(f'[data] {config} [{backend}]: {rate:.0f} images/s per worker, '
                      f'{workers} workers per GPU; ms: ' +
                      ', '.join(f'{k} {v:.2f}' for k, v in per_step.items()), flush=True)
            loader_cfg = load_config(config).train_dataloader.to_dict()
            if args.batch:
                loader_cfg['batch_size'] = args.batch
            for n in args.loader_workers:
                rate = loader_rate(loader_cfg, tmp, n, args.batches)
                loaders.append(dict(config=config, workers=n, batch=loader_cfg['batch_size'],
                                    images_per_s=rate))
                print(f'[data] {config} DataLoader, {n} workers, batch {loader_cfg["batch_size"]}:'
                      f' {rate:.0f} images/s ({per_worker(rate, n)})', flush=True)

    print(f'\none data-loader worker, {torch.get_num_threads()} thread; a GPU consuming '
          f'{args.gpu_images_per_s:.0f} images/s needs the workers (CPU cores) shown')
    print('| config | decode | images / s / worker | workers per GPU | slowest transform |')
    print('|---|---|---|---|---|')
    for r in rows:
        slow = max(leaf_costs(r['ms_per_transform']).items(), key=lambda kv: kv[1])
        print(f'| {osp.basename(osp.dirname(r["config"]))}/{osp.basename(r["config"])} | '
              f'{r["backend"]} | {r["images_per_s"]:.0f} | {r["workers_per_gpu"]} | '
              f'{slow[0]} {slow[1]:.1f} ms |')
    if loaders:
        print('\n| config | DataLoader workers | batch | images / s | per worker |')
        print('|---|---|---|---|---|')
        for r in loaders:
            print(f'| {osp.basename(osp.dirname(r["config"]))}/{osp.basename(r["config"])} | '
                  f'{r["workers"]} | {r["batch"]} | {r["images_per_s"]:.0f} | '
                  f'{per_worker(r["images_per_s"], r["workers"])} |')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(image_size=args.image_size, gpu_images_per_s=args.gpu_images_per_s,
                           rows=rows, loaders=loaders), f, indent=1)
    return rows


if __name__ == '__main__':
    main()
