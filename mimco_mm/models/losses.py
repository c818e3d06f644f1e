"""Stage-2 losses: contrastive (the MimCo default) and feature regression (the ablations).

All math runs in float32 whatever the autocast context: InfoNCE logits in bf16 lose the small
differences between near-identical patches.
"""
from typing import Optional, Tuple

import torch
import torch.distributed as torch_dist
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import nn


def gather_from_all_ranks(x: torch.Tensor) -> Tuple[torch.Tensor, int]:
    """Concatenate `x` from every process (sizes may differ across ranks).

    Args:
        x: (B_rank, D). No gradient flows through the gathered copy (used for targets only).
    Returns:
        (sum of B_r, D) in rank order, and the row offset of this rank's block.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()) or \
            torch_dist.get_world_size() == 1:
        return x, 0
    world, rank = torch_dist.get_world_size(), torch_dist.get_rank()
    size = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    torch_dist.all_gather(sizes, size)
    sizes = [int(s.item()) for s in sizes]
    padded = x.new_zeros((max(sizes), *x.shape[1:]))
    padded[:x.shape[0]] = x
    chunks = [torch.empty_like(padded) for _ in range(world)]
    torch_dist.all_gather(chunks, padded.contiguous())
    gathered = torch.cat([c[:n] for c, n in zip(chunks, sizes)])
    return gathered, sum(sizes[:rank])


@MODELS.register_module()
class PatchInfoNCE(nn.Module):
    """InfoNCE between student predictions at masked patches and teacher patch features.

    The positive of a masked patch is the teacher feature at the same position; the negatives are
    the teacher features at the other positions of the same image (`negatives='image'`, as in
    ConMIM), or of every image in the local batch (`negatives='batch'`).

    Args:
        temperature: tau_p.
        negatives: 'image' or 'batch'.
    """

    def __init__(self, temperature: float = 0.2, negatives: str = 'image'):
        super().__init__()
        if negatives not in ('image', 'batch'):
            raise ValueError(f"negatives must be 'image' or 'batch', got {negatives!r}")
        self.temperature = temperature
        self.negatives = negatives
        self.last_top1 = None  # % of masked patches whose own teacher patch scores highest

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """
        Args:
            pred: (M, D) student predictions at the masked positions, in `target[mask]` order.
            target: (B, N, D) teacher features at every position.
            mask: (B, N) bool, M true entries.
        Returns:
            scalar loss, the mean over the M masked patches.
        """
        q = F.normalize(pred.float(), dim=-1)
        k = F.normalize(target.float(), dim=-1)
        batch_idx, pos_idx = mask.nonzero(as_tuple=True)  # (M,), row-major like target[mask]
        if self.negatives == 'image':
            # Each query against every patch of its own image: scatter the queries back onto the
            # (B, N) grid and do one batched product, (B, N, N), instead of copying k per query.
            q_grid = q.new_zeros(k.shape)
            q_grid[mask] = q
            logits = torch.einsum('bnd,bmd->bnm', q_grid, k)[mask]  # (M, N)
            labels = pos_idx
        else:
            logits = q @ k.flatten(0, 1).T  # (M, B*N)
            labels = batch_idx * k.shape[1] + pos_idx
        # agreement with the teacher, from the logits the loss has anyway (logged, not optimised)
        self.last_top1 = 100.0 * (logits.detach().argmax(1) == labels).float().mean()
        return F.cross_entropy(logits / self.temperature, labels)


@MODELS.register_module()
class ImageInfoNCE(nn.Module):
    """InfoNCE between student global predictions and teacher global features.

    Negatives: the teacher features of every other image in the GLOBAL batch, gathered from all
    processes (MoCo v3 style); gradients flow to the local queries only.

    Args:
        temperature: tau_i.
    """

    # its negatives are the other images of the batch: splitting a batch (gradient accumulation,
    # micro-batches) must hand every part the keys of the whole batch (models/micro_batches.py)
    uses_batch_negatives = True

    def __init__(self, temperature: float = 0.2):
        super().__init__()
        self.temperature = temperature
        self.last_num_negatives = 0
        self.last_top1 = None  # % of images whose own teacher global scores highest

    @staticmethod
    def gather_keys(target: torch.Tensor) -> Tuple[torch.Tensor, int]:
        """The keys of a batch: `target` (B, D) normalised, detached and gathered from every
        process, (B_global, D), with the row offset of this process's block."""
        return gather_from_all_ranks(F.normalize(target.float(), dim=-1).detach())

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                keys: Optional[Tuple[torch.Tensor, int]] = None) -> torch.Tensor:
        """
        Args:
            pred: (B, D) student predictions.
            target: (B, D) teacher global features of the same images.
            keys: None (the keys are `target` from every process), or `gather_keys()` of a
                larger batch whose rows `offset : offset + B` are `target` (a micro-batch).
        Returns:
            scalar loss, the mean over the local batch.
        """
        q = F.normalize(pred.float(), dim=-1)
        keys, offset = keys if keys is not None else self.gather_keys(target)
        logits = q @ keys.T / self.temperature  # (B, B_global)
        labels = torch.arange(q.shape[0], device=q.device) + offset
        self.last_num_negatives = keys.shape[0] - 1  # logged by MimCoHead as `img_negatives`
        self.last_top1 = 100.0 * (logits.detach().argmax(1) == labels).float().mean()
        return F.cross_entropy(logits, labels)


@MODELS.register_module()
class FeatureRegressionLoss(nn.Module):
    """Regression of teacher features: the non-contrastive alternatives for the ablations.

    Args:
        criterion: 'l1', 'smooth_l1', 'mse' or 'cosine' (1 - cos).
        normalize: what is done to both sides first: 'l2' (unit vectors; 'mse' then equals
            2 - 2 cos), 'layer' (per-feature LayerNorm without affine on the target only, as in
            MaskFeat / data2vec), or 'none'.
    """

    CRITERIA = ('l1', 'smooth_l1', 'mse', 'cosine')

    def __init__(self, criterion: str = 'l1', normalize: str = 'layer'):
        super().__init__()
        if criterion not in self.CRITERIA:
            raise ValueError(f'criterion must be one of {self.CRITERIA}, got {criterion!r}')
        if normalize not in ('l2', 'layer', 'none'):
            raise ValueError(f"normalize must be 'l2', 'layer' or 'none', got {normalize!r}")
        self.criterion = criterion
        self.normalize = normalize

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """
        Args:
            pred: (M, D) predictions (at the masked positions when `mask` is given, else (B, D)).
            target: (B, N, D) with `mask` (B, N) bool selecting M rows, or (M, D) without mask.
        Returns:
            scalar loss: per-row error averaged over features, then over rows.
        """
        pred, target = pred.float(), target.float()
        if mask is not None:
            target = target[mask]
        if self.normalize == 'l2':
            pred, target = F.normalize(pred, dim=-1), F.normalize(target, dim=-1)
        elif self.normalize == 'layer':
            target = F.layer_norm(target, target.shape[-1:])
        if self.criterion == 'cosine':
            return (1 - F.cosine_similarity(pred, target, dim=-1)).mean()
        if self.criterion == 'l1':
            return F.l1_loss(pred, target)
        if self.criterion == 'smooth_l1':
            return F.smooth_l1_loss(pred, target)
        return F.mse_loss(pred, target)
