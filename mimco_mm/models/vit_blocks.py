"""The part of mmpretrain's `VisionTransformer.forward` after the token sequence is built, for
the ViTs that build it differently (MimCoViT: mask tokens; RegisterViT: register tokens)."""
import torch


def run_blocks(vit, x: torch.Tensor, patch_resolution) -> tuple:
    """`vit`'s transformer layers and final norm on tokens x (B, T, C), with mmpretrain's output
    for each of `vit.out_indices` (shaped by `vit.out_type`, patches on `patch_resolution`)."""
    outs = []
    for i, layer in enumerate(vit.layers):
        x = layer(x)
        if i == len(vit.layers) - 1 and vit.final_norm:
            x = vit.ln1(x)
        if i in vit.out_indices:
            outs.append(vit._format_output(x, patch_resolution))
    return tuple(outs)
