"""tools/train.py end to end on the CPU variants: stage 1 (MoCo v3) writes the teacher that stage 2
(MimCo) loads; stage 2 resumes; the optimizer never holds a teacher parameter."""
import os.path as osp

import pytest
import torch

from conftest import run_train
from tools._common import ROOT, default_work_dir


def test_stage2_learns_from_the_stage1_checkpoint_and_resumes(pretrain_chain, tmp_path):
    teacher_state = torch.load(pretrain_chain['teacher'], weights_only=False)['state_dict']
    options = [f'train_dataloader.dataset.data_root={pretrain_chain["data"]}',
               'train_dataloader.batch_size=8',
               f'model.teacher.checkpoint={pretrain_chain["teacher"]}']
    work_dir = tmp_path / 'mimco_resume'
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


def _files(folder):
    """{relative path: (size, mtime_ns, contents' first bytes)} of every file under `folder`."""
    import os
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = osp.join(root, name)
            with open(path, 'rb') as f:
                head = f.read(4096)
            stat = os.stat(path)
            found[osp.relpath(path, folder)] = (stat.st_size, stat.st_mtime_ns, head)
    return found


def test_a_new_run_over_an_earlier_runs_checkpoints_is_refused(pretrain_chain, tmp_path):
    """Started without --resume in the work dir of an earlier run (forgetting --resume after a
    crash), tools/train.py used to train from iteration 0 there: last_checkpoint then named the
    new run, so the next --resume continued it, and the earlier run's files of the same name
    (epoch_N.pth, best_knn_top1.pth) were replaced as the new run reached them. Now it stops
    before anything is written, naming the checkpoint and the three ways on."""
    import shutil
    work = tmp_path / 'mimco'
    shutil.copytree(pretrain_chain['root'] / 'mimco', work)
    before = _files(work)
    assert 'epoch_1.pth' in before and 'last_checkpoint' in before
    options = [f'train_dataloader.dataset.data_root={pretrain_chain["data"]}',
               'train_dataloader.batch_size=8', f'model.teacher.checkpoint={pretrain_chain["teacher"]}',
               'train_cfg.max_epochs=1']
    with pytest.raises(SystemExit, match=r'holds checkpoints of an earlier run \(.*epoch_1\.pth\)'
                       r'.*Pass --resume .* --work-dir .* --overwrite'):
        run_train('configs/mimco/vit-tiny_cpu.py', work, *options)
    assert _files(work) == before  # not even the config dump or a log folder


def test_what_counts_as_an_earlier_run(tmp_path):
    import os
    import time

    from mmengine.config import Config

    from tools.train import refuse_to_start_over
    cfg = Config(dict(work_dir=str(tmp_path), resume=False))
    refuse_to_start_over(cfg)  # an empty folder
    (tmp_path / 'best_knn_top1.pth').write_bytes(b'x')  # weights only: nothing to continue
    refuse_to_start_over(cfg)
    (tmp_path / 'iter_4.pth').write_bytes(b'x')
    with pytest.raises(SystemExit, match='iter_4.pth'):
        refuse_to_start_over(cfg)
    refuse_to_start_over(cfg, overwrite=True)
    refuse_to_start_over(Config(dict(work_dir=str(tmp_path), resume=True)))
    # under torchrun's agent, a checkpoint this launch wrote is a restart's to continue
    os.utime(tmp_path / 'iter_4.pth', (time.time() - 60, ) * 2)
    agent = {'TORCHELASTIC_RESTART_COUNT': '1'}
    refuse_to_start_over(cfg, environ=dict(agent, MIMCO_LAUNCHED_AT=str(time.time() - 120)))
    with pytest.raises(SystemExit, match='iter_4.pth'):  # one from before the launch
        refuse_to_start_over(cfg, environ=dict(agent, MIMCO_LAUNCHED_AT=str(time.time())))


def test_tensorboard_is_added_beside_the_configs_backends_or_refused_without_the_package(
        monkeypatch):
    """`--tensorboard` adds MMEngine's TensorboardVisBackend to the config's backends (mmdet's
    and mmseg's configs name their own), once; without the tensorboard package it stops before
    any work and says how to install it."""
    import importlib.util

    from tools import train as train_tool
    config = osp.join(ROOT, 'configs/benchmarks/upernet_vit-tiny_cpu.py')
    args = train_tool.parse_args([config, '--tensorboard', '--work-dir', '/tmp/unused'])
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None if name ==
                        'tensorboard' else real_find_spec(name, *a))
    with pytest.raises(SystemExit, match=r'tensorboard package is not installed \(pip install '
                       r'tensorboard\)'):
        train_tool.build_config(args)
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: object() if name ==
                        'tensorboard' else real_find_spec(name, *a))
    cfg = train_tool.build_config(args)
    plain = train_tool.build_config(train_tool.parse_args([config, '--work-dir', '/tmp/unused']))
    assert [b['type'] for b in cfg.visualizer.vis_backends] == \
        [b['type'] for b in plain.visualizer.vis_backends] + ['TensorboardVisBackend']
    train_tool.add_tensorboard(cfg)  # asked twice: still one
    assert [b['type'] for b in cfg.visualizer.vis_backends].count('TensorboardVisBackend') == 1


def test_transfer_passes_tensorboard_to_the_trained_tasks_only_when_asked(monkeypatch, tmp_path):
    from tools import transfer
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))
    commands = []

    class Jobs:
        def run(self, cmd):
            commands.append(cmd)
    for asked in ('', '1'):
        monkeypatch.setenv('TENSORBOARD', asked)
        commands.clear()
        transfer.run_trained(Jobs(), 'ade', 'configs/benchmarks/upernet_vit-tiny_cpu.py',
                             str(tmp_path), 'stage2.pth', '1', [], 'new')
        train, test = commands
        assert ('--tensorboard' in train) == (asked == '1') and '--tensorboard' not in test
