"""`AmpOptimWrapper` asserts a CUDA / NPU / MLU / MUSA device, so no config with bf16 AMP (all of
ours) can run on a CPU box, although PyTorch autocasts to bf16 on CPU and mmengine's `autocast`
already handles the CPU case. A laptop or CI run of the real `configs/mimco/vit-s_100e.py` failed
at the optimizer wrapper.

Fixed: without any of those devices, `AmpOptimWrapper(dtype='bfloat16')` builds (bf16 autocast on
the CPU, no loss scaler: bf16 needs none, bf16_loss_scale.py). Everything else is unchanged: with a
device it is mmengine's wrapper, and fp16 on a CPU still fails mmengine's assertion; an explicit
loss scale with bf16 on a CPU is refused, as there is no loss scaling there."""
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
    if getattr(original, '_mimco_cpu_fix', False):
        return

    @functools.wraps(original)
    def __init__(self, loss_scale='dynamic', dtype=None, use_fsdp=False, **kwargs):
        bf16 = dtype in ('bfloat16', torch.bfloat16)
        if not (bf16 and not use_fsdp and no_accelerator()):
            return original(self, loss_scale=loss_scale, dtype=dtype, use_fsdp=use_fsdp,
                            **kwargs)
        disabled = loss_scale == 'dynamic' or (isinstance(loss_scale, dict)
                                               and loss_scale.get('enabled') is False)
        if not disabled:
            raise ValueError(f'AmpOptimWrapper on a CPU runs bf16 without loss scaling; got '
                             f'loss_scale={loss_scale!r} (leave it at the default)')
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
        self.cast_dtype = torch.bfloat16

    __init__._mimco_cpu_fix = True
    AmpOptimWrapper.__init__ = __init__
