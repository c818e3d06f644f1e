"""`ResumableIterBasedTrainLoop`: MMEngine's iteration loop (the COCO LSJ and ADE20K configs),
resumed exactly and without reloading the data it has already trained on.

On resume at iteration N, MMEngine's IterBasedTrainLoop loads, augments and throws away N batches
to get back to its place in the data ("Advance dataloader N steps"): at iteration 150k of a 160k
ADE20K run that is 150k batches of decoding before the first step. Its augmentation also depends
on which worker loaded a sample, so the resumed run draws other crops than the interrupted one.

This loop shares ResumableEpochBasedTrainLoop's machinery (resumable_loop.py):
- the data stream is InfiniteSampler's (`ResumableInfiniteSampler`: the same indices, skipped by
  counting) or, for a DefaultSampler, consecutive epochs of it as MMEngine's loop runs them;
  a config's batch sampler is wrapped so whole batches are skipped as index lists;
- every sample is augmented from (seed, replay, pass, index) and every step seeded from
  (seed, replay, rank, iteration), so the resumed run continues bit for bit;
- checkpoints record the seeds and images per iteration (`loop_state`); rollback on request.
"""
from mmengine.logging import print_log
from mmengine.registry import LOOPS
from mmengine.runner import IterBasedTrainLoop

from mimco_mm.datasets.resumable import (ResumableInfiniteSampler, start_epoch_at,
                                         stream_position)

from .preemption import shutdown_dataloader_workers
from .resumable_loop import EPOCH_SAMPLERS, ResumableLoopMixin


@LOOPS.register_module()
class ResumableIterBasedTrainLoop(ResumableLoopMixin, IterBasedTrainLoop):
    """IterBasedTrainLoop whose checkpoints resume exactly, skipping the data already trained on
    without loading it.

    Args: as IterBasedTrainLoop (dataloader, max_iters, val_begin, val_interval,
        dynamic_intervals).
    """

    SAMPLERS = {**EPOCH_SAMPLERS, 'InfiniteSampler': ResumableInfiniteSampler,
                'ResumableInfiniteSampler': ResumableInfiniteSampler,
                ResumableInfiniteSampler: ResumableInfiniteSampler}

    def __init__(self, runner, dataloader, max_iters, **kwargs):
        dataloader = self._resumable_dataloader(runner, dataloader)
        super().__init__(runner, dataloader, max_iters, **kwargs)
        self.dataloader_iterator = None  # MMEngine's; this loop reads `_batches()` instead

    def run(self):
        self.runner.call_hook('before_train')
        # as MMEngine's loop: the whole run is one big epoch for the hooks
        self.runner.call_hook('before_train_epoch')
        self._apply_resumed_state()
        batches = self._batches()
        try:
            self._run_pending_validation()
            while self._iter < self._max_iters and not self.stop_training:
                self.runner.model.train()
                self.run_iter(next(batches))
                if self._rollback_to is not None:
                    self._roll_back()
                    batches = self._batches()  # the stream again, from the checkpoint's position
                    continue
                self._decide_current_val_interval()
                if (self.runner.val_loop is not None and self._iter >= self.val_begin and
                        (self._iter % self.val_interval == 0 or self._iter == self._max_iters)):
                    self.runner.val_loop.run()
        finally:  # the endless iterator's workers outlive the loop otherwise (and, ignoring
            shutdown_dataloader_workers(self)  # SIGTERM, would block the interpreter's exit)
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model

    def _batches(self):
        """The training batches from iteration `_iter` on, forever.

        An InfiniteSampler's stream is one pass; a DefaultSampler's is its epochs one after the
        other (MMEngine's loop calls set_epoch(1), (2), ... each time the dataloader runs out).
        """
        epoch, skip = stream_position(self.dataloader.batch_sampler, self._iter)
        while True:
            start_epoch_at(self.dataloader.batch_sampler, epoch, skip, self.replay)
            self.data_iterator = iter(self.dataloader)
            yield from self.data_iterator
            epoch, skip = epoch + 1, 0

    def _apply_resumed_state(self):
        """After `runner.resume` set `_iter`: the seeds the interrupted run used."""
        state, self._loaded_state = self._loaded_state, None
        if self._iter == 0:
            return  # a fresh run (or load_from, which restores weights only)
        if state is not None and state.get('iter') == self._iter:
            self._restore_seeds(state, self._iter, f'the data stream (iteration {self._iter})')
            self._validate_first = state.get('validation_pending', False)
            origin = 'its seeds recorded in the checkpoint'
        else:
            origin = "a checkpoint of MMEngine's loop: other seeds than the interrupted run's"
        print_log(f'resuming at iteration {self._iter} ({origin}); the {self._iter} batches '
                  f'before it are skipped as indices, not loaded', logger='current')
