"""tools/train.py end to end on the CPU variants: stage 1 (MoCo v3) writes the teacher that stage 2
(MimCo) loads; stage 2 resumes; the optimizer never holds a teacher parameter."""
import os.path as osp

import pytest
import torch

from conftest import run_train
from tools._common import ROOT, default_work_dir


def test_stage2_learns_from_the_stage1_checkpoint_and_resumes(pretrain_chain):
    teacher_state = torch.load(pretrain_chain['teacher'], weights_only=False)['state_dict']
    options = [f'train_dataloader.dataset.data_root={pretrain_chain["data"]}',
               'train_dataloader.batch_size=8',
               f'model.teacher.checkpoint={pretrain_chain["teacher"]}']
    work_dir = pretrain_chain['root'] / 'mimco_resume'
    runner = run_train('configs/mimco/vit-tiny_cpu.py', work_dir, *options,
                       'train_cfg.max_epochs=1')
    model = runner.model
    # tools/train.py adds the data-wait monitor to every run, once
    from mimco_mm.engine import DataWaitMonitorHook, HangWatchdogHook
    assert sum(isinstance(h, DataWaitMonitorHook) for h in runner.hooks) == 1
    # and the hang watchdog, 30 minutes (--hang-minutes), dump only (--hang-exit)
    watchdogs = [h for h in runner.hooks if isinstance(h, HangWatchdogHook)]
    assert [(h.timeout_s, h.exit) for h in watchdogs] == [(1800.0, False)]
    # the teacher is stage 1's base encoder, bit for bit
    for key, value in model.target_generator.backbone.state_dict().items():
        assert torch.equal(value, teacher_state['backbone.' + key]), key
    # no teacher tensor in any param group; every student tensor in one
    teacher_ids = {id(t) for t in model.target_generator.state_dict(keep_vars=True).values()}
    grouped = {id(p) for g in runner.optim_wrapper.optimizer.param_groups for p in g['params']}
    assert grouped and not teacher_ids & grouped
    assert {id(p) for p in model.backbone.parameters()} <= grouped

    resumed = run_train('configs/mimco/vit-tiny_cpu.py', work_dir, *options,
                        'train_cfg.max_epochs=2', resume=True)
    assert resumed.epoch == 2 and (work_dir / 'epoch_2.pth').is_file()
    for key, value in resumed.model.target_generator.state_dict().items():
        assert torch.equal(value, model.target_generator.state_dict()[key]), key


def test_default_work_dir_keeps_same_named_configs_apart():
    assert default_work_dir(osp.join(ROOT, 'configs/mocov3/vit-b_300e.py')) == \
        osp.join('work_dirs', 'mocov3', 'vit-b_300e')
    assert default_work_dir(osp.join(ROOT, 'configs/mimco/vit-b_300e.py')) == \
        osp.join('work_dirs', 'mimco', 'vit-b_300e')


def test_effective_batch_other_than_the_recipe_warns_unless_auto_scaled():
    from tools._common import ROOT, load_config
    from tools.train import batch_lr_warning
    cfg = load_config(osp.join(ROOT, 'configs/mimco/vit-s_100e.py'))  # 8 x 256 = 2048
    assert batch_lr_warning(cfg, world_size=8) is None
    warning = batch_lr_warning(cfg, world_size=4)
    assert 'effective batch 1024' in warning and '2048' in warning
    assert '--auto-scale-lr' in warning and 'train_dataloader.batch_size=512' in warning
    cfg.auto_scale_lr.enable = True
    assert batch_lr_warning(cfg, world_size=4) is None
    # the one-GPU micro-batch config keeps the recipe's total: no warning
    assert batch_lr_warning(load_config(osp.join(ROOT, 'configs/mimco/vit-s_100e_1gpu.py')),
                            world_size=1) is None


def test_accumulation_in_moco_v3_is_refused():
    from tools import train as train_tool
    argv = [osp.join(ROOT, 'configs/mocov3/vit-tiny_cpu.py'), '--cfg-options',
            'optim_wrapper.accumulative_counts=4']
    with pytest.raises(ValueError, match="accumulative_counts=4 would leave MoCo v3's"):
        train_tool.build_config(train_tool.parse_args(argv))
