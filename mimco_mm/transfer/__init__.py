"""Pieces shared by the detection and segmentation transfer (no mmdet / mmseg import here)."""
from .vit_adapter import ViTMultiScaleAdapter

__all__ = ['ViTMultiScaleAdapter']
