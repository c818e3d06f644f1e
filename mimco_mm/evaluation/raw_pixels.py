"""The raw-pixel baseline of frozen-feature evaluation: what k-NN and a linear classifier reach on
the normalised pixels themselves. A pre-trained feature that does not beat it has learned nothing
the pixels did not already hold (on small, centred images such as MNIST, pixels are strong)."""
from typing import Tuple

import torch
import torch.nn.functional as F

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


def logistic_regression_top1(train_x, train_y, test_x, test_y, steps=300, lr=1e-2,
                             weight_decay=1e-4, seed=0) -> float:
    """Top-1 (%) of a softmax classifier trained full-batch with Adam on standardised features.

    Args:
        train_x: (N, D); test_x: (M, D); train_y / test_y: (N,) / (M,) int64.
    """
    mu, sigma = train_x.mean(0), train_x.std(0) + 1e-6
    train_x, test_x = (train_x - mu) / sigma, (test_x - mu) / sigma
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    generator = torch.Generator().manual_seed(seed)
    weight = (torch.randn(train_x.shape[1], num_classes, generator=generator) * 0.01).requires_grad_()
    bias = torch.zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(train_x @ weight + bias, train_y).backward()
        optimizer.step()
    with torch.no_grad():
        return 100.0 * float(((test_x @ weight + bias).argmax(1) == test_y).float().mean())
