"""Image retrieval metrics on frozen features, written for numpy 2 (mmpretrain's use np.in1d).

- Revisited Oxford / Paris (Radenovic et al., CVPR 2018), the protocol DINO reports: mean average
  precision for the Medium and Hard setups, with junk images ignored.
- Recall@K on any labelled image set: each image queries all the others.
"""
import pickle
from typing import Dict, List, Sequence

import numpy as np
import torch
import torch.nn.functional as F


def average_precision(ranked_positive: np.ndarray, num_positives: int) -> float:
    """AP of one ranking with the revisited benchmark's trapezoidal interpolation.

    Args:
        ranked_positive: 0-based ranks (junk already removed from the list) at which the
            positives were retrieved, ascending.
        num_positives: how many positives exist.
    """
    ap, step = 0.0, 1.0 / num_positives
    for j, rank in enumerate(ranked_positive):
        precision_before = 1.0 if rank == 0 else j / rank
        precision_after = (j + 1) / (rank + 1)
        ap += (precision_before + precision_after) * step / 2.0
    return ap


def mean_average_precision(ranks: np.ndarray, positives: List[np.ndarray],
                           junk: List[np.ndarray]) -> float:
    """mAP (%) over the queries that have positives.

    Args:
        ranks: (num_db, num_queries) database indices, best first, for each query.
        positives / junk: per query, database indices that count as relevant / are ignored.
    """
    aps = []
    for q in range(ranks.shape[1]):
        if len(positives[q]) == 0:
            continue
        order = ranks[:, q]
        keep = ~np.isin(order, junk[q])
        ranked = np.flatnonzero(np.isin(order[keep], positives[q]))
        aps.append(average_precision(ranked, len(positives[q])))
    return 100.0 * float(np.mean(aps))


def revisited_map(ranks: np.ndarray, gnd: List[dict]) -> Dict[str, float]:
    """Medium and Hard mAP (%) of the revisited Oxford / Paris benchmarks.

    Args:
        ranks: (num_db, num_queries) as above.
        gnd: per query dict with 'easy', 'hard', 'junk' database indices (the benchmark's
            ground-truth file). Medium: easy + hard are positives; Hard: hard only, easy is junk.
    """
    medium = mean_average_precision(
        ranks, [np.concatenate([g['easy'], g['hard']]) for g in gnd], [g['junk'] for g in gnd])
    hard = mean_average_precision(
        ranks, [np.asarray(g['hard']) for g in gnd],
        [np.concatenate([g['junk'], g['easy']]) for g in gnd])
    return {'retrieval/mAP_medium': medium, 'retrieval/mAP_hard': hard}


@torch.no_grad()
def rank_database(query_feats: torch.Tensor, db_feats: torch.Tensor) -> np.ndarray:
    """(num_db, num_queries) database indices by descending cosine similarity."""
    sims = F.normalize(db_feats.float(), dim=1) @ F.normalize(query_feats.float(), dim=1).T
    return torch.argsort(sims, dim=0, descending=True).numpy()


@torch.no_grad()
def recall_at_k(feats: torch.Tensor, labels: torch.Tensor,
                ks: Sequence[int] = (1, 2, 4, 8)) -> Dict[str, float]:
    """Recall@K (%): an image scores if one of its K nearest other images shares its label."""
    feats = F.normalize(feats.float(), dim=1)
    sims = feats @ feats.T
    sims.fill_diagonal_(-float('inf'))  # an image is not its own neighbour
    nearest = sims.topk(max(ks), dim=1).indices
    hits = labels[nearest] == labels[:, None]
    return {f'retrieval/recall@{k}': 100.0 * hits[:, :k].any(dim=1).float().mean().item()
            for k in ks}


class _GroundTruthUnpickler(pickle.Unpickler):
    """The benchmark's gnd_*.pkl holds only lists, dicts, strings and numpy arrays."""

    ALLOWED = {('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
               ('numpy', 'ndarray'), ('numpy', 'dtype'), ('numpy.core.multiarray', 'scalar'),
               ('numpy._core.multiarray', 'scalar')}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f'ground-truth file asks for {module}.{name}; only numpy '
                                         f'arrays are expected, refusing to load it')
        return super().find_class(module, name)


def load_revisited_gnd(path: str) -> dict:
    """Read gnd_roxford5k.pkl / gnd_rparis6k.pkl safely: keys 'imlist', 'qimlist', 'gnd'."""
    with open(path, 'rb') as f:
        data = _GroundTruthUnpickler(f, encoding='latin1').load()
    missing = {'imlist', 'qimlist', 'gnd'} - set(data)
    if missing:
        raise KeyError(f'{path} lacks {sorted(missing)}: not a revisited-benchmark gnd file')
    return data
