"""Long runs survive (docs/long_runs.md "Long runs"): exact resume at an epoch boundary and mid-epoch for
MimCo and MoCo v3 stage 1, SIGTERM save-and-exit then resume (also under srun and torchrun),
kill -9 at any moment, and non-finite steps that never reach the weights or a checkpoint."""
import glob
import os
import os.path as osp
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from _preempt_at import config_importing_this
from conftest import free_port, make_image_folder, monitor_off, run_train
from mimco_mm.benchmark.compare import session_differences
from mimco_mm.benchmark.plots import read_scalars
from mimco_mm.compat import load_checkpoint_file
from mimco_mm.compat.atomic_checkpoint import find_latest_checkpoint
from mimco_mm.engine import PREEMPTED_EXIT_CODE
from tools._common import ROOT, load_config
from tools.speed.benchmark_step import random_teacher_checkpoint

MIMCO, MOCOV3 = 'configs/mimco/vit-tiny_cpu.py', 'configs/mocov3/vit-tiny_cpu.py'
BY_ITER = ['default_hooks.checkpoint.by_epoch=False', 'default_hooks.checkpoint.interval=3',
           'default_hooks.checkpoint.max_keep_ckpts=-1']


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """16 images (4 iterations of 4 per epoch) and a random MimCo teacher."""
    root = tmp_path_factory.mktemp('long_runs')
    data = make_image_folder(str(root / 'data'), classes=2, per_class=8)
    teacher = random_teacher_checkpoint(load_config(osp.join(ROOT, MIMCO)).model.teacher,
                                        str(root / 'teacher.pth'))
    return dict(data=data, teacher=teacher)


def options(config, setup, epochs=2):
    opts = [f'train_dataloader.dataset.data_root={setup["data"]}', 'train_dataloader.batch_size=4',
            f'train_cfg.max_epochs={epochs}', *monitor_off(config)]
    if config == MIMCO:
        opts.append(f'model.teacher.checkpoint={setup["teacher"]}')
    return opts


def saved(path):
    return load_checkpoint_file(str(path))


def assert_same_training_state(a, b):
    """Weights (momentum encoder and teacher included), optimizer state, schedulers: bitwise."""
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key, value in a['state_dict'].items():
        assert torch.equal(value, b['state_dict'][key]), key
    for pid, state in a['optimizer']['state'].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(
                b['optimizer']['state'][pid][name])), (pid, name)
    assert a['optimizer']['param_groups'] == b['optimizer']['param_groups']
    assert a['param_schedulers'] == b['param_schedulers']
    assert a['meta']['iter'] == b['meta']['iter']


def logged_losses(work_dir):
    return {row['step']: row['loss'] for row in read_scalars(str(work_dir)) if 'loss' in row}


@pytest.mark.parametrize('config', [MIMCO, MOCOV3])
def test_resume_is_bit_exact_at_epoch_boundary_and_mid_epoch(config, setup, tmp_path):
    opts = options(config, setup)
    # uninterrupted: 2 epochs x 4 iterations, checkpoints at iterations 3 and 6 (mid-epoch 1 and
    # 2) and the last one
    run_train(config, tmp_path / 'ref', *opts, *BY_ITER)
    reference = saved(tmp_path / 'ref' / 'iter_8.pth')
    ref_losses = logged_losses(tmp_path / 'ref')
    assert sorted(ref_losses) == list(range(1, 9))

    # the same run with epoch checkpoints; resumed from epoch_1.pth (an epoch boundary)
    run_train(config, tmp_path / 'epochs', *opts, 'default_hooks.checkpoint.interval=1')
    assert_same_training_state(saved(tmp_path / 'epochs' / 'epoch_2.pth'), reference)
    run_train(config, tmp_path / 'from_epoch_1', *opts, 'default_hooks.checkpoint.interval=1',
              resume=tmp_path / 'epochs' / 'epoch_1.pth')
    assert_same_training_state(saved(tmp_path / 'from_epoch_1' / 'epoch_2.pth'), reference)
    assert logged_losses(tmp_path / 'from_epoch_1') == {s: ref_losses[s] for s in range(5, 9)}

    # mid-epoch: from iteration 6 (2 of 4 batches into epoch 2), and from iteration 3 with
    # dataloader worker processes (augmentation does not depend on who loads a sample)
    for start, workers in ((6, 0), (3, 2)):
        work = tmp_path / f'mid{start}'
        run_train(config, work, *opts, *BY_ITER, f'train_dataloader.num_workers={workers}',
                  resume=tmp_path / 'ref' / f'iter_{start}.pth')
        assert_same_training_state(saved(work / 'iter_8.pth'), reference)
        resumed = logged_losses(work)
        assert sorted(resumed) == list(range(start + 1, 9))  # nothing trained twice
        assert resumed == {step: ref_losses[step] for step in resumed}


