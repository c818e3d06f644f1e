"""`HangWatchdogHook`: when no iteration has finished for `timeout_minutes`, print where every
thread of the process is (and, with `exit=True`, end it).

A hung run is the costliest failure on a cluster. A node's stalled network file system blocks a
read in a dataloader worker, and a dead peer leaves a collective waiting (mmpretrain#1837: the
NCCL watchdog after 1800 s; #1233 and mmsegmentation#2137: a 2-GPU run that hangs after an epoch;
mmdetection#7289: Slurm, stuck at 100 % GPU use). The log just stops. Nobody can tell where it
stopped, and the allocation burns until the time limit. A preemption checkpoint cannot help:
the hook writes it at the next iteration boundary, which a hung process never reaches.

This hook arms Python's `faulthandler.dump_traceback_later`, which runs in a C thread of its own
and therefore fires even while the main thread is blocked inside a C call. It re-arms the timer
whenever a training, validation or test iteration finishes. If none finishes in time, each
process writes "Timeout (H:MM:SS)!" and every thread's Python stack to its stderr (fd 2, which
Slurm and torchrun collect per task), and does so again after each further period. Each rank's
dump shows where it waits: on its loader's queue, inside an all-reduce, in a file read. With
`exit=True` the process then ends with status 1 (faulthandler's `_exit(1)`), so a scheduler job
stops instead of idling to its time limit. The work since the last checkpoint is lost; the
failed step is restarted from that checkpoint by `MAX_RESTARTS=N tools/slurm_train.sh` (which
passes --hang-exit) or `torchrun --max-restarts`, not requeued (tools/slurm_train.sh requeues
only on 75).

The default of 30 minutes is well above the longest stretch without a finished iteration in
our configs: the first iteration (workers starting, torch.compile), a checkpoint write,
pycocotools after a COCO validation. Long work between iterations that is not stuck calls
`keep_alive()` as it goes (the k-NN monitor does, per batch: a bank of a full ImageNet takes
minutes, and with `--hang-exit`, which `MAX_RESTARTS` under tools/slurm_train.sh passes, a pass
longer than the timeout would end the run at every epoch). tools/train.py adds the hook to every
run (`--hang-minutes M`, 0: off; `--hang-exit`) unless the config has its own.
"""
import faulthandler
import sys
import time

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


_watching = None  # the hook of the run in progress, if it has one


def disarm():
    """Cancel the timer (the end of a run, also one that failed: the process may go on, as the
    demo and the tests run training in-process)."""
    global _watching
    _watching = None
    faulthandler.cancel_dump_traceback_later()


def keep_alive():
    """Count as a finished iteration: for work outside the train / val / test loops that makes
    progress (a batch of the k-NN monitor). Nothing when no watchdog is running."""
    if _watching is not None:
        _watching._arm()


@HOOKS.register_module()
class HangWatchdogHook(Hook):
    """Dump every thread's stack when no iteration has finished for `timeout_minutes`, and
    again after each further period; with `exit=True`, then end the process (status 1)."""

    def __init__(self, timeout_minutes=30.0, exit=False):
        if not timeout_minutes > 0:
            raise ValueError(f'HangWatchdogHook: timeout_minutes must be > 0, got '
                             f'{timeout_minutes!r}')
        self.timeout_s = float(timeout_minutes) * 60
        self.exit = bool(exit)
        self._armed_at = None

    def _arm(self):
        # re-arming cancels the pending timer and starts another C thread: do it at most once
        # per twentieth of the timeout, not once per iteration
        now = time.monotonic()
        if self._armed_at is not None and now - self._armed_at < self.timeout_s / 20:
            return
        faulthandler.dump_traceback_later(self.timeout_s, repeat=not self.exit,
                                          file=sys.__stderr__, exit=self.exit)
        self._armed_at = now

    def before_train(self, runner):
        global _watching
        _watching = self
        self._armed_at = None
        self._arm()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._arm()

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._arm()

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._arm()

    def after_train(self, runner):
        self._armed_at = None
        disarm()
