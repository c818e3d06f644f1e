"""MimCo algorithm: frozen teacher, student gradients, masking, loss keys."""
import pytest
import torch
from mmpretrain.registry import MODELS

from conftest import PATCH, masked_batch as _batch, tiny_mimco, tiny_vit


def test_teacher_weights_arrive_strictly(teacher_checkpoint):
    model = MODELS.build(tiny_mimco(teacher_checkpoint))
    saved = torch.load(teacher_checkpoint, weights_only=True)['state_dict']
    teacher = model.target_generator
    for key, value in teacher.backbone.state_dict().items():
        assert torch.equal(value, saved['backbone.' + key]), key
    for key, value in teacher.neck.state_dict().items():
        assert torch.equal(value, saved['neck.' + key]), key


def test_teacher_checkpoint_mismatch_is_an_error(teacher_checkpoint, tmp_path):
    saved = torch.load(teacher_checkpoint, weights_only=True)
    saved['state_dict'].pop('backbone.layers.1.ln2.weight')
    broken = tmp_path / 'broken.pth'
    torch.save(saved, broken)
    with pytest.raises(KeyError, match=r'broken.pth.*missing .*layers.1.ln2.weight'):
        MODELS.build(tiny_mimco(str(broken)))
    with pytest.raises(KeyError, match="no key starts with 'momentum_encoder.module.0.'"):
        cfg = tiny_mimco(teacher_checkpoint)
        cfg['teacher']['backbone_prefix'] = 'momentum_encoder.module.0.'
        MODELS.build(cfg)


def test_missing_teacher_file_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'nope.pth does not exist: train stage 1 first'):
        MODELS.build(tiny_mimco(str(tmp_path / 'nope.pth')))


def test_model_level_init_cfg_is_refused(teacher_checkpoint):
    with pytest.raises(ValueError, match='re-initialise the frozen teacher'):
        MODELS.build(dict(tiny_mimco(teacher_checkpoint), init_cfg=dict(type='Xavier')))


def test_teacher_frozen_eval_and_bit_identical_after_steps(teacher_checkpoint):
    model = MODELS.build(tiny_mimco(teacher_checkpoint))
    model.init_weights()  # what the Runner does: must not touch the teacher
    before = {k: v.clone() for k, v in model.target_generator.state_dict().items()}
    # frozen by construction: no parameter at all, only buffers that need no gradient
    assert not list(model.target_generator.parameters())
    assert all(not b.requires_grad for b in model.target_generator.buffers())
    teacher_ids = {id(b) for b in model.target_generator.buffers()}
    assert not teacher_ids & {id(p) for p in model.parameters()}
    model.train()
    assert not model.target_generator.training
    assert all(not m.training for m in model.target_generator.modules())
    assert model.backbone.training
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.5)
    for step in range(3):
        images, samples = _batch(seed=step)
        losses = model(images, samples, mode='loss')
        optimizer.zero_grad()
        (losses['loss_patch'] + losses['loss_img']).backward()
        optimizer.step()
    for key, value in model.target_generator.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(b.grad is None for b in model.target_generator.buffers())


def test_each_loss_reaches_the_student(teacher_checkpoint):
    model = MODELS.build(tiny_mimco(teacher_checkpoint))
    model.train()
    images, samples = _batch()
    losses = model(images, samples, mode='loss')
    assert set(losses) == {'loss_patch', 'loss_img', 'img_negatives', 'patch_top1', 'img_top1'}
    assert losses['img_negatives'].item() == len(samples) - 1  # one process: the local batch
    # agreement metrics are logged, never optimised (MMEngine sums only `loss*` keys)
    assert not losses['patch_top1'].requires_grad and 0 <= losses['img_top1'].item() <= 100
    for name in ('loss_patch', 'loss_img'):
        loss = losses[name]
        model.zero_grad()
        loss.backward(retain_graph=True)
        grads = [p.grad for p in model.backbone.parameters() if p.grad is not None]
        assert grads and sum(g.abs().sum() for g in grads) > 0, name
        assert model.backbone.mask_token.grad.abs().sum() > 0, name
    model.zero_grad()
    losses['loss_img'].backward(retain_graph=True)
    assert model.head.patch_proj.mlp[0].weight.grad is None  # patch head: only from loss_patch


def test_mask_token_replaces_exactly_the_masked_patches():
    torch.manual_seed(0)
    student = MODELS.build(tiny_vit('MimCoViT', out_type='raw'))
    student.init_weights()
    student.eval()
    images, samples = _batch(batch=1)
    mask = samples[0].mask
    # masked content must not matter: change the pixels of a masked patch only
    r, c = [int(i) for i in mask.nonzero()[0]]
    edited = images.clone()
    edited[..., r * PATCH:(r + 1) * PATCH, c * PATCH:(c + 1) * PATCH] += 5
    with torch.no_grad():
        a = student(images, mask[None])[0]
        b = student(edited, mask[None])[0]
        plain = student(images)[0]
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, plain)  # with no mask: the plain ViT, which does see the pixels


def test_image_loss_can_be_switched_off(teacher_checkpoint):
    cfg = tiny_mimco(teacher_checkpoint, img_proj=None, img_loss=None)
    model = MODELS.build(cfg)
    images, samples = _batch()
    assert set(model(images, samples, mode='loss')) == {'loss_patch', 'patch_top1'}


def test_teacher_sha_mismatch_refuses_resume(teacher_checkpoint, tmp_path):
    model = MODELS.build(tiny_mimco(teacher_checkpoint))
    state = model.state_dict()
    assert 'target_generator.checkpoint_sha256' in state
    other = tmp_path / 'other_teacher.pth'
    saved = torch.load(teacher_checkpoint, weights_only=True)
    saved['meta'] = dict(saved['meta'], note='a different file')
    torch.save(saved, other)
    model_other = MODELS.build(tiny_mimco(str(other)))
    with pytest.raises(RuntimeError, match='sha256'):
        model_other.load_state_dict(state)
    MODELS.build(tiny_mimco(teacher_checkpoint)).load_state_dict(state)  # same teacher: fine