def test_a_micro_batch_run_resumes_mid_epoch_bit_exact(setup, tmp_path):
    """model.micro_batches=2 (two backward passes per step): resumed from iteration 3, the run
    ends where the uninterrupted one does."""
    opts = options(MIMCO, setup) + ['model.micro_batches=2']
    run_train(MIMCO, tmp_path / 'ref', *opts, *BY_ITER)
    run_train(MIMCO, tmp_path / 'mid', *opts, *BY_ITER, resume=tmp_path / 'ref' / 'iter_3.pth')
    assert_same_training_state(saved(tmp_path / 'mid' / 'iter_8.pth'),
                               saved(tmp_path / 'ref' / 'iter_8.pth'))
    resumed, ref = logged_losses(tmp_path / 'mid'), logged_losses(tmp_path / 'ref')
    assert sorted(resumed) == list(range(4, 9))
    assert resumed == {step: ref[step] for step in resumed}


def test_mid_epoch_resume_refuses_a_different_batch_layout(setup, tmp_path):
    opts = options(MIMCO, setup)
    run_train(MIMCO, tmp_path / 'ref', *options(MIMCO, setup, epochs=1), *BY_ITER)
    with pytest.raises(RuntimeError, match='samples per iteration'):
        run_train(MIMCO, tmp_path / 'other', *opts, 'train_dataloader.batch_size=2',
                  resume=tmp_path / 'ref' / 'iter_3.pth')


def test_a_run_resumed_with_another_batch_records_both_sessions(setup, tmp_path):
    """2 epochs x 4 iterations at batch 4, resumed from the first epoch's checkpoint with batch 8
    instead (allowed at an epoch boundary, with a warning):
    the last checkpoint's provenance describes both sessions, each with its iterations."""
    first = tmp_path / 'first'
    run_train(MIMCO, first, *options(MIMCO, setup), 'default_hooks.checkpoint.interval=1')
    work = tmp_path / 'resumed'
    run_train(MIMCO, work, *options(MIMCO, setup), 'train_dataloader.batch_size=8',
              'randomness.seed=None', resume=str(first / 'epoch_1.pth'))  # MMEngine draws one
    record = saved(work / 'epoch_2.pth')['meta']['provenance']
    (earlier, ) = record['earlier_sessions']
    assert (earlier['batch']['effective'], earlier['started_at_iter'],
            earlier['ended_at_iter']) == (4, 0, 4)
    assert (record['batch']['effective'], record['started_at_iter']) == (8, 4)
    assert earlier['seed'] == record['seed']  # MMEngine's resume takes the checkpoint's seed
    assert record['wall_s_all_sessions'] == pytest.approx(
        earlier['wall_s'] + record['wall_s'], abs=0.11) and earlier['wall_s'] > 0
    changed = {d['field'] for d in session_differences(record)}
    assert {'batch_effective', 'batch_per_device', 'config_sha256'} == changed
    assert 'with 8 samples per iteration' in ''.join(
        open(p).read() for p in glob.glob(str(work / '*' / '*.log')))
    # a run in one session has none
    assert 'earlier_sessions' not in saved(first / 'epoch_2.pth')['meta']['provenance']


def test_timed_checkpoints_keep_the_newest_and_point_last_checkpoint(setup, tmp_path):
    run_train(MIMCO, tmp_path, *options(MIMCO, setup),
              'custom_hooks.1.interval_minutes=0.00001',  # every iteration
              'custom_hooks.1.max_keep_ckpts=2')
    files = sorted(osp.basename(p) for p in glob.glob(str(tmp_path / 'iter_*.pth')))
    assert files == ['iter_7.pth', 'iter_8.pth']
    latest = find_latest_checkpoint(str(tmp_path))
    assert osp.isfile(latest) and saved(latest)['meta']['iter'] == 8


def test_timed_checkpoints_leave_an_iteration_based_checkpoint_hook_its_files(setup, tmp_path):
    """CheckpointHook by iteration (as the COCO LSJ and ADE20K configs) every 2 iterations, the
    timed checkpoint every iteration, 2 kept: at iterations 2, 4, 6 CheckpointHook has just
    written iter_N.pth, and the timed save used to overwrite it, count it as its own and prune
    it (iter_2.pth ... iter_6.pth were gone). Now it leaves those files to their hook."""
    run_train(MIMCO, tmp_path, *options(MIMCO, setup), *BY_ITER[:1],
              'default_hooks.checkpoint.interval=2', 'default_hooks.checkpoint.max_keep_ckpts=-1',
              'custom_hooks.1.interval_minutes=0.00001', 'custom_hooks.1.max_keep_ckpts=2')
    files = sorted(osp.basename(p) for p in glob.glob(str(tmp_path / 'iter_*.pth')))
    assert files == ['iter_2.pth', 'iter_4.pth', 'iter_5.pth', 'iter_6.pth', 'iter_7.pth',
                     'iter_8.pth']
    kept = saved(tmp_path / 'iter_8.pth')['message_hub']['runtime_info']['preemption_checkpoints']
    assert [osp.basename(p) for p in kept] == ['iter_5.pth', 'iter_7.pth']


# ---- signals and kills (real processes) -------------------------------------------------------

