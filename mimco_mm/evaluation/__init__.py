"""Frozen-feature evaluation: k-NN (mmpretrain has none) and retrieval metrics (numpy 2 safe)."""
from .features import extract_features
from .distributed import gather_rows, reduce_across, shard_sampler, world
from .knn import hits_to_metrics, knn_across_processes, knn_classify, knn_hits
from .raw_pixels import logistic_regression_top1, pixel_features
from .retrieval import (average_precision, load_revisited_gnd, mean_average_precision,
                        rank_database, recall_at_k, revisited_map)

__all__ = ['average_precision', 'extract_features', 'gather_rows', 'hits_to_metrics',
           'knn_across_processes', 'knn_classify', 'knn_hits', 'load_revisited_gnd', 'logistic_regression_top1',
           'mean_average_precision', 'pixel_features',
           'rank_database', 'recall_at_k', 'reduce_across', 'revisited_map', 'shard_sampler',
           'world']
