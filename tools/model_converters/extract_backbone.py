"""The student backbone alone, from a stage-2 (MimCo) checkpoint.

    python tools/model_converters/extract_backbone.py SRC DST            # mmpretrain ViT names
    python tools/model_converters/extract_backbone.py SRC DST --to timm  # timm VisionTransformer
    python tools/model_converters/extract_backbone.py SRC DST.safetensors [--to timm]

Default output: {'state_dict': student tensors without the `backbone.` prefix, mask token
dropped}, which loads strictly into mmpretrain's `VisionTransformer` (or with
`init_cfg=dict(type='Pretrained', checkpoint=DST)` and no prefix), with the architecture the
source records copied into its meta. `--to timm` renames to timm's ViT and checks the result by
loading it strictly into `timm.models.vision_transformer.VisionTransformer` built from that
recorded architecture. A DST ending in .safetensors is written in that format (the tensors flat,
the meta as JSON metadata): timm reads it as a plain state dict and our loaders read the meta back.
"""
import argparse
import os.path as osp
import sys

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


def recorded_architecture(checkpoint: dict, prefix: str, source: str) -> dict:
    """The architecture the checkpoint records for the backbone under `prefix`
    (mimco_mm/architecture.py): it travels into the extracted file and sizes the timm model."""
    from mimco_mm.architecture import ARCH_KEY
    recorded = (checkpoint.get('meta') or {}).get(ARCH_KEY) or {}
    key = prefix.rstrip('.')
    if key not in recorded:
        raise KeyError(f'{source} records no architecture for {key!r} (meta.{ARCH_KEY}; written '
                       f'by tools/train.py and the converters): the number of attention heads, '
                       f'which the weights do not encode, would be a guess')
    return recorded[key]


def vit_arch(architecture: dict) -> dict:
    """timm's ViT hyper-parameters from a recorded ViT architecture."""
    if architecture.get('family') != 'vit':
        raise ValueError(f'--to timm converts ViTs; the checkpoint records {architecture}')
    img = architecture['img_size']
    return dict(embed_dims=architecture['embed_dims'], num_layers=architecture['num_layers'],
                num_heads=architecture['num_heads'],
                feedforward_channels=architecture['feedforward_channels'],
                patch_size=architecture['patch_size'],
                img_size=img[0] if isinstance(img, (list, tuple)) else img)


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
    architecture = recorded_architecture(checkpoint, args.prefix, args.src)
    if args.to == 'timm':
        student, _ = to_timm(student, vit_arch(architecture))
    # a bare backbone: its architecture under the empty prefix (mmpretrain names only; timm
    # names are for timm, which our loaders do not read)
    meta = dict(source=osp.basename(args.src), format=args.to,
                **({'architecture': {'': architecture}} if args.to == 'mmpretrain' else {}))
    from mimco_mm.compat.safetensors_files import save_weights
    save_weights(args.dst, student, meta)  # DST.safetensors: the hub's format
    print(f'wrote {args.dst}: {len(student)} tensors ({args.to} names)')


if __name__ == '__main__':
    main()
