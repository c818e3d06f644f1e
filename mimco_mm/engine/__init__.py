"""Training machinery shared by the three libraries (registered in MMEngine's root registries)."""
from .layer_decay import ViTLayerDecayConstructor

__all__ = ['ViTLayerDecayConstructor']
