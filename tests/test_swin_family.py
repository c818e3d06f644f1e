"""The second family: MoBY Swin teacher (stage 1) and MimCo with a masked Swin student (stage 2)."""
import torch
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from mimco_mm.architecture import describe

SWIN_ARCH = dict(embed_dims=16, depths=[1, 1], num_heads=[1, 2])  # 32 px -> 8x8 -> 4x4 tokens


def tiny_swin(type_='SwinTransformer', **kwargs):
    return dict(type=type_, arch=SWIN_ARCH, img_size=32, out_indices=(1, ),
                stage_cfgs=dict(block_cfgs=dict(window_size=4)), **kwargs)


def mlp(in_channels, avg_pool):
    return dict(type='NonLinearNeck', in_channels=in_channels, hid_channels=24, out_channels=8,
                num_layers=2, with_bias=True, with_last_bn=False, with_last_bias=True,
                with_avg_pool=avg_pool)


def test_moby_step_updates_queues_and_keeps_target_drop_path_off():
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='MoBY', queue_len=6, feat_dim=8, target_drop_path_rate=0.0,
        backbone=tiny_swin(drop_path_rate=0.3), neck=mlp(32, True),
        head=dict(type='MoBYHead', predictor=mlp(8, False), temperature=0.2)))
    model.train()
    online = [m.drop_prob for m in model.backbone.modules() if hasattr(m, 'drop_prob')]
    target = [m.drop_prob for m in model.momentum_encoder.modules() if hasattr(m, 'drop_prob')]
    assert max(online) > 0 and target and max(target) == 0
    queue_before = model.queue1.clone()
    views = [torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)]
    losses = model(views, [DataSample() for _ in range(4)], mode='loss')
    losses['loss'].backward()
    assert torch.isfinite(losses['loss'])
    assert int(model.queue_ptr) == 4  # 4 keys in, pointer moved
    assert not torch.equal(model.queue1[:, :4], queue_before[:, :4])
    assert torch.equal(model.queue1[:, 4:], queue_before[:, 4:])
    torch.testing.assert_close(model.queue1[:, :4].norm(dim=0), torch.ones(4))
    assert model.backbone.stages[0].blocks[0].attn.w_msa.qkv.weight.grad is not None
    # wrap-around: 4 more keys fill slots 4, 5, 0, 1
    model(views, [DataSample() for _ in range(4)], mode='loss')
    assert int(model.queue_ptr) == 2


def test_mimco_with_a_swin_student_pools_the_mask_onto_output_tokens(tmp_path):
    torch.manual_seed(0)
    teacher_backbone = MODELS.build(tiny_swin())
    ckpt = tmp_path / 'moby_tiny.pth'
    torch.save({'state_dict': {'backbone.' + k: v
                               for k, v in teacher_backbone.state_dict().items()},
                'meta': {'architecture': {'backbone': describe(teacher_backbone)}}}, ckpt)
    model = MODELS.build(dict(
        type='MimCo',
        backbone=tiny_swin('SimMIMSwinTransformer'),
        teacher=dict(type='ContrastiveTeacher', backbone=tiny_swin(), checkpoint=str(ckpt)),
        head=dict(type='MimCoHead',
                  patch_proj=dict(type='MLPProjector', in_channels=32, out_channels=32,
                                  hid_channels=16),
                  patch_loss=dict(type='PatchInfoNCE'),
                  img_proj=dict(type='MLPProjector', in_channels=32, out_channels=32,
                                hid_channels=16, norm='BN'),
                  img_loss=dict(type='ImageInfoNCE'))))
    model.train()
    samples = []
    for b in range(3):
        block = torch.zeros(4, 4)
        block.view(-1)[torch.randperm(16)[:8]] = 1
        # 8x8 patch-embedding mask made of 2x2 blocks: each block is one output token
        samples.append(DataSample().set_mask(block.repeat_interleave(2, 0).repeat_interleave(2, 1)))
    losses = model(torch.randn(3, 3, 32, 32), samples, mode='loss')
    (losses['loss_patch'] + losses['loss_img']).backward()
    assert torch.isfinite(losses['loss_patch']) and torch.isfinite(losses['loss_img'])
    assert model.backbone.mask_token.grad.abs().sum() > 0
    assert not list(model.target_generator.parameters())
    assert all(b.grad is None for b in model.target_generator.buffers())
