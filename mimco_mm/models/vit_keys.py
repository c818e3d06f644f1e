"""The one map between timm's ViT parameter names and mmpretrain's `VisionTransformer` names,
and the renaming mechanism other name maps (CLIP's, tools/model_converters) use too.

Used both ways: official MoCo v3 (timm names) -> mmpretrain, and a MimCo student -> timm.
"""
import re

# (timm name, mmpretrain name); `{i}` is a block index, a trailing '.' or '_' marks a name prefix.
NAME_PAIRS = [
    ('cls_token', 'cls_token'),
    ('pos_embed', 'pos_embed'),
    ('register_tokens', 'register_tokens'),  # DINOv2 *_reg4 (mimco_mm/models/register_vit.py)
    ('patch_embed.proj.', 'patch_embed.projection.'),
    ('blocks.{i}.norm1.', 'layers.{i}.ln1.'),
    ('blocks.{i}.norm2.', 'layers.{i}.ln2.'),
    ('blocks.{i}.attn.qkv.', 'layers.{i}.attn.qkv.'),
    ('blocks.{i}.attn.proj.', 'layers.{i}.attn.proj.'),
    ('blocks.{i}.mlp.fc1.', 'layers.{i}.ffn.layers.0.0.'),
    ('blocks.{i}.mlp.fc2.', 'layers.{i}.ffn.layers.1.'),
    ('blocks.{i}.ls1.gamma', 'layers.{i}.attn.gamma1.weight'),  # layer scale (DINOv2, CaiT-style)
    ('blocks.{i}.ls2.gamma', 'layers.{i}.ffn.gamma2.weight'),
    ('norm.', 'ln1.'),
]


def rename(key: str, pairs, src: int, what: str) -> str:
    """Rename `key` from side `src` (0 or 1) of `pairs` (like NAME_PAIRS) to the other side.
    A key no pair knows is an error, never a silent drop."""
    for pair in pairs:
        pattern = re.escape(pair[src]).replace(r'\{i\}', r'(?P<i>\d+)')
        match = re.match(pattern if pair[src].endswith(('.', '_')) else pattern + '$', key)
        if match:
            index = match.groupdict().get('i')
            return pair[1 - src].format(i=index) + key[match.end():]
    raise KeyError(f'no {what} name for the key {key!r}')


def timm_to_mmpretrain(key: str) -> str:
    return rename(key, NAME_PAIRS, 0, 'mmpretrain ViT')


def mmpretrain_to_timm(key: str) -> str:
    return rename(key, NAME_PAIRS, 1, 'timm ViT')
