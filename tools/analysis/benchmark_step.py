"""Train-step time and peak memory of MimCo against the SimMIM control, same student, same batch.

    python tools/analysis/benchmark_step.py [--mimco CFG] [--simmim CFG] [--batch 8] [--iters 10]

Both models come from the real configs (the teacher gets random weights of the right shape: the
cost does not depend on what it learned). After warm-up the two are stepped alternately
(A, B, A, B, ...) so that clock or thermal drift hits both alike; the median step time is
reported, with images/s and the MimCo / SimMIM ratio. Peak memory (CUDA only) is measured in a
separate pass per model. Runs on CUDA when available, else CPU.
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
from tools._common import load_config  # noqa: E402


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
    model = MODELS.build(cfg.model).to(device)
    model.init_weights()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    return model, torch.optim.AdamW(params, lr=1e-4), cfg


def make_batch(cfg, batch, device):
    """Random normalised images and SimMIM block masks at the config's sizes."""
    from mmpretrain.structures import DataSample
    step = next(s for s in cfg.train_dataloader.dataset.pipeline if s.type == 'SimMIMMaskGenerator')
    size, grid = step.input_size, step.input_size // step.model_patch_size
    blocks = step.input_size // step.mask_patch_size
    scale = step.mask_patch_size // step.model_patch_size
    g = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, size, size, generator=g).to(device)
    samples = []
    for _ in range(batch):
        block_mask = torch.zeros(blocks * blocks)
        block_mask[torch.randperm(blocks * blocks, generator=g)[:int(step.mask_ratio * blocks ** 2)]] = 1
        mask = block_mask.reshape(blocks, blocks).repeat_interleave(scale, 0).repeat_interleave(scale, 1)
        assert mask.shape == (grid, grid)
        samples.append(DataSample().set_mask(mask.to(device)))
    return images, samples


def train_step(model, optimizer, images, samples, dtype):
    with torch.autocast(images.device.type, dtype=dtype, enabled=dtype is not None):
        losses = model(images, samples, mode='loss')
    loss = sum(v for k, v in losses.items() if k.startswith('loss'))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mimco', default='configs/mimco/vit-s_100e.py')
    parser.add_argument('--simmim', default='configs/simmim/vit-s_100e.py')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--dtype', choices=['bfloat16', 'float16', 'float32'], default='bfloat16')
    args = parser.parse_args(argv)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    dtype = None if args.dtype == 'float32' else getattr(torch, args.dtype)

    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for name, config in (('MimCo', args.mimco), ('SimMIM', args.simmim)):
            model, optimizer, cfg = build(config, tmp, device)
            images, samples = make_batch(cfg, args.batch, device)
            runs[name] = dict(step=lambda m=model, o=optimizer, i=images, s=samples:
                              train_step(m, o, i, s, dtype), times=[], model=model)
        for i in range(args.warmup):
            for run in runs.values():
                run['step']()
        for i in range(args.iters):
            for name, run in runs.items():
                run['times'].append(timed(run['step'], device))
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

    what = f'{args.batch} images, {args.dtype} autocast, {device_name(device)}'
    print(f'\ntrain step, median of {args.iters} alternating steps, {what}')
    print('| model | s / step | images / s | peak memory |')
    print('|---|---|---|---|')
    for name, run in runs.items():
        med = statistics.median(run['times'])
        peak = f'{run["peak"]:.2f} GiB' if run['peak'] is not None else 'n/a (CPU)'
        print(f'| {name} | {med:.3f} | {args.batch / med:.1f} | {peak} |')
    ratio = statistics.median(runs['MimCo']['times']) / statistics.median(runs['SimMIM']['times'])
    print(f'MimCo / SimMIM step time: {ratio:.2f}x')
    return ratio


if __name__ == '__main__':
    main()