def _train_process(work_dir, setup, *extra, epochs=12, resume=False):
    """tools/train.py in its own process (one thread, so every run computes alike)."""
    cmd = [sys.executable, '-u', osp.join(ROOT, 'tools/train.py'), osp.join(ROOT, MIMCO),
           '--work-dir', str(work_dir), *(['--resume'] if resume else []), '--cfg-options',
           *options(MIMCO, setup, epochs), 'default_hooks.logger.interval=1', *extra]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    # own session: a signal to its process group reaches the dataloader workers too, as a
    # Slurm signal does, and never this test process
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def finished(*launches, timeout=300):
    """Wait for every launch (a Popen with its output piped: tools/train.py, or
    tools/dist_train.sh); their (return codes, output). A launch still running after `timeout`
    s fails the test, stopped as a scheduler would stop it: SIGTERM (torchrun passes it on to
    its workers, and SIGKILLs them TORCH_ELASTIC_SHUTDOWN_TIMEOUT later), then SIGKILL."""
    deadline = time.time() + timeout
    try:
        outputs = [launch.communicate(timeout=max(1, deadline - time.time()))[0]
                   for launch in launches]
    except subprocess.TimeoutExpired:
        for launch in launches:
            launch.terminate()
        for launch in launches:
            try:
                launch.wait(timeout=60)
            except subprocess.TimeoutExpired:
                launch.kill()
        pytest.fail(f'a launch was still running after {timeout} s: '
                    + '\n'.join(launch.communicate()[0][-2000:] for launch in launches))
    return [launch.returncode for launch in launches], '\n'.join(outputs)


def _finish(proc, expected=0, timeout=300):
    """Wait for one launch (as `finished`); its output, once its status is `expected`."""
    (code, ), out = finished(proc, timeout=timeout)
    assert code == expected, out[-3000:]
    return out


def _wait_for_iteration(proc, iteration, log):
    for line in proc.stdout:
        log.append(line)
        if f'][{iteration}/4]' in line or f'][ {iteration}/4]' in line:
            return
    raise AssertionError('training ended before iteration %d:\n%s' % (iteration,
                                                                        ''.join(log[-40:])))


@pytest.fixture(scope='module')
def reference_12_epochs(setup, tmp_path_factory):
    work = tmp_path_factory.mktemp('ref12')
    _finish(_train_process(work, setup))
    return saved(work / 'epoch_12.pth')


def test_sigterm_to_the_job_saves_exits_75_and_resumes_exactly(setup, tmp_path,
                                                               reference_12_epochs):
    work = tmp_path / 'run'
    proc = _train_process(work, setup, 'train_dataloader.num_workers=2',
                          'train_dataloader.persistent_workers=True')
    log = []
    _wait_for_iteration(proc, 3, log)
    os.killpg(proc.pid, signal.SIGTERM)  # the main process and its dataloader workers
    out, _ = proc.communicate(timeout=300)
    log.append(out)
    text = ''.join(log)
    assert proc.returncode == PREEMPTED_EXIT_CODE, text[-3000:]
    assert 'SIGTERM: saved' in text
    latest = find_latest_checkpoint(str(work))
    assert osp.basename(latest).startswith('iter_')
    interrupted_at = saved(latest)['meta']['iter']
    assert 3 <= interrupted_at < 48
    _finish(_train_process(work, setup, resume=True))
    assert_same_training_state(saved(work / 'epoch_12.pth'), reference_12_epochs)


def _srun_kill_on_bad_exit(tasks, kill_wait=30.0):
    """Wait for `tasks` (Popen, each its own session) as `srun --kill-on-bad-exit=1` does, and
    return srun's status. srun(1) and src/srun/launch.c (`_task_finish`): once a task exits with
    a status other than 0, every other task of the step gets SIGCONT and SIGTERM, then SIGKILL
    after KillWait (30 s by default); srun returns 128 + the signal if any task died of one,
    else the highest exit status. Also returns whether a task was still running when the
    SIGTERM went out."""
    signalled_running = False
    while any(t.poll() is None for t in tasks):
        if any(t.returncode not in (None, 0) for t in tasks):
            running = [t for t in tasks if t.poll() is None]
            signalled_running = bool(running)
            for t in running:
                os.killpg(t.pid, signal.SIGCONT)
                os.killpg(t.pid, signal.SIGTERM)
            deadline = time.monotonic() + kill_wait
            while any(t.poll() is None for t in running) and time.monotonic() < deadline:
                time.sleep(0.05)
            for t in running:
                if t.poll() is None:
                    os.killpg(t.pid, signal.SIGKILL)
                    t.wait()
            break
        time.sleep(0.01)
    codes = [t.wait() for t in tasks]
    killed = [-c for c in codes if c < 0]
    return (128 + max(killed) if killed else max(codes)), signalled_running


