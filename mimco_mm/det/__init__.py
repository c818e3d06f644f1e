"""Registers the transfer pieces in mmdet's registry. Imported by the mmdet configs only
(`custom_imports=dict(imports=['mimco_mm', 'mimco_mm.det'])`), so `import mimco_mm` needs no mmdet."""
from mmdet.registry import MODELS

from mimco_mm.transfer import SimpleFeaturePyramid, ViTMultiScaleAdapter

MODELS.register_module(module=ViTMultiScaleAdapter)
MODELS.register_module(module=SimpleFeaturePyramid)
