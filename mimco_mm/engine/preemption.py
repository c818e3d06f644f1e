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
  them in the middle of a batch: the training loader's, the validation loader's (its workers,
  persistent in the COCO and ADE20K configs, live on through training) and the k-NN monitor's.
  A worker killed by the job's SIGTERM made the training process raise "DataLoader worker ...
  is killed by signal" at once, and the run ended with 1, not saved and not requeued.
- A signal during validation stops it at the next validation iteration: the checkpoint
  (`iter_N_validating.pth`) holds the training state after the last training iteration, marked
  `validation_pending`, and the resumed run validates first (ResumableEpochBasedTrainLoop /
  ResumableIterBasedTrainLoop).
  Waiting for the end of a COCO validation could outlast Slurm's warning (300 s): the job then
  ends at its time limit, not requeued.

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

import torch
import torch.distributed as torch_dist
from mmengine.dist import get_world_size, is_distributed, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from mimco_mm.compat.atomic_checkpoint import write_bytes_atomic
from mimco_mm.evaluation.distributed import reduce_across

PREEMPTED_EXIT_CODE = 75  # sysexits EX_TEMPFAIL: "try again later"
# a file the launcher (tools/_torchrun.py) names; each process appends a line once the
# preemption checkpoint is complete
PREEMPTED_MARK_ENV = 'MIMCO_PREEMPTED_MARK'


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


def stop_every_dataloader_worker():
    """Stop the workers of every DataLoader iterator this process still holds: the train loop's,
    a persistent validation loader's, and one that an exception left in a frame (a validation
    stopped by a preemption or an error). Workers that ignore SIGTERM (`shield_workers`) outlive
    multiprocessing's SIGTERM at interpreter exit, and the exit then waits for them forever.
    Walks the garbage collector's objects: run at exit and on a preemption, not per step."""
    import gc
    from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter
    for obj in gc.get_objects():
        if issubclass(type(obj), _MultiProcessingDataLoaderIter):
            obj._shutdown_workers()  # a no-op once done


_stop_at_exit_registered = False


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


def shield_workers(loader, signums):
    """Make the workers `loader` starts from now on ignore `signums` (its `worker_init_fn` is
    wrapped once; the one the loader had still runs). A no-op for None."""
    init = getattr(loader, 'worker_init_fn', None)
    if loader is None or (isinstance(init, functools.partial)
                          and init.func is _worker_init_ignoring_signals):
        return
    loader.worker_init_fn = functools.partial(_worker_init_ignoring_signals, tuple(signums), init)


