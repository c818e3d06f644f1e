"""The sampler and dataset wrapper behind exact mid-epoch resume (see engine/resumable_loop.py).

`ResumableSampler` gives DefaultSampler's order (same permutation for the same seed and epoch,
same padding and rank split) but yields keys `(epoch, replay, index)` and can start an epoch
part-way; `ResumableInfiniteSampler` does the same for InfiniteSampler's endless stream, and
`ResumableBatchSampler` for a config's batch sampler (whole batches skipped, no image read).
`SeededDataset` takes those keys and seeds every random generator from them before the pipeline
runs, so a sample is augmented the same way whichever worker, process or restart loads it.
"""
import itertools

import torch.utils.data
from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.registry import DATA_SAMPLERS
from torch.utils.data import Sampler

from mimco_mm.seeding import SAMPLE, get_global_rng_state, seed_everything, set_global_rng_state


@DATA_SAMPLERS.register_module()
class ResumableSampler(DefaultSampler):
    """DefaultSampler that can skip the batches an interrupted epoch already trained on.

    Args: as DefaultSampler (dataset, shuffle, seed, round_up).
    """

    def __init__(self, dataset, shuffle=True, seed=None, round_up=True):
        super().__init__(dataset, shuffle=shuffle, seed=seed, round_up=round_up)
        self.replay = 0
        self._start = 0

    def start_at(self, samples):
        """The next epoch's iterator skips this rank's first `samples` indices (one use)."""
        if not 0 <= samples <= self.num_samples:
            raise ValueError(f'cannot start an epoch of {self.num_samples} samples per rank at '
                             f'sample {samples}')
        self._start = samples

    def __iter__(self):
        start, self._start = self._start, 0
        indices = list(super().__iter__())[start:]
        return iter([(self.epoch, self.replay, i) for i in indices])


class SeededDataset(torch.utils.data.Dataset):
    """Wraps a dataset; `dataset[(epoch, replay, index)]` runs the wrapped pipeline with every
    generator seeded from (seed, replay, epoch, index). A plain int index is passed through.

    In the main process (num_workers=0) the generators' states are put back afterwards, so
    loading data never changes the training step's own randomness.
    """

    def __init__(self, dataset, seed):
        self.dataset = dataset
        self.seed = int(seed)

    def __len__(self):
        return len(self.dataset)

    def __getattr__(self, name):  # metainfo, get_data_info, ... of the wrapped dataset
        if name == 'dataset':  # not set yet (unpickling in a worker): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def get_data_info(self, key):
        """The wrapped dataset's annotation of a key or plain index (mmdet's
        AspectRatioBatchSampler reads image sizes through the sampler's dataset)."""
        return self.dataset.get_data_info(key[2] if isinstance(key, tuple) else key)

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            return self.dataset[key]
        epoch, replay, index = key
        in_main_process = torch.utils.data.get_worker_info() is None
        saved = get_global_rng_state() if in_main_process else None
        seed_everything(SAMPLE, self.seed, replay, epoch, index, devices=False)
        try:
            return self.dataset[index]
        finally:
            if saved is not None:
                set_global_rng_state(saved)


@DATA_SAMPLERS.register_module()
class ResumableInfiniteSampler(InfiniteSampler):
    """InfiniteSampler (the iteration-based configs' sampler) that can start part-way.

    The same stream of indices per rank as InfiniteSampler (one generator seeded once, successive
    permutations, split by rank), yielded as keys `(pass, replay, index)` for SeededDataset, with
    `pass` the permutation the index comes from. Unlike InfiniteSampler, every `iter()` starts the
    stream again (from `start_at`), so a resumed run reaches its position by counting indices,
    not by loading the batches before it.

    Args: as InfiniteSampler (dataset, shuffle, seed).
    """

    def __init__(self, dataset, shuffle=True, seed=None):
        super().__init__(dataset, shuffle=shuffle, seed=seed)
        self.replay = 0
        self._start = 0

    def start_at(self, samples):
        """The next iterator skips this rank's first `samples` indices (one use)."""
        if samples < 0:
            raise ValueError(f'cannot start the stream at sample {samples}')
        self._start = samples

    def __iter__(self):
        start, self._start = self._start, 0
        for position, index in itertools.islice(enumerate(self._indices_of_rank()), start, None):
            whole_stream_position = self.rank + position * self.world_size
            yield (whole_stream_position // self.size, self.replay, index)


@DATA_SAMPLERS.register_module()
class ResumableBatchSampler(Sampler):
    """Wraps a config's batch sampler (e.g. mmdet's AspectRatioBatchSampler) so that an epoch
    can start after its first batches: those index lists are drawn and dropped, no image is read.

    Args:
        sampler: the index sampler (ResumableSampler / ResumableInfiniteSampler).
        batch_size (int): images per batch and process.
        inner (dict): the config's batch sampler, built with this sampler and batch size.
    """

    def __init__(self, sampler, batch_size, inner):
        self.inner = DATA_SAMPLERS.build(inner, default_args=dict(sampler=sampler,
                                                                  batch_size=batch_size))
        self.sampler = sampler
        self.batch_size = batch_size
        self._start = 0

    def start_at(self, batches):
        """The next iterator skips its first `batches` batches (one use)."""
        if batches < 0:
            raise ValueError(f'cannot start at batch {batches}')
        self._start = batches

    def __iter__(self):
        start, self._start = self._start, 0
        return itertools.islice(iter(self.inner), start, None)

    def __len__(self):
        return len(self.inner)


def start_epoch_at(batch_sampler, epoch, batches, replay=0):
    """Make the next iterator of a resumable loader yield epoch `epoch` from its batch `batches`
    on; the batches before it are drawn as index lists, no image is loaded.

    Args:
        batch_sampler: the DataLoader's: a ResumableBatchSampler, or torch's BatchSampler around a
            ResumableSampler / ResumableInfiniteSampler.
        epoch (int): the epoch (the pass, for an endless stream).
        batches (int): batches of that epoch to skip.
        replay (int): the rollback count, part of every sample's seed.
    """
    sampler = batch_sampler.sampler
    sampler.set_epoch(epoch)
    sampler.replay = replay
    if isinstance(batch_sampler, ResumableBatchSampler):
        batch_sampler.start_at(batches)
    else:
        sampler.start_at(batches * batch_sampler.batch_size)


def stream_position(batch_sampler, batches_done):
    """(epoch, batches into it) of an iteration-based run that has trained `batches_done`
    batches: an InfiniteSampler's stream is one endless pass, a DefaultSampler's is its epochs
    one after another (as MMEngine's IterBasedTrainLoop runs them)."""
    if isinstance(batch_sampler.sampler, ResumableInfiniteSampler):
        return 0, batches_done
    return divmod(batches_done, len(batch_sampler))
