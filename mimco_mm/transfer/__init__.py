"""Pieces shared by the detection and segmentation transfer (no mmdet / mmseg import here)."""
from .normed_vit import NormedOutputsViT
from .simple_pyramid import LayerNorm2d, SimpleFeaturePyramid
from .vit_adapter import ViTMultiScaleAdapter
from .windowed_vit import WindowedViT

__all__ = ['LayerNorm2d', 'NormedOutputsViT', 'SimpleFeaturePyramid', 'ViTMultiScaleAdapter',
           'WindowedViT']
