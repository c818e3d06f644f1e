"""What resuming a downstream run late costs: MMEngine's IterBasedTrainLoop loads, augments and
drops every batch before the checkpoint again ("Advance dataloader N steps"); our
ResumableIterBasedTrainLoop draws those batches' indices and loads nothing.

    python tools/overhead/benchmark_resume.py [CONFIG ...] [--at-fraction 0.9] [--gpus 8]
        [--batches 10]

For each iteration-based config (default: the ADE20K UPerNet and COCO ViTDet LSJ configs):
- the config's training pipeline runs on generated images of the dataset's typical size
  (ADE20K 512 x 683, COCO 480 x 640) in this process, one thread: seconds per batch of one GPU;
- MMEngine's advance at iteration N = N x that, divided by the config's worker count (its
  best case: the workers keep up and the main process does nothing else);
- ours: the resumable sampler (and batch sampler) of one of --gpus processes, on an index of the
  real dataset's size (ADE20K 20,210, COCO train2017 117,266 images), skipped to iteration N
  exactly as the loop does it, timed.
"""
import argparse
import os.path as osp
import statistics
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

DEFAULT_CONFIGS = ['configs/benchmarks/upernet_vit-s_8xb2-160k_ade20k-512x512.py',
                   'configs/benchmarks/mask-rcnn_vit-s_simple-fpn_lsj-100e_coco.py']
# images in the real training sets, and a typical image size (height, width)
DATASETS = {'mmseg': dict(size=20210, image=(512, 683)),
            'mmdet': dict(size=117266, image=(480, 640))}


class SizesOnly:
    """A dataset of n items that only has sizes (what samplers read; every 4th image portrait);
    loading one is an error."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        raise AssertionError('skipping must not load data')

    def get_data_info(self, index):
        return dict(width=640 if index % 4 else 427, height=480)


def generated_dataset(cfg, root):
    """The config's training dataset on a few generated images of the real size."""
    import copy

    from mmengine.registry import DATASETS as REGISTRY

    from mimco_mm.datasets import make_ade_segmentation, make_coco_instances
    dataset = copy.deepcopy(cfg.train_dataloader.dataset)
    image = DATASETS[cfg.default_scope]['image']
    if cfg.default_scope == 'mmseg':
        dataset.data_root = make_ade_segmentation(root, num_train=8, num_val=0, size=image)
    else:
        coco = make_coco_instances(root, num_train=8, num_val=0, size=image)
        dataset.update(data_root=coco + '/', ann_file='annotations/instances_train.json',
                       data_prefix=dict(img='train/'))
    return REGISTRY.build(dataset)


def seconds_per_batch(dataset, batch_size, batches):
    """Median time to load one batch through the pipeline (one thread)."""
    times = []
    dataset[0]  # warm-up: page cache, lazy imports
    for b in range(batches):
        start = time.perf_counter()
        for i in range(batch_size):
            dataset[(b * batch_size + i) % len(dataset)]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def skip_seconds(cfg, at, gpus):
    """Time for one process's resumable samplers to reach iteration `at` as the loop does it
    (ResumableIterBasedTrainLoop._batches: stream_position, start_epoch_at); the first batch
    after the skip is drawn."""
    from torch.utils.data import BatchSampler

    from mimco_mm.datasets import (ResumableBatchSampler, ResumableInfiniteSampler,
                                   ResumableSampler, SeededDataset)
    from mimco_mm.datasets.resumable import start_epoch_at, stream_position
    loader = cfg.train_dataloader
    dataset = SeededDataset(SizesOnly(DATASETS[cfg.default_scope]['size']), seed=0)
    infinite = 'Infinite' in loader.sampler['type']
    sampler = (ResumableInfiniteSampler if infinite else ResumableSampler)(dataset, seed=0)
    sampler.rank, sampler.world_size = 0, gpus
    if not infinite:  # DefaultSampler's per-rank share
        sampler.num_samples = -(-len(dataset) // gpus)
        sampler.total_size = sampler.num_samples * gpus
    if loader.get('batch_sampler'):
        batches = ResumableBatchSampler(sampler, loader.batch_size, dict(loader.batch_sampler))
    else:  # what torch's DataLoader builds around the sampler
        batches = BatchSampler(sampler, loader.batch_size, drop_last=False)
    start = time.perf_counter()
    start_epoch_at(batches, *stream_position(batches, at))
    next(iter(batches))
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*', default=DEFAULT_CONFIGS)
    parser.add_argument('--at-fraction', type=float, default=0.9,
                        help='resume at this fraction of the run (default 0.9)')
    parser.add_argument('--gpus', type=int, default=8)
    parser.add_argument('--batches', type=int, default=10, help='batches timed per config')
    args = parser.parse_args(argv)
    import importlib

    import torch
    from mmengine.registry import init_default_scope

    from tools._common import load_config
    torch.set_num_threads(1)
    rows = []
    for path in args.configs:
        cfg = load_config(osp.join(ROOT, path))
        if cfg.train_cfg.get('max_iters') is None:
            raise SystemExit(f'{path}: not an iteration-based config (train_cfg has no max_iters)')
        init_default_scope(cfg.default_scope)
        for module in cfg.custom_imports.imports:
            importlib.import_module(module)
        importlib.import_module(f'{cfg.default_scope}.datasets')
        at = int(cfg.train_cfg.max_iters * args.at_fraction)
        with tempfile.TemporaryDirectory() as tmp:
            per_batch = seconds_per_batch(generated_dataset(cfg, tmp),
                                          cfg.train_dataloader.batch_size, args.batches)
        workers = max(cfg.train_dataloader.get('num_workers', 0), 1)
        ours = skip_seconds(cfg, at, args.gpus)
        rows.append((osp.basename(path), at, cfg.train_dataloader.batch_size, per_batch,
                     at * per_batch / workers, workers, ours))
        print(f'{rows[-1][0]}: resume at {at}: MMEngine reloads {at} batches of '
              f'{rows[-1][2]} ({per_batch * 1e3:.0f} ms each, one core) = '
              f'{at * per_batch / 3600:.1f} core-hours, {rows[-1][4] / 60:.0f} min with its '
              f'{workers} workers; ours: {ours:.2f} s', flush=True)
    print('\n| config | resume at iteration | MMEngine: batches reloaded (per GPU) | load time per '
          'batch, one core | MMEngine advance, best case with the config\'s workers | ours '
          '(indices only) |\n|---|---|---|---|---|---|')
    for name, at, batch, per_batch, advance, workers, ours in rows:
        print(f'| {name} | {at} | {at} x {batch} images | {per_batch * 1e3:.0f} ms | '
              f'{advance / 60:.0f} min ({workers} workers) | {ours:.2f} s |')


if __name__ == '__main__':
    main()
