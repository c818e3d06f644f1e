"""`DataWaitMonitorHook`: say so, with numbers, when the GPUs wait for the data loader.

A run whose loader cannot keep up still trains correctly, only slower, and nothing in mmengine's
log says which: `data_time` is printed, but as one number among many, and users read it only
after the run took twice as long as the paper's (mmpretrain#1927, facebookresearch/moco#33:
"data time should be about 0.02 s, not 0.196"). This hook reads the `train/data_time` and
`train/time` that `IterTimerHook` records and, every `interval` iterations after `warmup`:

- records `train/data_wait` (median data wait / median iteration time over the last `window`
  iterations) in the message hub, so the log and every visualizer backend show it;
- when that share exceeds `threshold`, warns once (and again if it later doubles) with what it
  costs, how many loader workers this process has, how many CPU cores it can run on, how many
  workers would keep the model busy, and what to try.

Medians, because the first batch of an epoch (workers starting) and an iteration after a
checkpoint write are slow for reasons the loader's throughput has nothing to do with. Each
process judges its own loader; the warning is written by every process whose loader lags (with
its rank), since one slow node slows all of them.
"""
import os

import numpy as np
from mmengine.dist import get_local_size, get_rank
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS


def recent_median(message_hub, key, window):
    """Median of the last `window` values of a message-hub scalar, or None when it has fewer."""
    if key not in message_hub.log_scalars:
        return None
    values = message_hub.get_scalar(key).data[0][-window:]
    return float(np.median(values)) if len(values) >= window else None


def visible_cores():
    """CPU cores this process may run on (its affinity mask: a Slurm / cgroup allocation, not
    the node's total), or os.cpu_count() where affinity is not exposed."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def data_wait_advice(data_s, iter_s, num_workers, cores, local_processes):
    """The warning's text: the numbers and what to change.

    Args:
        data_s / iter_s (float): median seconds waiting for a batch / per whole iteration.
        num_workers (int): this process's DataLoader workers.
        cores (int): CPU cores visible to this process; `local_processes` share them.
    """
    share = data_s / iter_s
    compute_s = max(iter_s - data_s, 1e-9)
    lines = [f'waiting for data {share:.0%} of each iteration (median {data_s:.3f} s of '
             f'{iter_s:.3f} s): with a loader that kept up, training would run '
             f'{iter_s / compute_s:.2f}x as fast.']
    cores_each = max(cores // max(local_processes, 1), 1)
    if num_workers == 0:
        lines.append(f'The loader runs in the training process (num_workers=0); {cores_each} '
                     f'cores are available per process: set train_dataloader.num_workers.')
    else:
        # with every worker busy, throughput grows with the workers: the compute rate needs
        # num_workers * iteration / compute time of them
        needed = int(np.ceil(num_workers * iter_s / compute_s))
        lines.append(f'This process has {num_workers} DataLoader workers; at the model\'s rate '
                     f'it needs about {needed}. {cores} CPU cores are visible to it, shared by '
                     f'{local_processes} training process(es) on this node: {cores_each} each.')
        if needed <= cores_each - 1:  # one core for the training process itself
            lines.append(f'Raise train_dataloader.num_workers to {needed}.')
        else:
            lines.append('More workers than cores will not help: make each image cheaper '
                         '(TorchRandomResizedCrop, as the stage-2 configs use; measure the '
                         'pipeline with tools/speed/benchmark_data.py CONFIG) or use a node '
                         'with more cores per GPU.')
    lines.append('If workers are idle yet batches arrive late, the files are the bottleneck '
                 '(network storage): copy the data to local disk, and preflight it with '
                 'tools/data/check_dataset.py.')
    return ' '.join(lines)


@HOOKS.register_module()
class DataWaitMonitorHook(Hook):
    """Args:
        threshold (float): share of the iteration spent waiting for data above which to warn.
        window (int): iterations the medians are taken over.
        warmup (int): iterations of each run (also after a resume) not judged: workers start,
            caches fill, cudnn picks kernels.
        interval (int): iterations between two checks.
    """

    priority = 'LOW'  # after IterTimerHook (NORMAL) has recorded this iteration's time

    def __init__(self, threshold=0.1, window=50, warmup=50, interval=50):
        if not 0 < threshold < 1:
            raise ValueError(f'threshold is a share of the iteration time, in (0, 1); got '
                             f'{threshold}')
        for name, value in (('window', window), ('interval', interval)):
            if value < 1:
                raise ValueError(f'{name} must be >= 1, got {value}')
        if warmup < 0:
            raise ValueError(f'warmup must be >= 0, got {warmup}')
        self.threshold = threshold
        self.window = window
        self.warmup = warmup
        self.interval = interval
        self._warned_share = None
        self._start_iter = 0

    def before_train(self, runner):
        self._start_iter = runner.iter

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        done = runner.iter + 1 - self._start_iter
        if done < self.warmup + self.window or done % self.interval:
            return
        data_s = recent_median(runner.message_hub, 'train/data_time', self.window)
        iter_s = recent_median(runner.message_hub, 'train/time', self.window)
        if data_s is None or iter_s is None or iter_s <= 0:
            return  # no IterTimerHook, or not enough iterations recorded yet
        share = data_s / iter_s
        runner.message_hub.update_scalar('train/data_wait', share)
        if share <= self.threshold:
            return
        if self._warned_share is not None and share < 2 * self._warned_share:
            return
        self._warned_share = share
        loader = runner.train_loop.dataloader
        text = data_wait_advice(data_s, iter_s, getattr(loader, 'num_workers', 0),
                                visible_cores(), get_local_size())
        print_log(f'rank {get_rank()}, iteration {runner.iter + 1}: {text}', logger='current',
                  level=30)
