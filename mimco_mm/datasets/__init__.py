"""Data the project makes itself (no downloads): generated COCO / ADE-format sets."""
from .synthetic import make_ade_segmentation, make_coco_instances

__all__ = ['make_ade_segmentation', 'make_coco_instances']
