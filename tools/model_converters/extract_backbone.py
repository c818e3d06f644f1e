"""The student backbone alone, from a stage-2 (MimCo) checkpoint.

    python tools/model_converters/extract_backbone.py SRC DST            # mmpretrain ViT names
    python tools/model_converters/extract_backbone.py SRC DST --to timm  # timm VisionTransformer

Default output: {'state_dict': student tensors without the `backbone.` prefix, mask token
dropped}, which loads strictly into mmpretrain's `VisionTransformer` (or with
`init_cfg=dict(type='Pretrained', checkpoint=DST)` and no prefix). `--to timm` renames to timm's
ViT and checks the result by loading it strictly into `timm.models.vision_transformer.
VisionTransformer` built from the architecture recorded in the checkpoint's config.
"""
import argparse
import os
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mimco_mm.models.vit_keys import mmpretrain_to_timm  # noqa: E402

# Student tensors that only exist for masked pre-training.
PRETRAIN_ONLY = ('mask_token', )


def student_state(checkpoint: dict, prefix: str = 'backbone.') -> dict:
    state = checkpoint.get('state_dict', checkpoint)
    student = {k[len(prefix):]: v for k, v in state.items()
               if k.startswith(prefix) and k[len(prefix):] not in PRETRAIN_ONLY}
    if not student:
        raise KeyError(f'no key starts with {prefix!r}: not a stage-2 checkpoint?')
    return student


def vit_arch(checkpoint: dict) -> dict:
    """ViT hyper-parameters from the config text the Runner stored in the checkpoint's meta."""
    from mmengine.config import Config
    from mmpretrain.models import VisionTransformer
    text = checkpoint.get('meta', {}).get('cfg')
    if not text:
        raise KeyError('the checkpoint has no meta.cfg (not written by tools/train.py?): cannot '
                       'tell the number of attention heads, which the weights do not encode')
    backbone = Config.fromstring(text, '.py').model.backbone
    arch = backbone.arch
    if isinstance(arch, str):
        arch = VisionTransformer.arch_zoo[arch.lower()]
    return dict(arch, patch_size=backbone.get('patch_size', 16),
                img_size=backbone.get('img_size', 224))


def to_timm(student: dict, arch: dict):
    """Rename to timm, build the matching timm ViT and load strictly. Returns (state, model)."""
    import timm
    state = {mmpretrain_to_timm(k): v for k, v in student.items()}
    model = timm.models.vision_transformer.VisionTransformer(
        img_size=arch['img_size'], patch_size=arch['patch_size'], embed_dim=arch['embed_dims'],
        depth=arch['num_layers'], num_heads=arch['num_heads'],
        mlp_ratio=arch['feedforward_channels'] / arch['embed_dims'], qkv_bias=True,
        num_classes=0, global_pool='token')
    model.load_state_dict(state, strict=True)
    return state, model


def main(argv=None):
    parser = argparse.ArgumentParser(description='Extract the student backbone')
    parser.add_argument('src', help='stage-2 checkpoint written by tools/train.py')
    parser.add_argument('dst')
    parser.add_argument('--to', choices=['mmpretrain', 'timm'], default='mmpretrain')
    parser.add_argument('--prefix', default='backbone.')
    args = parser.parse_args(argv)
    from mimco_mm.compat import load_checkpoint_file

    checkpoint = load_checkpoint_file(args.src)
    student = student_state(checkpoint, args.prefix)
    if args.to == 'timm':
        student, _ = to_timm(student, vit_arch(checkpoint))
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    tmp = args.dst + '.tmp'
    torch.save(dict(state_dict=student, meta=dict(source=osp.basename(args.src), format=args.to)),
               tmp)
    os.replace(tmp, args.dst)
    print(f'wrote {args.dst}: {len(student)} tensors ({args.to} names)')


if __name__ == '__main__':
    main()
