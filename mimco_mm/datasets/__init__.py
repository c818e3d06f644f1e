"""Data the project makes or ships (no downloads): bundled real images, generated COCO / ADE
sets; and the sampler / dataset wrapper behind exact mid-epoch resume."""
from .bundled import export_mnist5k, export_photo_crops
from .resumable import ResumableSampler, SeededDataset
from .synthetic import make_ade_segmentation, make_coco_instances

__all__ = ['export_mnist5k', 'export_photo_crops', 'ResumableSampler', 'SeededDataset', 'make_ade_segmentation',
           'make_coco_instances']
