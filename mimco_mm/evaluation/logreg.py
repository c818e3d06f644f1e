"""Logistic regression on frozen features, a cheap second read-out beside k-NN.

The protocol follows CLIP's linear probes (Radford et al., ICML 2021, appendix A.3): a
multinomial logistic regression fitted with L-BFGS to the frozen features, its L2 strength
chosen on a validation split held out from the *training* features, then refitted on all of
them. Here the features are standardised first (per dimension, with the bank's statistics; MAE's
linear probe puts a BatchNorm without affine parameters in front of its classifier for the same
reason), the held-out split is every `holdout`-th bank image in dataset order (for a folder or
ImageNet list, sorted by class, that is a stratified fifth), and the strength comes from a fixed
grid instead of CLIP's search. The query set never takes part in the choice.

This is not the 90-epoch SGD linear probe with augmentation of the paper tables
(configs/benchmarks/vit-s_linear-90e_in1k.py) and its numbers are not comparable with that
protocol's; it answers, in seconds, whether a linear classifier can read the classes from the
features, which k-NN (a local, cosine read-out) can understate for MIM features.
"""
from typing import Dict, Sequence, Tuple

import torch
import torch.nn.functional as F

from .distributed import gather_in_dataset_order, reduce_across, world

L2_GRID = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
# the settings a config may give (KNNMonitorHook's `logreg`, tools/knn.py's `knn.logreg`)
LOGREG_KEYS = ('grid', 'holdout', 'max_iter')


def check_settings(settings, where: str) -> dict:
    """`settings` (a config's `logreg` dict, or None for {}) as keyword arguments of
    logreg_across_processes; a key nobody reads is an error naming `where`."""
    unknown = set(settings or {}) - set(LOGREG_KEYS)
    if unknown:
        raise KeyError(f'{where}: logreg has unknown keys {sorted(unknown)} '
                       f'(known: {list(LOGREG_KEYS)})')
    return dict(settings or {})


def standardise(feats: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(N, D) features shifted and scaled per dimension by the bank's (D,) mean and std."""
    return (feats.float() - mean) / std


def fit_logistic(feats: torch.Tensor, labels: torch.Tensor, num_classes: int, l2: float,
                 max_iter: int = 100, chunk: int = 65536) -> Tuple[torch.Tensor, torch.Tensor]:
    """Minimise mean cross-entropy(feats @ W.T + b, labels) + l2 / 2 * |W|^2 with L-BFGS
    (strong-Wolfe line search) from zero weights. The objective is convex, so the result does
    not depend on a seed.

    Args:
        feats: (N, D) float32 (standardised); labels: (N,) int64 in [0, num_classes).
        chunk: rows per forward / backward inside one evaluation (memory: chunk x num_classes).
    Returns:
        weight (num_classes, D) and bias (num_classes,), on feats' device, without grad.
    """
    n = feats.shape[0]
    weight = feats.new_zeros(num_classes, feats.shape[1], requires_grad=True)
    bias = feats.new_zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=max_iter, history_size=10,
                                  tolerance_grad=1e-9, tolerance_change=1e-12,
                                  line_search_fn='strong_wolfe')

    def objective():
        optimizer.zero_grad()
        total = feats.new_zeros(())
        for start in range(0, n, chunk):  # gradients accumulate over the chunks
            logits = feats[start:start + chunk] @ weight.T + bias
            loss = F.cross_entropy(logits, labels[start:start + chunk], reduction='sum') / n
            loss.backward()
            total += loss.detach()
        penalty = 0.5 * l2 * weight.pow(2).sum()
        penalty.backward()
        return total + penalty.detach()

    with torch.enable_grad():
        optimizer.step(objective)
    return weight.detach(), bias.detach()


