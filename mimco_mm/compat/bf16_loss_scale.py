"""`AmpOptimWrapper(dtype='bfloat16')` builds a dynamic GradScaler like fp16 does: every step it
multiplies the loss by 65536, divides every gradient back (one more pass over them), and makes
the host wait for the GPU to read whether any gradient overflowed. bf16 has fp32's exponent
range, so the scaling changes nothing numerically (PyTorch's AMP docs: loss scaling is for
float16), it only costs time and a host sync per step.

Fixed: with `dtype='bfloat16'` and the default `loss_scale='dynamic'` the scaler is built
disabled (`GradScaler(enabled=False)`: backward and step go straight through, `loss_scale` is no
longer logged). An explicit `loss_scale` (a float or a dict) and every other dtype are passed
through unchanged. A checkpoint of an older bf16 run still resumes (a disabled scaler ignores the
saved scale)."""
import functools

import torch


def install():
    from mmengine.optim import AmpOptimWrapper
    original = AmpOptimWrapper.__init__
    if getattr(original, '_mimco_fix', False):
        return

    @functools.wraps(original)
    def __init__(self, loss_scale='dynamic', dtype=None, use_fsdp=False, **kwargs):
        if loss_scale == 'dynamic' and dtype in ('bfloat16', torch.bfloat16):
            loss_scale = dict(enabled=False)
        original(self, loss_scale=loss_scale, dtype=dtype, use_fsdp=use_fsdp, **kwargs)

    __init__._mimco_fix = True
    AmpOptimWrapper.__init__ = __init__
