"""Micro-batches: one optimizer step over a batch too large for the GPU, taken exactly as several
GPUs would take it.

Gradient accumulation (`optim_wrapper.accumulative_counts`) is not a larger batch for MimCo: its
image loss contrasts each image with the teacher's global features of every other image in the
batch, so accumulating 8 steps of 256 gives 255 negatives where 8 GPUs x 256 give 2047, and the
student's BatchNorm sees other groups. It is therefore refused when the image loss has batch
negatives (`uses_batch_negatives`). Instead, `MimCo(micro_batches=M)` with a loader batch of
M x b:

1. the data preprocessor and the frozen teacher see the whole batch (no gradient, one part at a
   time), and the image loss's keys are gathered from all of it (and from every process);
2. the student, its heads and the losses run on one part of b images at a time, strided like the
   ranks of a distributed sampler (part m = samples m, m + M, ...), each part's loss / M is
   backpropagated, and the gradients add up;
3. one optimizer step (gradient clipping, the non-finite guard) follows the last part; under DDP
   the gradients are all-reduced once, after the last part (`MicroBatchDDP`).

So one GPU with batch 2048 and M = 8 computes the same update as 8 GPUs with 256 each: the same
2047 negatives per image, BatchNorm over the same groups of 256, the same mean over 2048 images
(tests/test_micro_batches.py: bit-identical weights after 4 steps, 2 processes vs 1). What
differs is what differs between ranks anyway: the random draws inside the student (drop path),
and BatchNorm's running statistics (updated by every part here; DDP keeps rank 0's), which
training never reads.
"""
from contextlib import nullcontext

import torch
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS


def check_accumulation(module, optim_wrapper):
    """Refuse gradient accumulation where it would change the image loss's negatives."""
    counts = getattr(optim_wrapper, '_accumulative_counts', 1)
    img_loss = getattr(getattr(module, 'head', None), 'img_loss', None)
    if counts > 1 and getattr(img_loss, 'uses_batch_negatives', False):
        raise ValueError(
            f'optim_wrapper.accumulative_counts={counts} would give the image loss '
            f'{type(img_loss).__name__} only the negatives of each accumulated part (batch - 1 '
            f'instead of {counts} x batch - 1). Use model.micro_batches={counts} with '
            f'train_dataloader.batch_size={counts} x the per-step batch instead: the same update '
            f'as {counts} GPUs (mimco_mm/models/micro_batches.py).')


def micro_slices(batch: int, parts: int):
    """[slice] of the `parts` strided parts of a batch of `batch` samples."""
    if batch % parts:
        raise ValueError(f'a batch of {batch} samples does not split into micro_batches={parts} '
                         f'equal parts: make train_dataloader.batch_size a multiple of {parts}')
    return [slice(m, None, parts) for m in range(parts)]


def micro_batch_step(module, model, data, optim_wrapper):
    """One optimizer step over `data` in `module.micro_batches` parts (see the module docstring).

    Args:
        module: the MimCo.
        model: what the Runner trains: the MimCo itself or its `MicroBatchDDP` wrapper (the
            forward of every part goes through it, so DDP sees each backward).
    Returns:
        the log variables, averaged over the parts.
    """
    parts = module.micro_batches
    with optim_wrapper.optim_context(model):  # autocast, as the teacher runs in the whole step
        data = module.data_preprocessor(data, True)
        inputs, samples = data['inputs'], data['data_samples']
        slices = micro_slices(inputs.shape[0], parts)
        targets = [module.target_generator(inputs[s]) for s in slices]
    size = inputs.shape[0] // parts
    img_loss = getattr(module.head, 'img_loss', None)
    keys = offset = None
    if getattr(img_loss, 'uses_batch_negatives', False):
        # part-major order: part m's rows are m * size ... (m + 1) * size - 1 of this process's
        keys, offset = img_loss.gather_keys(torch.cat([t.global_ for t in targets]))
    logged = {}
    for m, part in enumerate(slices):
        last = m == parts - 1
        sync = nullcontext() if last or not hasattr(model, 'no_sync') else model.no_sync()
        with sync:
            with optim_wrapper.optim_context(model):
                part_keys = None if keys is None else (keys, offset + m * size)
                losses = model._run_forward(
                    dict(inputs=inputs[part], data_samples=samples[part],
                         teacher=(targets[m], part_keys)), mode='loss')
            loss, log_vars = module.parse_losses(losses)
            if last:
                optim_wrapper.update_params(loss / parts)  # backward, then the one step
            else:
                optim_wrapper.backward(loss / parts)
        for name, value in log_vars.items():  # detached: no part's graph outlives its backward
            logged[name] = logged.get(name, 0) + value.detach() / parts
    return logged


def train_step(module, model, data, optim_wrapper, plain_step):
    """`plain_step(data, optim_wrapper)` (mmengine's) without micro-batches, else the above."""
    check_accumulation(module, optim_wrapper)
    if getattr(module, 'micro_batches', 1) == 1:
        return plain_step(data, optim_wrapper)
    return micro_batch_step(module, model, data, optim_wrapper)


@MODEL_WRAPPERS.register_module()
class MicroBatchDDP(MMDistributedDataParallel):
    """mmengine's MMDistributedDataParallel; for a model with `micro_batches > 1` its train step
    runs the parts with gradient sync after the last one only. Any other model trains exactly as
    under mmengine's wrapper."""

    def train_step(self, data, optim_wrapper):
        return train_step(self.module, self, data, optim_wrapper, super().train_step)
