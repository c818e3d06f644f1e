"""Projectors: the MLP mapping student features into the teacher's space, and a teacher's own
linear projection (CLIP's)."""
import torch
from mmpretrain.registry import MODELS
from torch import nn


@MODELS.register_module()
class MLPProjector(nn.Module):
    """Linear -> norm -> GELU, repeated, then a last Linear.

    Args:
        in_channels: student width.
        out_channels: teacher width (patch dim, or global dim).
        hid_channels: hidden width.
        num_layers: number of Linear layers (1 = a single linear map).
        norm: 'LN', 'BN' (BatchNorm1d over the rows) or None, after each hidden Linear.
    """

    def __init__(self, in_channels: int, out_channels: int, hid_channels: int = 2048,
                 num_layers: int = 2, norm: str = 'LN'):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        norms = {'LN': nn.LayerNorm, 'BN': nn.BatchNorm1d, None: lambda _: nn.Identity()}
        if norm not in norms:
            raise ValueError(f"norm must be 'LN', 'BN' or None, got {norm!r}")
        layers, width = [], in_channels
        for _ in range(num_layers - 1):
            layers += [nn.Linear(width, hid_channels), norms[norm](hid_channels), nn.GELU()]
            width = hid_channels
        layers.append(nn.Linear(width, out_channels))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x):
        """x: (M, in_channels) -> (M, out_channels)."""
        return self.mlp(x)


@MODELS.register_module()
class ProjectionMatrix(nn.Module):
    """`x @ proj` with a bias-free (in, out) matrix stored as `proj`: CLIP's image projection
    (OpenAI / open_clip `visual.proj`), as a neck: takes and returns a tuple, like
    mmpretrain's necks. mmpretrain's own `CLIPProjection` is registered only when
    `transformers` is installed, which breaks mmdet (docs/stack_fixes.md), hence this one.

    Args:
        in_channels: backbone width (768 for ViT-B/16).
        out_channels: embedding width (512 for CLIP ViT-B/16).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.proj = nn.Parameter(torch.randn(in_channels, out_channels) * in_channels ** -0.5)

    def forward(self, inputs):
        """inputs: tuple whose last item is (B, in_channels) -> ((B, out_channels), )."""
        return (inputs[-1] @ self.proj, )
