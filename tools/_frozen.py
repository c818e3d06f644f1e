"""What tools/knn.py and tools/retrieval.py share: the model and dataloaders from a config, and
the command line (CONFIG CHECKPOINT [--out JSON] [--cfg-options ...] [--launcher pytorch]).

Under `--launcher pytorch` (torchrun, tools/dist_knn.sh) every process takes one GPU (or, on a
machine without GPUs, runs on the CPU with gloo), each dataloader gives it every world_size-th
sample, and only the first process writes the metrics."""
import argparse
import os.path as osp
import time

import torch

from tools._common import (DictAction, close_process_group, evaluation_provenance, load_config,
                           write_metrics)


class Evaluation:
    """What the current frozen-feature evaluation used (its config and every dataset it built),
    for the provenance of its metrics; reset by build_frozen_model."""

    cfg = None
    datasets = []


def build_frozen_model(config, checkpoint, cfg_options=None):
    """The config's classifier with its backbone loaded (strictly) from `checkpoint`."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint} does not exist')
    cfg = load_config(config, cfg_options)
    Evaluation.cfg, Evaluation.datasets = cfg, []
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    if 'data_preprocessor' in cfg:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(cfg.model)
    model.init_weights()
    device = f'cuda:{torch.cuda.current_device()}' if torch.cuda.is_available() else 'cpu'
    return cfg, model.to(device).eval(), device


def build_loader(cfg, key):
    from mmengine.runner import Runner
    from mimco_mm.evaluation import shard_sampler, world
    if key not in cfg:
        raise KeyError(f'the config has no {key}')
    loader_cfg = cfg[key] if world()[1] == 1 else shard_sampler(cfg[key])
    loader = Runner.build_dataloader(loader_cfg)
    Evaluation.datasets.append(loader.dataset)
    return loader


def frozen_provenance(checkpoint, wall_s=None):
    """Provenance of the evaluation that just ran (see Evaluation)."""
    return evaluation_provenance(Evaluation.cfg, checkpoint, Evaluation.datasets, wall_s=wall_s)


def run_frozen_tool(argv, description, default_name, evaluate):
    """Parse CONFIG CHECKPOINT [--out] [--cfg-options], run evaluate(config, checkpoint,
    cfg_options) -> metrics, write them as JSON (default: next to the checkpoint)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', help=f'metrics JSON (default: <checkpoint dir>/{default_name})')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                        help='pytorch: one process per GPU under torchrun (tools/dist_knn.sh)')
    args = parser.parse_args(argv)
    if args.launcher == 'pytorch':
        from mmengine.dist import init_dist
        init_dist('pytorch', backend='nccl' if torch.cuda.is_available() else 'gloo')
    from mimco_mm.evaluation import world
    start = time.monotonic()
    metrics = evaluate(args.config, args.checkpoint, args.cfg_options)
    if world()[0] == 0:
        out = args.out or osp.join(osp.dirname(osp.abspath(args.checkpoint)), default_name)
        write_metrics(out, dict(config=args.config, checkpoint=args.checkpoint,
                                metrics=metrics, provenance=frozen_provenance(
                                    args.checkpoint, round(time.monotonic() - start, 1))))
    # Only after a success: a process that failed (one bad image in its shard) must not wait at
    # a barrier the others, still inside a collective, never reach; it leaves with its error
    # (tools/_common.run_process) and torchrun stops the others, instead of every process
    # hanging silently until gloo's / NCCL's timeout (30 min).
    if args.launcher == 'pytorch':
        close_process_group()
    return metrics
