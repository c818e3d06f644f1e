"""DataWaitMonitorHook: a run whose loader cannot keep up says so, with its numbers; one that keeps
up says nothing; tools/train.py adds the hook to every run."""
import os.path as osp
import time
from types import SimpleNamespace

import pytest
from mmengine.logging import MessageHub

from conftest import make_image_folder, run_train
from mimco_mm.engine import data_wait
from mimco_mm.engine.data_wait import DataWaitMonitorHook, data_wait_advice


def fake_runner(data_s, iter_s, iters, num_workers=4):
    """A runner whose message hub holds `iters` iterations of the given data / total times."""
    hub = MessageHub.get_instance(f'data_wait_{time.monotonic_ns()}')
    for _ in range(iters):
        hub.update_scalar('train/data_time', data_s)
        hub.update_scalar('train/time', iter_s)
    loop = SimpleNamespace(dataloader=SimpleNamespace(num_workers=num_workers))
    return SimpleNamespace(message_hub=hub, iter=iters - 1, train_loop=loop)


@pytest.fixture
def printed(monkeypatch):
    """What the hook prints through print_log, one string per call."""
    lines = []
    monkeypatch.setattr(data_wait, 'print_log', lambda msg, **kwargs: lines.append(msg))
    return lines


def warnings_of(hook, runner, printed):
    """The data-wait warnings one check prints."""
    printed.clear()
    hook.after_train_iter(runner, 0)
    return [line for line in printed if 'waiting for data' in line]


def test_a_loader_that_lags_is_reported_with_its_numbers(printed):
    hook = DataWaitMonitorHook(threshold=0.1, window=10, warmup=5, interval=5)
    runner = fake_runner(data_s=0.05, iter_s=0.15, iters=20, num_workers=4)
    hook.before_train(SimpleNamespace(iter=0))
    [message] = warnings_of(hook, runner, printed)
    assert 'waiting for data 33% of each iteration' in message
    assert 'median 0.050 s of 0.150 s' in message and '1.50x' in message
    assert 'has 4 DataLoader workers' in message and 'needs about 6' in message
    assert runner.message_hub.get_scalar('train/data_wait').current() == pytest.approx(1 / 3)
    # said once; said again only when the wait has doubled
    assert warnings_of(hook, runner, printed) == []
    for _ in range(10):
        runner.message_hub.update_scalar('train/data_time', 0.12)
        runner.message_hub.update_scalar('train/time', 0.15)
    assert len(warnings_of(hook, runner, printed)) == 1


def test_a_loader_that_keeps_up_is_only_recorded(printed):
    hook = DataWaitMonitorHook(threshold=0.1, window=10, warmup=5, interval=5)
    runner = fake_runner(data_s=0.005, iter_s=0.15, iters=20)
    hook.before_train(SimpleNamespace(iter=0))
    assert warnings_of(hook, runner, printed) == []
    assert runner.message_hub.get_scalar('train/data_wait').current() == pytest.approx(1 / 30)


def test_nothing_is_judged_during_warmup_or_after_a_resume_before_a_window(printed):
    hook = DataWaitMonitorHook(threshold=0.1, window=10, warmup=5, interval=5)
    hook.before_train(SimpleNamespace(iter=0))
    assert warnings_of(hook, fake_runner(0.1, 0.15, iters=10), printed) == []  # 10 < 5 + 10
    # resumed at iteration 1000: the first 15 iterations of this process are not judged
    hook.before_train(SimpleNamespace(iter=1000))
    runner = fake_runner(0.1, 0.15, iters=20)
    runner.iter = 1009
    assert warnings_of(hook, runner, printed) == []
    runner.iter = 1014
    assert len(warnings_of(hook, runner, printed)) == 1


def test_the_advice_depends_on_workers_and_cores():
    # no workers: use them
    assert 'num_workers=0' in data_wait_advice(0.1, 0.2, 0, cores=16, local_processes=1)
    # 4 workers, 16 cores for 2 processes (8 each): 8 workers needed, 7 spare cores -> refused
    # as "more workers than cores"; 32 cores -> raise to 8
    tight = data_wait_advice(0.1, 0.2, 4, cores=16, local_processes=2)
    assert 'needs about 8' in tight and 'More workers than cores' in tight
    roomy = data_wait_advice(0.1, 0.2, 4, cores=32, local_processes=2)
    assert 'Raise train_dataloader.num_workers to 8' in roomy


@pytest.mark.parametrize('kwargs', [dict(threshold=0), dict(threshold=1.5), dict(window=0),
                                    dict(interval=0), dict(warmup=-1)])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        DataWaitMonitorHook(**kwargs)


def test_train_tool_reports_a_slow_loader(tmp_path, monkeypatch, pretrain_chain):
    """The real tiny config through tools/train.py, its image loading slowed to 50 ms per image
    (batch 8: 0.4 s per batch; with 20 ms the wait share was 0.42 once, when two other jobs
    shared the 2 cores and the step took 0.44 s): the log says so, and a hook the config sets
    itself replaces the default one."""
    from mmcv.transforms import LoadImageFromFile

    from tools._common import ROOT, load_config
    data = make_image_folder(str(tmp_path / 'data'), classes=2, per_class=16)
    cfg = load_config(f'{ROOT}/configs/mimco/vit-tiny_cpu.py')
    cfg.custom_hooks.append(dict(type='DataWaitMonitorHook', warmup=2, window=3, interval=1))
    config = str(tmp_path / 'slow_loader.py')
    cfg.dump(config)
    load = LoadImageFromFile.transform

    def slow_load(self, results):
        time.sleep(0.05)
        return load(self, results)

    monkeypatch.setattr(LoadImageFromFile, 'transform', slow_load)
    runner = run_train(config, tmp_path / 'run', f'train_dataloader.dataset.data_root={data}',
                       f'model.teacher.checkpoint={pretrain_chain["teacher"]}',
                       'train_dataloader.batch_size=8', 'train_cfg.max_epochs=2')  # 8 iterations
    hooks = [h for h in runner.hooks if isinstance(h, DataWaitMonitorHook)]
    assert len(hooks) == 1 and hooks[0].window == 3  # the config's, not a second default one
    assert runner.message_hub.get_scalar('train/data_wait').current() > 0.5
    log = open(f'{runner.log_dir}/{osp.basename(runner.log_dir)}.log').read()
    assert 'waiting for data' in log and 'num_workers=0' in log
