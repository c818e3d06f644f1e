"""`ProvenanceHook`: every checkpoint a run writes carries meta['provenance'] (commit, versions,
devices, effective batch, lr after scaling, schedule, seed, config and data hashes, wall time;
mimco_mm/provenance.py). tools/train.py registers it for every run."""
import time

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from mimco_mm.provenance import collect, data_fingerprint


@HOOKS.register_module()
class ProvenanceHook(Hook):

    priority = 'VERY_LOW'

    def __init__(self):
        self._start = None
        self._data = None

    def before_train(self, runner):
        self._start = time.monotonic()
        self._data = data_fingerprint(runner.train_loop.dataloader.dataset)

    def before_save_checkpoint(self, runner, checkpoint):
        record = collect(runner.cfg, runner, wall_s=None if self._start is None else
                         round(time.monotonic() - self._start, 1))
        record['data'] = self._data
        checkpoint.setdefault('meta', {})['provenance'] = record
