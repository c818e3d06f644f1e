"""ViTLayerDecayConstructor gives the intended lr and weight decay to every parameter, for an
mmpretrain classifier, an mmdet detector and an mmseg segmentor alike."""
import copy
import importlib
import os.path as osp

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from tools._common import ROOT, load_config

CONFIGS = ['configs/benchmarks/vit-s_ft-200e_in1k.py', 'configs/benchmarks/mask-rcnn_vit-tiny_cpu.py',
           'configs/benchmarks/upernet_vit-tiny_cpu.py']


def _expected_scale(name, rate, num_layers):
    """Depth 0: patch embedding and tokens; i + 1: block i; num_layers + 1: the rest."""
    if not name.startswith('backbone.'):
        depth = num_layers + 1
    else:
        inner = name[len('backbone.'):]
        if inner in ('cls_token', 'pos_embed') or inner.startswith('patch_embed'):
            depth = 0
        elif inner.startswith('layers.'):
            depth = int(inner.split('.')[1]) + 1
        else:
            depth = num_layers + 1
    return rate ** (num_layers + 1 - depth)


@pytest.mark.parametrize('config', CONFIGS)
def test_learning_rates_per_layer(config):
    cfg = load_config(osp.join(ROOT, config))
    init_default_scope(cfg.default_scope)
    for module in cfg.custom_imports.imports:
        importlib.import_module(module)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = None
    assert cfg.optim_wrapper.constructor == 'ViTLayerDecayConstructor'
    model = importlib.import_module(f'{cfg.default_scope}.registry').MODELS.build(model_cfg)
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    optim_cfg.paramwise_cfg = dict(layer_decay_rate=0.5)
    optim_cfg.optimizer.weight_decay = 0.05
    wrapper = build_optim_wrapper(model, optim_cfg)
    base_lr = optim_cfg.optimizer.lr
    num_layers = model.backbone.num_layers
    owner = {id(p): n for n, p in model.named_parameters()}
    seen = set()
    for group in wrapper.optimizer.param_groups:
        for param in group['params']:
            name = owner[id(param)]
            seen.add(name)
            assert group['lr'] == pytest.approx(base_lr * _expected_scale(name, 0.5, num_layers)), name
            no_decay = param.ndim == 1 or name.endswith(('cls_token', 'pos_embed'))
            assert group['weight_decay'] == (0.0 if no_decay else 0.05), name
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert seen == trainable
    # the deepest block trains at the full rate; patch embedding at rate^(L+1)
    assert any(n.startswith('backbone.patch_embed') for n in seen)


def test_unknown_paramwise_key_is_an_error():
    from mimco_mm.engine import ViTLayerDecayConstructor
    with pytest.raises(KeyError, match='custom_keys'):
        ViTLayerDecayConstructor(dict(optimizer=dict(type='AdamW', lr=1e-3)),
                                 dict(layer_decay_rate=0.7, custom_keys={'norm': {}}))
    with pytest.raises(KeyError, match='layer_decay_rate'):
        ViTLayerDecayConstructor(dict(optimizer=dict(type='AdamW', lr=1e-3)), dict())


def test_model_without_vit_backbone_is_an_error():
    from mimco_mm.engine import ViTLayerDecayConstructor
    constructor = ViTLayerDecayConstructor(dict(optimizer=dict(type='AdamW', lr=1e-3)),
                                           dict(layer_decay_rate=0.7))
    model = torch.nn.Module()
    model.backbone = torch.nn.Linear(2, 2)
    with pytest.raises(TypeError, match='get_layer_depth'):
        constructor(model)
