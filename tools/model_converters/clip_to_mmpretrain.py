"""The visual tower of an OpenAI CLIP ViT (ViT-B/16, ...) -> a teacher checkpoint our
`ContrastiveTeacher` loads strictly: `backbone.*` (mmpretrain `VisionTransformer` built with
CLIP's differences, below) and `neck.proj` (the image projection, for `ProjectionMatrix`).

    python tools/model_converters/clip_to_mmpretrain.py ViT-B-16.pt dst.pth            # OpenAI
    python tools/model_converters/clip_to_mmpretrain.py open_clip_pytorch_model.bin dst.pth

Reads OpenAI's TorchScript release (only its tensors are taken: `torch.jit.load` unpickles
nothing and the archive's code is never run) and plain state dicts with OpenAI's names
(open_clip's `openai` / `laion*` files, with or without the `visual.` prefix). The text tower,
`logit_scale` and anything outside `visual.` are left out and printed.

CLIP's visual ViT differs from DeiT's in four ways, each an option of mmpretrain's ViT, so the
features are the original's: a LayerNorm after the position embedding (`ln_pre` ->
`pre_norm=True`, which also drops the patch-embedding bias CLIP does not have), QuickGELU
(`x * sigmoid(1.702 x)`) in the MLP, LayerNorm eps 1e-5, and fused `in_proj` attention (the same
q / k / v stacking as mmpretrain's `qkv`). `ln_post` is applied to every token, as open_clip
does, so the patch targets are the normalised tokens and the global target is
`ln_post(CLS) @ proj`, CLIP's image embedding. Heads = width / 64 (every OpenAI CLIP ViT).
"""
import os.path as osp
import sys
import zipfile

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from tools.model_converters.vit_release import run  # noqa: E402

# what mmpretrain's VisionTransformer needs beyond the shapes to compute CLIP's features; the
# teacher config repeats these (configs/mimco/vit-b_100e_clip-teacher.py)
CLIP_VIT = dict(pre_norm=True, norm_cfg=dict(type='LN', eps=1e-5),
                layer_cfgs=dict(act_cfg=dict(type='QuickGELU')))

# (OpenAI CLIP visual name, mmpretrain name); `{i}` is a block index, a trailing '.' or '_' a
# prefix (mimco_mm.models.vit_keys.rename)
NAME_PAIRS = [
    ('conv1.weight', 'backbone.patch_embed.projection.weight'),
    ('ln_pre.', 'backbone.pre_norm.'),
    ('transformer.resblocks.{i}.ln_1.', 'backbone.layers.{i}.ln1.'),
    ('transformer.resblocks.{i}.attn.in_proj_', 'backbone.layers.{i}.attn.qkv.'),
    ('transformer.resblocks.{i}.attn.out_proj.', 'backbone.layers.{i}.attn.proj.'),
    ('transformer.resblocks.{i}.ln_2.', 'backbone.layers.{i}.ln2.'),
    ('transformer.resblocks.{i}.mlp.c_fc.', 'backbone.layers.{i}.ffn.layers.0.0.'),
    ('transformer.resblocks.{i}.mlp.c_proj.', 'backbone.layers.{i}.ffn.layers.1.'),
    ('ln_post.', 'backbone.ln1.'),
    ('proj', 'neck.proj'),
]


def clip_name(key: str) -> str:
    """An OpenAI CLIP visual name (without `visual.`) -> its mmpretrain name; unknown is an
    error (an attention-pool or a newer open_clip tower is not this architecture)."""
    from mimco_mm.models.vit_keys import rename
    return rename(key, NAME_PAIRS, 0, 'mmpretrain ViT (CLIP visual)')


def read(path: str) -> dict:
    """{name: tensor} of a TorchScript archive (OpenAI's release) or a plain checkpoint."""
    import torch
    scripted = False
    if zipfile.is_zipfile(path):  # torch.save's files are zip archives too, without code/
        with zipfile.ZipFile(path) as archive:
            scripted = any('/code/' in name for name in archive.namelist())
    if scripted:
        return dict(torch.jit.load(path, map_location='cpu').state_dict())
    from mimco_mm.compat import load_checkpoint_file
    checkpoint = load_checkpoint_file(path)
    return checkpoint.get('state_dict', checkpoint)


def load(checkpoint):
    """The visual tower's tensors (prefix stripped) and everything else (text tower, ...)."""
    import torch
    state = {k: v for k, v in checkpoint.items() if torch.is_tensor(v)}
    if any(k.startswith('visual.') for k in state):
        visual = {k[len('visual.'):]: v for k, v in state.items() if k.startswith('visual.')}
        other = {k: v for k, v in state.items() if not k.startswith('visual.')}
        return visual, other, ()
    return state, {}, ()


def rename(visual: dict, drop=()):
    """CLIP visual tensors -> mmpretrain ViT + projection tensors, reshaped where the two
    store a tensor differently (class / position embeddings have no batch axis in CLIP)."""
    if 'class_embedding' not in visual or 'positional_embedding' not in visual:
        raise KeyError(f'not a CLIP ViT visual tower: no class_embedding / positional_embedding '
                       f'among {sorted(visual)[:8]}...')
    state = {'backbone.cls_token': visual['class_embedding'].reshape(1, 1, -1),
             'backbone.pos_embed': visual['positional_embedding'].unsqueeze(0)}
    for key, value in visual.items():
        if key not in ('class_embedding', 'positional_embedding'):
            state[clip_name(key)] = value
    return state, {}


def heads_from(checkpoint):
    visual = load(checkpoint)[0]
    return visual['class_embedding'].shape[-1] // 64 if 'class_embedding' in visual else None


def main(argv=None):
    return run(argv, __doc__.split('\n')[0], 'openai-clip', load, heads_from, rename=rename,
               vit_kwargs=CLIP_VIT, read=read)


if __name__ == '__main__':
    main()
