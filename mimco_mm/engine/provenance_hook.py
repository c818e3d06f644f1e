"""`ProvenanceHook`: every checkpoint a run writes carries meta['provenance'] (commit, versions,
devices, effective batch, lr after scaling, schedule, seed, config and data hashes, wall time;
mimco_mm/provenance.py). tools/train.py registers it for every run."""
import time

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from mimco_mm.provenance import collect


@HOOKS.register_module()
class ProvenanceHook(Hook):

    priority = 'VERY_LOW'

    def __init__(self):
        self._start = None
        self._record = None

    def before_train(self, runner):
        """Everything but the wall time is fixed for the run: collected once (git, versions,
        the data hash over every sample), not at every checkpoint. The optimizer and the lr
        scaling are in place by now."""
        self._start = time.monotonic()
        self._record = collect(runner.cfg, runner,
                               datasets=[runner.train_loop.dataloader.dataset])

    def before_save_checkpoint(self, runner, checkpoint):
        if self._record is None:  # a save outside training
            self.before_train(runner)
        record = dict(self._record, wall_s=round(time.monotonic() - self._start, 1))
        checkpoint.setdefault('meta', {})['provenance'] = record
