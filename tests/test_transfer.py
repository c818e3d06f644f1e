"""Downstream transfer from a real stage-2 checkpoint: weights arrive, loading is loud, and Mask
R-CNN / UPerNet train and run their real evaluators (COCO AP, mIoU) on generated data."""
import copy
import json
import os.path as osp

import pytest
import torch
from mmengine.registry import init_default_scope

from conftest import run_train
from mimco_mm.datasets import make_ade_segmentation, make_coco_instances
from tools import test as test_tool
from tools._common import ROOT, load_config

DET = 'configs/benchmarks/mask-rcnn_vit-tiny_cpu.py'
SEG = 'configs/benchmarks/upernet_vit-tiny_cpu.py'


def _build(config, checkpoint, prefix='backbone.'):
    cfg = load_config(osp.join(ROOT, config))
    scope = cfg.default_scope
    init_default_scope(scope)
    import importlib
    for module in cfg.custom_imports.imports:
        importlib.import_module(module)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg.checkpoint = checkpoint
    model_cfg.backbone.init_cfg.prefix = prefix
    model = registry.build(model_cfg)
    model.init_weights()
    return model


@pytest.mark.parametrize('config', [DET, SEG])
def test_every_backbone_tensor_comes_from_the_stage2_checkpoint(config, pretrain_chain):
    state = torch.load(pretrain_chain['stage2'], weights_only=False)['state_dict']
    model = _build(config, pretrain_chain['stage2'])
    backbone = model.backbone.state_dict()
    assert len(backbone) > 20
    for key, value in backbone.items():
        assert torch.equal(value, state['backbone.' + key]), key


@pytest.mark.parametrize('config', [DET, SEG])
def test_a_wrong_prefix_is_an_error_not_a_scratch_run(config, pretrain_chain):
    # `target_generator.backbone.` exists in the file (the teacher) but is a MoCoV3ViT with a
    # final norm: the check must notice the mismatch instead of loading what happens to fit.
    with pytest.raises(KeyError, match='does not fit (VisionTransformer|NormedOutputsViT)'):
        _build(config, pretrain_chain['stage2'], prefix='target_generator.')


def _metrics_after_train_and_test(config, work_dir, options, best):
    """Train, then test the last checkpoint; the validation also kept the best checkpoint by
    the task's metric (file name pattern `best`)."""
    run_train(config, work_dir, *options)
    last = (work_dir / 'last_checkpoint').read_text().strip()
    assert osp.isfile(last), 'training wrote no checkpoint'
    assert len(list(work_dir.glob(best))) == 1, sorted(p.name for p in work_dir.iterdir())
    out = work_dir / 'test_metrics.json'
    test_tool.main([osp.join(ROOT, config), last, '--work-dir', str(work_dir),
                    '--out', str(out), '--cfg-options', *options])
    return json.loads(out.read_text())['metrics']


def _trained_protocols():
    """(config, the metric its best checkpoint is chosen by) for every protocol that trains."""
    from mimco_mm.benchmark.protocols import PROTOCOLS
    from tools.transfer import TRAINED
    metric = {'ft': 'accuracy/top1', 'ft_ibot': 'accuracy/top1', 'linear': 'accuracy/top1',
              'ade': 'mIoU'}
    return [(config, metric.get(task, 'coco/bbox_mAP'))  # every other trained task is COCO
            for config, _, task, _, _, _ in PROTOCOLS if task in TRAINED]


def test_fifteen_protocols_train():
    assert len(_trained_protocols()) == 15  # 3 fine-tune, 2 linear, 7 COCO, 3 ADE20K


@pytest.mark.parametrize('config,metric', _trained_protocols())
def test_every_trained_protocol_keeps_its_best_checkpoint_by_the_tasks_metric(config, metric):
    hook = load_config(osp.join(ROOT, 'configs/benchmarks', config)).default_hooks.checkpoint
    assert (hook.save_best, hook.rule) == (metric, 'greater')


def test_mask_rcnn_trains_and_evaluates_coco_ap(pretrain_chain, tmp_path):
    data = make_coco_instances(str(tmp_path / 'coco'), num_train=4, num_val=2)
    options = [f'train_dataloader.dataset.data_root={data}/',
               f'val_dataloader.dataset.data_root={data}/',
               f'test_dataloader.dataset.data_root={data}/',
               f'val_evaluator.ann_file={data}/annotations/instances_val.json',
               f'test_evaluator.ann_file={data}/annotations/instances_val.json',
               f'model.backbone.init_cfg.checkpoint={pretrain_chain["stage2"]}',
               'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
               'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
               'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']
    metrics = _metrics_after_train_and_test(DET, tmp_path / 'det', options,
                                            best='best_coco_bbox_mAP_epoch_1.pth')
    for key in ('coco/bbox_mAP', 'coco/segm_mAP', 'coco/bbox_mAP_50'):
        assert key in metrics and 0.0 <= metrics[key] <= 1.0, (key, metrics)


def test_upernet_trains_and_evaluates_miou(pretrain_chain, tmp_path):
    data = make_ade_segmentation(str(tmp_path / 'ade'), num_train=4, num_val=2)
    options = [f'train_dataloader.dataset.data_root={data}',
               f'val_dataloader.dataset.data_root={data}',
               f'test_dataloader.dataset.data_root={data}',
               f'model.backbone.init_cfg.checkpoint={pretrain_chain["stage2"]}',
               'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
               'default_hooks.checkpoint.interval=2',
               'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
               'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']
    metrics = _metrics_after_train_and_test(SEG, tmp_path / 'seg', options,
                                            best='best_mIoU_iter_2.pth')
    assert 'mIoU' in metrics and 0.0 <= metrics['mIoU'] <= 100.0, metrics
