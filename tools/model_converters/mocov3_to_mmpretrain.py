"""Official MoCo v3 ViT checkpoint (facebookresearch/moco-v3, `.pth.tar`) -> mmpretrain's MoCo v3.

    python tools/model_converters/mocov3_to_mmpretrain.py vit-s-300ep.pth.tar mocov3_vit-s.pth

The source holds `state_dict` with `module.base_encoder.*`, `module.momentum_encoder.*` (timm ViT
names; the 3-layer BN projector as `head.*`) and `module.predictor.*`. The result has mmpretrain's
`MoCoV3` layout (`backbone.*`, `neck.*`, `head.predictor.*`, `momentum_encoder.module.0/1.*`) and
loads strictly into it; a MimCo teacher takes it with `backbone_prefix='backbone.'` (base encoder)
or 'momentum_encoder.module.0.'. Any key the map does not know is an error, not a silent drop.

The ViT's architecture is recorded in the output's meta (mimco_mm/architecture.py): sizes come
from the tensors, the head count (which no tensor shape encodes) from the official `arch` name
(vit_small, vit_base: 12 heads, as in moco-v3's vits.py) or `--num-heads`.
"""
import argparse
import hashlib
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mimco_mm.models.vit_keys import timm_to_mmpretrain  # noqa: E402


def rename_mlp_key(key: str) -> str:
    """MoCo v3's `_build_mlp` Sequential -> mmpretrain `NonLinearNeck`.

    The Sequential repeats [Linear, BN, ReLU] and ends with [Linear, BN]: index 3i is `fc{i}`,
    3i + 1 is `bn{i}` (ReLUs have no weights).
    """
    index, rest = key.split('.', 1)
    layer, kind = divmod(int(index), 3)
    if kind == 2:
        raise KeyError(f'MLP key {key!r} points at a ReLU, which has no weights')
    return f"{'fc' if kind == 0 else 'bn'}{layer}.{rest}"


def convert(official: dict) -> dict:
    """Map an official `state_dict` to mmpretrain's MoCoV3 `state_dict`."""
    prefixes = {
        'module.base_encoder.': ('backbone.', 'neck.'),
        'module.momentum_encoder.': ('momentum_encoder.module.0.', 'momentum_encoder.module.1.'),
    }
    out = {}
    for key, value in official.items():
        if key.startswith('module.predictor.'):
            out['head.predictor.' + rename_mlp_key(key[len('module.predictor.'):])] = value
            continue
        for src, (vit_dst, head_dst) in prefixes.items():
            if key.startswith(src):
                inner = key[len(src):]
                if inner.startswith('head.'):
                    out[head_dst + rename_mlp_key(inner[len('head.'):])] = value
                else:
                    out[vit_dst + timm_to_mmpretrain(inner)] = value
                break
        else:
            raise KeyError(f'unexpected key {key!r}: not under module.base_encoder, '
                           f'module.momentum_encoder or module.predictor')
    if not any(k.startswith('backbone.') for k in out):
        raise KeyError('no module.base_encoder.* keys: is this a MoCo v3 ViT checkpoint?')
    # mmengine's EMA wrapper counts its updates in a buffer; the official file has no equivalent.
    out['momentum_encoder.steps'] = torch.tensor(0, dtype=torch.long)
    return out


# moco-v3 vits.py: both official ViTs have 12 heads (DeiT-S has 6: a different network)
OFFICIAL_HEADS = {'vit_small': 12, 'vit_base': 12}


def vit_architecture(state: dict, num_heads: int) -> dict:
    """The mmpretrain MoCoV3ViT that `state` (mmpretrain names, `backbone.*`) fits, described."""
    from tools.model_converters.vit_release import architecture
    return architecture(state, num_heads, vit_type='MoCoV3ViT', load=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official MoCo v3 checkpoint (.pth.tar)')
    parser.add_argument('dst', help='output .pth in mmpretrain MoCoV3 layout')
    parser.add_argument('--num-heads', type=int,
                        help='attention heads (default: from the official arch name)')
    args = parser.parse_args(argv)
    from mimco_mm.compat import load_checkpoint_file  # weights_only with the allow-list

    checkpoint = load_checkpoint_file(args.src)
    state = convert(checkpoint.get('state_dict', checkpoint))
    with open(args.src, 'rb') as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    heads = args.num_heads or OFFICIAL_HEADS.get(checkpoint.get('arch'))
    if heads is None:
        raise ValueError(f'{args.src} has arch {checkpoint.get("arch")!r}: pass --num-heads (no '
                         f'weight shape encodes it; official ViT-S and ViT-B have 12)')
    architecture = vit_architecture(state, heads)
    meta = dict(converted_from=osp.basename(args.src), source_sha256=sha,
                epoch=checkpoint.get('epoch'), arch=checkpoint.get('arch'),
                architecture={'backbone': architecture,
                              'momentum_encoder.module.0': architecture})
    from mimco_mm.compat.safetensors_files import save_weights
    save_weights(args.dst, state, meta)  # .safetensors or a torch checkpoint, by the name
    print(f'wrote {args.dst}: {len(state)} tensors '
          f'({sum(k.startswith("backbone.") for k in state)} in the base encoder)')


if __name__ == '__main__':
    main()
