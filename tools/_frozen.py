"""What tools/knn.py and tools/retrieval.py share: the model and dataloaders from a config."""
import json
import os
import os.path as osp

import torch

from tools._common import load_config


def build_frozen_model(config, checkpoint, cfg_options=None):
    """The config's classifier with its backbone loaded (strictly) from `checkpoint`."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint} does not exist')
    cfg = load_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    if 'data_preprocessor' in cfg:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(cfg.model)
    model.init_weights()
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    return cfg, model.to(device).eval(), device


def build_loader(cfg, key):
    from mmengine.runner import Runner
    if key not in cfg:
        raise KeyError(f'the config has no {key}')
    return Runner.build_dataloader(cfg[key])


def write_metrics(out, record):
    """Write JSON atomically (tmp file then rename) so a crash never leaves half a file."""
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out + '.tmp', 'w') as f:
        json.dump(record, f, indent=2)
    os.replace(out + '.tmp', out)
    print(json.dumps(record['metrics'], indent=2))
