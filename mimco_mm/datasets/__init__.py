"""Data the project makes or ships (no downloads): bundled real images, generated COCO / ADE
sets; the sampler / dataset wrapper behind exact mid-epoch resume; Pillow's resize on torch's
kernels; mmpretrain's RandomGrayscale read from tables."""
from .bundled import export_mnist5k, export_photo_crops
from .lut_grayscale import LUTRandomGrayscale
from .resumable import (ResumableBatchSampler, ResumableInfiniteSampler, ResumableSampler,
                        SeededDataset)
from .synthetic import make_ade_segmentation, make_coco_instances
from .torch_resize import TorchRandomResizedCrop, resize_like_pillow

__all__ = ['export_mnist5k', 'export_photo_crops', 'ResumableSampler', 'ResumableInfiniteSampler',
           'ResumableBatchSampler', 'SeededDataset',
           'make_ade_segmentation', 'make_coco_instances', 'TorchRandomResizedCrop',
           'resize_like_pillow', 'LUTRandomGrayscale']
