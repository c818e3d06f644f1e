"""The lr schedule must cover the training it drives (mimco_mm/engine/schedule_check.py):
`--cfg-options train_cfg.max_epochs=N` alone leaves the schedule at the config's length."""
import glob
import os.path as osp

import pytest

from conftest import make_image_folder, run_train
from mimco_mm.engine.schedule_check import schedule_problems
from tools._common import ROOT, load_config

WARMUP_COSINE = [  # configs/_base_/schedules/mim_adamw.py's shape, 100 epochs
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=90, eta_min=1e-6, by_epoch=True, begin=10, end=100,
         convert_to_iter_based=True)]


def test_a_schedule_that_fits_passes():
    assert schedule_problems(WARMUP_COSINE, 100, 100 * 50, 50) == ([], [])
    # mmdet 1x: a warm-up in iterations and steps in epochs
    mmdet = [dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
             dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11])]
    assert schedule_problems(mmdet, 12, 12 * 7330, 7330) == ([], [])
    # mmseg 160k, iteration loop: epoch-based schedulers cannot be compared and are skipped
    mmseg = [dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
             dict(type='PolyLR', power=1.0, begin=1500, end=160000, eta_min=0.0, by_epoch=False)]
    assert schedule_problems(mmseg, 1, 160000, None) == ([], [])
    assert schedule_problems([dict(type='ConstantLR', factor=1.0)], 7, 70, 10) == ([], [])


def test_training_past_the_schedule_is_an_error_naming_the_fix():
    errors, warnings = schedule_problems(WARMUP_COSINE, 300, 300 * 50, 50)
    assert warnings == [] and len(errors) == 1
    assert 'ends at epoch 100 (param_scheduler.1, CosineAnnealingLR) but training runs 300 ' \
        'epochs: the last 200' in errors[0]
    assert '--cfg-options param_scheduler.1.end=300 param_scheduler.1.T_max=290' in errors[0]
    # the fix it names passes
    fixed = [WARMUP_COSINE[0], dict(WARMUP_COSINE[1], end=300, T_max=290)]
    assert schedule_problems(fixed, 300, 300 * 50, 50) == ([], [])
    # iterations: ADE20K's PolyLR with a longer run
    errors, _ = schedule_problems([dict(type='PolyLR', begin=0, end=4, by_epoch=False)], 1, 6,
                                  None)
    assert 'ends at iteration 4' in errors[0] and 'param_scheduler.0.end=6' in errors[0]


def test_a_cosine_shorter_than_its_span_turns_back_up():
    errors, _ = schedule_problems([dict(WARMUP_COSINE[1], T_max=45)], 100, 5000, 50)
    assert errors == ['param_scheduler.0 (CosineAnnealingLR) has T_max=45 but runs from 10 to '
                      '100 (90 epochs): after T_max the cosine turns back up. Set '
                      'param_scheduler.0.T_max=90.']
    _, warnings = schedule_problems([dict(WARMUP_COSINE[1], T_max=180)], 100, 5000, 50)
    assert 'never reaches its eta_min' in warnings[0]


def test_stopping_before_the_schedule_ends_only_warns():
    errors, warnings = schedule_problems(WARMUP_COSINE, 2, 100, 50)
    assert errors == [] and 'training stops at epoch 2, before its lr schedule ends' in warnings[0]


def test_every_shipped_training_config_fits_its_schedule():
    for path in sorted(glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)):
        if '_base_' in path:
            continue
        cfg = load_config(path)
        if 'param_scheduler' not in cfg or 'train_dataloader' not in cfg:
            continue
        train = cfg.train_cfg
        if train.get('max_iters'):
            args = 1, train.max_iters, None
        else:
            args = train.max_epochs, train.max_epochs * 1000, 1000  # an epoch of 1000 steps
        assert schedule_problems(cfg.param_scheduler, *args) == ([], []), path


def test_train_tool_stops_before_the_first_step(tmp_path, pretrain_chain):
    """configs/mimco/vit-tiny_cpu.py (cosine to epoch 20) with max_epochs=30 alone: an error,
    before anything is trained or written; a config's own hook with action='warn' replaces the
    default one and lets it run."""
    data = make_image_folder(str(tmp_path / 'data'), classes=2, per_class=4)
    options = [f'train_dataloader.dataset.data_root={data}', 'train_dataloader.batch_size=8',
               f'model.teacher.checkpoint={pretrain_chain["teacher"]}', 'train_cfg.max_epochs=30']
    with pytest.raises(ValueError, match=r'the lr schedule ends at epoch 20 .* training runs 30 '
                                         r'epochs: the last 10'):
        run_train('configs/mimco/vit-tiny_cpu.py', tmp_path / 'run', *options)
    assert not glob.glob(str(tmp_path / 'run' / '*.pth'))
    cfg = load_config(osp.join(ROOT, 'configs/mimco/vit-tiny_cpu.py'))
    cfg.custom_hooks.append(dict(type='ScheduleCheckHook', action='warn'))
    cfg.dump(str(tmp_path / 'warn.py'))
    # 2 epochs of 1 iteration; the cosine ends after the first
    runner = run_train(str(tmp_path / 'warn.py'), tmp_path / 'warned', *options[:-1],
                       'train_cfg.max_epochs=2', 'param_scheduler.1.begin=0',
                       'param_scheduler.1.end=1', 'param_scheduler.1.T_max=1')
    assert runner.iter == 2
    assert len([h for h in runner.hooks if type(h).__name__ == 'ScheduleCheckHook']) == 1
    log = open(f'{runner.log_dir}/{osp.basename(runner.log_dir)}.log').read()
    assert 'ScheduleCheckHook: the lr schedule ends at epoch 1' in log
