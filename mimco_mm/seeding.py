"""Randomness as a pure function of where the run is, so that a resumed run draws exactly what an
uninterrupted one would without storing any generator state.

- every training sample's augmentation (crop, flip, colour, mask) is seeded from
  (seed, replay, epoch, dataset index): independent of worker count, worker assignment, world
  size, and of whether the epoch was started from its first batch;
- every training step's own randomness (drop path, ...) is seeded from (seed, replay, rank,
  iteration).

`replay` counts non-finite rollbacks: a rolled-back stretch is replayed with fresh draws.
"""
import random

import numpy as np
import torch

SAMPLE, STEP = 0, 1  # domains, so a sample key never collides with a step key


def seed_everything(*key, devices=True):
    """Seed Python's, numpy's and torch's global generators from a tuple of non-negative ints,
    e.g. `seed_everything(SAMPLE, seed, replay, epoch, index)`. `devices=False` leaves the CUDA
    generators alone (data workers never use them; seeding them costs ~90 us, the rest ~25 us)."""
    words = np.random.SeedSequence([int(k) for k in key]).generate_state(6)  # uint32
    random.seed((int(words[0]) << 32) | int(words[1]))
    np.random.seed(words[2:4])
    torch_seed = ((int(words[4]) << 32) | int(words[5])) & (2**63 - 1)
    if devices:
        torch.manual_seed(torch_seed)  # CPU and every CUDA device
    else:
        torch.default_generator.manual_seed(torch_seed)


def get_global_rng_state():
    """Python, numpy and torch CPU generator states (to put back after in-process seeding)."""
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def set_global_rng_state(state):
    py, np_state, torch_state = state
    random.setstate(py)
    np.random.set_state(np_state)
    torch.set_rng_state(torch_state)