def test_under_srun_kill_on_bad_exit_every_task_still_exits_75(setup, tmp_path):
    """tools/slurm_train.sh runs the training tasks under `srun --kill-on-bad-exit=1`, and exit
    status 75 counts as a bad exit: the first task to leave gets the others SIGTERM. A task
    still on its way out then (after the checkpoint) died of it, srun returned 143 instead of 75
    and the script did not requeue the job. Two gloo processes started as srun would (this test
    plays srun), SIGUSR1 to process 0 after iteration 2, process 1 slowed by 3 s on its way out:
    srun's status is 75 and the checkpoint is there."""
    config = config_importing_this(osp.join(ROOT, MIMCO), tmp_path / 'mimco_preempt_at.py')
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=f'{ROOT}:{osp.join(ROOT, "tests")}',
               PREEMPT_AT_ITER='2', PREEMPT_RANK='0', PREEMPT_SLOW_EXIT='3',
               PREEMPT_SLOW_EXIT_RANK='1', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
               WORLD_SIZE='2')
    work = tmp_path / 'run'
    cmd = [sys.executable, '-u', osp.join(ROOT, 'tools/train.py'), str(config), '--launcher',
           'pytorch', '--work-dir', str(work), '--cfg-options', *options(MIMCO, setup, 4)]
    logs = [open(tmp_path / f'task{rank}.log', 'w') for rank in range(2)]
    tasks = [subprocess.Popen(cmd, cwd=ROOT, stdout=logs[rank], stderr=subprocess.STDOUT,
                              env=dict(env, RANK=str(rank), LOCAL_RANK=str(rank)),
                              start_new_session=True) for rank in range(2)]
    try:
        status, signalled_running = _srun_kill_on_bad_exit(tasks)
    finally:
        for t in tasks:
            if t.poll() is None:
                os.killpg(t.pid, signal.SIGKILL)
        for f in logs:
            f.close()
    text = ''.join((tmp_path / f'task{rank}.log').read_text()[-3000:] for rank in range(2))
    assert signalled_running, 'process 1 had left before the SIGTERM: the case was not tested'
    assert status == PREEMPTED_EXIT_CODE, text
    assert saved(work / 'iter_2.pth')['meta']['iter'] == 2


def test_under_torchrun_a_signal_to_the_job_saves_and_the_launcher_exits_75(setup, tmp_path):
    """tools/dist_train.sh, 2 gloo processes. torchrun starts each worker in a session of its own,
    so a signal to the job's process group reaches torchrun only: it passed SIGTERM on but died
    of SIGUSR1 (status -10, the workers left training without a launcher, no checkpoint), and it
    turned the workers' 75 into 1. Through tools/_torchrun.py: SIGUSR1 to the group, every worker
    saves, the launcher exits 75, and no worker outlives it."""
    import re
    work = tmp_path / 'run'
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()), OMP_NUM_THREADS='1')
    proc = subprocess.Popen(
        ['bash', osp.join(ROOT, 'tools/dist_train.sh'), osp.join(ROOT, MIMCO), '2', '--work-dir',
         str(work), '--cfg-options', *options(MIMCO, setup, 12), 'default_hooks.logger.interval=1'],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    log = []
    for line in proc.stdout:
        log.append(line)
        if re.search(r'Epoch\(train\) *\[ *2\]', line):
            os.killpg(proc.pid, signal.SIGUSR1)  # as a scheduler signals a job
            break
    out = ''.join(log) + _finish(proc, PREEMPTED_EXIT_CODE)
    assert 'SIGUSR1: saved' in out and '[dist_launch] preempted, checkpoint complete' in out
    assert osp.basename(find_latest_checkpoint(str(work))).startswith('iter_')
    left = subprocess.run(['pgrep', '-f', str(work)], capture_output=True, text=True).stdout
    assert not left, f'workers still running: {left}'


RESTART_OPTIONS = ['default_hooks.logger.interval=1', 'default_hooks.checkpoint.by_epoch=False',
                   'default_hooks.checkpoint.interval=2',
                   'default_hooks.checkpoint.max_keep_ckpts=-1']


def dist_train(config, work, setup, gpus=2, args=(), **env):
    """tools/dist_train.sh CONFIG GPUS over 6 epochs of the 16 images (12 iterations),
    iter_N.pth every 2 iterations; `args`: more arguments of tools/train.py; `env`: the
    launch's environment variables."""
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1',
               PYTHONPATH=osp.join(ROOT, 'tests'), **{'PORT': str(free_port()), **env})
    return subprocess.Popen(
        ['bash', osp.join(ROOT, 'tools/dist_train.sh'), str(config), str(gpus), '--work-dir',
         str(work), *args, '--cfg-options', *options(MIMCO, setup, 6), *RESTART_OPTIONS], cwd=ROOT,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope='module')
def restart_reference(setup, tmp_path_factory):
    """The uninterrupted 2-process run the torchrun restarts must match: its iter_12.pth."""
    config = config_importing_this(osp.join(ROOT, MIMCO),
                                   tmp_path_factory.mktemp('restart') / 'mimco_preempt_at.py')
    work = tmp_path_factory.mktemp('restart_reference')
    codes, out = finished(dist_train(config, work, setup))
    assert codes == [0], out[-3000:]
    return dict(config=config, checkpoint=saved(work / 'iter_12.pth'))


