"""CUDA-only checks (skipped without a GPU; `make test` never needs one).

tools/gpu_check/gpu_check.sh runs them on a GPU node: `pytest -m cuda tests`.
"""
import copy
import os.path as osp
import tempfile

import pytest
import torch

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')]

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def vit_s_mimco():
    """The real ViT-S/16 MimCo config with a random teacher, on the GPU."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    from tools.speed.benchmark_step import build, make_batch
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model, optimizer, cfg = build(osp.join(ROOT, 'configs/mimco/vit-s_100e.py'), tmp,
                                      torch.device('cuda'))
        yield model, optimizer, cfg, make_batch


def test_bf16_steps_are_finite_and_leave_the_teacher_untouched(vit_s_mimco):
    model, optimizer, cfg, make_batch = vit_s_mimco
    images, samples = make_batch(cfg, 16, torch.device('cuda'))
    teacher = {k: v.clone() for k, v in model.target_generator.state_dict().items()}
    student = {k: v.detach().clone() for k, v in model.backbone.state_dict().items()}
    for _ in range(3):
        with torch.autocast('cuda', dtype=torch.bfloat16):
            losses = model(images, samples, mode='loss')
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
        assert torch.isfinite(loss), losses
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    for k, v in model.target_generator.state_dict().items():
        assert torch.equal(v, teacher[k]), f'teacher tensor {k} changed'
    changed = [k for k, v in model.backbone.state_dict().items() if not torch.equal(v, student[k])]
    assert len(changed) > len(student) // 2, 'the student did not train'


def test_cuda_loss_matches_cpu_in_fp32(vit_s_mimco):
    """Same weights, same batch, fp32: the GPU computes the CPU's loss (TF32 off)."""
    model, _, cfg, make_batch = vit_s_mimco
    images, samples = make_batch(cfg, 4, torch.device('cuda'))
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model.eval()  # BN in the image projector: batch statistics would be the same, but be exact
    try:
        with torch.no_grad():
            gpu = model(images, samples, mode='loss')
            cpu_model = copy.deepcopy(model).cpu()
            cpu = cpu_model(images.cpu(), [s.to('cpu') for s in samples], mode='loss')
    finally:
        model.train()
    for k in gpu:
        if k.startswith('loss'):
            torch.testing.assert_close(gpu[k].cpu(), cpu[k], rtol=1e-3, atol=1e-4, msg=k)


def test_bf16_autocast_runs_attention_in_a_flash_kernel():
    from mmpretrain.registry import MODELS
    model = MODELS.build(dict(type='MimCoViT', arch='deit-small', img_size=224, patch_size=16,
                              out_type='raw')).cuda()
    model.eval()  # mmpretrain's ViT.eval() returns None: never chain it
    with torch.no_grad(), torch.autocast('cuda', dtype=torch.bfloat16), \
            torch.profiler.profile() as prof:
        model(torch.randn(8, 3, 224, 224, device='cuda'))
    ops = {e.key for e in prof.key_averages()}
    assert ops & {'aten::_scaled_dot_product_flash_attention',
                  'aten::_scaled_dot_product_cudnn_attention'}, sorted(
        o for o in ops if 'attention' in o)


def test_bf16_micro_batch_step_through_the_amp_wrapper(vit_s_mimco):
    """The one-GPU path of vit-s_100e_1gpu.py: AmpOptimWrapper bf16 (no loss scaler), 2 strided
    micro-batches, one step; finite, every image against the whole batch, teacher untouched."""
    from mmengine.optim import AmpOptimWrapper
    model, _, cfg, make_batch = vit_s_mimco
    images, samples = make_batch(cfg, 16, torch.device('cuda'))
    wrapper = AmpOptimWrapper(optimizer=torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-4), dtype='bfloat16',
        clip_grad=dict(max_norm=3.0))
    assert not wrapper.loss_scaler.is_enabled()
    teacher = {k: v.clone() for k, v in model.target_generator.state_dict().items()}
    model.micro_batches = 2
    try:
        log = model.train_step(dict(inputs=images, data_samples=samples), wrapper)
    finally:
        model.micro_batches = 1
    assert all(torch.isfinite(v).all() for v in log.values()), log
    assert float(log['img_negatives']) == 15
    for k, v in model.target_generator.state_dict().items():
        assert torch.equal(v, teacher[k]), f'teacher tensor {k} changed'
