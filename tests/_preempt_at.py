"""Preemption at a chosen iteration, for the resume tests: after training iteration `at`, this
process sends itself SIGUSR1 (as Slurm's warning before a time limit would) and the real handler
of PreemptionCheckpointHook takes it from there.

In-process tests patch the hook with `signalling_after_train_iter`; subprocess runs import this
module through a config file's `custom_imports`, which patches it from $PREEMPT_AT_ITER (and $PREEMPT_RANK: only
that rank gets the signal, so the others must learn it through the hook's all-reduce), and
$PREEMPT_SLOW_SAVE seconds of delay in process 0's checkpoint write (a large checkpoint on a slow
file system), and $PREEMPT_SLOW_EXIT seconds that the process of rank $PREEMPT_SLOW_EXIT_RANK takes
on its way out after the checkpoint (a slow teardown of dataloader workers), the moment another
task, already gone, may get it signalled (srun --kill-on-bad-exit).
"""
import os
import signal
import time

from mmengine.dist import get_rank

from mimco_mm.engine.preemption import PreemptionCheckpointHook


def signalling_after_train_iter(original, at, rank=None):
    """`original` (PreemptionCheckpointHook.after_train_iter), preceded by SIGUSR1 to this
    process after iteration `at` on `rank` (None: every rank)."""

    def after_train_iter(self, runner, *args, **kwargs):
        if runner.iter + 1 == at and rank in (None, get_rank()):
            os.kill(os.getpid(), signal.SIGUSR1)
        return original(self, runner, *args, **kwargs)
    return after_train_iter


if 'PREEMPT_AT_ITER' in os.environ:
    PreemptionCheckpointHook.after_train_iter = signalling_after_train_iter(
        PreemptionCheckpointHook.after_train_iter, int(os.environ['PREEMPT_AT_ITER']),
        int(os.environ['PREEMPT_RANK']) if 'PREEMPT_RANK' in os.environ else None)

if 'PREEMPT_SLOW_SAVE' in os.environ:
    _save = PreemptionCheckpointHook.save

    def slow_save(self, runner):
        if get_rank() == 0:
            time.sleep(float(os.environ['PREEMPT_SLOW_SAVE']))
        return _save(self, runner)
    PreemptionCheckpointHook.save = slow_save

if 'PREEMPT_SLOW_EXIT' in os.environ:
    _after_train_iter = PreemptionCheckpointHook.after_train_iter

    def slow_exit(self, runner, *args, **kwargs):
        try:
            return _after_train_iter(self, runner, *args, **kwargs)
        except SystemExit:
            if get_rank() == int(os.environ.get('PREEMPT_SLOW_EXIT_RANK', 0)):
                time.sleep(float(os.environ['PREEMPT_SLOW_EXIT']))
            raise
    PreemptionCheckpointHook.after_train_iter = slow_exit