def test_a_torchrun_restart_continues_from_the_launchs_last_checkpoint(setup, restart_reference,
                                                                       tmp_path):
    """PET_MAX_RESTARTS=1 tools/dist_train.sh (torchrun --max-restarts 1), 2 gloo processes,
    iter_N.pth every 2 iterations, process 1 dies before iteration 6: torchrun starts both again
    with the same command line, and the run continues from iter_4.pth (before: from iteration 0,
    its first 4 iterations lost) and ends bit-identical to the uninterrupted run. A checkpoint
    older than the launch (an earlier run in the same work dir) is not taken. The restarted
    process 1 starts 3 s late: before compat/elastic_restart_store, process 0 then read the
    failed attempt's address of process 1 from torchrun's store and the restart failed
    (gloo: "connectFullMesh failed ... Connection refused"; 2 of 4 restarts without the delay)."""
    work = tmp_path / 'run'
    work.mkdir()
    stale = work / 'iter_10.pth'  # an earlier launch's file, older than this launch
    torch.save({'state_dict': {}, 'meta': {'iter': 10}}, stale)
    os.utime(stale, (time.time() - 3600, ) * 2)
    codes, out = finished(dist_train(restart_reference['config'], work, setup,
                                     args=['--overwrite'],  # a new run over the earlier launch
                                     PET_MAX_RESTARTS='1', CRASH_AT_ITER='5', CRASH_RANK='1',
                                     RESTART_SLOW_RANK='1'))
    assert codes == [0], out[-3000:]
    assert 'process 1 dies before iteration 6' in out
    assert f'torchrun restart: resuming from {work / "iter_4.pth"}' in out
    assert 'resumed epoch: 1, iter: 4' in out  # mmengine's own line
    assert_same_training_state(saved(work / 'iter_12.pth'), restart_reference['checkpoint'])


def test_a_two_node_restart_resumes_every_node_from_the_same_checkpoint(setup, restart_reference,
                                                                        tmp_path):
    """Two nodes (two torchrun agents, one process each) with the c10d rendezvous
    (RDZV_BACKEND=c10d NNODES=2 tools/dist_train.sh CONFIG 1 on each) and --max-restarts 1.
    Process 1 dies before iteration 6; process 0 waits in place, as an NCCL rank waits for a
    dead peer, so its agent sees it healthy and restarts it for the other node's sake without
    counting a restart (TORCHELASTIC_RESTART_COUNT stays 0 there, 1 on the failed node). Both
    nodes must still resume from iter_4.pth and end bit-identical to the uninterrupted run.
    Before (restart count as the key prefix and as the signal to resume) the restarted workers
    never met in torchrun's store and the launch failed (gloo: "connectFullMesh failed"); with
    no prefix at all (torch's own behaviour) it failed the same way, on the failed attempt's
    stale keys."""
    work = tmp_path / 'run'
    work.mkdir()
    env = dict(NNODES='2', RDZV_BACKEND='c10d', RDZV_ID='two_nodes', PORT=str(free_port()),
               PET_MAX_RESTARTS='1', CRASH_AT_ITER='5', CRASH_RANK='1',
               CRASH_MARK=str(work / 'crashed'), CRASH_OTHERS_BLOCK='1',
               TORCH_ELASTIC_SHUTDOWN_TIMEOUT='20')  # should it time out
    nodes = [dist_train(restart_reference['config'], work, setup, gpus=1, **env)
             for _ in range(2)]
    codes, out = finished(*nodes)
    assert codes == [0, 0], out[-3000:]
    assert 'process 1 dies before iteration 6' in out
    assert 'process 0 waits for its dead peer' in out
    assert out.count(f'torchrun restart: resuming from {work / "iter_4.pth"}') == 1  # rank 0
    print(out); assert 'resumed epoch: 1, iter: 4' in out  # mmengine's line (process 0's)
    # process 1 resumed too: otherwise it would train 12 iterations against process 0's 8, on
    # other images, and process 0's averaged gradients would differ
    assert_same_training_state(saved(work / 'iter_12.pth'), restart_reference['checkpoint'])


