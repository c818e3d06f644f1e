"""Weighted k-NN classification on frozen features (DINO's protocol, Caron et al., ICCV 2021).

Each test feature votes with its k nearest training features (cosine similarity); a neighbour's
vote is exp(similarity / T). mmpretrain has no k-NN evaluation, hence this module.
"""
from typing import Dict, Sequence

import torch
import torch.nn.functional as F


@torch.no_grad()
def knn_classify(train_feats: torch.Tensor, train_labels: torch.Tensor,
                 test_feats: torch.Tensor, test_labels: torch.Tensor,
                 ks: Sequence[int] = (10, 20, 100, 200), temperature: float = 0.07,
                 num_classes: int = None, chunk: int = 1024) -> Dict[str, float]:
    """Top-1 / top-5 accuracy (%) of the weighted k-NN classifier for every k.

    Args:
        train_feats: (N, D) features of the labelled bank; test_feats: (M, D). L2-normalised here.
        train_labels: (N,) int; test_labels: (M,) int.
        ks: the k values (each <= N).
        temperature: T of the vote weights.
        num_classes: defaults to max label + 1.
        chunk: test rows per similarity block (memory: chunk x N).
    Returns:
        {'knn/top1_k10': ..., 'knn/top5_k10': ..., ...}
    """
    if max(ks) > train_feats.shape[0]:
        raise ValueError(f'k={max(ks)} exceeds the {train_feats.shape[0]} training features')
    train = F.normalize(train_feats.float(), dim=1)
    test = F.normalize(test_feats.float(), dim=1)
    num_classes = num_classes or int(max(train_labels.max(), test_labels.max())) + 1
    correct = {k: torch.zeros(2) for k in ks}
    for start in range(0, test.shape[0], chunk):
        sims, idx = (test[start:start + chunk] @ train.T).topk(max(ks), dim=1)  # (m, kmax)
        neighbour_labels = train_labels[idx]  # (m, kmax)
        labels = test_labels[start:start + chunk]
        for k in ks:
            weights = (sims[:, :k] / temperature).exp()
            votes = torch.zeros(labels.shape[0], num_classes)
            votes.scatter_add_(1, neighbour_labels[:, :k], weights)
            top = votes.topk(min(5, num_classes), dim=1).indices
            correct[k][0] += (top[:, 0] == labels).sum()
            correct[k][1] += (top == labels[:, None]).any(dim=1).sum()
    total = test.shape[0]
    results = {}
    for k in ks:
        results[f'knn/top1_k{k}'] = 100.0 * float(correct[k][0]) / total
        results[f'knn/top5_k{k}'] = 100.0 * float(correct[k][1]) / total
    return results
