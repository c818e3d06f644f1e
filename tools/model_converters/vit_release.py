"""What the converters of released ViT checkpoints share (timm, DINO, iBOT): find the backbone in
the file's layout, rename timm's names to mmpretrain's, drop only what the format says is not
backbone (each dropped tensor is printed), record the architecture, write atomically.

The result holds `backbone.*` (mmpretrain `VisionTransformer` names) and, in its meta, the
architecture of that backbone, so `ContrastiveTeacher(backbone=dict(type='VisionTransformer',
arch=..., out_type='raw'), checkpoint=RESULT)` loads it strictly and checks the head count.
"""
import argparse
import hashlib
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mimco_mm.compat.safetensors_files import save_weights  # noqa: E402
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


def resample_pos_embed(pos: torch.Tensor, grid: int) -> torch.Tensor:
    """A ViT's absolute position embedding (1, 1 + M * M, C) for a `grid` x `grid` patch grid,
    computed as DINO, iBOT and DINOv2 compute it when they run at another input size (their
    `interpolate_pos_encoding`): bicubic, in float32, not antialiased, with the scale factor
    (grid + 0.1) / M (their guard against a floating-point off-by-one in the output size,
    facebookresearch/dino#8), which also sets where the samples fall. The class token's entry
    is kept. Returns (1, 1 + grid * grid, C)."""
    import torch.nn.functional as F
    side = int(round((pos.shape[1] - 1) ** 0.5))
    if side * side != pos.shape[1] - 1:
        raise ValueError(f'pos_embed {tuple(pos.shape)}: not a class token plus a square grid')
    if grid == side:
        return pos
    channels = pos.shape[-1]
    patch = pos[:, 1:].float().reshape(1, side, side, channels).permute(0, 3, 1, 2)
    scale = (grid + 0.1) / side
    patch = F.interpolate(patch, scale_factor=(scale, scale), mode='bicubic')
    assert patch.shape[-2:] == (grid, grid), patch.shape
    patch = patch.permute(0, 2, 3, 1).reshape(1, grid * grid, channels).to(pos.dtype)
    return torch.cat([pos[:, :1], patch], dim=1)


def resize_for(state: dict, img_size: int) -> dict:
    """Replace `backbone.pos_embed` of `state` by its resampling (`resample_pos_embed`) for
    `img_size` px inputs; returns what the converted file's meta records about it."""
    patch = state['backbone.patch_embed.projection.weight'].shape[-1]
    if img_size % patch:
        raise ValueError(f'--img-size {img_size} is not a multiple of the patch size {patch}')
    pos = state['backbone.pos_embed']
    state['backbone.pos_embed'] = resample_pos_embed(pos, img_size // patch)
    return dict(from_tokens=pos.shape[1], to_tokens=state['backbone.pos_embed'].shape[1],
                method='bicubic, scale (grid + 0.1) / M, no antialiasing (DINO / DINOv2)')


def architecture(state: dict, num_heads: int, vit_type: str = 'VisionTransformer',
                 load: bool = True, **vit_kwargs) -> dict:
    """Build the mmpretrain ViT (`vit_type`, plus `vit_kwargs` such as CLIP's `pre_norm`) that
    the `backbone.*` tensors of `state` fit, load them strictly (unless `load` is False) and
    describe it (mimco_mm/architecture.py). Layer scale and register tokens are read from the
    tensors (layer scale's init value is then irrelevant: the weights replace it)."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    from mimco_mm.architecture import describe
    embed_dims = state['backbone.cls_token'].shape[-1]
    num_layers = 1 + max(int(k.split('.')[2]) for k in state if k.startswith('backbone.layers.'))
    ffn = state['backbone.layers.0.ffn.layers.0.0.weight'].shape[0]
    patch = state['backbone.patch_embed.projection.weight'].shape[-1]
    grid = int(round((state['backbone.pos_embed'].shape[1] - 1) ** 0.5))
    if embed_dims % num_heads:
        raise ValueError(f'{num_heads} heads do not divide {embed_dims} channels')
    if any(k.endswith('.attn.gamma1.weight') for k in state):
        vit_kwargs.setdefault('layer_scale_init_value', 1e-5)
    if 'backbone.register_tokens' in state:  # DINOv2 *_reg4
        vit_type = 'RegisterViT'
        vit_kwargs['num_register_tokens'] = state['backbone.register_tokens'].shape[1]
    # mmpretrain's scope, whatever the caller's: the ViT builds its activation (CLIP's QuickGELU)
    # through mmengine's registry, which looks it up in the default scope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(type=vit_type, arch=dict(
            embed_dims=embed_dims, num_layers=num_layers, num_heads=num_heads,
            feedforward_channels=ffn), img_size=grid * patch, patch_size=patch, **vit_kwargs))
    if load:
        model.load_state_dict({k[len('backbone.'):]: v for k, v in state.items()
                               if k.startswith('backbone.')}, strict=True)
    return describe(model)


def run(argv, description, fmt, load, heads_from=None, rename=to_mmpretrain, vit_kwargs=None,
        read=None, resizable=False):
    """The common command line: SRC DST [--num-heads N] [--img-size S]. `load(checkpoint) ->
    (backbone, other, drop)` picks the format's backbone, `rename(backbone, drop) -> (state,
    dropped)` maps it to mmpretrain names (timm's by default), `vit_kwargs` are the ViT options
    the release needs beyond its shapes, `heads_from(checkpoint)` may know the head count and
    `read(path)` replaces the safe checkpoint reader for formats it cannot open (TorchScript).
    `resizable`: the release's own code interpolates its position embedding as
    `resample_pos_embed` does, so --img-size may set the size the teacher will run at."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--num-heads', type=int,
                        help='attention heads (no weight shape encodes them)')
    if resizable:
        parser.add_argument('--img-size', type=int,
                            help=f'input side the teacher will run at (a multiple of the patch '
                                 f'size): the position embedding is resampled to its grid as '
                                 f'{fmt} does at that size; default: the release\'s own')
    args = parser.parse_args(argv)
    from mimco_mm.compat import load_checkpoint_file
    checkpoint = (read(args.src) if read else
                  load_checkpoint_file(args.src, extra_globals=[argparse.Namespace]))
    backbone, other, drop = load(checkpoint)
    state, dropped = rename(backbone, drop)
    resampled = resize_for(state, args.img_size) if getattr(args, 'img_size', None) else None
    heads = args.num_heads or (heads_from(checkpoint) if heads_from else None)
    if heads is None:
        raise ValueError(f'{args.src}: pass --num-heads (the file does not say; ViT-S has 6 in '
                         f'DINO / iBOT / DeiT / timm, 12 in MoCo v3; ViT-B 12)')
    arch = architecture(state, heads, **(vit_kwargs or {}))
    with open(args.src, 'rb') as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    meta = dict(converted_from=osp.basename(args.src), source_sha256=sha, format=fmt,
                dropped=sorted(dropped) + sorted(other), architecture={'backbone': arch})
    if resampled:
        meta['pos_embed_resampled'] = resampled
    save_weights(args.dst, state, meta)  # .safetensors or a torch checkpoint, by the name
    for name in sorted(dropped) + sorted(other):
        print(f'not backbone, left out: {name}')
    print(f'wrote {args.dst}: {len(state)} backbone tensors, {heads} heads ({fmt})')
    return args.dst
