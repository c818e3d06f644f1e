"""Downstream runs survive preemption too (docs/long_runs.md "Long runs"): the COCO / ADE20K / fine-tune /
linear configs checkpoint on SIGUSR1 and every 20 minutes, and `--resume` continues them bit for
bit, mid-epoch and mid-stream included, without loading the data already trained on; a signal
during validation stops it, and the resumed run validates first."""
import os
import os.path as osp
import signal

import pytest

from _preempt_at import (config_importing_this, signalling_after_train_iter,
                         signalling_after_val_iter)
from conftest import free_port, make_image_folder, run_train
from mimco_mm.benchmark.plots import read_scalars
from mimco_mm.datasets import (ResumableBatchSampler, ResumableInfiniteSampler, SeededDataset,
                               make_ade_segmentation, make_coco_instances)
from mimco_mm.engine import PREEMPTED_EXIT_CODE, PreemptionCheckpointHook
from test_long_runs import assert_same_training_state, logged_losses, saved
from test_nonfinite_guard import log_text
from tools.overhead.benchmark_resume import SizesOnly

DET = 'configs/benchmarks/mask-rcnn_vit-tiny_cpu.py'
SEG = 'configs/benchmarks/upernet_vit-tiny_cpu.py'
LINEAR = 'configs/benchmarks/vit-tiny_linear_cpu.py'


def test_infinite_sampler_keeps_the_stream_and_starts_part_way():
    from mmengine.dataset import InfiniteSampler
    dataset = SeededDataset(SizesOnly(5), seed=0)
    for rank in (0, 1):
        ours, theirs = ResumableInfiniteSampler(dataset, seed=3), InfiniteSampler(dataset, seed=3)
        for sampler in (ours, theirs):
            sampler.rank, sampler.world_size = rank, 2
            sampler.indices = sampler._indices_of_rank()
        keys = [key for _, key in zip(range(12), ours)]
        assert [index for _, _, index in keys] == [i for _, i in zip(range(12), theirs)]
        # key (pass, replay, index): 24 positions over both ranks = passes 0..4 of 5 indices
        assert [p for p, _, _ in keys] == [(rank + 2 * k) // 5 for k in range(12)]
        ours.start_at(7)
        assert [key for _, key in zip(range(5), ours)] == keys[7:12]
        assert [key for _, key in zip(range(3), ours)] == keys[:3]  # start_at is used once


def test_batch_sampler_skips_whole_batches_as_indices():
    import mmdet.datasets.samplers  # noqa: F401  (registers AspectRatioBatchSampler)
    from mimco_mm.datasets import ResumableSampler
    dataset = SeededDataset(SizesOnly(23), seed=0)
    sampler = ResumableSampler(dataset, seed=1)
    batches = ResumableBatchSampler(sampler, 4, dict(type='mmdet.AspectRatioBatchSampler'))
    full = list(batches)
    assert len(full) == len(batches) == 6 and sorted(i for b in full for _, _, i in b) == \
        list(range(23))
    # grouped by aspect ratio: each full batch is all portrait or all landscape
    assert all(len({i % 4 == 0 for _, _, i in b}) == 1 for b in full[:-2])
    batches.start_at(4)
    assert list(batches) == full[4:]  # the same batches, no item loaded (SizesOnly would raise)
    assert list(batches) == full


def _count_loads(monkeypatch):
    """Counts the images the training data pipeline loads (num_workers=0: in this process)."""
    loads = []
    original = SeededDataset.__getitem__

    def counting(self, key):
        loads.append(key)
        return original(self, key)
    monkeypatch.setattr(SeededDataset, '__getitem__', counting)
    return loads


def _preempt_then_resume(config, options, tmp_path, monkeypatch, at, end, in_validation=False):
    """The uninterrupted run to `end`, and the same run preempted by SIGUSR1 after iteration
    `at` (`in_validation`: in the validation that follows it) and resumed: same weights,
    optimizer, schedulers, losses. Returns the keys of the images the resumed run loaded. (The
    seed is fixed for the comparison: the downstream configs, like mmdet's and mmseg's, draw one
    per run; a resumed run takes it from the checkpoint.)"""
    options = [*options, 'randomness.seed=0']
    run_train(config, tmp_path / 'ref', *options)
    reference = saved(tmp_path / 'ref' / f'iter_{end}.pth')
    work = tmp_path / 'preempted'
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1)}
    with monkeypatch.context() as patch:
        if in_validation:
            patch.setattr(PreemptionCheckpointHook, 'after_val_iter', signalling_after_val_iter(
                PreemptionCheckpointHook.after_val_iter, at))
        else:
            patch.setattr(PreemptionCheckpointHook, 'after_train_iter',
                          signalling_after_train_iter(PreemptionCheckpointHook.after_train_iter,
                                                      at))
        with pytest.raises(SystemExit) as exit_info:
            run_train(config, work, *options)
    assert exit_info.value.code == PREEMPTED_EXIT_CODE
    # the process is leaving: the signals stay ignored until a caller that goes on (this test)
    # puts the handlers back
    assert all(signal.getsignal(s) is signal.SIG_IGN for s in handlers)
    exit_info.value.restore_signals()
    assert {s: signal.getsignal(s) for s in handlers} == handlers
    written = f'iter_{at}_validating.pth' if in_validation else f'iter_{at}.pth'
    assert (work / written).is_file() and not (work / f'iter_{end}.pth').exists()
    loads = _count_loads(monkeypatch)
    run_train(config, work, *options, resume=True)
    assert_same_training_state(saved(work / f'iter_{end}.pth'), reference)
    ref_losses, resumed = logged_losses(tmp_path / 'ref'), logged_losses(work)
    assert {s: resumed[s] for s in range(at + 1, end + 1)} == \
        {s: ref_losses[s] for s in range(at + 1, end + 1)}
    return loads


