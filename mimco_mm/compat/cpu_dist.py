"""CPU-only multi-process runs (gloo): mmengine's launcher selects a CUDA device even without
one."""
import torch

def install():
    """mmengine's pytorch launcher calls `torch.cuda.set_device` unconditionally, so
    `dist_train.sh CONFIG 2` on a machine without GPUs dies before gloo starts."""
    import torch.distributed as torch_dist
    from mmengine.dist import utils as dist_utils
    if getattr(dist_utils._init_dist_pytorch, '_mimco_cpu_fix', False):
        return
    original = dist_utils._init_dist_pytorch

    def init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if torch.cuda.is_available() or init_backend != 'torch':
            return original(backend, init_backend, **kwargs)
        torch_dist.init_process_group(backend=backend, **kwargs)

    init_dist_pytorch._mimco_cpu_fix = True
    dist_utils._init_dist_pytorch = init_dist_pytorch


