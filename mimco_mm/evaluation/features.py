"""Frozen features of a classifier-style model over a dataloader (k-NN, retrieval)."""
from typing import Tuple

import torch
from mmengine.utils import ProgressBar


@torch.no_grad()
def extract_features(model, dataloader, device='cpu') -> Tuple[torch.Tensor, torch.Tensor]:
    """Run `model.extract_feat` over `dataloader`.

    Args:
        model: an mmpretrain `ImageClassifier` (its data_preprocessor normalises the batch; its
            backbone's out_type picks the feature, e.g. 'cls_token').
        dataloader: yields mmpretrain batches (dict of inputs, data_samples with gt_label).
    Returns:
        features (N, D) float32 on the CPU, labels (N,) int64 (-1 where a sample has none).
    """
    from mimco_mm.evaluation.distributed import world
    model.eval()
    feats, labels = [], []
    # under a process group each process sees its shard; only the first one draws progress
    total = len(dataloader.sampler) if hasattr(dataloader.sampler, '__len__') else \
        len(dataloader.dataset)
    progress = ProgressBar(total) if world()[0] == 0 else None
    for batch in dataloader:
        data = model.data_preprocessor(batch, False)
        out = model.extract_feat(data['inputs'].to(device))
        out = out[-1] if isinstance(out, (tuple, list)) else out
        if out.dim() != 2:
            raise ValueError(f'expected (B, D) features, got {tuple(out.shape)}: set the '
                             f"backbone's out_type to 'cls_token' or 'avg_featmap'")
        feats.append(out.float().cpu())
        for sample in data['data_samples']:
            label = sample.gt_label if 'gt_label' in sample else None
            labels.append(int(label[0]) if label is not None and len(label) else -1)
        if progress is not None:
            progress.update(out.shape[0])
    return torch.cat(feats), torch.tensor(labels, dtype=torch.long)


def normalised_batches(dataloader, mean=None, std=None, to_rgb=False, device='cpu'):
    """Each batch of a labelled classification dataloader as float images and labels.

    Args:
        dataloader: yields mmpretrain batches, `inputs` a list of (3, H, W) uint8 images (or
            their stack), `data_samples` with gt_label.
        mean, std: 3 per-channel values (0-255 scale) to normalise with, or None (raw values).
        to_rgb: reverse the channel order first (mmpretrain's `to_rgb` of BGR-loaded images).
    Yields:
        images (B, 3, H, W) float32 on `device`, labels (B,) int64 on `device`.
    """
    if mean is not None:
        mean = torch.as_tensor(mean, dtype=torch.float32, device=device).reshape(1, 3, 1, 1)
        std = torch.as_tensor(std, dtype=torch.float32, device=device).reshape(1, 3, 1, 1)
    for batch in dataloader:
        inputs = batch['inputs']
        images = torch.stack(list(inputs)) if isinstance(inputs, (list, tuple)) else inputs
        images = images.to(device).float()
        if to_rgb:
            images = images[:, [2, 1, 0]]
        if mean is not None:
            images = (images - mean) / std
        labels = torch.tensor([int(s.gt_label[0]) for s in batch['data_samples']],
                              dtype=torch.long, device=device)
        yield images, labels