def test_upernet_preempted_mid_stream_resumes_exactly_without_reloading(
        pretrain_chain, tmp_path, monkeypatch):
    """ADE20K's config: iteration-based, InfiniteSampler. 4 images, batch 2, 6 iterations =
    3 passes; preempted after iteration 3 (mid-pass)."""
    data = make_ade_segmentation(str(tmp_path / 'ade'), num_train=4, num_val=2)
    options = [f'train_dataloader.dataset.data_root={data}',
               f'model.backbone.init_cfg.checkpoint={pretrain_chain["stage2"]}',
               'train_cfg.max_iters=6', 'train_cfg.val_interval=100', 'val_cfg=None',
               'val_dataloader=None', 'val_evaluator=None', 'default_hooks.checkpoint.interval=6',
               'param_scheduler.1.end=6']
    loads = _preempt_then_resume(SEG, options, tmp_path, monkeypatch, at=3, end=6)
    assert len(loads) == 3 * 2  # 3 iterations x batch 2: nothing before iteration 3 reloaded
    assert {p for p, _, _ in loads} == {1, 2}  # passes 1 and 2 of the stream


def test_mask_rcnn_preempted_mid_epoch_resumes_exactly_without_reloading(
        pretrain_chain, tmp_path, monkeypatch):
    """COCO's config: epoch-based with mmdet's AspectRatioBatchSampler. 6 images, batch 2,
    2 epochs of 3 iterations; preempted 1 batch into epoch 2."""
    data = make_coco_instances(str(tmp_path / 'coco'), num_train=6, num_val=2)
    options = [f'train_dataloader.dataset.data_root={data}/',
               f'model.backbone.init_cfg.checkpoint={pretrain_chain["stage2"]}',
               'train_cfg.max_epochs=2', 'train_cfg.val_interval=100', 'val_cfg=None',
               'val_dataloader=None', 'val_evaluator=None',
               'default_hooks.checkpoint.by_epoch=False', 'default_hooks.checkpoint.interval=6']
    loads = _preempt_then_resume(DET, options, tmp_path, monkeypatch, at=4, end=6)
    assert len(loads) == 2 * 2 and {epoch for epoch, _, _ in loads} == {1}


def test_linear_probe_preempted_mid_epoch_resumes_exactly(pretrain_chain, tmp_path, monkeypatch):
    """The mmpretrain downstream configs (linear probe, fine-tune): epoch-based, DefaultSampler.
    12 images, batch 4, 2 epochs of 3 iterations; preempted 1 batch into epoch 2."""
    data = make_image_folder(str(tmp_path / 'data'), classes=3, per_class=4, size=36,
                             splits=('train', ))
    options = [f'train_dataloader.dataset.data_root={data}',
               f'model.backbone.init_cfg.checkpoint={pretrain_chain["stage2"]}',
               'model.head.num_classes=3', 'data_preprocessor.num_classes=3',
               'train_dataloader.batch_size=4', 'train_cfg.max_epochs=2',
               'train_cfg.val_interval=100', 'val_cfg=None', 'val_dataloader=None',
               'val_evaluator=None', 'default_hooks.checkpoint.by_epoch=False',
               'default_hooks.checkpoint.interval=6']
    loads = _preempt_then_resume(LINEAR, options, tmp_path, monkeypatch, at=4, end=6)
    assert len(loads) == 2 * 4 and {epoch for epoch, _, _ in loads} == {1}


