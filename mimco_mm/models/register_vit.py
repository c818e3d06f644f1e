"""`RegisterViT`: mmpretrain's VisionTransformer with register tokens (Darcet et al., "Vision
Transformers Need Registers", arXiv 2309.16588), the architecture of DINOv2's `*_reg4` releases.

Tokens run as [CLS, R registers, N patches], as DINOv2 builds them: the position embedding covers
CLS and the patches (1 + N entries, added before the registers are inserted), the registers get
none. `num_extra_tokens` is 1 + R, so whatever skips the extra tokens (our teacher's
`split_tokens`, mmpretrain's featmap outputs, the architecture record) skips the registers too.
A checkpoint's position embedding must already fit the grid: loading never resizes it (the base
class would resize it around the wrong number of extra tokens).
"""
import torch
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS
from torch import nn

from .vit_blocks import run_blocks


@MODELS.register_module()
class RegisterViT(VisionTransformer):
    """Args: those of mmpretrain's VisionTransformer (with its CLS token), and
        num_register_tokens (int): R, 4 in DINOv2's releases."""

    def __init__(self, *args, num_register_tokens=4, **kwargs):
        super().__init__(*args, **kwargs)
        if self.cls_token is None:
            raise ValueError('RegisterViT needs the CLS token (with_cls_token=True)')
        if num_register_tokens < 1:
            raise ValueError(f'num_register_tokens must be >= 1, got {num_register_tokens}')
        self.num_register_tokens = num_register_tokens
        self.register_tokens = nn.Parameter(
            torch.randn(1, num_register_tokens, self.embed_dims) * 1e-6)
        self.num_extra_tokens = 1 + num_register_tokens  # shadows the class attribute (1)

    def _prepare_pos_embed(self, state_dict, prefix, *args, **kwargs):
        name = prefix + 'pos_embed'
        if name in state_dict and state_dict[name].shape != self.pos_embed.shape:
            raise ValueError(f'{name}: {tuple(state_dict[name].shape)} in the checkpoint, '
                             f'{tuple(self.pos_embed.shape)} here; convert the checkpoint for '
                             f'this input size (--img-size) instead of resizing on load')

    def forward(self, x):
        """(B, 3, H, W) -> tuple (one per out_indices) of mmpretrain's outputs; `out_type='raw'`
        gives (B, 1 + R + N, C) tokens: CLS, registers, patches."""
        batch = x.shape[0]
        x, patch_resolution = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(batch, -1, -1), x), dim=1)
        x = x + resize_pos_embed(self.pos_embed, self.patch_resolution, patch_resolution,
                                 mode=self.interpolate_mode, num_extra_tokens=1)
        x = torch.cat((x[:, :1], self.register_tokens.expand(batch, -1, -1), x[:, 1:]), dim=1)
        x = self.pre_norm(self.drop_after_pos(x))
        return run_blocks(self, x, patch_resolution)
