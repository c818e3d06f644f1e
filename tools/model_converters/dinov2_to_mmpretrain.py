"""An official DINOv2 ViT checkpoint (facebookresearch/dinov2) -> a `backbone.*` checkpoint our
teacher loads strictly.

    python tools/model_converters/dinov2_to_mmpretrain.py dinov2_vits14_pretrain.pth dst.pth \
        --img-size 196

The torch.hub release is a bare state dict with timm-style names plus layer scale (`ls1.gamma`,
`ls2.gamma`: mmpretrain's `gamma1` / `gamma2`), patch 14 and a position embedding for 518 px
(37 x 37). `--img-size` resamples that embedding to the teacher's input grid the way DINOv2
itself does at another size (vit_release.resample_pos_embed); 196 px gives the 14 x 14 grid of a
16-px student at 224. `mask_token` (the masked-image-modelling token of DINOv2's iBOT loss) does
not compute features: left out and printed. Training checkpoints with chunked blocks
(`blocks.<chunk>.<i>.`, FSDP) are read too. Heads: DINOv2 uses 64 channels per head (ViT-S 6,
B 12, L 16, g 24), or --num-heads. The `_reg4` releases keep their `register_tokens` and load
into `RegisterViT` (mimco_mm/models/register_vit.py). Not supported, with an error: ViT-g
(SwiGLU feed-forward, which mmpretrain's ViT does not have).
"""
import os.path as osp
import re
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from tools.model_converters.vit_release import backbone_state, run  # noqa: E402

HEAD_CHANNELS = 64  # every DINOv2 ViT (vit_small ... vit_giant2): embed_dim / num_heads


def load(checkpoint):
    keys = ('teacher', ) if 'teacher' in checkpoint else ('state_dict', 'model')
    backbone, other = backbone_state(checkpoint, keys=keys)
    # FSDP chunks pad with Identity, so `blocks.<chunk>.<i>.` keeps the global block index i
    backbone = {re.sub(r'^blocks\.\d+\.(\d+)\.', r'blocks.\1.', k): v for k, v in backbone.items()}
    swiglu = sorted(k for k in backbone if '.mlp.w12.' in k or '.mlp.w3.' in k)
    if swiglu:
        raise ValueError(f'{swiglu[0]}: a SwiGLU feed-forward (DINOv2 ViT-g), which mmpretrain\'s '
                         f'VisionTransformer does not have; ViT-S / B / L convert')
    return backbone, other, ('mask_token', )


def heads_from(checkpoint):
    backbone, _, _ = load(checkpoint)
    return backbone['cls_token'].shape[-1] // HEAD_CHANNELS


def main(argv=None):
    return run(argv, __doc__.split('\n')[0], 'dinov2', load, heads_from, resizable=True)


if __name__ == '__main__':
    main()
