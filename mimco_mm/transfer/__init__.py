"""Pieces shared by the detection and segmentation transfer (no mmdet / mmseg import here)."""
from .normed_vit import NormedOutputsViT
from .vit_adapter import ViTMultiScaleAdapter

__all__ = ['NormedOutputsViT', 'ViTMultiScaleAdapter']