def _validation_metrics(work_dir, key):
    """{step: value} of a validation metric in a work dir's scalar logs (all sessions)."""
    return {row['step']: row[key] for row in read_scalars(str(work_dir)) if key in row}


def test_linear_probe_preempted_during_validation_validates_first_on_resume(
        pretrain_chain, tmp_path, monkeypatch):
    """SIGUSR1 in the validation after epoch 1 (iteration 3) stops it there:
    iter_3_validating.pth holds the training state after epoch 1 and marks the validation
    pending; the resumed run validates first, so it logs epoch 1's accuracy as the uninterrupted
    run does, then trains on exactly."""
    data = make_image_folder(str(tmp_path / 'data'), classes=3, per_class=4, size=36,
                             splits=('train', 'val'))
    options = [f'train_dataloader.dataset.data_root={data}',
               f'val_dataloader.dataset.data_root={data}',
               f'model.backbone.init_cfg.checkpoint={pretrain_chain["stage2"]}',
               'model.head.num_classes=3', 'data_preprocessor.num_classes=3',
               'train_dataloader.batch_size=4', 'val_dataloader.batch_size=4',
               'train_cfg.max_epochs=2', 'train_cfg.val_interval=1',
               'default_hooks.checkpoint.by_epoch=False', 'default_hooks.checkpoint.interval=6']
    loads = _preempt_then_resume(LINEAR, options, tmp_path, monkeypatch, at=3, end=6,
                                 in_validation=True)
    assert len(loads) == 3 * 4 and {epoch for epoch, _, _ in loads} == {1}  # epoch 2 only
    assert saved(tmp_path / 'preempted' / 'iter_3_validating.pth')['loop_state'][
        'validation_pending']
    reference = _validation_metrics(tmp_path / 'ref', 'accuracy/top1')
    assert sorted(reference) == [1, 2]
    assert _validation_metrics(tmp_path / 'preempted', 'accuracy/top1') == reference
    assert 'stopped during its validation after iteration 3: validating first' in \
        log_text(tmp_path / 'preempted')


def test_upernet_rolls_back_over_nan_steps_and_finishes(pretrain_chain, tmp_path):
    """NonFiniteGuardHook(action='rollback') with the iteration-based loop: NaN at iterations
    5-7 -> back to iter_6.pth (written inside the streak, so it holds iteration 4's weights),
    replayed with fresh draws, finished at iteration 8 with finite weights."""
    from mmengine.runner import Runner

    from conftest import FAST_LOADING
    from test_nonfinite_guard import all_finite, guard_hook, poison_hook
    from tools import train as train_tool
    from tools._common import ROOT
    data = make_ade_segmentation(str(tmp_path / 'ade'), num_train=4, num_val=2)
    argv = [osp.join(ROOT, SEG), '--work-dir', str(tmp_path), '--cfg-options', *FAST_LOADING,
            f'train_dataloader.dataset.data_root={data}',
            f'model.backbone.init_cfg.checkpoint={pretrain_chain["stage2"]}',
            'train_cfg.max_iters=8', 'param_scheduler.1.end=8', 'train_cfg.val_interval=100',
            'val_cfg=None',
            'val_dataloader=None', 'val_evaluator=None', 'default_hooks.checkpoint.interval=2',
            'experiment_name=seg_rollback', 'visualizer.name=seg_rollback']
    cfg = train_tool.build_config(train_tool.parse_args(argv))
    cfg.custom_hooks = [dict(type='NonFiniteGuardHook', max_consecutive=3, action='rollback'),
                        dict(type='PoisonBackboneHook', iterations=[5, 6, 7])]
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert guard_hook(runner).rollbacks == 1
    assert runner.train_loop.replay == 1 and runner.iter == 8
    assert all_finite(poison_hook(runner).states[8])
    assert 'rolled back to ' + str(tmp_path / 'iter_6.pth') in log_text(tmp_path)