def test_slurm_train_restarts_a_failed_step_from_its_checkpoint(setup, tmp_path):
    """MAX_RESTARTS=1 tools/slurm_train.sh, its srun played by a script that runs the one task
    (a plain process, as `--launcher none`): the task dies before iteration 6 (os._exit, as
    after an ECC error), after iter_4.pth. The script runs the step again with --resume, the
    run continues from iter_4.pth and ends at iteration 12 (before: the job ended with the
    failure, status 3). (One process: 4 iterations per epoch.)"""
    config = config_importing_this(osp.join(ROOT, MIMCO), tmp_path / 'mimco_crash.py')
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    srun = bin_dir / 'srun'
    srun.write_text('#!/usr/bin/env bash\n'
                    'while [ "$1" != "$PYTHON" ]; do shift; done  # srun\'s own options\n'
                    'args=(); for a in "$@"; do [ "$a" = slurm ] && a=none; args+=("$a"); done\n'
                    'exec "${args[@]}"\n')
    srun.chmod(0o755)
    work = tmp_path / 'run'
    env = dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}', PYTHON=sys.executable,
               PYTHONPATH=osp.join(ROOT, 'tests'), OMP_NUM_THREADS='1', PREFLIGHT='0',
               MAX_RESTARTS='1', CRASH_AT_ITER='5', CRASH_MARK=str(tmp_path / 'crashed'))
    proc = subprocess.Popen(
        ['bash', osp.join(ROOT, 'tools/slurm_train.sh'), 'cpu', 'job', str(config), '--work-dir',
         str(work), '--cfg-options', *options(MIMCO, setup, 3), *RESTART_OPTIONS], cwd=ROOT,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = _finish(proc)
    assert 'process 0 dies before iteration 6' in out
    assert 'failed (status 3) after writing iter_4.pth: restart 1 of 1, resuming' in out
    assert 'resumed epoch: 0, iter: 4' in out  # mmengine's line
    assert saved(work / 'iter_12.pth')['meta']['iter'] == 12


def test_a_restart_keeps_the_first_attempts_choice_until_the_launch_wrote_a_checkpoint(tmp_path):
    """Under torchrun, a restart resumes from a checkpoint this launch wrote, whatever the
    process's own restart count says (an agent restarting for another node's failure counts
    nothing, but names a later attempt), and from nothing older; the earliest launch time of
    all processes decides."""
    from types import SimpleNamespace

    from mmengine.config import Config

    from mimco_mm.engine.elastic_restart import (launch_time, process_started_at,
                                                 restart_decision, resume_after_restart)
    work = tmp_path / 'run'
    work.mkdir()
    old = work / 'epoch_3.pth'
    torch.save({'state_dict': {}, 'meta': {}}, old)
    launched = time.time() + 1  # the file above predates the launch
    runner = SimpleNamespace(work_dir=str(work), _resume=False, _load_from='given.pth',
                             cfg=Config(dict(resume=False, load_from='given.pth')))
    assert resume_after_restart(runner, {}, launched) is None  # not under torchrun
    assert resume_after_restart(runner, {'TORCHELASTIC_RESTART_COUNT': '0'}, launched) is None
    assert 'no checkpoint written' in resume_after_restart(
        runner, {'TORCHELASTIC_RESTART_COUNT': '1'}, launched)
    assert runner._resume is False and runner._load_from == 'given.pth'
    new = work / 'iter_7.pth'
    torch.save({'state_dict': {}, 'meta': {}}, new)
    os.utime(new, (launched + 5, ) * 2)
    assert 'resuming from' in resume_after_restart(
        runner, {'TORCHELASTIC_RESTART_COUNT': '0', 'MIMCO_ELASTIC_ATTEMPT': 'round_1'}, launched)
    assert runner._resume is True and runner._load_from == str(new)
    assert runner.cfg.resume is True and runner.cfg.load_from == str(new)
    # an agent that joined the launch later (another node) does not hide the launch's files
    assert restart_decision(str(work), [launched + 10, launched], True)[0] == str(new)
    assert restart_decision(str(work), [launched + 10], True)[0] is None
    # a first attempt (no process counts a restart or names a later attempt) keeps its choice
    assert restart_decision(str(work), [launched], False) == (None, None)
    # the launch time: the one tools/_torchrun.py exports, else the agent's start (/proc)
    assert launch_time({'MIMCO_LAUNCHED_AT': repr(launched)}) == launched
    spawned = time.time()
    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])
    try:
        assert abs(process_started_at(child.pid) - spawned) < 2  # /proc/stat's btime: 1 s steps
    finally:
        child.kill()
        child.wait()
    assert 'launch time is unknown' in restart_decision(str(work), [launched, None], True)[1]


def test_every_agent_names_the_attempt_it_starts_as_all_nodes_do(monkeypatch, tmp_path):
    """tools/_torchrun.py's agents export one attempt name to their workers: the round of a real
    c10d rendezvous (which every node of the attempt joins, whatever its own restart count),
    and the restart count where the rendezvous has no rounds (static). Starting an attempt
    empties the preemption mark of the one before."""
    from types import SimpleNamespace

    from torch.distributed.elastic.rendezvous import RendezvousParameters
    from torch.distributed.elastic.rendezvous.registry import get_rendezvous_handler

    from tools import _torchrun
    monkeypatch.delenv(_torchrun.AGREED_ATTEMPT_ENV, raising=False)

    class Agent:
        def __init__(self, remaining_restarts):
            self._remaining_restarts = remaining_restarts

        def _start_workers(self, worker_group):
            return os.environ[_torchrun.AGREED_ATTEMPT_ENV]  # what the workers inherit
    _torchrun.agree_attempt_names(Agent)
    _torchrun.agree_attempt_names(Agent)  # once only
    assert Agent._start_workers.__wrapped__.__name__ == '_start_workers'
    c10d = get_rendezvous_handler(RendezvousParameters(
        backend='c10d', endpoint=f'127.0.0.1:{free_port()}', run_id='names', min_nodes=1,
        max_nodes=1))
    group = SimpleNamespace(spec=SimpleNamespace(rdzv_handler=c10d, max_restarts=3))
    try:
        c10d.next_rendezvous()
        assert Agent(3)._start_workers(group) == 'round_0'
        c10d.next_rendezvous()  # a new round: after any node's failure or a membership change
        assert Agent(3)._start_workers(group) == 'round_1'  # also where nothing was counted
        assert Agent(2)._start_workers(group) == 'round_1'
    finally:
        c10d.shutdown()
    static = SimpleNamespace(spec=SimpleNamespace(rdzv_handler=object(), max_restarts=3))
    assert Agent(1)._start_workers(static) == 'restart_2'
    # a preemption checkpoint that torchrun's stop of the attempt before made the workers write
    # does not make a later failure of the launch exit 75
    mark = tmp_path / 'preempted'
    mark.write_text('iter_5.pth\n')
    monkeypatch.setenv(_torchrun.PREEMPTED_MARK_ENV, str(mark))
    Agent(0)._start_workers(static)
    assert mark.read_text() == ''


