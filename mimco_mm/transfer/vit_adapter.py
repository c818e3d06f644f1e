"""Multi-scale feature maps from a plain ViT, for FPN-based detectors and UPerNet.

A ViT keeps one stride (16) through all blocks. As in BEiT / iBOT's transfer code, the outputs of
four blocks (3, 5, 7, 11 for a 12-block ViT) are rescaled to strides 4, 8, 16, 32: x4 by two
transposed convolutions (with norm + GELU between), x2 by one, x1 as is, x0.5 by max pooling.
With `use_last_only=True` the four maps all come from the last block instead: ViTDet's simple
feature pyramid (Li et al., ECCV 2022).
"""
from typing import Sequence, Tuple

import torch
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import nn


class ViTMultiScaleAdapter(BaseModule):
    """Rescale same-stride ViT feature maps into a pyramid.

    Args:
        in_channels: ViT width C (the output keeps it; an FPN follows).
        scales: one factor per output, from {4, 2, 1, 0.5, 0.25, 0.125}.
        use_last_only: build every output from the last input map (ViTDet) instead of one input
            per output (BEiT).
        norm_cfg: norm between the two x4 deconvolutions (SyncBN in the 8-GPU configs).
    """

    def __init__(self, in_channels: int, scales: Sequence[float] = (4, 2, 1, 0.5),
                 use_last_only: bool = False, norm_cfg: dict = dict(type='BN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.scales = tuple(scales)
        self.use_last_only = use_last_only
        self.branches = nn.ModuleList(self._branch(s, in_channels, norm_cfg) for s in scales)

    @staticmethod
    def _branch(scale, channels, norm_cfg):
        if scale == 4:
            return nn.Sequential(
                nn.ConvTranspose2d(channels, channels, kernel_size=2, stride=2),
                build_norm_layer(norm_cfg, channels)[1], nn.GELU(),
                nn.ConvTranspose2d(channels, channels, kernel_size=2, stride=2))
        if scale == 2:
            return nn.ConvTranspose2d(channels, channels, kernel_size=2, stride=2)
        if scale == 1:
            return nn.Identity()
        if scale in (0.5, 0.25, 0.125):
            return nn.MaxPool2d(kernel_size=int(1 / scale), stride=int(1 / scale))
        raise ValueError(f'scale {scale} is not one of 4, 2, 1, 0.5, 0.25, 0.125')

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """
        Args:
            inputs: feature maps (B, C, h, w), one per output (or any number with
                use_last_only).
        Returns:
            tuple of (B, C, h * s, w * s), one per scale s.
        """
        if self.use_last_only:
            inputs = [inputs[-1]] * len(self.branches)
        elif len(inputs) != len(self.branches):
            raise ValueError(f'{len(inputs)} feature maps for {len(self.branches)} scales: '
                             f'the backbone out_indices and the adapter scales must pair up')
        return tuple(branch(x) for branch, x in zip(self.branches, inputs))
