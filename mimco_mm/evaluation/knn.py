"""Weighted k-NN classification on frozen features (DINO's protocol, Caron et al., ICCV 2021).

Each test feature votes with its k nearest training features (cosine similarity); a neighbour's
vote is exp(similarity / T). mmpretrain has no k-NN evaluation, hence this module.
"""
from typing import Dict, Sequence

import torch
import torch.nn.functional as F

from .distributed import gather_rows, reduce_across


@torch.no_grad()
def knn_hits(train_feats: torch.Tensor, train_labels: torch.Tensor,
             test_feats: torch.Tensor, test_labels: torch.Tensor, ks: Sequence[int],
             temperature: float, num_classes: int, chunk: int = 1024) -> torch.Tensor:
    """Top-1 and top-5 hit counts of the weighted k-NN vote, for each k.

    Args:
        train_feats: (N, D) bank features; test_feats: (M, D). L2-normalised here. The vote runs
            on train_feats' device, `chunk` test rows at a time (memory: chunk x N).
        train_labels: (N,) int; test_labels: (M,) int.
    Returns:
        (len(ks), 2) float64 on the CPU: [top-1 hits, top-5 hits] per k.
    """
    device = train_feats.device
    train = F.normalize(train_feats.float(), dim=1)
    test = F.normalize(test_feats.float().to(device), dim=1)
    train_labels = train_labels.to(device)
    test_labels = test_labels.to(device)
    hits = torch.zeros(len(ks), 2, dtype=torch.float64, device=device)
    for start in range(0, test.shape[0], chunk):
        sims, idx = (test[start:start + chunk] @ train.T).topk(max(ks), dim=1)  # (m, kmax)
        neighbour_labels = train_labels[idx]  # (m, kmax)
        labels = test_labels[start:start + chunk]
        for i, k in enumerate(ks):
            weights = (sims[:, :k] / temperature).exp()
            votes = torch.zeros(labels.shape[0], num_classes, device=device)
            votes.scatter_add_(1, neighbour_labels[:, :k], weights)
            top = votes.topk(min(5, num_classes), dim=1).indices
            hits[i, 0] += (top[:, 0] == labels).sum()
            hits[i, 1] += (top == labels[:, None]).any(dim=1).sum()
    return hits.cpu()


def hits_to_metrics(hits: torch.Tensor, total: int, ks: Sequence[int]) -> Dict[str, float]:
    """{'knn/top1_k10': %, 'knn/top5_k10': %, ...} from knn_hits' counts over `total` queries."""
    results = {}
    for i, k in enumerate(ks):
        results[f'knn/top1_k{k}'] = 100.0 * float(hits[i, 0]) / total
        results[f'knn/top5_k{k}'] = 100.0 * float(hits[i, 1]) / total
    return results


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
    num_classes = num_classes or int(max(train_labels.max(), test_labels.max())) + 1
    hits = knn_hits(train_feats, train_labels, test_feats, test_labels, ks, temperature,
                    num_classes, chunk)
    return hits_to_metrics(hits, test_feats.shape[0], ks)


def knn_across_processes(bank: torch.Tensor, bank_labels: torch.Tensor, query: torch.Tensor,
                         query_labels: torch.Tensor, ks: Sequence[int],
                         temperature: float = 0.07) -> Dict[str, float]:
    """The metrics of knn_classify when every process holds only its share of bank and queries
    (mimco_mm/evaluation/distributed.py); in a single process it is the plain vote.

    The bank is gathered onto every process (on `bank`'s device), each process votes for its own
    queries there, and the hit counts and query counts are summed, so no process holds all the
    queries' similarities.

    Args:
        bank: (N_rank, D) and bank_labels (N_rank,): this process's part of the bank.
        query: (M_rank, D) and query_labels (M_rank,): this process's queries (may be empty).
    Returns:
        {'knn/top1_k10': ..., 'knn/top5_k10': ..., ...} over every process's queries.
    """
    device = bank.device
    bank, bank_labels = gather_rows(bank), gather_rows(bank_labels.to(device))
    if max(ks) > bank.shape[0]:
        raise ValueError(f'k={max(ks)} exceeds the {bank.shape[0]}-image bank')
    query_labels = query_labels.to(device)
    top = bank_labels.max() if not len(query_labels) else \
        torch.maximum(bank_labels.max(), query_labels.max())
    num_classes = int(reduce_across(top, 'max')) + 1
    hits = knn_hits(bank, bank_labels, query, query_labels, ks, temperature, num_classes)
    total = int(reduce_across(torch.tensor([query.shape[0]], device=device)))
    return hits_to_metrics(reduce_across(hits.to(device)).cpu(), total, ks)
