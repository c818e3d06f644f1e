"""`PreemptionCheckpointHook`: what a preemption, a node failure or the job's time limit can cost.

- Every `interval_minutes` of training it writes `iter_N.pth` (a full, resumable checkpoint) at
  an iteration boundary and points `last_checkpoint` at it; only the newest `max_keep_ckpts` of
  its own files are kept (epoch checkpoints of CheckpointHook are never touched).
- On SIGTERM or SIGUSR1 (Slurm's warning before a time limit or preemption; see
  tools/slurm_train.sh) it writes the same checkpoint at the next iteration boundary and exits
  with `PREEMPTED_EXIT_CODE` (75), which the Slurm script answers with a requeue + `--resume`.
  From the checkpoint on these signals are ignored, so the status stays 75 when the launcher
  signals the tasks still leaving (srun --kill-on-bad-exit does, once the first task exits).
  Dataloader workers ignore these signals, so a signal sent to the whole job does not kill
  them in the middle of a batch.

All processes take the same decision (one scalar all-reduce per iteration), so every rank stops
at the same iteration. Resuming from these checkpoints is exact with
ResumableEpochBasedTrainLoop and ResumableIterBasedTrainLoop (every training config uses one).
"""
import atexit
import functools
import os
import os.path as osp
import signal
import time
import weakref

import torch
import torch.distributed as torch_dist
from mmengine.dist import get_world_size, is_distributed, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from mimco_mm.compat.atomic_checkpoint import write_bytes_atomic

PREEMPTED_EXIT_CODE = 75  # sysexits EX_TEMPFAIL: "try again later"


class RunPreempted(SystemExit):
    """Raised after the preemption checkpoint is written; exits with PREEMPTED_EXIT_CODE.

    The hook's signals stay ignored from then on (see `PreemptionCheckpointHook`): the process is
    leaving. A caller that catches this and goes on in the same process (a test) calls
    `restore_signals()` to put back the handlers the run found."""

    def __init__(self, code=PREEMPTED_EXIT_CODE, restore_signals=None):
        super().__init__(code)
        self._restore_signals = restore_signals

    def restore_signals(self):
        if self._restore_signals is not None:
            self._restore_signals()


def shutdown_dataloader_workers(loop):
    """Stop a train loop's dataloader workers through their queues, and drop the iterators.

    The workers ignore SIGTERM (see `_worker_init_ignoring_signals`), so the SIGTERM that
    multiprocessing sends its children at interpreter exit does not stop them, and the exit then
    waits for them forever. The workers that outlive an epoch must therefore be stopped here: an
    iteration loop's endless iterator, and a persistent loader's. Safe to call twice."""
    if loop is None:
        return
    for owner, name in ((loop, 'data_iterator'), (getattr(loop, 'dataloader', None), '_iterator')):
        iterator = getattr(owner, name, None)
        if iterator is not None and hasattr(iterator, '_shutdown_workers'):
            iterator._shutdown_workers()
            setattr(owner, name, None)  # a persistent loader starts new workers if run again


def _worker_init_ignoring_signals(signums, original, worker_id):
    for signum in signums:
        signal.signal(signum, signal.SIG_IGN)
    if original is not None:
        original(worker_id)


