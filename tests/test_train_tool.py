"""tools/train.py end to end on the CPU variants: stage 1 (MoCo v3) writes the teacher that stage 2
(MimCo) loads; stage 2 resumes; the optimizer never holds a teacher parameter."""
import os.path as osp

import pytest
import torch

from test_dist_train import make_image_folder
from tools import train as train_tool
from tools._common import ROOT

FAST = ['train_dataloader.batch_size=8', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'default_hooks.logger.interval=1']


def _train(config, work_dir, *options, resume=None):
    argv = [osp.join(ROOT, config), '--work-dir', str(work_dir), '--cfg-options', *FAST, *options]
    if resume:
        argv.insert(1, '--resume')
    args = train_tool.parse_args(argv)
    cfg = train_tool.build_config(args)
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


@pytest.fixture(scope='module')
def stage1(tmp_path_factory):
    root = tmp_path_factory.mktemp('pipeline')
    data = make_image_folder(str(root / 'data'), classes=2, per_class=8)
    runner = _train('configs/mocov3/vit-tiny_cpu.py', root / 'mocov3',
                    f'train_dataloader.dataset.data_root={data}', 'train_cfg.max_epochs=1')
    return root, data, runner


def test_stage2_learns_from_the_stage1_checkpoint_and_resumes(stage1):
    root, data, stage1_runner = stage1
    teacher_ckpt = root / 'mocov3' / 'epoch_1.pth'
    assert teacher_ckpt.is_file()
    options = [f'train_dataloader.dataset.data_root={data}',
               f'model.teacher.checkpoint={teacher_ckpt}']
    runner = _train('configs/mimco/vit-tiny_cpu.py', root / 'mimco', *options,
                    'train_cfg.max_epochs=1')
    model = runner.model
    # the teacher is stage 1's base encoder, bit for bit
    stage1_backbone = stage1_runner.model.backbone.state_dict()
    for key, value in model.target_generator.backbone.state_dict().items():
        assert torch.equal(value, stage1_backbone[key]), key
    # no teacher tensor in any param group
    teacher_ids = {id(p) for p in model.target_generator.parameters()}
    grouped = {id(p) for g in runner.optim_wrapper.optimizer.param_groups for p in g['params']}
    assert grouped and not teacher_ids & grouped
    assert {id(p) for p in model.backbone.parameters()} <= grouped

    # resume to epoch 2 from the work dir
    resumed = _train('configs/mimco/vit-tiny_cpu.py', root / 'mimco', *options,
                     'train_cfg.max_epochs=2', resume=True)
    assert resumed.epoch == 2 and (root / 'mimco' / 'epoch_2.pth').is_file()
    for key, value in resumed.model.target_generator.state_dict().items():
        assert torch.equal(value, model.target_generator.state_dict()[key]), key


def test_default_work_dir_keeps_same_named_configs_apart():
    from tools._common import default_work_dir
    assert default_work_dir(osp.join(ROOT, 'configs/mocov3/vit-b_300e.py')) == \
        osp.join('work_dirs', 'mocov3', 'vit-b_300e')
    assert default_work_dir(osp.join(ROOT, 'configs/mimco/vit-b_300e.py')) == \
        osp.join('work_dirs', 'mimco', 'vit-b_300e')
