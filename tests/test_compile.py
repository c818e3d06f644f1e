"""MimCo(compile=...): torch.compile of the teacher and student ViTs, in place."""
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from conftest import IMG, PATCH, tiny_mimco


def batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    grid = IMG // PATCH
    images = torch.randn(n, 3, IMG, IMG, generator=g)
    samples = [DataSample().set_mask((torch.rand(grid, grid, generator=g) < 0.5).float())
               for _ in range(n)]
    return images, samples


def test_compiled_model_keeps_its_keys_and_computes_the_eager_losses(teacher_checkpoint):
    torch.manual_seed(0)
    eager = MODELS.build(tiny_mimco(teacher_checkpoint))
    compiled = MODELS.build(dict(tiny_mimco(teacher_checkpoint), compile='all'))
    assert list(compiled.state_dict()) == list(eager.state_dict())  # no `_orig_mod.` prefix
    compiled.load_state_dict(eager.state_dict())
    images, samples = batch()
    want = eager(images, samples, mode='loss')
    got = compiled(images, samples, mode='loss')
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-4, atol=1e-5, msg=key)
    sum(v for k, v in got.items() if k.startswith('loss')).backward()
    grads = [p.grad for p in compiled.backbone.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    # the compiled forward really is in use
    assert compiled.backbone._compiled_call_impl is not None
    assert compiled.target_generator.backbone._compiled_call_impl is not None


def test_compile_rejects_an_unknown_part(teacher_checkpoint):
    with pytest.raises(ValueError, match="compile must be one of"):
        MODELS.build(dict(tiny_mimco(teacher_checkpoint), compile='heads'))


def test_compile_takes_a_mode_and_rejects_unknown_ones(teacher_checkpoint):
    model = MODELS.build(dict(tiny_mimco(teacher_checkpoint),
                              compile=dict(parts='teacher', mode='max-autotune')))
    assert model.target_generator.backbone._compiled_call_impl is not None
    assert model.backbone._compiled_call_impl is None
    with pytest.raises(ValueError, match='compile mode must be one of'):
        MODELS.build(dict(tiny_mimco(teacher_checkpoint), compile=dict(parts='all', mode='fast')))
