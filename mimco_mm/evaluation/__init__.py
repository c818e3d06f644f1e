"""Frozen-feature evaluation: k-NN (mmpretrain has none) and retrieval metrics (numpy 2 safe)."""
from .features import extract_features
from .knn import knn_classify
from .retrieval import (average_precision, load_revisited_gnd, mean_average_precision,
                        rank_database, recall_at_k, revisited_map)

__all__ = ['average_precision', 'extract_features', 'knn_classify', 'load_revisited_gnd', 'mean_average_precision',
           'rank_database', 'recall_at_k', 'revisited_map']