@torch.no_grad()
def logistic_hits(weight: torch.Tensor, bias: torch.Tensor, feats: torch.Tensor,
                  labels: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """(2,) float64 on the CPU: top-1 and top-5 hits of the classifier on (M, D) standardised
    features with (M,) labels (top-5 is top-num_classes when there are fewer classes)."""
    hits = torch.zeros(2, dtype=torch.float64, device=feats.device)
    top_k = min(5, weight.shape[0])
    for start in range(0, feats.shape[0], chunk):
        top = (feats[start:start + chunk] @ weight.T + bias).topk(top_k, dim=1).indices
        truth = labels[start:start + chunk, None]
        hits[0] += (top[:, 0:1] == truth).sum()
        hits[1] += (top == truth).any(dim=1).sum()
    return hits.cpu()


def choose_l2(feats: torch.Tensor, labels: torch.Tensor, num_classes: int,
              grid: Sequence[float] = L2_GRID, holdout: int = 5, max_iter: int = 100) -> float:
    """The grid value whose fit on all but every `holdout`-th row classifies those rows best
    (on a tie, the stronger one). feats (N, D) standardised, labels (N,)."""
    held = torch.zeros(feats.shape[0], dtype=torch.bool, device=feats.device)
    held[holdout - 1::holdout] = True
    if held.all() or not held.any():
        raise ValueError(f'logistic regression: a {feats.shape[0]}-image bank is too small to '
                         f'hold out every {holdout}th image for choosing the L2 strength')
    best, best_hits = None, -1.0
    for l2 in sorted(grid, reverse=True):
        weight, bias = fit_logistic(feats[~held], labels[~held], num_classes, l2, max_iter)
        hits = float(logistic_hits(weight, bias, feats[held], labels[held])[0])
        if hits > best_hits:
            best, best_hits = l2, hits
    return best


def logreg_across_processes(bank: torch.Tensor, bank_labels: torch.Tensor, query: torch.Tensor,
                            query_labels: torch.Tensor, grid: Sequence[float] = L2_GRID,
                            holdout: int = 5, max_iter: int = 100) -> Dict[str, float]:
    """Top-1 / top-5 (%) of the logistic regression fitted on the bank, when every process holds
    its shard of bank and queries (mimco_mm/evaluation/distributed.py); in a single process, the
    plain fit.

    Process 0 fits on the whole bank, put back in dataset order so that the fit is the one a
    single process makes, and sends the classifier to the others; each classifies its own
    queries and the hits are summed.

    Args:
        bank: (N_rank, D) and bank_labels (N_rank,): this process's share of the bank.
        query: (M_rank, D) and query_labels (M_rank,): this process's queries (may be empty).
        grid: L2 strengths to choose from on the held-out bank rows; one value: no choice.
    Returns:
        {'logreg/top1': %, 'logreg/top5': %, 'logreg/l2': the strength used}.
    """
    device = bank.device
    bank = gather_in_dataset_order(bank.float())
    bank_labels = gather_in_dataset_order(bank_labels.to(device))
    query_labels = query_labels.to(device)
    top = bank_labels.max() if not len(query_labels) else \
        torch.maximum(bank_labels.max(), query_labels.max())
    num_classes = int(reduce_across(top, 'max')) + 1
    mean, std = bank.mean(0), bank.std(0).clamp_min(1e-6)
    weight = bank.new_zeros(num_classes, bank.shape[1])
    bias = bank.new_zeros(num_classes)
    l2 = torch.zeros((), dtype=torch.float64, device=device)
    if world()[0] == 0:
        feats = standardise(bank, mean, std)
        chosen = grid[0] if len(grid) == 1 else choose_l2(feats, bank_labels, num_classes, grid,
                                                          holdout, max_iter)
        weight, bias = fit_logistic(feats, bank_labels, num_classes, chosen, max_iter)
        l2.fill_(chosen)
    if world()[1] > 1:
        import torch.distributed as torch_dist
        for tensor in (mean, std, weight, bias, l2):  # every process uses process 0's numbers
            torch_dist.broadcast(tensor, src=0)
    hits = logistic_hits(weight, bias, standardise(query.to(device), mean, std), query_labels)
    total = int(reduce_across(torch.tensor([query.shape[0]], device=device)))
    hits = reduce_across(hits.to(device)).cpu()
    return {'logreg/top1': 100.0 * float(hits[0]) / total,
            'logreg/top5': 100.0 * float(hits[1]) / total, 'logreg/l2': float(l2)}
