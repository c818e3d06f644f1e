"""Every config under configs/ parses, passes the dead-key check and builds its model and pipeline.

The test walks the folder, so a new config is covered without touching this file. Teachers get a
random checkpoint of the right shape made here (no config may train against a missing teacher).
"""
import copy
import glob
import importlib
import os.path as osp

import pytest
from mmengine.registry import init_default_scope

from tools._common import ROOT, load_config
from tools.speed.benchmark_step import random_teacher_checkpoint

CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)


def _rel(path):
    return osp.relpath(path, ROOT)


def _teacher_checkpoint(teacher_cfg, cache, tmp_dir):
    key = repr((teacher_cfg.backbone, teacher_cfg.get('neck')))
    if key not in cache:
        cache[key] = random_teacher_checkpoint(teacher_cfg,
                                               osp.join(tmp_dir, f'teacher_{len(cache)}.pth'))
    return cache[key]


@pytest.fixture(scope='module')
def teacher_cache():
    return {}


def _pipelines(cfg):
    """Every `pipeline` list reachable from the dataloaders (datasets may nest)."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == 'pipeline' and isinstance(v, list):
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        walk(cfg.get(key))
    return found


def test_there_are_configs():
    names = {_rel(p) for p in CONFIGS}
    assert {'configs/mimco/vit-s_100e.py', 'configs/simmim/vit-s_100e.py',
            'configs/mocov3/vit-s_300e.py'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=_rel)
def test_config_builds(path, teacher_cache, tmp_path_factory):
    cfg = load_config(path)
    scope = cfg.get('default_scope', 'mmpretrain')
    init_default_scope(scope)
    registries = importlib.import_module(f'{scope}.registry')
    for imports in cfg.get('custom_imports', {}).get('imports', []):
        importlib.import_module(imports)
    model_cfg = copy.deepcopy(cfg.model)
    if model_cfg.get('type') == 'MimCo':
        model_cfg.teacher.checkpoint = _teacher_checkpoint(
            model_cfg.teacher, teacher_cache, str(tmp_path_factory.mktemp('teachers')))
    if 'data_preprocessor' in cfg:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = registries.MODELS.build(model_cfg)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) > 0
    for pipeline in _pipelines(cfg):
        for step in pipeline:
            registries.TRANSFORMS.build(copy.deepcopy(step))


def test_dead_key_is_an_error(tmp_path):
    path = tmp_path / 'old_style.py'
    path.write_text("_base_ = '%s'\nfp16 = dict(loss_scale='dynamic')\n"
                    % osp.join(ROOT, 'configs/mimco/vit-s_100e.py'))
    with pytest.raises(ValueError, match="'fp16'.*AmpOptimWrapper"):
        load_config(str(path))


@pytest.mark.parametrize('path', CONFIGS, ids=_rel)
def test_every_training_config_has_the_long_run_safety(path):
    """Every config that trains (pre-training and every downstream benchmark) guards against NaN,
    checkpoints on preemption and every <= 30 min, and resumes those checkpoints exactly
    (docs/long_runs.md "Long runs")."""
    cfg = load_config(path)
    if 'optim_wrapper' not in cfg or 'train_dataloader' not in cfg:
        return  # k-NN / retrieval: nothing is trained
    hooks = {h['type']: h for h in cfg.get('custom_hooks', [])}
    assert 'NonFiniteGuardHook' in hooks, _rel(path)
    assert hooks['PreemptionCheckpointHook']['interval_minutes'] <= 30, _rel(path)
    assert cfg.train_cfg.type in ('ResumableEpochBasedTrainLoop',
                                  'ResumableIterBasedTrainLoop'), _rel(path)


@pytest.mark.parametrize('path', ['configs/benchmarks/vit-s_knn_in1k.py',
                                  'configs/benchmarks/vit-s_retrieval-recall_folder.py'])
def test_frozen_feature_protocols_resize_bicubic_like_dino(path):
    cfg = load_config(osp.join(ROOT, path))
    loaders = [cfg.test_dataloader] + ([cfg.knn_bank_dataloader] if 'knn_bank_dataloader' in cfg
                                       else [])
    for loader in loaders:
        resize = next(s for s in loader.dataset.pipeline if s['type'] == 'ResizeEdge')
        assert resize['interpolation'] == 'bicubic' and resize['scale'] == 256
