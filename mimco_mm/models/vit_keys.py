"""The one map between timm's ViT parameter names and mmpretrain's `VisionTransformer` names.

Used both ways: official MoCo v3 (timm names) -> mmpretrain, and a MimCo student -> timm.
"""
import re

# (timm pattern, mmpretrain replacement); the reverse direction swaps them.
TIMM_TO_MMPRETRAIN = [
    (r'^cls_token$', 'cls_token'),
    (r'^pos_embed$', 'pos_embed'),
    (r'^patch_embed\.proj\.', 'patch_embed.projection.'),
    (r'^blocks\.(\d+)\.norm1\.', r'layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.attn\.(qkv|proj)\.', r'layers.\1.attn.\2.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
    (r'^norm\.', 'ln1.'),
]
MMPRETRAIN_TO_TIMM = [
    (r'^cls_token$', 'cls_token'),
    (r'^pos_embed$', 'pos_embed'),
    (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
    (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
    (r'^layers\.(\d+)\.attn\.(qkv|proj)\.', r'blocks.\1.attn.\2.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
    (r'^ln1\.', 'norm.'),
]


def rename(key: str, rules, what: str) -> str:
    """Apply the first matching rule; a key no rule knows is an error, never a silent drop."""
    for pattern, repl in rules:
        if re.match(pattern, key):
            return re.sub(pattern, repl, key)
    raise KeyError(f'no {what} name for the key {key!r}')


def timm_to_mmpretrain(key: str) -> str:
    return rename(key, TIMM_TO_MMPRETRAIN, 'mmpretrain ViT')


def mmpretrain_to_timm(key: str) -> str:
    return rename(key, MMPRETRAIN_TO_TIMM, 'timm ViT')
