"""Frozen-feature evaluation: k-NN (mmpretrain has none), logistic regression and retrieval
metrics (numpy 2 safe)."""
from .features import extract_features
from .distributed import (gather_in_dataset_order, gather_rows, reduce_across, shard_sampler,
                          world)
from .knn import hits_to_metrics, knn_across_processes, knn_classify, knn_hits
from .logreg import fit_logistic, logreg_across_processes
from .raw_pixels import pixel_features
from .retrieval import (average_precision, load_revisited_gnd, mean_average_precision,
                        rank_database, recall_at_k, revisited_map)

__all__ = ['average_precision', 'extract_features', 'fit_logistic', 'gather_in_dataset_order',
           'gather_rows', 'hits_to_metrics', 'knn_across_processes', 'knn_classify', 'knn_hits',
           'load_revisited_gnd', 'logreg_across_processes', 'mean_average_precision',
           'pixel_features',
           'rank_database', 'recall_at_k', 'reduce_across', 'revisited_map', 'shard_sampler',
           'world']
