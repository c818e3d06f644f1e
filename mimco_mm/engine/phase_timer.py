"""`IterPhaseTimerHook`: where a Runner iteration's time goes, phase by phase.

`tools/speed/benchmark_step.py` times the bare training step; through `tools/train.py` the
same step runs inside MMEngine's loop with the data preprocessor, the optimizer wrapper (loss
scaler, gradient clipping, the non-finite guard) and every hook around it. This hook times each
of those parts in the real run:

- `data_preprocessor` (host-to-device copy, normalisation), `forward` (the model's loss),
  `parse_losses`, `backward`, `optimizer_step` (whatever the wrapper's step does: guard, unscale,
  clipping, the optimizer) and `zero_grad`;
- every other hook's `before_train_iter` / `after_train_iter`, under its class name;
- `other`: the rest of the iteration (waiting for the next batch, the loop itself).

With `sync=True` (the default) each phase starts and ends with `torch.cuda.synchronize()`, so a
phase's time includes the GPU work it queued and the phases add up to the iteration; the syncs
remove the overlap of host and device, so the iteration itself gets slower than in a normal run.
With `sync=False` the times are what the host spends in each phase (on a GPU: launching kernels,
or waiting where a phase reads a value back), and the run's speed is untouched.

After training, the median and mean of each phase over the iterations after the first `skip`
are printed and written to `out` (relative to the work dir). Only the main process writes.
"""
import json
import os.path as osp
import time

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

MODEL_PHASES = ('data_preprocessor', 'forward', 'parse_losses', 'backward', 'optimizer_step',
                'zero_grad')


@HOOKS.register_module()
class IterPhaseTimerHook(Hook):
    """Time the parts of every training iteration (see the module docstring).

    Args:
        sync (bool): synchronise CUDA around each phase (device time) or not (host time).
        skip (int): first iterations left out of the statistics (start-up, autotuning).
        out (str): JSON file name in the work dir.
    """

    priority = 'LOWEST'  # wraps the others' methods after they installed theirs (the guard's)

    def __init__(self, sync=True, skip=10, out='phases.json'):
        self.sync = sync
        self.skip = skip
        self.out = out
        self.iterations = []  # one dict phase -> seconds per iteration
        self._current = {}
        self._last_end = None

    def _now(self):
        if self.sync and torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter()

    def _timed(self, name, fn):
        def timed(*args, **kwargs):
            start = self._now()
            try:
                return fn(*args, **kwargs)
            finally:
                self._current[name] = self._current.get(name, 0.0) + self._now() - start
        timed.__wrapped__ = fn
        return timed

    def before_train(self, runner):
        model = runner.model
        inner = getattr(model, 'module', model)  # DDP wrapper: train_step calls both
        inner.data_preprocessor.forward = self._timed('data_preprocessor',
                                                      inner.data_preprocessor.forward)
        model._run_forward = self._timed('forward', model._run_forward)
        inner.parse_losses = self._timed('parse_losses', inner.parse_losses)
        wrapper = runner.optim_wrapper
        for method, name in (('backward', 'backward'), ('step', 'optimizer_step'),
                             ('zero_grad', 'zero_grad')):
            setattr(wrapper, method, self._timed(name, getattr(wrapper, method)))
        for hook in runner.hooks:
            if hook is self:
                continue
            for stage, inner_stage in (('before_train_iter', '_before_iter'),
                                       ('after_train_iter', '_after_iter')):
                # only hooks that do something there (Hook's own stage calls its no-op
                # `_before_iter` / `_after_iter`, which IterTimerHook overrides instead)
                if any(getattr(type(hook), n) is not getattr(Hook, n)
                       for n in (stage, inner_stage)):
                    setattr(hook, stage, self._timed(f'{type(hook).__name__}.{stage}',
                                                     getattr(hook, stage)))

    def before_train_epoch(self, runner):
        self._last_end = None  # the epoch change (sampler, worker start) is not an iteration

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        end = self._now()
        phases, self._current = self._current, {}
        if self._last_end is not None:
            # not clipped at 0: a negative rest would mean two phases overlap (a test checks)
            phases['other'] = end - self._last_end - sum(phases.values())
            phases['iteration'] = end - self._last_end
            self.iterations.append(phases)
        self._last_end = end

    def summary(self):
        """{phase: {'median_ms', 'mean_ms', 'min_ms'}} over the iterations after `skip` (or all
        of them when there are not more), phases in the order of an iteration, 'iteration' last."""
        rows = self.iterations[self.skip:] or self.iterations
        names = [n for n in MODEL_PHASES if any(n in r for r in rows)]
        names += sorted({n for r in rows for n in r} - set(names) - {'other', 'iteration'})
        result = {}
        for name in names + ['other', 'iteration']:
            values = np.array([r.get(name, 0.0) for r in rows]) * 1e3
            result[name] = dict(median_ms=float(np.median(values)), mean_ms=float(values.mean()),
                                min_ms=float(values.min()))
        return dict(sync=self.sync, iterations=len(rows), phases=result)

    def after_train(self, runner):
        if not self.iterations or not is_main_process():
            return
        summary = self.summary()
        lines = [f'iteration phases ({"device" if self.sync else "host"} time, '
                 f'{summary["iterations"]} iterations): median / mean ms']
        for name, row in summary['phases'].items():
            lines.append(f'  {name:<44} {row["median_ms"]:9.2f} {row["mean_ms"]:9.2f}')
        print_log('\n'.join(lines), logger='current')
        with open(osp.join(runner.work_dir, self.out), 'w') as f:
            json.dump(summary, f, indent=1)