def test_two_processes_one_signalled_in_validation_stop_together_and_resume_exactly(
        pretrain_chain, tmp_path):
    """UPerNet on 2 gloo processes (tools/dist_train.sh), validating and checkpointing every 3
    iterations (as the ADE20K config does every 16k). SIGUSR1 reaches rank 1 only, in the
    validation after iteration 3: rank 0 learns it through the hook's all-reduce, both stop
    there, rank 0 writes iter_3_validating.pth (slowly: rank 1 must wait for it) beside
    CheckpointHook's iter_3.pth, which stays as it was; `--resume` on 2 processes validates
    first and ends bit-identical to the uninterrupted 2-process run. (Its mIoU is not the
    uninterrupted run's: this CPU config's plain BN keeps running statistics per process, as
    MMEngine's DDP does not broadcast buffers, and a checkpoint carries process 0's; the GPU
    configs use SyncBN. The single-process tests compare the numbers. A signal in a training
    iteration on one of several processes:
    tests/test_long_runs.py, the srun test.)"""
    import subprocess
    import sys

    from tools._common import ROOT
    data = make_ade_segmentation(str(tmp_path / 'ade'), num_train=8, num_val=2)
    options = ['--cfg-options', f'train_dataloader.dataset.data_root={data}',
               f'val_dataloader.dataset.data_root={data}',
               f'model.backbone.init_cfg.checkpoint={pretrain_chain["stage2"]}',
               'train_cfg.max_iters=6', 'param_scheduler.1.end=6', 'train_cfg.val_interval=3',
               'default_hooks.checkpoint.interval=3', 'randomness.seed=0']
    config = config_importing_this(osp.join(ROOT, SEG), tmp_path / 'upernet_preempt_at.py')

    def dist_train(work, *extra, **env):
        env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()), OMP_NUM_THREADS='1',
                   PYTHONPATH=osp.join(ROOT, 'tests'), **env)
        return subprocess.run(['bash', osp.join(ROOT, 'tools/dist_train.sh'), str(config), '2',
                               '--work-dir', str(work), *extra, *options], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)

    result = dist_train(tmp_path / 'ref')
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    work = tmp_path / 'preempted'
    # process 0's write takes 3 s: rank 1 must wait for it (torchrun would otherwise terminate
    # process 0 as soon as rank 1 exits, in the middle of the write)
    result = dist_train(work, PREEMPT_AT_VAL='3', PREEMPT_RANK='1', PREEMPT_SLOW_SAVE='3')
    assert result.returncode == PREEMPTED_EXIT_CODE, result.stdout[-3000:] + result.stderr[-3000:]
    log = log_text(work)
    assert (f'a signal on another process: saved {work / "iter_3_validating.pth"} during the '
            f'validation after iteration 3') in log, result.stdout[-3000:] + result.stderr[-3000:]
    assert not (work / 'iter_4.pth').exists() and not (work / 'iter_6.pth').exists()
    # CheckpointHook's iter_3.pth, written just before that validation, is left as it was
    assert not saved(work / 'iter_3.pth')['loop_state']['validation_pending']
    result = dist_train(work, '--resume')
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_same_training_state(saved(work / 'iter_6.pth'), saved(tmp_path / 'ref' / 'iter_6.pth'))
    assert sorted(_validation_metrics(work, 'mIoU')) == [3, 6]
    # and it is not among the preemption hook's files, which that hook prunes
    kept = saved(work / 'iter_6.pth')['message_hub']['runtime_info']['preemption_checkpoints']
    assert kept == [str(work / 'iter_3_validating.pth')]
    assert 'stopped during its validation after iteration 3: validating first' in log_text(work)


