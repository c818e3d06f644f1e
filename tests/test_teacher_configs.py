"""Each released-teacher config (DINO, iBOT, DINOv2, CLIP) trains: a tiny file in the release's
official layout goes through its converter into the config's teacher (shrunk to CPU size, every
other option kept: CLIP's pre-norm, QuickGELU, projection and normalisation; DINOv2's layer scale
and its own input size), and MimCo steps on it with finite losses, a moving student and a
bit-identical teacher."""
import pytest
import torch
from mmpretrain.registry import MODELS

from conftest import IMG, PATCH, masked_batch
from tools._common import ROOT, load_config

STUDENT = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def timm_release(path, ibot=False):
    """A tiny timm ViT (DINO's / iBOT's architecture): DINO's backbone release is the bare state
    dict; iBOT's checkpoint_teacher.pth holds it under `state_dict` with its `masked_embed`."""
    from timm.models.vision_transformer import VisionTransformer
    vit = VisionTransformer(img_size=IMG, patch_size=PATCH, embed_dim=48, depth=2, num_heads=3,
                            num_classes=0)
    state = vit.state_dict()
    torch.save(dict(state_dict={**state, 'masked_embed': torch.zeros(1, 48)}) if ibot else state,
               path)
    return dict(embed_dims=48, num_layers=2, num_heads=3, feedforward_channels=192), 48


def clip_release(path):
    """A tiny open_clip visual tower with QuickGELU, saved with OpenAI's `visual.` names."""
    from open_clip.transformer import QuickGELU, VisionTransformer
    visual = VisionTransformer(image_size=IMG, patch_size=PATCH, width=128, layers=2, heads=2,
                               mlp_ratio=4.0, output_dim=24, act_layer=QuickGELU)
    torch.save({f'visual.{k}': v for k, v in visual.state_dict().items()}, path)
    return dict(embed_dims=128, num_layers=2, num_heads=2, feedforward_channels=512), 24


def dinov2_release(path, registers=0):
    """A tiny DINOv2-style ViT (layer scale, 64 channels per head) at 7-px patches on 28 px: the
    config's 14-px patches at 196 px for a 16-px student at 224, scaled to the tests' 8-px
    student patches at 32 px (4 x 4 grids on both sides); with the release's `mask_token` and,
    as the *_reg4 releases, `registers` register tokens."""
    from timm.models.vision_transformer import VisionTransformer
    vit = VisionTransformer(img_size=28, patch_size=7, embed_dim=128, depth=2, num_heads=2,
                            init_values=1e-5, num_classes=0)
    extra = {'register_tokens': torch.randn(1, registers, 128)} if registers else {}
    torch.save({**vit.state_dict(), 'mask_token': torch.zeros(1, 128), **extra}, path)
    return dict(embed_dims=128, num_layers=2, num_heads=2, feedforward_channels=512), 128


RELEASES = {
    'vit-s_100e_dino-teacher.py': ('dino_to_mmpretrain', ['--num-heads', '3'], timm_release),
    'vit-s_100e_ibot-teacher.py': ('ibot_to_mmpretrain', ['--num-heads', '3'],
                                   lambda path: timm_release(path, ibot=True)),
    'vit-b_100e_clip-teacher.py': ('clip_to_mmpretrain', [], clip_release),
    'vit-s_100e_dinov2-teacher.py': ('dinov2_to_mmpretrain', [], dinov2_release),
    # the reg4 release with the two options the config's header gives for it
    'vit-s_100e_dinov2-teacher.py reg4': (
        'dinov2_to_mmpretrain', [], lambda path: dinov2_release(path, registers=4),
        {'model.teacher.backbone.type': 'RegisterViT',
         'model.teacher.backbone.num_register_tokens': 4}),
}


@pytest.mark.parametrize('config', sorted(RELEASES))
def test_a_mimco_step_runs_with_each_released_teacher(config, tmp_path):
    import importlib
    converter, extra, make, *options = RELEASES[config]
    src, dst = str(tmp_path / 'release.pth'), str(tmp_path / 'teacher.pth')
    teacher_arch, global_dims = make(src)
    importlib.import_module(f'tools.model_converters.{converter}').main([src, dst, *extra])

    cfg = load_config(f'{ROOT}/configs/mimco/{config.split()[0]}', *options)
    model_cfg = cfg.model.to_dict()
    teacher = model_cfg['teacher']
    assert teacher['checkpoint'].startswith('checkpoints/')  # the header's convert command
    model_cfg['backbone'].update(arch=STUDENT, img_size=IMG, patch_size=PATCH)
    teacher['backbone'].update(arch=teacher_arch, img_size=IMG, patch_size=PATCH)
    resized = (teacher.get('input_norm') or {}).get('size')
    if resized:  # the teacher runs at its own size: the same ratio to the student's, same grid
        side = IMG * resized // 224
        teacher['input_norm']['size'] = side
        teacher['backbone'].update(img_size=side, patch_size=side // (IMG // PATCH))
    teacher['checkpoint'] = dst
    if teacher.get('neck'):
        teacher['neck'].update(in_channels=teacher_arch['embed_dims'], out_channels=global_dims)
    head = model_cfg['head']
    head['patch_proj'].update(in_channels=32, hid_channels=48,
                              out_channels=teacher_arch['embed_dims'])
    head['img_proj'].update(in_channels=32, hid_channels=48, out_channels=global_dims)
    model_cfg['data_preprocessor'] = cfg.data_preprocessor.to_dict()
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.train()

    before = {k: v.clone() for k, v in model.target_generator.state_dict().items()}
    student = model.backbone.layers[0].attn.qkv.weight.detach().clone()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    images, samples = masked_batch()
    losses = model(images, samples, mode='loss')
    total = losses['loss_patch'] + losses['loss_img']
    assert torch.isfinite(total), losses
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    assert not torch.equal(model.backbone.layers[0].attn.qkv.weight, student)
    for key, value in model.target_generator.state_dict().items():
        assert torch.equal(value, before[key]), key
    if 'dinov2' in config:  # the teacher sees the batch at its own size
        assert model.target_generator.input.size == 28
        assert model.target_generator.backbone.patch_resolution == (4, 4)
    if 'reg4' in config:  # registers loaded, and left out of the patch targets
        from mimco_mm.models import RegisterViT
        assert isinstance(model.target_generator.backbone, RegisterViT)
        with torch.no_grad():
            assert model.target_generator(images).patch.shape[1] == 16
    if 'clip' in config:  # CLIP's statistics reach the teacher, and its projection is the target
        assert model.target_generator.input is not None
        assert model.target_generator.input.student_known
        assert model.target_generator.global_target == 'projector'