def test_torchrun_gives_the_workers_time_for_a_large_checkpoint(monkeypatch):
    """torchrun's own config (its parser and LaunchConfig) after tools/_torchrun.py's defaults:
    SIGUSR1 is passed on, and the workers get SHUTDOWN_TIMEOUT_S after a signal instead of 30 s
    (a ViT-B checkpoint on a slow shared file system takes longer); what the caller sets wins.
    (Each option as far as this torch has it; the launcher's fallbacks for an older torchrun
    are tested below and with torch 2.11's agent.)"""
    from torch.distributed.launcher.api import LaunchConfig
    from torch.distributed.run import config_from_args, parse_args

    from tools import _torchrun
    ours = ('PET_SIGNALS_TO_HANDLE', 'PET_SHUTDOWN_TIMEOUT', 'TORCH_ELASTIC_SHUTDOWN_TIMEOUT')
    monkeypatch.setattr(os, 'environ', {k: v for k, v in os.environ.items() if k not in ours})
    argv = ['--nproc_per_node=2', 'tools/train.py']
    options = LaunchConfig.__dataclass_fields__

    def launch_config(*extra):
        return config_from_args(parse_args([*extra, *argv]))[0]
    plain = launch_config()
    _torchrun.apply_defaults()
    config = launch_config()
    if 'signals_to_handle' in options:  # torch >= 2.11
        assert 'SIGUSR1' not in plain.signals_to_handle
        assert 'SIGUSR1' in config.signals_to_handle.split(',')
    if 'shutdown_timeout' in options:  # torch >= 2.12
        assert plain.shutdown_timeout == 30
        assert config.shutdown_timeout == _torchrun.SHUTDOWN_TIMEOUT_S > 30
        assert launch_config('--shutdown-timeout=50').shutdown_timeout == 50
        os.environ['PET_SHUTDOWN_TIMEOUT'] = '60'
        assert launch_config().shutdown_timeout == 60
        del os.environ['PET_SHUTDOWN_TIMEOUT']
        os.environ['TORCH_ELASTIC_SHUTDOWN_TIMEOUT'] = '70'  # a caller's own, before ours
        _torchrun.apply_defaults()
        assert launch_config().shutdown_timeout == 70
        # this torch has the option, so the agent is left as it is
        from torch.distributed.elastic.agent.server.local_elastic_agent import \
            LocalElasticAgent
        assert not _torchrun.lengthen_signal_shutdown(LocalElasticAgent)


def test_a_torchrun_without_the_signals_option_still_passes_sigusr1_on(monkeypatch):
    """torch 2.6's torchrun has no --signals-to-handle and died of SIGUSR1 (status -10, the
    workers never told; measured 2026-11-30). There the launcher gives SIGUSR1 torchrun's own
    handler for SIGTERM: it raises SignalException(SIGUSR1), which the agent answers by stopping
    the workers with that signal. Here on a LaunchConfig without the option; on torch 2.6.0 the
    end-to-end test above gives 75 with it (-10 without)."""
    import dataclasses
    import signal

    from torch.distributed.elastic.multiprocessing import api
    from torch.distributed.launcher import api as launcher_api

    from tools import _torchrun

    @dataclasses.dataclass
    class OldLaunchConfig:  # torch 2.6's fields, as far as the check reads them
        min_nodes: int = 1
    monkeypatch.setattr(launcher_api, 'LaunchConfig', OldLaunchConfig)
    before = signal.getsignal(signal.SIGUSR1)
    try:
        assert _torchrun.handle_sigusr1()
        assert signal.getsignal(signal.SIGUSR1) is api._terminate_process_handler
        with pytest.raises(api.SignalException) as raised:
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(1)  # the handler runs at the next bytecode
        assert raised.value.sigval == signal.SIGUSR1
    finally:
        signal.signal(signal.SIGUSR1, before)
    monkeypatch.undo()
    if 'signals_to_handle' in launcher_api.LaunchConfig.__dataclass_fields__:
        assert not _torchrun.handle_sigusr1()  # this torch passes it on itself


def test_an_older_torchrun_waits_as_long_after_a_signal_only(monkeypatch):
    """torch <= 2.11 has no --shutdown-timeout: its agent's _shutdown(death_sig) calls
    PContext.close(death_sig) with close's fixed 30 s. After tools/_torchrun.py's wrap, the stop
    after a signal (a death signal passed) waits SHUTDOWN_TIMEOUT_S; the stop after a failed
    worker and the final clean-up (no signal passed) keep 30 s."""
    from tools import _torchrun
    monkeypatch.delenv('TORCH_ELASTIC_SHUTDOWN_TIMEOUT', raising=False)
    closed = []

    class PContext:
        def close(self, death_sig=None, timeout=30):
            closed.append((death_sig, timeout))

    class Agent:  # torch 2.11's LocalElasticAgent._shutdown, reduced to what matters here
        def __init__(self):
            self._pcontext = PContext()

        def _shutdown(self, death_sig=signal.SIGTERM):
            if self._pcontext:
                self._pcontext.close(death_sig)

    assert _torchrun.lengthen_signal_shutdown(Agent)
    agent = Agent()
    agent._shutdown(signal.SIGUSR1)  # SimpleElasticAgent.run, on a SignalException
    agent._shutdown()  # _stop_workers and the `finally` of run
    agent._shutdown(death_sig=signal.SIGTERM)
    assert closed == [(signal.SIGUSR1, _torchrun.SHUTDOWN_TIMEOUT_S), (signal.SIGTERM, 30),
                      (signal.SIGTERM, _torchrun.SHUTDOWN_TIMEOUT_S)]
    assert 'close' not in vars(agent._pcontext)  # the wrap lasted for its call only
    monkeypatch.setenv('TORCH_ELASTIC_SHUTDOWN_TIMEOUT', '90')  # the caller's value
    agent._shutdown(signal.SIGTERM)
    assert closed[-1] == (signal.SIGTERM, 90)


