"""NonFiniteGuardHook: a NaN step is skipped (weights and BatchNorm statistics as before it),
too many in a row stop the run with a useful error or roll it back, and no checkpoint ever holds
a non-finite tensor. Without the guard the same NaN poisons the weights (the failure it fixes)."""
import copy
import glob
import os.path as osp

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import Runner

from conftest import FAST_LOADING, make_image_folder
from mimco_mm.compat import load_checkpoint_file
from mimco_mm.engine import NonFiniteGuardHook
from mimco_mm.engine.nonfinite_guard import NonFiniteCheckpointError, NonFiniteLossError
from tools import train as train_tool
from tools._common import ROOT, load_config
from tools.speed.benchmark_step import random_teacher_checkpoint

CONFIG = osp.join(ROOT, 'configs/mimco/vit-tiny_cpu.py')


@HOOKS.register_module(force=True)
class PoisonBackboneHook(Hook):
    """Multiplies the student's output by NaN at the given iterations (1-based), as a bad batch
    or an overflow would; records the model state after every iteration."""

    priority = 'LOWEST'  # records the state after the guard has acted

    def __init__(self, iterations, first_pass_only=True):
        self.iterations = set(iterations)
        self.first_pass_only = first_pass_only
        self.active = False
        self.states = {}

    def before_train(self, runner):
        model = getattr(runner.model, 'module', runner.model)
        model.backbone.register_forward_hook(self._poison)

    def _poison(self, module, inputs, output):
        if not self.active:
            return None
        nan = float('nan')
        return type(output)(o * nan for o in output) if isinstance(output, (tuple, list)) \
            else output * nan

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        replay = getattr(runner.train_loop, 'replay', 0)
        self.active = (runner.iter + 1 in self.iterations
                       and not (self.first_pass_only and replay > 0))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        model = getattr(runner.model, 'module', runner.model)
        self.states[runner.iter + 1] = copy.deepcopy(model.state_dict())


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('guard')
    data = make_image_folder(str(root / 'data'), classes=2, per_class=8)
    teacher = random_teacher_checkpoint(load_config(CONFIG).model.teacher,
                                        str(root / 'teacher.pth'))
    return dict(data=data, teacher=teacher)


def train(setup, work_dir, poison, guard=dict(), *options):
    """2 epochs x 4 iterations of the tiny MimCo config with the poison hook; the guard's
    settings (None: no guard)."""
    argv = [CONFIG, '--work-dir', str(work_dir), '--cfg-options', *FAST_LOADING,
            f'train_dataloader.dataset.data_root={setup["data"]}',
            f'model.teacher.checkpoint={setup["teacher"]}', 'train_dataloader.batch_size=4',
            'train_cfg.max_epochs=2', f'experiment_name=guard_{osp.basename(str(work_dir))}',
            *options]
    cfg = train_tool.build_config(train_tool.parse_args(argv))
    hooks = [h for h in cfg.custom_hooks if h['type'] not in ('NonFiniteGuardHook',
                                                              'KNNMonitorHook')]
    if guard is not None:
        hooks.append(dict(type='NonFiniteGuardHook', **guard))
    cfg.custom_hooks = hooks + [poison]
    runner = Runner.from_cfg(cfg)
    return runner, runner.train


def all_finite(state):
    return all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def poison_hook(runner):
    return next(h for h in runner.hooks if isinstance(h, PoisonBackboneHook))


def guard_hook(runner):
    return next(h for h in runner.hooks if isinstance(h, NonFiniteGuardHook))


def log_text(work_dir):
    return ''.join(open(p).read() for p in glob.glob(osp.join(str(work_dir), '*', '*.log')))


def test_without_the_guard_one_nan_batch_poisons_the_weights(setup, tmp_path):
    runner, run = train(setup, tmp_path, dict(type='PoisonBackboneHook', iterations=[3]), None)
    run()
    assert not all_finite(poison_hook(runner).states[8])


