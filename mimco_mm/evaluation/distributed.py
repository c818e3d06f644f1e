"""Frozen-feature evaluation across processes (one per GPU, or gloo processes on a CPU machine).

Each process extracts the features of its own share of a dataset (every world_size-th sample,
no padding, so nothing is counted twice); `gather_rows` then gives every process all of them.
k-NN keeps the queries sharded: each process votes for its own queries against the whole bank on
its device and only the hit counts are summed, so no process ever holds the query set's
similarity matrix.
"""
import torch
import torch.distributed as torch_dist


def world():
    """(rank, world_size); (0, 1) outside a process group."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        return torch_dist.get_rank(), torch_dist.get_world_size()
    return 0, 1


def shard_sampler(loader_cfg):
    """The loader config with a sampler that gives this process every world_size-th sample in
    dataset order and pads nothing (DefaultSampler's round_up would repeat samples)."""
    cfg = dict(loader_cfg)
    cfg['sampler'] = dict(type='DefaultSampler', shuffle=False, round_up=False)
    return cfg


def gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate every process's rows (rank order), on this process's device.

    Args:
        tensor: (n_rank, ...) with n_rank allowed to differ between processes.
    Returns:
        (sum of n_rank, ...): the same tensor in every process.
    """
    rank, size = world()
    if size == 1:
        return tensor
    n = torch.tensor([tensor.shape[0]], device=tensor.device)
    counts = [torch.zeros_like(n) for _ in range(size)]
    torch_dist.all_gather(counts, n)
    longest = int(max(c.item() for c in counts))
    padded = tensor.new_zeros((longest, *tensor.shape[1:]))
    padded[:tensor.shape[0]] = tensor
    parts = [torch.empty_like(padded) for _ in range(size)]
    torch_dist.all_gather(parts, padded)
    return torch.cat([p[:int(c.item())] for p, c in zip(parts, counts)])


def gather_in_dataset_order(tensor: torch.Tensor) -> torch.Tensor:
    """Every process's rows in the order of the dataset they came from, on every process.

    shard_sampler gives process r the samples r, r + W, r + 2W, ... (W processes), so row i of
    the dataset is row i // W of process i % W. Anything that depends on the order of its rows
    (a sum in floating point, an optimiser's path) then sees what a single process sees.

    Args:
        tensor: (n_rank, ...), this process's rows in its sampler's order.
    Returns:
        (sum of n_rank, ...) in dataset order.
    """
    size = world()[1]
    if size == 1:
        return tensor
    counts = gather_rows(torch.tensor([tensor.shape[0]], device=tensor.device)).tolist()
    if any(a < b for a, b in zip(counts, counts[1:])) or counts[0] - counts[-1] > 1:
        raise ValueError(f'row counts {counts} are not an interleaved shard of one dataset')
    rows = gather_rows(tensor)
    starts = [sum(counts[:r]) for r in range(size)]
    order = [starts[i % size] + i // size for i in range(len(rows))]
    return rows[torch.tensor(order, device=rows.device)]


def reduce_across(value: torch.Tensor, op: str = 'sum') -> torch.Tensor:
    """Element-wise 'sum' or 'max' over processes (a copy; identity in a single process)."""
    value = value.clone()
    if world()[1] > 1:
        torch_dist.all_reduce(value, op={'sum': torch_dist.ReduceOp.SUM,
                                         'max': torch_dist.ReduceOp.MAX}[op])
    return value
