"""Two faults of mmengine's `AmpOptimWrapper` with `dtype='bfloat16'`, both in its constructor.

1. It builds fp16's dynamic GradScaler: every step multiplies the loss by 65536, divides every
   gradient back (one more pass over them), and makes the host wait for the GPU to read whether
   any gradient overflowed. bf16 has fp32's exponent range, so the scaling changes nothing
   numerically (PyTorch's AMP docs: loss scaling is for float16); it only costs time and a host
   sync per step. Fixed: with the default `loss_scale='dynamic'` the scaler is built disabled
   (backward and step go straight through, `loss_scale` is no longer logged). An explicit
   `loss_scale` (a float or a dict) is passed through; a checkpoint of an older bf16 run still
   resumes (a disabled scaler ignores the saved scale).
2. It asserts a CUDA / NPU / MLU / MUSA device, so no bf16 config (all of ours) builds on a CPU
   box, although PyTorch autocasts to bf16 on CPU and mmengine's `autocast` handles the CPU.
   Fixed: without any of those devices it builds with CPU autocast and the disabled scaler; an
   explicit loss scale there is refused (there is no loss scaling on a CPU).

Every other case (fp16, no dtype, FSDP, bf16 on a device with an explicit scale) is mmengine's
constructor unchanged; fp16 on a CPU still fails its assertion."""
import functools

import torch


def no_accelerator():
    from mmengine.device import (is_cuda_available, is_mlu_available, is_musa_available,
                                 is_npu_available)
    return not (is_cuda_available() or is_npu_available() or is_mlu_available()
                or is_musa_available())


def install():
    from mmengine.optim import AmpOptimWrapper, OptimWrapper
    original = AmpOptimWrapper.__init__
    if getattr(original, '_mimco_fix', False):
        return

    @functools.wraps(original)
    def __init__(self, loss_scale='dynamic', dtype=None, use_fsdp=False, **kwargs):
        if dtype in ('bfloat16', torch.bfloat16):
            if loss_scale == 'dynamic':
                loss_scale = dict(enabled=False)
            if not use_fsdp and no_accelerator():
                if not (isinstance(loss_scale, dict) and loss_scale.get('enabled') is False):
                    raise ValueError(f'AmpOptimWrapper on a CPU runs bf16 without loss scaling; '
                                     f'got loss_scale={loss_scale!r} (leave it at the default)')
                OptimWrapper.__init__(self, **kwargs)
                self._scale_update_param = None
                self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
                self.cast_dtype = torch.bfloat16
                return
        original(self, loss_scale=loss_scale, dtype=dtype, use_fsdp=use_fsdp, **kwargs)

    __init__._mimco_fix = True
    AmpOptimWrapper.__init__ = __init__
