"""`ResumableEpochBasedTrainLoop`: MMEngine's epoch loop, plus checkpoints inside an epoch that
resume exactly (its iteration-based partner is in resumable_iter_loop.py).

MMEngine's own loop restarts the interrupted epoch from its first batch, and its data
augmentation depends on which worker happened to load a sample, so neither a mid-epoch
checkpoint nor a resume reproduces the uninterrupted run. This loop:

- builds its dataloader with `ResumableSampler` (DefaultSampler's order; `DefaultSampler` in a
  config is taken as that), a config's batch sampler (mmdet's AspectRatioBatchSampler) wrapped
  in `ResumableBatchSampler`, and the dataset wrapped in `SeededDataset` (mimco_mm/seeding.py);
- seeds each step's randomness from (seed, replay, rank, iteration);
- records in every checkpoint (key `loop_state`) how many batches of the current epoch are done,
  and on resume skips exactly those (their indices are drawn, no image is loaded);
- can roll back to a checkpoint on request (`request_rollback`, used by NonFiniteGuardHook), then
  replays with fresh random draws;
- resumed from a checkpoint written during a validation (`validation_pending`, by
  PreemptionCheckpointHook on a signal), runs that validation again before training on.

Result (tests/test_long_runs.py, tests/test_downstream_resume.py): kill a CPU run anywhere,
`--resume`, and the final weights, optimizer state and logged losses equal the uninterrupted
run's, bit for bit.
"""
import copy

from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import DATASETS, LOOPS
from mmengine.runner import EpochBasedTrainLoop

from mimco_mm.datasets.resumable import (ResumableBatchSampler, ResumableSampler, SeededDataset,
                                         start_epoch_at)
from mimco_mm.seeding import STEP, seed_everything

from .preemption import shutdown_dataloader_workers

STATE_KEY = 'loop_state'
EPOCH_SAMPLERS = {'DefaultSampler': ResumableSampler, 'ResumableSampler': ResumableSampler,
                  ResumableSampler: ResumableSampler}


