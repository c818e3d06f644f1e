"""What the converters of released ViT checkpoints share (timm, DINO, iBOT): find the backbone in
the file's layout, rename timm's names to mmpretrain's, drop only what the format says is not
backbone (each dropped tensor is printed), record the architecture, write atomically.

The result holds `backbone.*` (mmpretrain `VisionTransformer` names) and, in its meta, the
architecture of that backbone, so `ContrastiveTeacher(backbone=dict(type='VisionTransformer',
arch=..., out_type='raw'), checkpoint=RESULT)` loads it strictly and checks the head count.
"""
import argparse
import hashlib
import os
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mimco_mm.models.vit_keys import timm_to_mmpretrain  # noqa: E402


def backbone_state(checkpoint: dict, keys=('state_dict', 'model'), prefixes=('module.', 'backbone.')):
    """The backbone tensors of a release: the first of `keys` present (else the file itself),
    with `prefixes` stripped in order (DDP's 'module.', the SSL wrapper's 'backbone.'); when any
    key carries 'backbone.', keys without it (projection heads) are returned separately.
    Returns (backbone {timm name: tensor}, other {name: tensor})."""
    state = next((checkpoint[k] for k in keys if isinstance(checkpoint.get(k), dict)), checkpoint)
    state = {k: v for k, v in state.items() if torch.is_tensor(v)}
    stripped = {}
    for key, value in state.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                key = key[len(prefix):]
        stripped[key] = value
    has_wrapper = any(k.startswith('backbone.') or k.startswith('module.backbone.') for k in state)
    if not has_wrapper:
        return stripped, {}
    backbone, other = {}, {}
    for (orig, value), key in zip(state.items(), stripped):
        (backbone if 'backbone.' in orig else other)[key] = value
    return backbone, other


def to_mmpretrain(backbone: dict, drop=()):
    """timm names -> `backbone.*` mmpretrain names; `drop` (exact names) are left out and
    returned. Any other name no map knows is an error (mimco_mm.models.vit_keys)."""
    dropped = {k: v for k, v in backbone.items() if k in drop}
    state = {'backbone.' + timm_to_mmpretrain(k): v for k, v in backbone.items() if k not in drop}
    return state, dropped


def architecture(state: dict, num_heads: int, vit_type: str = 'VisionTransformer',
                 load: bool = True, **vit_kwargs) -> dict:
    """Build the mmpretrain ViT (`vit_type`, plus `vit_kwargs` such as CLIP's `pre_norm`) that
    the `backbone.*` tensors of `state` fit, load them strictly (unless `load` is False) and
    describe it (mimco_mm/architecture.py)."""
    from mmpretrain.registry import MODELS

    from mimco_mm.architecture import describe
    embed_dims = state['backbone.cls_token'].shape[-1]
    num_layers = 1 + max(int(k.split('.')[2]) for k in state if k.startswith('backbone.layers.'))
    ffn = state['backbone.layers.0.ffn.layers.0.0.weight'].shape[0]
    patch = state['backbone.patch_embed.projection.weight'].shape[-1]
    grid = int(round((state['backbone.pos_embed'].shape[1] - 1) ** 0.5))
    if embed_dims % num_heads:
        raise ValueError(f'{num_heads} heads do not divide {embed_dims} channels')
    model = MODELS.build(dict(type=vit_type, arch=dict(
        embed_dims=embed_dims, num_layers=num_layers, num_heads=num_heads,
        feedforward_channels=ffn), img_size=grid * patch, patch_size=patch, **vit_kwargs))
    if load:
        model.load_state_dict({k[len('backbone.'):]: v for k, v in state.items()
                               if k.startswith('backbone.')}, strict=True)
    return describe(model)


def write(dst: str, state: dict, meta: dict) -> None:
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    tmp = dst + '.tmp'
    torch.save(dict(state_dict=state, meta=meta), tmp)
    os.replace(tmp, dst)  # never a half-written destination


def run(argv, description, fmt, load, heads_from=None, rename=to_mmpretrain, vit_kwargs=None,
        read=None):
    """The common command line: SRC DST [--num-heads N]. `load(checkpoint) -> (backbone, other,
    drop)` picks the format's backbone, `rename(backbone, drop) -> (state, dropped)` maps it to
    mmpretrain names (timm's by default), `vit_kwargs` are the ViT options the release needs
    beyond its shapes, `heads_from(checkpoint)` may know the head count and `read(path)`
    replaces the safe checkpoint reader for formats it cannot open (TorchScript)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--num-heads', type=int,
                        help='attention heads (no weight shape encodes them)')
    args = parser.parse_args(argv)
    from mimco_mm.compat import load_checkpoint_file
    checkpoint = (read(args.src) if read else
                  load_checkpoint_file(args.src, extra_globals=[argparse.Namespace]))
    backbone, other, drop = load(checkpoint)
    state, dropped = rename(backbone, drop)
    heads = args.num_heads or (heads_from(checkpoint) if heads_from else None)
    if heads is None:
        raise ValueError(f'{args.src}: pass --num-heads (the file does not say; ViT-S has 6 in '
                         f'DINO / iBOT / DeiT / timm, 12 in MoCo v3; ViT-B 12)')
    arch = architecture(state, heads, **(vit_kwargs or {}))
    with open(args.src, 'rb') as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    meta = dict(converted_from=osp.basename(args.src), source_sha256=sha, format=fmt,
                dropped=sorted(dropped) + sorted(other), architecture={'backbone': arch})
    write(args.dst, state, meta)
    for name in sorted(dropped) + sorted(other):
        print(f'not backbone, left out: {name}')
    print(f'wrote {args.dst}: {len(state)} backbone tensors, {heads} heads ({fmt})')
    return args.dst
