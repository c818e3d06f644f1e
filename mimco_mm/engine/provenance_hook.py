"""`ProvenanceHook`: every checkpoint a run writes carries meta['provenance'] (commit, versions,
devices, effective batch, lr after scaling, schedule, seed, config and data hashes, wall time;
mimco_mm/provenance.py). tools/train.py registers it for every run.

A run resumed (after a preemption, a requeue, a crash) is one run in several sessions, which may
differ: another GPU count, another commit, a changed override. The record of the session that
wrote a checkpoint says so under `earlier_sessions`: the record of every session before it, as
it stood in the checkpoint the next one resumed from (oldest first, each with the iterations it
trained, `started_at_iter` to `ended_at_iter`), and `wall_s_all_sessions` adds up their wall
time. Before, a 100-epoch run requeued five times described only its last fragment: its devices,
its batch, its wall time."""
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
        self._earlier = []

    def after_load_checkpoint(self, runner, checkpoint):
        """The resume of this session (not a load_from, which starts a new run from weights, and
        not a rollback during training, which stays in this session): take the sessions that
        produced the checkpoint."""
        if self._record is not None or not getattr(runner, '_resume', False) or \
                getattr(runner, '_has_loaded', False):
            return
        meta = checkpoint.get('meta') or {}
        previous = meta.get('provenance')
        if not previous:
            return  # a checkpoint written before provenance was recorded
        previous = dict(previous)
        self._earlier = list(previous.pop('earlier_sessions', None) or [])
        previous.setdefault('started_at_iter', None)
        previous['ended_at_iter'] = meta.get('iter')
        self._earlier.append(previous)

    def before_train(self, runner):
        """Everything but the wall time is fixed for the session: collected once (git, versions,
        the data hash over every sample), not at every checkpoint. The optimizer and the lr
        scaling are in place by now (and a resume's counters)."""
        self._start = time.monotonic()
        self._record = collect(runner.cfg, runner,
                               datasets=[runner.train_loop.dataloader.dataset])
        self._record['started_at_iter'] = runner.iter

    def before_save_checkpoint(self, runner, checkpoint):
        if self._record is None:  # a save outside training
            self.before_train(runner)
        wall_s = time.monotonic() - self._start
        record = dict(self._record, wall_s=round(wall_s, 1),
                      # the time that produced these weights: each earlier session up to the
                      # checkpoint the next one resumed from (work lost after it not counted)
                      wall_s_all_sessions=round(
                          wall_s + sum(s.get('wall_s') or 0 for s in self._earlier), 1))
        if self._earlier:
            record['earlier_sessions'] = self._earlier
        checkpoint.setdefault('meta', {})['provenance'] = record
