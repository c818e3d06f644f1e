"""Per-patch maps for looking at a model: DINO-style CLS attention and MimCo's masked-patch
agreement with its teacher (tools/visualization/visualize_attention.py draws them)."""
import torch
import torch.nn.functional as F


@torch.no_grad()
def cls_attention_weights(backbone, images: torch.Tensor) -> torch.Tensor:
    """The CLS query's softmax weights over every token in the last block, per head.

    mmpretrain's attention calls `scaled_dot_product_attention`, which never materialises the
    weights, so they are recomputed from the last block's input with that block's own `qkv`.

    Args:
        backbone: an mmpretrain VisionTransformer (or subclass) with a CLS token.
        images: (B, 3, H, W) normalised as the backbone expects.
    Returns:
        (B, heads, T): T = extra tokens + patches, each row sums to 1.
    """
    if getattr(backbone, 'cls_token', None) is None:
        raise ValueError(f'{type(backbone).__name__} has no CLS token: no CLS attention to show')
    attn = backbone.layers[-1].attn
    captured = {}
    handle = attn.register_forward_pre_hook(lambda _, args: captured.setdefault('x', args[0]))
    try:
        backbone(images)
    finally:
        handle.remove()
    x = captured['x']  # (B, T, C), after the block's first LayerNorm
    batch, tokens, _ = x.shape
    qkv = attn.qkv(x).reshape(batch, tokens, 3, attn.num_heads, attn.head_dims)
    q, k = qkv[:, :1, 0].transpose(1, 2), qkv[:, :, 1].transpose(1, 2)  # (B, h, 1|T, d)
    return (q @ k.transpose(-2, -1) * attn.head_dims ** -0.5).softmax(-1)[:, :, 0]


def cls_attention(backbone, images: torch.Tensor) -> torch.Tensor:
    """DINO's attention map: `cls_attention_weights` over the patches only, on the patch grid.

    Returns:
        (B, heads, h, w); the extra tokens' own weights are left out, so a map sums to <= 1.
    """
    weights = cls_attention_weights(backbone, images)[:, :, backbone.num_extra_tokens:]
    side = images.shape[-1] // backbone.patch_embed.projection.kernel_size[0]
    return weights.reshape(*weights.shape[:2], -1, side)


@torch.no_grad()
def patch_agreement(mimco, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Where a MimCo student, seeing the image with `mask` hidden, picks its own teacher patch.

    The same test as the logged `patch_top1` (losses.PatchInfoNCE), per position: the student's
    projected prediction at each masked patch against every teacher patch of its image.

    Args:
        mimco: a built MimCo model (student backbone, patch projector, teacher).
        images: (B, 3, H, W) normalised like the student's input.
        mask: (B, h, w) 1 = masked, on the student's patch grid.
    Returns:
        (B, h, w) float: 1 where the own teacher patch scores highest, 0 where another does,
        NaN at visible (unmasked) patches.
    """
    targets, patch, _, token_mask = mimco.masked_tokens(images, mask)  # token_mask (B, N)
    pred = F.normalize(mimco.head.patch_proj(patch[token_mask]).float(), dim=-1)  # (M, D)
    teacher = F.normalize(targets.patch.float(), dim=-1)  # (B, N, D)
    batch_idx, pos_idx = token_mask.nonzero(as_tuple=True)
    scores = torch.einsum('md,mnd->mn', pred, teacher[batch_idx])  # (M, N)
    agreement = torch.full(token_mask.shape, float('nan'), device=images.device)
    agreement[batch_idx, pos_idx] = (scores.argmax(1) == pos_idx).float()
    side = int(round(token_mask.shape[1] ** 0.5))
    return agreement.reshape(mask.shape[0], side, -1)