def test_kill_9_at_a_random_moment_never_breaks_resume(setup, tmp_path, reference_12_epochs):
    """A checkpoint and last_checkpoint are written at every iteration, so the kill often lands
    inside a write; whatever it hits, --resume finds a complete checkpoint and ends exactly
    where the uninterrupted run does."""
    work = tmp_path / 'run'
    proc = _train_process(work, setup, 'default_hooks.checkpoint.by_epoch=False',
                          'default_hooks.checkpoint.interval=1')
    _wait_for_iteration(proc, 2, [])
    time.sleep(random.Random(os.getpid()).uniform(0.0, 0.5))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    for path in glob.glob(str(work / '*.pth')):
        saved(path)  # every file under a checkpoint name is complete
    _finish(_train_process(work, setup, 'default_hooks.checkpoint.by_epoch=False',
                           'default_hooks.checkpoint.interval=1', resume=True))
    assert_same_training_state(saved(work / 'iter_48.pth'), reference_12_epochs)


def test_kill_9_inside_a_checkpoint_write_leaves_the_old_file(tmp_path):
    """The writer is killed while the new checkpoint's bytes are on disk but not yet in place
    (held there by a slow fsync): the target still holds the complete old checkpoint."""
    writer = (
        'import os, sys, time, torch, mimco_mm\n'
        'from mmengine.runner.checkpoint import save_checkpoint\n'
        "save_checkpoint({'state_dict': {'w': torch.full((1000,), 1.0)}}, sys.argv[1])\n"
        'def slow_fsync(fd):\n'
        "    print('inside the write', flush=True)\n"
        '    time.sleep(120)\n'
        'os.fsync = slow_fsync\n'
        "save_checkpoint({'state_dict': {'w': torch.full((4_000_000,), 2.0)}}, sys.argv[1])\n")
    target = tmp_path / 'latest.pth'
    proc = subprocess.Popen([sys.executable, '-c', writer, str(target)], cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.PIPE,
                            text=True)
    for line in proc.stdout:  # mmengine logs a few warnings first
        if 'inside the write' in line:
            break
    proc.kill()
    proc.wait()
    leftovers = [p for p in os.listdir(tmp_path) if p != 'latest.pth']
    assert len(leftovers) == 1 and leftovers[0].endswith('.part')  # the half-placed new file
    assert torch.equal(saved(target)['state_dict']['w'], torch.full((1000,), 1.0))
    from mmengine.runner.checkpoint import save_checkpoint
    save_checkpoint({'state_dict': {}}, str(target))  # the next write removes the leftover
    assert os.listdir(tmp_path) == ['latest.pth']


def test_resume_passes_over_a_damaged_checkpoint_and_ends_as_the_uninterrupted_run(setup,
                                                                                   tmp_path):
    """A run stopped after iteration 6 whose iter_6.pth then lost a bit (torch.load would read
    it): --resume starts from iter_3.pth, says why, and ends bit-identical to the reference."""
    import shutil
    from test_checkpoint_integrity import flip_a_byte
    from mimco_mm.compat import CorruptCheckpointError
    opts = options(MIMCO, setup)
    run_train(MIMCO, tmp_path / 'ref', *opts, *BY_ITER)  # checkpoints at 3, 6 and 8
    work = tmp_path / 'stopped'
    work.mkdir()
    for i in (3, 6):
        shutil.copy2(tmp_path / 'ref' / f'iter_{i}.pth', work / f'iter_{i}.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_6.pth'))
    flip_a_byte(work / 'iter_6.pth')
    with pytest.raises(CorruptCheckpointError, match='iter_6.pth'):
        saved(work / 'iter_6.pth')
    runner = run_train(MIMCO, work, *opts, *BY_ITER, resume=True)
    log = open(osp.join(runner.log_dir, osp.basename(runner.log_dir) + '.log')).read()
    assert 'damaged checkpoints were passed over' in log and 'iter_6.pth is damaged' in log
    assert sorted(logged_losses(work)) == [4, 5, 6, 7, 8]  # replayed from iteration 3
    assert_same_training_state(saved(work / 'iter_8.pth'), saved(tmp_path / 'ref' / 'iter_8.pth'))


def test_broken_last_checkpoint_pointer_falls_back_to_newest_complete_file(tmp_path):
    for i in (1, 2):
        torch.save({'state_dict': {}, 'meta': {'iter': i}}, tmp_path / f'iter_{i}.pth')
        os.utime(tmp_path / f'iter_{i}.pth', (i, i))
    (tmp_path / '.tmp-123-iter_3.pth.part').write_bytes(b'half a checkpoint')
    (tmp_path / 'last_checkpoint').write_text('')  # killed between truncate and write
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_1.pth'))
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_1.pth')  # as upstream
    os.remove(tmp_path / 'last_checkpoint')
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')
