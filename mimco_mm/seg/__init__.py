"""Registers the transfer pieces in mmseg's registry. Imported by the mmseg configs only
(`custom_imports=dict(imports=['mimco_mm', 'mimco_mm.seg'])`), so `import mimco_mm` needs no mmseg."""
from mmseg.registry import MODELS

from mimco_mm.transfer import ViTMultiScaleAdapter

MODELS.register_module(module=ViTMultiScaleAdapter)