def test_sigterm_to_the_job_during_validation_exits_75_and_the_resumed_run_validates_first(
        pretrain_chain, tmp_path):
    """A SIGTERM to every process of the job (Slurm's preemption, scancel, its time limit) while
    validation workers run. They died of it, the training process raised "DataLoader worker ...
    is killed by signal: Terminated", and the run ended with 1: no checkpoint, no requeue. The
    linear probe with 2 persistent validation workers (as the COCO and ADE20K configs have),
    each validation iteration slowed to 0.3 s, SIGTERM to the process group from outside in the
    validation after epoch 1: exit 75 and iter_3_validating.pth; `--resume` validates first and
    ends as the uninterrupted run."""
    import re
    import subprocess
    import sys

    from tools._common import ROOT
    data = make_image_folder(str(tmp_path / 'data'), classes=3, per_class=4, size=36,
                             splits=('train', 'val'))
    config = config_importing_this(osp.join(ROOT, LINEAR), tmp_path / 'linear_preempt_at.py')

    def train(work, *extra, **env):
        cmd = [sys.executable, '-u', osp.join(ROOT, 'tools/train.py'), str(config),
               '--work-dir', str(work), *extra, '--cfg-options',
               f'train_dataloader.dataset.data_root={data}',
               f'val_dataloader.dataset.data_root={data}',
               f'model.backbone.init_cfg.checkpoint={pretrain_chain["stage2"]}',
               'model.head.num_classes=3', 'data_preprocessor.num_classes=3',
               'train_dataloader.batch_size=4', 'train_cfg.max_epochs=2',
               'train_cfg.val_interval=1', 'val_dataloader.batch_size=1',
               'val_dataloader.num_workers=2', 'val_dataloader.persistent_workers=True',
               'default_hooks.logger.interval=1', 'default_hooks.checkpoint.by_epoch=False',
               'default_hooks.checkpoint.interval=6', 'randomness.seed=0']
        env = dict(os.environ, OMP_NUM_THREADS='1',
                   PYTHONPATH=os.pathsep.join([ROOT, osp.join(ROOT, 'tests')]), **env)
        # own session: a signal to its process group reaches the workers, as Slurm's does
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def finish(proc, expected):
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == expected, out[-3000:]
        return out

    finish(train(tmp_path / 'ref'), 0)
    work = tmp_path / 'preempted'
    proc, seen = train(work, PREEMPT_SLOW_VAL='0.3'), []
    for line in proc.stdout:
        seen.append(line)
        if re.search(r'Epoch\(val\) \[1\]\[ *2/12\]', line):
            os.killpg(proc.pid, signal.SIGTERM)  # from outside: not the workers' parent
            break
    out = ''.join(seen) + finish(proc, PREEMPTED_EXIT_CODE)
    assert (f'SIGTERM: saved {work / "iter_3_validating.pth"} during the validation after '
            f'iteration 3') in out
    assert 'killed by signal' not in out
    finish(train(work, '--resume'), 0)
    assert_same_training_state(saved(work / 'iter_6.pth'), saved(tmp_path / 'ref' / 'iter_6.pth'))
    reference = _validation_metrics(tmp_path / 'ref', 'accuracy/top1')
    assert sorted(reference) == [1, 2] and _validation_metrics(work, 'accuracy/top1') == reference


EXIT_SCRIPT = '''
import gc, sys
from conftest import run_train, make_image_folder
from mimco_mm.datasets import make_ade_segmentation
from mimco_mm.engine import PreemptionCheckpointHook
root, stage2 = sys.argv[1:3]
workers = ['train_dataloader.num_workers=2']
ade = make_ade_segmentation(root + '/ade', num_train=4, num_val=2)
seg = [f'train_dataloader.dataset.data_root={ade}', f'model.backbone.init_cfg.checkpoint={stage2}',
       'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None', *workers]
# 1. the iteration loop, endless iterator
run_train('configs/benchmarks/upernet_vit-tiny_cpu.py', root + '/seg', *seg)
# 2. the epoch loop with persistent workers
data = make_image_folder(root + '/cls', classes=3, per_class=4, size=36, splits=('train', ))
run_train('configs/benchmarks/vit-tiny_linear_cpu.py', root + '/linear',
          f'train_dataloader.dataset.data_root={data}', f'model.backbone.init_cfg.checkpoint={stage2}',
          'model.head.num_classes=3', 'data_preprocessor.num_classes=3', 'train_dataloader.batch_size=4',
          'train_cfg.max_epochs=2', 'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
          'train_dataloader.persistent_workers=True', *workers)
# 3. a run that fails in the middle
def fail(self, runner, *args, **kwargs):
    if runner.iter == 1:
        raise RuntimeError('planned failure')
PreemptionCheckpointHook.after_train_iter = fail
try:
    run_train('configs/benchmarks/upernet_vit-tiny_cpu.py', root + '/failed', *seg)
except RuntimeError as error:
    print('FAILED AS PLANNED', error)
gc.collect()  # the runners (reference cycles) go: nothing then holds the workers' iterators
print('EXITING', flush=True)
'''


def test_the_process_exits_after_training_with_workers(pretrain_chain, tmp_path):
    """Dataloader workers ignore SIGTERM (so that Slurm's signal does not kill them mid-batch),
    so multiprocessing cannot stop them at interpreter exit: the loops stop them when they end
    (also on an error). Without that, a process whose runner was garbage-collected before exit
    waited for its workers forever (this hung `make test` in the demo test's UPerNet run)."""
    import subprocess
    import sys

    from tools._common import ROOT
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([osp.join(ROOT, 'tests'), ROOT]),
               OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable, '-c', EXIT_SCRIPT, str(tmp_path),
                             pretrain_chain['stage2']], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'FAILED AS PLANNED planned failure' in result.stdout
    assert result.stdout.rstrip().endswith('EXITING')
