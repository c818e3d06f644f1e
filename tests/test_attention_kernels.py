"""Our ViTs run attention through PyTorch's fused scaled_dot_product_attention (SDPA), on every
device we can test: mmpretrain binds `F.scaled_dot_product_attention` at import time when torch
>= 2.0, and a Python fallback would cost memory (the N x N matrix) and speed on a GPU."""
import pytest
import torch
from mmpretrain.registry import MODELS

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
# The fused kernels SDPA dispatches to; the math fallback shows up as aten::bmm / aten::softmax.
FUSED = ('aten::_scaled_dot_product_flash_attention', 'aten::_scaled_dot_product_efficient_attention',
         'aten::_scaled_dot_product_cudnn_attention', 'aten::_scaled_dot_product_flash_attention_for_cpu')


def attention_ops(model, images):
    """Names of the profiled aten ops of one forward."""
    with torch.no_grad(), torch.profiler.profile() as prof:
        model(images)
    return {e.key for e in prof.key_averages()}


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('backbone', [
    dict(type='MimCoViT', arch='deit-small', img_size=64, patch_size=16, out_type='raw'),
    dict(type='MoCoV3ViT', arch='mocov3-small', img_size=64, patch_size=16, out_type='raw'),
])
def test_vit_attention_uses_fused_sdpa(backbone, device):
    model = MODELS.build(backbone).to(device)
    model.eval()  # mmpretrain's ViT.eval() returns None: never chain it
    dtype = torch.bfloat16 if device == 'cuda' else torch.float32
    images = torch.randn(2, 3, 64, 64, device=device)
    with torch.autocast(device, dtype=dtype, enabled=device == 'cuda'):
        ops = attention_ops(model, images)
    fused = ops & set(FUSED)
    assert fused, f'no fused SDPA kernel on {device}; attention ops seen: ' \
        f'{sorted(o for o in ops if "attention" in o or "bmm" in o or "softmax" in o)}'
    assert 'aten::softmax' not in ops and 'aten::_softmax' not in ops, \
        'an explicit softmax ran: attention fell back to the Python implementation'
