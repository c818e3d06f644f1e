"""ViTDet's backbone on plain-ViT weights: window attention and relative positions added at
fine-tuning time (Li et al., "Exploring Plain Vision Transformer Backbones for Object Detection",
ECCV 2022, section 3: the pre-trained ViT is kept, non-overlapping 14 x 14 windows in every block
but four evenly spaced global ones, relative position biases initialised at zero).

mmpretrain's `ViTSAM` (the SAM image encoder) is exactly that network, with mmpretrain's
parameter names; `WindowedViT` is ViTSAM set up for transfer: no channel-reduction neck, and a
checkpoint of a plain ViT (CLS token, position embedding of shape (1, 1 + N, C)) loads into it,
the CLS token and its position dropped, the patch positions reshaped to the grid and resized to
the detection resolution. The rel-pos tables are new (allow them missing in a strict load) and
start at zero, so at step 0 every block computes what the pre-trained one did on its window.
"""
import math

from mmpretrain.models.backbones import ViTSAM
from mmpretrain.registry import MODELS


@MODELS.register_module()
class WindowedViT(ViTSAM):
    """ViTSAM for plain-ViT weights.

    Args:
        arch: dict(embed_dims, num_layers, num_heads, feedforward_channels,
            global_attn_indexes) of the pre-trained ViT plus the global blocks (ViTDet: 2/5/8/11
            for 12 blocks).
        img_size: the detection input size (1024 in ViTDet's LSJ); the absolute position
            embedding is stored at this grid and resized from the checkpoint's once, at load.
        window_size: 14 in ViTDet.
        Other arguments: as ViTSAM (out_channels is fixed at 0: the feature pyramid is the neck).
    """

    # Fields of the recorded architecture this backbone changes on purpose when it adapts plain
    # ViT weights (mimco_mm/architecture.py does not compare them; everything that decides what
    # the weights mean, heads included, is compared).
    ADAPTED_FIELDS = ('cls_token', 'num_extra_tokens', 'rel_pos', 'window_size', 'pos_embed')

    def __init__(self, arch, img_size=1024, window_size=14, **kwargs):
        kwargs.setdefault('use_abs_pos', True)
        kwargs.setdefault('use_rel_pos', True)
        kwargs.setdefault('out_type', 'featmap')
        super().__init__(arch=arch, img_size=img_size, window_size=window_size,
                         out_channels=0, **kwargs)
        self.window_size = window_size

    def _prepare_pos_embed(self, state_dict, prefix, *args, **kwargs):
        """Accept a plain ViT's (1, extra + h * w, C) position embedding: drop the extra
        (CLS) tokens' positions and lay the rest out as (1, h, w, C) before ViTSAM resizes it."""
        name = prefix + 'pos_embed'
        value = state_dict.get(name)
        if value is not None and value.dim() == 3:
            tokens = value.shape[1]
            for extra in (0, 1):  # no extra token, or a CLS token
                side = math.isqrt(tokens - extra)
                if side * side == tokens - extra:
                    break
            else:
                raise ValueError(f'{name}: cannot read a square patch grid from {tokens} '
                                 f'position embeddings')
            state_dict[name] = value[:, extra:].reshape(1, side, side, value.shape[2])
        super()._prepare_pos_embed(state_dict, prefix, *args, **kwargs)