class ResumableLoopMixin:
    """What both resumable loops share: the dataloader they build, the seeds, the state written
    into checkpoints, and rollback. `SAMPLERS` maps a config's sampler type to the resumable
    sampler that replaces it."""

    SAMPLERS = EPOCH_SAMPLERS
    # True while PreemptionCheckpointHook writes a checkpoint in the middle of a validation
    validation_pending = False
    _validate_first = False  # resumed from such a checkpoint

    def _resumable_dataloader(self, runner, dataloader):
        """Called before the loop's own __init__: the seeds, and the dataloader built from its
        config (a built one is refused: the sampler and dataset wrapper must be ours)."""
        diff_rank = runner._randomness_cfg.get('diff_rank_seed', False)
        # the run's seed before the per-rank offset: the same on every rank
        self.base_seed = runner.seed - (get_rank() if diff_rank else 0)
        self.replay = 0
        self._loaded_state = None
        self._rollback_to = None
        self.data_iterator = None  # the DataLoader iterator in use (PreemptionCheckpointHook)
        if isinstance(dataloader, dict):
            dataloader = self._build_dataloader(runner, dataloader, diff_rank)
        if not isinstance(dataloader.dataset, SeededDataset):
            raise TypeError(f'{type(self).__name__} needs a dataloader config (it builds the '
                            f'sampler and dataset wrapper itself), got a built {dataloader!r}')
        runner.register_hook(_LoopStateHook(self), priority='VERY_LOW')
        return dataloader

    def _build_dataloader(self, runner, cfg, diff_rank):
        cfg = copy.deepcopy(cfg)
        sampler = dict(cfg.get('sampler') or dict(type='DefaultSampler'))
        if sampler.get('type') not in self.SAMPLERS:
            names = sorted(t for t in self.SAMPLERS if isinstance(t, str))
            raise ValueError(
                f'{type(self).__name__} resumes exactly only with {" / ".join(names)}; the '
                f"config has sampler={sampler}. Use MMEngine's loop (train_cfg type "
                f"'{type(self).__bases__[-1].__name__}') for other samplers.")
        sampler['type'] = self.SAMPLERS[sampler['type']]
        # the order's seed: the run's seed (MMEngine draws a random one under diff_rank_seed,
        # which a resumed run would have to reproduce)
        sampler.setdefault('seed', self.base_seed)
        cfg['sampler'] = sampler
        if cfg.get('batch_sampler') is not None:
            cfg['batch_sampler'] = dict(type=ResumableBatchSampler, inner=cfg['batch_sampler'])
        dataset = cfg['dataset']
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
            if hasattr(dataset, 'full_init'):
                dataset.full_init()
        cfg['dataset'] = SeededDataset(dataset, self.base_seed)
        return runner.build_dataloader(cfg, seed=runner.seed, diff_rank_seed=diff_rank)

    @property
    def index_sampler(self):
        """The resumable index sampler (torch's or the config's batch sampler draws from it)."""
        return self.dataloader.batch_sampler.sampler

    @property
    def samples_per_iter(self):
        """Images per iteration over all processes."""
        batch_sampler = self.dataloader.batch_sampler
        return batch_sampler.batch_size * get_world_size()

    def run_iter(self, *args):
        seed_everything(STEP, self.base_seed, self.replay, get_rank(), self._iter)
        super().run_iter(*args)

    # ---- checkpoint state ----------------------------------------------------------------------

    def state_for_checkpoint(self, meta):
        return dict(epoch=meta['epoch'], iter=meta['iter'], base_seed=self.base_seed,
                    sampler_seed=self.index_sampler.seed, replay=self.replay,
                    samples_per_iter=self.samples_per_iter,
                    validation_pending=self.validation_pending)

    def _run_pending_validation(self):
        """The validation a preemption stopped (see `validation_pending`): run it before
        training on, so the resumed run logs every validation the uninterrupted one does (the
        last one included). Training is seeded per step, so this changes nothing in it."""
        if not self._validate_first:
            return
        self._validate_first = False
        if self.runner.val_loop is None:
            print_log(f'the checkpoint was written during the validation after iteration '
                      f'{self._iter}, and this run has no validation (val_cfg): skipped',
                      logger='current', level=30)
            return
        print_log(f'the interrupted run was stopped during its validation after iteration '
                  f'{self._iter}: validating first', logger='current')
        self.runner.val_loop.run()

    def _restore_seeds(self, state, done, where):
        """Take the interrupted run's seeds from its `loop_state`; refuse a different number of
        images per iteration when `done` batches of the stream must be skipped."""
        self.base_seed = state['base_seed']
        self.dataloader.dataset.seed = self.base_seed  # workers start after this
        self.index_sampler.seed = state['sampler_seed']
        self.replay = state['replay']
        if not done and self.samples_per_iter != state['samples_per_iter']:
            print_log(f'resuming at the start of {where} with {self.samples_per_iter} samples per '
                      f'iteration (all processes); the checkpoint\'s run had '
                      f'{state["samples_per_iter"]}. The lr, its schedule and the optimizer '
                      f'state continue as they were (not rescaled), so the result is not the '
                      f'recipe\'s; the checkpoints\' provenance records both sessions '
                      f'(earlier_sessions).', logger='current', level=30)
        if done and self.samples_per_iter != state['samples_per_iter']:
            raise RuntimeError(
                f'the checkpoint was written {done} batches into {where} by a run of '
                f'{state["samples_per_iter"]} samples per iteration (all processes); this run has '
                f'{self.samples_per_iter}. Resume with the same GPU count x batch size'
                f'{", or from an epoch checkpoint" if where.startswith("epoch") else ""}.')

    # ---- rollback ------------------------------------------------------------------------------

    def request_rollback(self, checkpoint):
        """Abandon the current stretch after this iteration and continue from `checkpoint`."""
        self._rollback_to = checkpoint

    def _roll_back(self):
        path, self._rollback_to = self._rollback_to, None
        replay = self.replay + 1
        self.runner.resume(path)  # weights, optimizer, schedulers, counters, message hub
        self._apply_resumed_state()
        self._validate_first = False  # a pending validation ran when this run was resumed
        self.replay = replay  # after the checkpoint's own value: fresh draws from here
        self.runner.optim_wrapper.initialize_count_status(self.runner.model, self._iter,
                                                          self.max_iters)
        print_log(f'rolled back to {path} (epoch {self._epoch}, iteration {self._iter}); '
                  f'replaying with fresh random draws (replay {self.replay})', logger='current',
                  level=30)


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(ResumableLoopMixin, EpochBasedTrainLoop):
    """EpochBasedTrainLoop whose checkpoints, mid-epoch ones included, resume exactly.

    Args: as EpochBasedTrainLoop (dataloader, max_epochs, val_begin, val_interval,
        dynamic_intervals).
    """

    def __init__(self, runner, dataloader, max_epochs, **kwargs):
        dataloader = self._resumable_dataloader(runner, dataloader)
        super().__init__(runner, dataloader, max_epochs, **kwargs)
        self._epoch_start_iter = 0

    def run(self):
        self.runner.call_hook('before_train')
        self._apply_resumed_state()
        try:
            self._run_pending_validation()
            while self._epoch < self._max_epochs and not self.stop_training:
                self.run_epoch()
                if self._rollback_to is not None:
                    self._roll_back()
                    continue
                self._decide_current_val_interval()
                if (self.runner.val_loop is not None and self._epoch >= self.val_begin
                        and (self._epoch % self.val_interval == 0
                             or self._epoch == self._max_epochs)):
                    self.runner.val_loop.run()
        finally:  # also on an error: workers that ignore SIGTERM would block the exit
            shutdown_dataloader_workers(self)
        self.runner.call_hook('after_train')
        return self.runner.model

    def run_epoch(self):
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        done = self._skip_batches
        self._skip_batches = 0
        # set_epoch as DistSamplerSeedHook does (harmless if it ran), then skip `done` batches
        start_epoch_at(self.dataloader.batch_sampler, self._epoch, done, self.replay)
        self._epoch_start_iter = self._iter - done
        self.data_iterator = iter(self.dataloader)  # kept: PreemptionCheckpointHook shuts it down
        for idx, data_batch in enumerate(self.data_iterator, start=done):
            self.run_iter(idx, data_batch)
            if self._rollback_to is not None:
                return  # the epoch is abandoned; run() rolls back
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
        self._epoch_start_iter = self._iter  # a checkpoint during validation: 0 batches done

    _skip_batches = 0

    def batches_done_in_epoch(self, meta):
        """How many batches of the epoch a checkpoint with this meta has trained on."""
        if meta['epoch'] != self._epoch:
            return 0  # written at the end of an epoch (meta epoch = epochs done)
        return meta['iter'] - self._epoch_start_iter

    def state_for_checkpoint(self, meta):
        return dict(super().state_for_checkpoint(meta),
                    batches_done_in_epoch=self.batches_done_in_epoch(meta),
                    iters_per_epoch=len(self.dataloader))

    def _apply_resumed_state(self):
        """After `runner.resume` set `_epoch` / `_iter`: where in the epoch to start, and the
        seeds the interrupted run used."""
        state, self._loaded_state = self._loaded_state, None
        if self._iter == 0:
            return  # a fresh run (or load_from, which restores weights only)
        per_epoch = len(self.dataloader)
        if state is None or state.get('iter') != self._iter:
            # a checkpoint from MMEngine's loop: position from the counters
            done = self._iter - self._epoch * per_epoch
            origin = 'derived from the iteration counter'
        else:
            done = state['batches_done_in_epoch']
            origin = 'recorded in the checkpoint'
            self._restore_seeds(state, done, f'epoch {self._epoch + 1}')
            self._validate_first = state.get('validation_pending', False)
        if not 0 <= done <= per_epoch:
            raise RuntimeError(f'cannot resume at iteration {self._iter}, epoch {self._epoch}: '
                               f'{done} batches into an epoch of {per_epoch}')
        self._skip_batches = done
        self._epoch_start_iter = self._iter - done
        if done:
            print_log(f'resuming {done}/{per_epoch} batches into epoch {self._epoch + 1} '
                      f'({origin}); those batches are skipped, not reloaded', logger='current')


class _LoopStateHook(Hook):
    """Writes the loop's position and seeds into every checkpoint; hands them back on load."""

    priority = 'VERY_LOW'

    def __init__(self, loop):
        self.loop = loop

    def before_save_checkpoint(self, runner, checkpoint):
        checkpoint[STATE_KEY] = self.loop.state_for_checkpoint(checkpoint['meta'])

    def after_load_checkpoint(self, runner, checkpoint):
        self.loop._loaded_state = checkpoint.get(STATE_KEY)
