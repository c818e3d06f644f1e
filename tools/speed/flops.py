"""Model FLOPs of a pre-training step and the GPU's bf16 peak, for model FLOPs utilisation (MFU).

FLOPs are counted from tensor shapes, not measured: `vit_forward_flops` is the closed form for a
plain ViT, and `step_flops` counts the real model's forward with torch's FlopCounterMode (every
matmul, convolution and attention kernel, heads and losses included; a multiply-add is 2 FLOPs).
A training step then costs 3x the forward of everything that gets gradients (forward + backward
for activations and weights) plus 1x the forward of what does not (the frozen teacher), the
convention of the MFU definition in PaLM (Chowdhery et al. 2022, appendix B).
"""
import torch
from torch.utils.flop_counter import FlopCounterMode

# Dense bf16 tensor-core peak, TFLOP/s (vendor data sheets; sparsity excluded). Matched as a
# substring of torch.cuda.get_device_name(), first match wins: keep the specific names first.
PEAK_BF16_TFLOPS = [
    ('H100 PCIe', 756.0),
    ('H100 NVL', 835.0),
    ('H100', 989.0),   # SXM / HBM3
    ('H200', 989.0),
    ('GH200', 989.0),
    ('B200', 2250.0),
    ('A100', 312.0),
    ('A10G', 70.0),  # A10G before A10: the substring rule
    ('A10', 125.0),
    ('L40S', 362.0),
    ('L4', 121.0),
    ('V100', 125.0),   # fp16 (V100 has no bf16)
    ('RTX 4090', 165.0),
    ('RTX 3090', 71.0),
]


def peak_tflops(device_name):
    """bf16 peak of a GPU by name, or None when it is not in the table (pass --peak-tflops)."""
    for key, value in PEAK_BF16_TFLOPS:
        if key in device_name:
            return value
    return None


def vit_forward_flops(img_size, patch_size, embed_dims, depth, mlp_dims, cls_token=True,
                      in_channels=3):
    """Forward FLOPs of one image through a plain ViT (patch embedding + blocks).

    Per block with T tokens and width D: qkv 2*T*D*3D, q @ k^T and attn @ v 2*T*T*D each,
    output projection 2*T*D*D, MLP 2*T*D*H twice. Norms, softmax, GELU are not counted (they
    are not matmuls and are <1 % here).
    """
    patches = (img_size // patch_size) ** 2
    tokens = patches + int(cls_token)
    embed = 2 * patches * in_channels * patch_size ** 2 * embed_dims
    block = 2 * tokens * (4 * embed_dims ** 2 + 2 * embed_dims * mlp_dims) + \
        4 * tokens ** 2 * embed_dims
    return embed + depth * block


def frozen_children(model):
    """Names of the direct submodules that hold weights but train none of them: MimCo's teacher
    (its weights are buffers, see ContrastiveTeacher) or any child whose parameters are frozen."""
    frozen = []
    for name, child in model.named_children():
        params = list(child.parameters())
        holds_weights = params or any(b.dim() > 1 for b in child.buffers())
        if holds_weights and not any(p.requires_grad for p in params):
            frozen.append(name)
    return frozen


def forward_flops(model, *inputs, **kwargs):
    """FLOPs of one forward `model(*inputs, **kwargs)`, split into (trained, frozen) parts.

    inputs[0]: the image batch (B, 3, H, W), or a list of such batches, one per view (MoCo
    v3): counts are then per source image, all its views together. The frozen part is every
    direct submodule with no trainable parameter. SDPA is counted through its math form:
    FlopCounterMode has no formula for the fused CPU kernel and would count attention as 0 there.
    Returns per-image counts: (trained_flops, frozen_flops).
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:
        model(*inputs, **kwargs)
    counts = counter.get_flop_counts()
    total = sum(counts['Global'].values())
    prefix = type(model).__name__
    frozen = sum(sum(counts.get(f'{prefix}.{name}', {}).values())
                 for name in frozen_children(model))
    batch = (inputs[0][0] if isinstance(inputs[0], (list, tuple)) else inputs[0]).shape[0]
    return (total - frozen) / batch, frozen / batch


def step_flops(model, images, samples):
    """Model FLOPs of one training step per image: 3x the trained forward + 1x the frozen one."""
    trained, frozen = forward_flops(model, images, samples, mode='loss')
    return 3 * trained + frozen
