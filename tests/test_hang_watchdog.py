"""HangWatchdogHook: a run where no iteration finishes for its timeout prints every thread's
stack (and with exit=True ends); a run that keeps finishing iterations prints nothing."""
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest

from _preempt_at import config_importing_this
from conftest import FAST_LOADING, make_image_folder, monitor_off
from mimco_mm.engine import HangWatchdogHook
from tools._common import ROOT, load_config
from tools.speed.benchmark_step import random_teacher_checkpoint

MIMCO = 'configs/mimco/vit-tiny_cpu.py'


def test_the_stack_is_printed_only_while_no_iteration_finishes():
    """2 s timeout: 3 s of iterations 0.5 s apart print nothing; a 5 s stall prints the stacks
    (the sleeping line among them); after the end of training nothing more."""
    script = textwrap.dedent('''
        import sys, time
        from mimco_mm.engine.hang_watchdog import HangWatchdogHook
        hook = HangWatchdogHook(timeout_minutes=2 / 60)
        hook.before_train(None)
        for i in range(6):
            time.sleep(0.5)
            hook.after_train_iter(None, i)
        print('PHASE', file=sys.stderr, flush=True)
        time.sleep(5)  # the stall
        print('PHASE', file=sys.stderr, flush=True)
        hook.after_train(None)
        time.sleep(3)
        print('PHASE', file=sys.stderr, flush=True)
    ''')
    run = subprocess.run([sys.executable, '-c', script], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env=dict(os.environ, PYTHONPATH=ROOT))
    assert run.returncode == 0, run.stderr[-3000:]
    iterating, stalled, ended, _ = run.stderr.split('PHASE')
    assert 'Timeout' not in iterating
    assert 'Timeout (0:00:02)!' in stalled, stalled  # after 2 s, and again after 4 s
    assert 'File "<string>", line 10 in <module>' in stalled, stalled  # time.sleep(5)
    assert 'Timeout' not in ended


def test_a_long_k_nn_monitor_pass_is_not_a_hang():
    """The k-NN monitor embeds its bank between two training iterations: 6 batches of 0.5 s
    under a 1 s timeout (a full ImageNet bank against 30 minutes) print no stacks, and with
    exit=True (what MAX_RESTARTS under slurm_train.sh passes) do not end the run. Before, each
    such pass ended it with status 1. A stall after the pass still times out."""
    script = textwrap.dedent('''
        import sys, time, torch
        from mmpretrain.structures import DataSample
        from mimco_mm.engine.hang_watchdog import HangWatchdogHook
        from mimco_mm.engine.knn_monitor import embed

        class Student(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.scale = torch.nn.Parameter(torch.ones(1))
                self.data_preprocessor = None

            def extract_feat(self, images):  # (B, 3, H, W) -> (B, 3)
                time.sleep(0.5)
                return images.mean(dim=(2, 3)) * self.scale

        bank = [dict(inputs=[torch.zeros(3, 4, 4, dtype=torch.uint8)],
                     data_samples=[DataSample().set_gt_label(0)]) for _ in range(6)]
        hook = HangWatchdogHook(timeout_minutes=1 / 60, exit=True)
        hook.before_train(None)
        feats, labels = embed(Student(), bank)
        print('EMBEDDED', tuple(feats.shape), file=sys.stderr, flush=True)
        time.sleep(3)  # a stall: the watchdog ends the process here
        print('NOT REACHED', file=sys.stderr, flush=True)
    ''')
    run = subprocess.run([sys.executable, '-c', script], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env=dict(os.environ, PYTHONPATH=ROOT))
    embedding, stalled = run.stderr.split('EMBEDDED')
    assert 'Timeout' not in embedding, embedding[-3000:]
    assert stalled.startswith(' (6, 3)') and 'Timeout (0:00:01)!' in stalled
    assert run.returncode == 1 and 'NOT REACHED' not in stalled


def test_a_timeout_must_be_positive():
    with pytest.raises(ValueError, match='timeout_minutes must be > 0'):
        HangWatchdogHook(timeout_minutes=0)


def test_a_hung_training_run_prints_where_it_waits_and_exits(tmp_path):
    """tools/train.py --hang-minutes 0.1 --hang-exit, the process blocked in a read before
    iteration 3: the stacks name the blocked function and the process ends with status 1, where
    it used to wait until the job's time limit."""
    data = make_image_folder(str(tmp_path / 'data'), classes=2, per_class=8)
    teacher = random_teacher_checkpoint(load_config(osp.join(ROOT, MIMCO)).model.teacher,
                                        str(tmp_path / 'teacher.pth'))
    config = config_importing_this(osp.join(ROOT, MIMCO), tmp_path / 'mimco_hang.py')
    cmd = [sys.executable, osp.join(ROOT, 'tools/train.py'), str(config), '--work-dir',
           str(tmp_path / 'run'), '--hang-minutes', '0.1', '--hang-exit', '--cfg-options',
           *FAST_LOADING, f'train_dataloader.dataset.data_root={data}',
           'train_dataloader.batch_size=4', f'model.teacher.checkpoint={teacher}',
           *monitor_off(MIMCO)]
    env = dict(os.environ, OMP_NUM_THREADS='1', HANG_AT_ITER='2',
               PYTHONPATH=f'{ROOT}:{osp.join(ROOT, "tests")}')
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out[-3000:]
    assert 'blocked before iteration 3' in out
    dump = run.stderr[run.stderr.index('Timeout (0:00:06)!'):]
    assert 'in stalled_read' in dump and 'in hang_before_train_iter' in dump
