"""Student ViT for masked image modeling: masked patch embeddings become a learnable mask token.

SimMIM-style (every token, masked or not, goes through the encoder), so the student has a feature
at every masked position and no decoder is needed. With `mask=None` it is mmpretrain's plain
`VisionTransformer`, so the same weights load into every downstream model unchanged.
"""
import torch
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS
from torch import nn

from .vit_blocks import run_blocks


@MODELS.register_module()
class MimCoViT(VisionTransformer):
    """`VisionTransformer` plus `mask_token`; every argument is VisionTransformer's.

    Use `out_type='raw'` for MimCo (CLS and patch tokens) and `out_type='featmap'` for the SimMIM
    pixel-regression control. ViT-S: `arch='deit-small'` (6 heads) or the MoCo v3 variant
    `arch=dict(embed_dims=384, num_layers=12, num_heads=12, feedforward_channels=1536)`.
    Never `arch='small'`: in mmpretrain that is a 768-d, 8-layer ViT.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))

    def init_weights(self):
        super().init_weights()
        if not (isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained'):
            trunc_normal_(self.mask_token, std=0.02)

    def forward(self, x, mask=None):
        """Encode images, replacing masked patches by the mask token.

        Args:
            x: images, (B, 3, H, W).
            mask: None for the plain ViT forward, else (B, h, w) or (B, h*w), nonzero = masked,
                on the patch grid (h = H / patch_size).

        Returns:
            tuple of one tensor per `out_indices`, shaped by `out_type`
            ('raw': (B, 1 + h*w, C); 'featmap': (B, C, h, w); 'cls_token': (B, C)).
        """
        if mask is None:
            return super().forward(x)
        batch = x.shape[0]
        x, patch_resolution = self.patch_embed(x)  # (B, N, C)
        mask = mask.reshape(batch, -1)
        if mask.shape[1] != x.shape[1]:
            raise ValueError(f'mask has {mask.shape[1]} positions but the image has {x.shape[1]} '
                             f'patches ({patch_resolution}); the mask generator\'s input_size and '
                             f'model_patch_size must match this ViT')
        weight = mask.unsqueeze(-1).to(x.dtype)  # (B, N, 1), 1 = masked
        x = x * (1.0 - weight) + self.mask_token.to(x.dtype) * weight

        if self.cls_token is not None:
            x = torch.cat((self.cls_token.expand(batch, -1, -1), x), dim=1)
        x = x + resize_pos_embed(self.pos_embed, self.patch_resolution, patch_resolution,
                                 mode=self.interpolate_mode,
                                 num_extra_tokens=self.num_extra_tokens)
        x = self.pre_norm(self.drop_after_pos(x))

        return run_blocks(self, x, patch_resolution)