def shield_from_job_signals(runner, loader):
    """`shield_workers` with the signals of the runner's PreemptionCheckpointHook, if it has
    one: for a loader a hook builds during training (KNNMonitorHook's)."""
    for hook in runner.hooks:
        if isinstance(hook, PreemptionCheckpointHook):
            shield_workers(loader, hook.signums)


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
        self._training = False  # between before_train and after_train
        self._stop_in_validation = False  # whether a signal may stop the current validation
        self._told_why_not = False

    # ---- signals -------------------------------------------------------------------------------

    def _on_signal(self, signum, frame):
        self._received = signal.Signals(signum).name  # acted on at the next iteration boundary

    def before_train(self, runner):
        global _stop_at_exit_registered
        for signum in self.signums:
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)
        # Runner.train has built the validation loop too; workers start after this
        for loop in (runner.train_loop, runner.val_loop):
            if loop is not None:
                shield_workers(loop.dataloader, self.signums)
        if not _stop_at_exit_registered:
            # whatever ends the process (preemption, an error, Ctrl-C), stop the workers first:
            # atexit runs handlers last-in first-out, so this runs before multiprocessing's own
            atexit.register(stop_every_dataloader_worker)
            _stop_at_exit_registered = True
        self._training = True
        self._last_save = time.monotonic()

    def after_train(self, runner):
        self._training = False
        self._restore_handlers()
        shutdown_dataloader_workers(runner.train_loop)  # MMEngine's loops leave them running

    def _restore_handlers(self):
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers = {}

    @staticmethod
    def _max_over_processes(values):
        """Each of `values` (numbers) as its largest over all processes: one small all-reduce,
        so that every process takes the same decision at the same iteration."""
        if not (is_distributed() and get_world_size() > 1):
            return list(values)  # no tensor, no device sync in a single process
        tensor = torch.tensor(values, dtype=torch.float64,
                              device='cuda' if torch.cuda.is_available() else 'cpu')
        return reduce_across(tensor, 'max').tolist()

    # ---- per iteration -------------------------------------------------------------------------

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        time_due = (self.interval_s is not None and is_main_process()
                    and time.monotonic() - self._last_save >= self.interval_s)
        signalled, time_due = map(bool, self._max_over_processes([self._received is not None,
                                                                  time_due]))
        if not (signalled or time_due):
            return
        path = self.save(runner, runner.iter + 1)
        if signalled:
            self._leave(runner, f'saved {path} at iteration {runner.iter + 1}')

    # ---- during validation ---------------------------------------------------------------------

    def before_val(self, runner):
        self._stop_in_validation = self._training and self._validation_can_stop(runner)

    def _validation_can_stop(self, runner):
        """Whether a signal may stop this validation: the train loop must know how to run it
        again on resume, the weights must be the training ones (EMAHook swaps its averages in
        for validation), and every process must run as many validation iterations (the
        decision is collective at each one; MMEngine's DefaultSampler pads the shards to one
        length, a sampler without padding may not). Otherwise the signal waits for the next
        training iteration, as it did before."""
        from mmengine.hooks import EMAHook
        if not hasattr(runner.train_loop, 'validation_pending'):
            why = f'{type(runner.train_loop).__name__} cannot run a validation again on resume'
        elif any(isinstance(hook, EMAHook) for hook in runner.hooks):
            why = 'an EMAHook swaps its averaged weights in for validation'
        else:
            why = None
            n = len(runner.val_loop.dataloader)
            longest, minus_shortest = map(int, self._max_over_processes([n, -n]))
            if longest != -minus_shortest:
                why = (f'the processes run {-minus_shortest} to {longest} validation '
                       f'iterations (a sampler that does not pad the shards)')
        if why is not None and not self._told_why_not:
            print_log(f'PreemptionCheckpointHook: a signal during validation is acted on after '
                      f'it, at the next training iteration: {why}', logger='current', level=30)
            self._told_why_not = True
        return why is None

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if not self._stop_in_validation:
            return
        if not self._max_over_processes([self._received is not None])[0]:
            return
        # the training state is that after the last training iteration (the loop has counted
        # it); the resumed run validates first
        loop = runner.train_loop
        loop.validation_pending = True
        try:
            # a name of its own: an iteration-based CheckpointHook has just written iter_N.pth
            # (the COCO LSJ and ADE20K configs validate at their checkpoint interval), which
            # this hook must neither overwrite nor count among its own files and prune
            path = self.save(runner, runner.iter, suffix='_validating')
        finally:
            loop.validation_pending = False
        self._leave(runner, f'saved {path} during the validation after iteration {runner.iter} '
                            f'(it runs again first on resume)')

    def after_val(self, runner):
        self._stop_in_validation = False

    # ---- leaving -------------------------------------------------------------------------------

    def _leave(self, runner, what):
        """After the checkpoint: every process waits for process 0's write, then exits with 75."""
        stop_every_dataloader_worker()  # meanwhile process 0 writes
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
        mark = os.environ.get(PREEMPTED_MARK_ENV)
        if mark:  # tools/_torchrun.py: torchrun itself would exit with 1
            try:
                with open(mark, 'a') as f:
                    f.write(f'{what}\n')
            except OSError as error:  # the checkpoint is there; only the launcher's status lacks
                print_log(f'could not tell the launcher ({PREEMPTED_MARK_ENV}={mark}): {error}; '
                          f'it may report status 1, not {PREEMPTED_EXIT_CODE}',
                          logger='current', level=30)
        print_log(f'{self._received or "a signal on another process"}: {what}; exiting with code '
                  f'{PREEMPTED_EXIT_CODE}. Continue with tools/train.py CONFIG --resume '
                  f'(tools/slurm_train.sh requeues itself)', logger='current', level=30)
        raise RunPreempted(PREEMPTED_EXIT_CODE, restore_signals=self._restore_handlers)

    def save(self, runner, iterations_done, suffix=''):
        """Write `iter_N<suffix>.pth` (N = `iterations_done`), point last_checkpoint at it,
        prune."""
        filename = f'iter_{iterations_done}{suffix}.pth'
        path = osp.join(runner.work_dir, filename)
        written = runner.message_hub.get_info('last_ckpt')
        if written and osp.abspath(written) == osp.abspath(path):
            # An iteration-based CheckpointHook (it runs first) has just written this very file:
            # the state is on disk and last_checkpoint names it. Overwriting it would make it
            # one of this hook's files, pruned later, though that hook keeps it.
            self._last_save = time.monotonic()
            return path
        # the list of this hook's files goes into the checkpoint itself, so pruning carries on
        # after a resume
        kept = [p for p in runner.message_hub.get_info('preemption_checkpoints', [])
                if p != path] + [path]
        runner.message_hub.update_info('preemption_checkpoints', kept[-self.max_keep_ckpts:],
                                       resumed=True)
        # the counters as they are: within a training iteration MMEngine's by_epoch=False
        # default (iter + 1) says the same, during validation the loop has already counted it
        runner.save_checkpoint(runner.work_dir, filename, by_epoch=False,
                               meta=dict(epoch=runner.epoch, iter=iterations_done))
        self._last_save = time.monotonic()
        if is_main_process():
            write_bytes_atomic(path.encode(), osp.join(runner.work_dir, 'last_checkpoint'))
            for old in kept[:-self.max_keep_ckpts]:
                if osp.isfile(old):
                    os.remove(old)
        return path