def test_one_nan_step_is_skipped_and_changes_nothing(setup, tmp_path):
    runner, run = train(setup, tmp_path, dict(type='PoisonBackboneHook', iterations=[3]))
    run()
    states = poison_hook(runner).states
    for key, before in states[2].items():  # weights and BatchNorm statistics as before the step
        assert torch.equal(states[3][key], before), key
    assert any(not torch.equal(states[4][k], v) for k, v in states[3].items())  # training went on
    assert all_finite(states[8])
    assert guard_hook(runner).skipped_total == 1
    text = log_text(tmp_path)
    assert 'non-finite step at iteration 3 (epoch 1)' in text
    assert 'loss_patch=nan <- non-finite' in text and 'update skipped' in text
    for path in glob.glob(str(tmp_path / '*.pth')):
        assert all_finite(load_checkpoint_file(path)['state_dict'])


def test_consecutive_nan_steps_stop_with_the_last_good_checkpoint(setup, tmp_path):
    runner, run = train(setup, tmp_path, dict(type='PoisonBackboneHook', iterations=[5, 6, 7]),
                        dict(max_consecutive=3), 'default_hooks.checkpoint.by_epoch=False',
                        'default_hooks.checkpoint.interval=2')
    with pytest.raises(NonFiniteLossError) as err:
        run()
    message = str(err.value)
    assert '3 training steps in a row' in message and 'iteration 7 (epoch 2)' in message
    # iter_6.pth was written inside the streak: no update was applied, so it holds the weights
    # of iteration 4 and is finite, and it is the newest
    assert 'loss_patch=nan' in message and str(tmp_path / 'iter_6.pth') in message
    for path in glob.glob(str(tmp_path / '*.pth')):
        assert all_finite(load_checkpoint_file(path)['state_dict'])


def test_rollback_replays_from_the_last_checkpoint_with_fresh_draws(setup, tmp_path):
    runner, run = train(setup, tmp_path, dict(type='PoisonBackboneHook', iterations=[5, 6, 7]),
                        dict(max_consecutive=3, action='rollback'),
                        'default_hooks.checkpoint.by_epoch=False',
                        'default_hooks.checkpoint.interval=2')
    runner.register_hook(dict(type='ProvenanceHook'))
    run()
    assert guard_hook(runner).rollbacks == 1
    # the rollback's resume stays in this session: no earlier session in the provenance
    record = load_checkpoint_file(str(tmp_path / 'iter_8.pth'))['meta']['provenance']
    assert record['started_at_iter'] == 0 and 'earlier_sessions' not in record
    assert runner.train_loop.replay == 1 and runner.iter == 8
    states = poison_hook(runner).states
    assert all_finite(states[8])
    assert 'rolled back to ' + str(tmp_path / 'iter_6.pth') in log_text(tmp_path)


def test_a_checkpoint_with_a_non_finite_tensor_is_never_written():
    guard = NonFiniteGuardHook()
    bad = {'meta': {'iter': 12}, 'state_dict': {'backbone.pos_embed': torch.tensor([1.0, 0.0]),
                                                'backbone.cls_token': torch.tensor([float('nan')])},
           'optimizer': {'state': {0: {'exp_avg': torch.tensor([float('inf')])}}}}
    with pytest.raises(NonFiniteCheckpointError) as err:
        guard.before_save_checkpoint(None, bad)
    assert 'state_dict.backbone.cls_token' in str(err.value)
    assert 'optimizer.state.0.exp_avg' in str(err.value)
    assert 'pos_embed' not in str(err.value)


def test_guard_settings_are_checked():
    with pytest.raises(ValueError, match="'stop' or 'rollback'"):
        NonFiniteGuardHook(action='retry')
    with pytest.raises(ValueError, match='max_consecutive'):
        NonFiniteGuardHook(max_consecutive=0)


def test_a_nan_step_is_skipped_under_bf16_autocast_without_a_scaler(setup, tmp_path):
    """bf16 AmpOptimWrapper (CPU autocast here, mimco_mm/compat/bf16_amp.py): its scaler is
    disabled, and a disabled scaler would step on NaN gradients; the guard skips the step."""
    runner, run = train(setup, tmp_path, dict(type='PoisonBackboneHook', iterations=[3]), dict(),
                        'optim_wrapper.type=AmpOptimWrapper', 'optim_wrapper.dtype=bfloat16')
    run()
    assert not runner.optim_wrapper.loss_scaler.is_enabled()
    states = poison_hook(runner).states
    for key, before in states[2].items():
        assert torch.equal(states[3][key], before), key
    assert all_finite(states[8]) and guard_hook(runner).skipped_total == 1
    assert 'loss_scale' not in log_text(tmp_path)
