"""The raw-pixel baseline of frozen-feature evaluation: what k-NN and a linear classifier reach on
the normalised pixels themselves. A pre-trained feature that does not beat it has learned nothing
the pixels did not already hold (on small, centred images such as MNIST, pixels are strong)."""
from typing import Tuple

import torch

from .features import normalised_batches


@torch.no_grad()
def pixel_features(dataloader, mean, std) -> Tuple[torch.Tensor, torch.Tensor]:
    """Flattened normalised pixels of every image of a classification dataloader.

    Args:
        dataloader: yields mmpretrain batches: inputs (B, 3, H, W) uint8, data_samples with
            gt_label.
        mean, std: (3,) per-channel statistics of the models' data preprocessor.
    Returns:
        features (N, 3 * H * W) float32, labels (N,) int64.
    """
    feats, labels = [], []
    for images, batch_labels in normalised_batches(dataloader, mean, std):
        feats.append(images.flatten(1))
        labels.append(batch_labels)
    return torch.cat(feats), torch.cat(labels)
