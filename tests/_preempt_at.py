"""Preemption at a chosen iteration, for the resume tests: after training iteration `at` (or in
the validation that follows it), this process sends itself SIGUSR1 (as Slurm's warning before a
time limit would) and the real handler of PreemptionCheckpointHook takes it from there.

In-process tests patch the hook with `signalling_after_train_iter` / `signalling_after_val_iter`;
subprocess runs import this module through a config file's `custom_imports`
(`config_importing_this`), which patches it from environment variables:
- $PREEMPT_AT_ITER or $PREEMPT_AT_VAL (the validation after that iteration), and $PREEMPT_RANK:
  only that rank gets the signal, so the others must learn it through the hook's all-reduce;
- $PREEMPT_SLOW_SAVE: seconds of delay in process 0's checkpoint write (a large checkpoint on a
  slow file system);
- $PREEMPT_SLOW_EXIT: seconds that the process of rank $PREEMPT_SLOW_EXIT_RANK takes on its way
  out after the checkpoint (a slow teardown of dataloader workers), the moment another task,
  already gone, may get it signalled (srun --kill-on-bad-exit);
- $PREEMPT_SLOW_VAL: seconds per validation iteration (a validation long enough for a signal to
  arrive in the middle);
- $CRASH_AT_ITER and $CRASH_RANK: that rank's process dies (os._exit(3), as after an ECC error
  or the OOM killer) before training iteration `at` + 1, in the first attempt of a torchrun
  launch only (TORCHELASTIC_RESTART_COUNT 0, or while the file $CRASH_MARK, which the dying
  process creates, does not exist: a node restarted for another node's failure keeps its
  count 0), so that a restarted attempt runs through; with $CRASH_OTHERS_BLOCK the other ranks
  block there instead of going on, as NCCL ranks do in the collective their dead peer never
  joins (until NCCL's timeout), so that their torchrun agents see them healthy;
- $RESTART_SLOW_RANK: in a restarted attempt (TORCHELASTIC_RESTART_COUNT > 0) that rank starts
  3 s late (read when the config is, before its process group is made), so the other ranks
  look for its connection details in torchrun's store before it has published them;
- $HANG_AT_ITER: before training iteration `at` + 1 the process blocks in `stalled_read` for
  10 minutes (a read from a stalled network file system).
"""
import os
import signal
import time

from mmengine.dist import get_rank

from mimco_mm.engine.preemption import PreemptionCheckpointHook


def config_importing_this(base, path):
    """Write a config file at `path`: the config `base`, with this module added to its
    custom_imports (those of a config file are imported when it is read; --cfg-options come too
    late for that). Returns `path`."""
    from mmengine.config import Config
    imports = list(Config.fromfile(str(base)).get('custom_imports', {}).get('imports', []))
    with open(path, 'w') as f:
        f.write(f'_base_ = {str(base)!r}\n'
                f'custom_imports = dict(imports={imports + ["_preempt_at"]!r}, '
                f'allow_failed_imports=False)\n')
    return path


def signalling_after_val_iter(original, at, rank=None):
    """`original` (PreemptionCheckpointHook.after_val_iter), preceded by SIGUSR1 to this process
    in the first iteration of the validation that follows training iteration `at`, on `rank`
    (None: every rank)."""

    def after_val_iter(self, runner, batch_idx, *args, **kwargs):
        if runner.iter == at and batch_idx == 0 and rank in (None, get_rank()):
            os.kill(os.getpid(), signal.SIGUSR1)
        return original(self, runner, batch_idx, *args, **kwargs)
    return after_val_iter


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

if 'PREEMPT_AT_VAL' in os.environ:
    PreemptionCheckpointHook.after_val_iter = signalling_after_val_iter(
        PreemptionCheckpointHook.after_val_iter, int(os.environ['PREEMPT_AT_VAL']),
        int(os.environ['PREEMPT_RANK']) if 'PREEMPT_RANK' in os.environ else None)

if 'PREEMPT_SLOW_SAVE' in os.environ:
    _save = PreemptionCheckpointHook.save

    def slow_save(self, runner, *args, **kwargs):
        if get_rank() == 0:
            time.sleep(float(os.environ['PREEMPT_SLOW_SAVE']))
        return _save(self, runner, *args, **kwargs)
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

if 'PREEMPT_SLOW_VAL' in os.environ:
    _after_val_iter = PreemptionCheckpointHook.after_val_iter

    def slow_val_iter(self, runner, *args, **kwargs):
        time.sleep(float(os.environ['PREEMPT_SLOW_VAL']))
        return _after_val_iter(self, runner, *args, **kwargs)
    PreemptionCheckpointHook.after_val_iter = slow_val_iter

if 'CRASH_AT_ITER' in os.environ:
    # decided when the config is read, before any process of this attempt died
    _FIRST_ATTEMPT = (not os.path.exists(os.environ['CRASH_MARK']) if 'CRASH_MARK' in os.environ
                      else os.environ.get('TORCHELASTIC_RESTART_COUNT', '0') == '0')

    def crash_before_train_iter(self, runner, *args, **kwargs):
        if runner.iter != int(os.environ['CRASH_AT_ITER']) or not _FIRST_ATTEMPT:
            return
        if get_rank() == int(os.environ.get('CRASH_RANK', 0)):
            print(f'[_preempt_at] process {get_rank()} dies before iteration {runner.iter + 1}',
                  flush=True)
            if 'CRASH_MARK' in os.environ:
                open(os.environ['CRASH_MARK'], 'w').close()
            os._exit(3)
        if 'CRASH_OTHERS_BLOCK' in os.environ:
            print(f'[_preempt_at] process {get_rank()} waits for its dead peer', flush=True)
            # torchrun's stop: it would SIGKILL this process 30 s after its SIGTERM (which the
            # preemption hook takes); end it at once instead, to keep the test short
            signal.signal(signal.SIGTERM, lambda *_: os._exit(143))
            time.sleep(600)
    PreemptionCheckpointHook.before_train_iter = crash_before_train_iter

if 'HANG_AT_ITER' in os.environ:
    def stalled_read():
        time.sleep(600)

    def hang_before_train_iter(self, runner, *args, **kwargs):
        if runner.iter == int(os.environ['HANG_AT_ITER']):
            print(f'[_preempt_at] blocked before iteration {runner.iter + 1}', flush=True)
            stalled_read()
    PreemptionCheckpointHook.before_train_iter = hang_before_train_iter

if (os.environ.get('RESTART_SLOW_RANK') == os.environ.get('RANK')
        and os.environ.get('TORCHELASTIC_RESTART_COUNT', '0') != '0'):
    time.sleep(3)
