"""ViTDet's simple feature pyramid (Li et al., ECCV 2022, section 3 and figure 2): every level
is built from the LAST ViT feature map (stride 16) alone, without a top-down path.

    stride 4:  deconv 2x (C -> C/2), LN, GELU, deconv 2x (C/2 -> C/4)
    stride 8:  deconv 2x (C -> C/2)
    stride 16: identity (C)
    stride 32: max-pool 2x (C)
then on each level a 1x1 conv to `out_channels` + LN and a 3x3 conv + LN (no biases), and a
stride-64 level by max-pooling the stride-32 output (detectron2's LastLevelMaxPool).
LN here is LayerNorm over channels of a (B, C, H, W) map: `LN2d`, registered for norm_cfg.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS as ENGINE_MODELS


@ENGINE_MODELS.register_module(name='LN2d', force=True)
class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of (B, C, H, W) (detectron2 / ConvNeXt "channels first").

    Registered in MMEngine's root registry as 'LN2d', so `norm_cfg=dict(type='LN2d')` works in
    mmdet / mmseg heads (mmcv's build_norm_layer falls back to the root registry).
    """
    _abbr_ = 'ln'

    def __init__(self, num_features: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> (B, C, H, W), normalised over C at every position."""
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


def _conv_ln(in_channels, out_channels, kernel_size):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        LayerNorm2d(out_channels))


class SimpleFeaturePyramid(nn.Module):
    """The neck of ViTDet.

    Args:
        in_channels: C of the ViT's last feature map.
        out_channels: channels of every pyramid level (256).
        scales: resampling of each level relative to stride 16 (4, 2, 1, 0.5 -> strides
            4, 8, 16, 32).
        num_outs: levels returned; one more than len(scales) adds the max-pooled stride-64 level.
    """

    def __init__(self, in_channels: int, out_channels: int = 256,
                 scales: Sequence[float] = (4.0, 2.0, 1.0, 0.5), num_outs: int = 5):
        super().__init__()
        if num_outs not in (len(scales), len(scales) + 1):
            raise ValueError(f'num_outs must be {len(scales)} or {len(scales) + 1}, got {num_outs}')
        self.num_outs = num_outs
        self.resample = nn.ModuleList()
        self.output = nn.ModuleList()
        c = in_channels
        for scale in scales:
            if scale == 4.0:
                layers = [nn.ConvTranspose2d(c, c // 2, 2, stride=2), LayerNorm2d(c // 2),
                          nn.GELU(), nn.ConvTranspose2d(c // 2, c // 4, 2, stride=2)]
                width = c // 4
            elif scale == 2.0:
                layers, width = [nn.ConvTranspose2d(c, c // 2, 2, stride=2)], c // 2
            elif scale == 1.0:
                layers, width = [], c
            elif scale == 0.5:
                layers, width = [nn.MaxPool2d(2, stride=2)], c
            else:
                raise ValueError(f'scale {scale} is not one of 4, 2, 1, 0.5')
            self.resample.append(nn.Sequential(*layers))
            self.output.append(nn.Sequential(_conv_ln(width, out_channels, 1),
                                             _conv_ln(out_channels, out_channels, 3)))

    def init_weights(self):
        pass  # PyTorch's default init, as detectron2's c2_xavier_fill is not used for LN convs

    def forward(self, inputs: Tuple[torch.Tensor]) -> List[torch.Tensor]:
        """inputs: backbone outputs; the last, (B, C, H/16, W/16), is used.
        Returns num_outs maps (B, out_channels, H/s, W/s), s = 4, 8, 16, 32 (, 64)."""
        x = inputs[-1]
        outs = [out(resample(x)) for resample, out in zip(self.resample, self.output)]
        if self.num_outs > len(outs):
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return tuple(outs)