@HOOKS.register_module()
class PreemptionCheckpointHook(Hook):
    """Checkpoint every few minutes and on a preemption signal, then exit.

    Args:
        interval_minutes (float | None): minutes of training between two `iter_N.pth`
            checkpoints; None writes them only on a signal.
        max_keep_ckpts (int): how many of this hook's checkpoints to keep.
        signals (tuple[str]): signal names that trigger save-and-exit.
    """

    priority = 'VERY_LOW'  # after the logger and the non-finite guard of the same iteration

    def __init__(self, interval_minutes=20, max_keep_ckpts=2, signals=('SIGTERM', 'SIGUSR1')):
        if interval_minutes is not None and interval_minutes <= 0:
            raise ValueError(f'interval_minutes must be positive or None, got {interval_minutes}')
        if max_keep_ckpts < 1:
            raise ValueError(f'max_keep_ckpts must be >= 1, got {max_keep_ckpts}')
        self.interval_s = None if interval_minutes is None else 60.0 * interval_minutes
        self.max_keep_ckpts = max_keep_ckpts
        self.signums = tuple(getattr(signal, name) for name in signals)
        self._received = None
        self._previous_handlers = {}
        self._last_save = None

    # ---- signals -------------------------------------------------------------------------------

    def _on_signal(self, signum, frame):
        self._received = signal.Signals(signum).name  # acted on at the next iteration boundary

    def before_train(self, runner):
        for signum in self.signums:
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)
        loader = runner.train_loop.dataloader
        loader.worker_init_fn = functools.partial(_worker_init_ignoring_signals, self.signums,
                                                  loader.worker_init_fn)
        # whatever ends the process (preemption, an error, Ctrl-C), stop the workers first:
        # atexit runs handlers last-in first-out, so this runs before multiprocessing's own
        loop = weakref.ref(runner.train_loop)
        atexit.register(lambda: shutdown_dataloader_workers(loop()))
        self._last_save = time.monotonic()

    def after_train(self, runner):
        self._restore_handlers()
        shutdown_dataloader_workers(runner.train_loop)  # MMEngine's loops leave them running

    def _restore_handlers(self):
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers = {}

    # ---- per iteration -------------------------------------------------------------------------

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        time_due = (self.interval_s is not None and is_main_process()
                    and time.monotonic() - self._last_save >= self.interval_s)
        flags = [float(self._received is not None), float(time_due)]
        if is_distributed() and get_world_size() > 1:
            device = 'cuda' if torch.cuda.is_available() else 'cpu'
            tensor = torch.tensor(flags, device=device)
            torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.MAX)
            flags = tensor.tolist()
        signalled, time_due = bool(flags[0]), bool(flags[1])
        if not (signalled or time_due):
            return
        path = self.save(runner)
        if signalled:
            shutdown_dataloader_workers(runner.train_loop)  # meanwhile process 0 writes
            if is_distributed() and get_world_size() > 1:
                # Only process 0 writes; a process that left before the write ended would make
                # the launcher (torchrun) terminate process 0 in the middle of it.
                torch_dist.barrier()
            # From here the process is leaving with 75, and a further signal must not kill it
            # on the way out: under `srun --kill-on-bad-exit=1` (tools/slurm_train.sh) the first
            # task to exit with 75 gets every other task SIGTERM, and a task that dies of it
            # makes srun return 143, so the job is not requeued.
            for signum in self.signums:
                signal.signal(signum, signal.SIG_IGN)
            print_log(f'{self._received or "a signal on another process"}: saved {path} at '
                      f'iteration {runner.iter + 1}; exiting with code {PREEMPTED_EXIT_CODE}. '
                      f'Continue with tools/train.py CONFIG --resume (tools/slurm_train.sh '
                      f'requeues itself)', logger='current', level=30)
            raise RunPreempted(PREEMPTED_EXIT_CODE, restore_signals=self._restore_handlers)

    def save(self, runner):
        """Write `iter_N.pth` (N = iterations done), point last_checkpoint at it, prune."""
        filename = f'iter_{runner.iter + 1}.pth'
        path = osp.join(runner.work_dir, filename)
        # the list of this hook's files goes into the checkpoint itself, so pruning carries on
        # after a resume
        kept = [p for p in runner.message_hub.get_info('preemption_checkpoints', [])
                if p != path] + [path]
        runner.message_hub.update_info('preemption_checkpoints', kept[-self.max_keep_ckpts:],
                                       resumed=True)
        runner.save_checkpoint(runner.work_dir, filename, by_epoch=False)
        self._last_save = time.monotonic()
        if is_main_process():
            write_bytes_atomic(path.encode(), osp.join(runner.work_dir, 'last_checkpoint'))
            for old in kept[:-self.max_keep_ckpts]:
                if osp.isfile(old):
                    os.remove(old)
        return path
