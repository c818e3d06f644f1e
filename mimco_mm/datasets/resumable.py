"""The sampler and dataset wrapper behind exact mid-epoch resume (see engine/resumable_loop.py).

`ResumableSampler` gives DefaultSampler's order (same permutation for the same seed and epoch,
same padding and rank split) but yields keys `(epoch, replay, index)` and can start an epoch
part-way. `SeededDataset` takes those keys and seeds every random generator from them before the
pipeline runs, so a sample is augmented the same way whichever worker, process or restart loads it.
"""
import torch.utils.data
from mmengine.dataset import DefaultSampler
from mmengine.registry import DATA_SAMPLERS

from mimco_mm.seeding import (SAMPLE, get_global_rng_state, seed_everything,
                                     set_global_rng_state)


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
