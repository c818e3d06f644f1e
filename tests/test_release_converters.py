"""Released ViT checkpoints (timm / DeiT, DINO, iBOT) in their official layouts, converted and
loaded strictly into our teacher: its patch and global features equal timm's on the same input."""
import argparse

import pytest
import torch

from tools.model_converters import dino_to_mmpretrain, ibot_to_mmpretrain, timm_to_mmpretrain


@pytest.fixture(scope='module')
def timm_vit_s():
    """timm's ViT-S/16 (DeiT-S / DINO / iBOT architecture: 6 heads), random weights."""
    import timm
    torch.manual_seed(0)
    model = timm.create_model('vit_small_patch16_224', pretrained=False, num_classes=10)
    with torch.no_grad():  # non-trivial norms and biases, so a wrong mapping shows
        for name, p in model.named_parameters():
            if 'norm' in name or name.endswith('bias'):
                p.uniform_(-0.5, 1.5)
    return model.eval()


def official_layouts(model, root):
    """The files as the projects publish them: {name: (path, converter, extra args)}."""
    backbone = {k: v for k, v in model.state_dict().items() if not k.startswith('head.')}
    dino_head = {'head.mlp.0.weight': torch.randn(32, 384), 'head.last_layer.weight_g':
                 torch.ones(1, 16)}
    files = {
        'timm (DeiT layout)': (dict(model=model.state_dict()), timm_to_mmpretrain, ['--num-heads', '6']),
        'DINO backbone release': (backbone, dino_to_mmpretrain, ['--num-heads', '6']),
        'DINO full checkpoint': (dict(
            student={f'module.backbone.{k}': v + 1 for k, v in backbone.items()},
            teacher={**{f'backbone.{k}': v for k, v in backbone.items()}, **dino_head},
            epoch=100, args=argparse.Namespace(arch='vit_small', out_dim=65536)),
            dino_to_mmpretrain, []),
        'iBOT checkpoint_teacher': (dict(state_dict={**backbone,
                                                     'masked_embed': torch.randn(1, 384)}),
                                    ibot_to_mmpretrain, ['--num-heads', '6']),
    }
    out = {}
    for name, (content, converter, extra) in files.items():
        path = str(root / (name.replace(' ', '_') + '.pth'))
        torch.save(content, path)
        out[name] = (path, converter, extra)
    return out


def test_every_release_converts_to_the_features_timm_computes(timm_vit_s, tmp_path):
    from mimco_mm.models.teacher import ContrastiveTeacher
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        tokens = timm_vit_s.forward_features(images)  # (B, 1 + 196, 384) after the final norm
    for name, (src, converter, extra) in official_layouts(timm_vit_s, tmp_path).items():
        dst = str(tmp_path / (src.split('/')[-1] + '.converted.pth'))
        converter.main([src, dst, *extra])
        teacher = ContrastiveTeacher(
            backbone=dict(type='VisionTransformer', arch=dict(
                embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536),
                img_size=224, patch_size=16, out_type='raw'),
            checkpoint=dst)
        with torch.no_grad():
            targets = teacher(images)
        torch.testing.assert_close(targets.patch, tokens[:, 1:], rtol=1e-4, atol=1e-4, msg=name)
        torch.testing.assert_close(targets.global_, tokens[:, 0], rtol=1e-4, atol=1e-4, msg=name)
        meta = torch.load(dst, weights_only=True)['meta']
        assert meta['architecture']['backbone']['num_heads'] == 6, name


def test_dropped_tensors_are_named_and_a_12_head_teacher_is_refused(timm_vit_s, tmp_path, capsys):
    from mimco_mm.architecture import ArchitectureMismatch
    from mimco_mm.models.teacher import ContrastiveTeacher
    files = official_layouts(timm_vit_s, tmp_path)
    src, converter, extra = files['iBOT checkpoint_teacher']
    dst = str(tmp_path / 'ibot.pth')
    converter.main([src, dst, *extra])
    assert 'left out: masked_embed' in capsys.readouterr().out
    meta = torch.load(dst, weights_only=True)['meta']
    assert meta['dropped'] == ['masked_embed']
    src, converter, _ = files['DINO full checkpoint']
    converter.main([src, dst])
    out = capsys.readouterr().out
    assert 'left out: head.mlp.0.weight' in out and '6 heads' in out  # from args.arch
    with pytest.raises(ArchitectureMismatch, match='num_heads: checkpoint 6, model 12'):
        ContrastiveTeacher(backbone=dict(type='VisionTransformer', arch=dict(
            embed_dims=384, num_layers=12, num_heads=12, feedforward_channels=1536),
            img_size=224, patch_size=16, out_type='raw'), checkpoint=dst)


def test_an_unknown_tensor_is_an_error_not_a_silent_drop(tmp_path):
    torch.save({'cls_token': torch.zeros(1, 1, 8), 'reg_token': torch.zeros(1, 4, 8)},
               tmp_path / 'odd.pth')
    with pytest.raises(KeyError, match='reg_token'):
        timm_to_mmpretrain.main([str(tmp_path / 'odd.pth'), str(tmp_path / 'out.pth'),
                                 '--num-heads', '2'])
    assert not (tmp_path / 'out.pth').exists()


@pytest.fixture(scope='module')
def open_clip_b16():
    """open_clip's ViT-B/16 with QuickGELU (OpenAI CLIP's architecture), random weights (no
    download: pretrained=None)."""
    import open_clip  # a test dependency (requirements/runtime.txt)
    torch.manual_seed(0)
    model = open_clip.create_model('ViT-B-16-quickgelu', pretrained=None)
    with torch.no_grad():  # non-trivial norms and biases, so a wrong mapping shows
        for name, p in model.visual.named_parameters():
            if 'ln_' in name or name.endswith('bias'):
                p.uniform_(-0.5, 1.5)
    model.visual.output_tokens = True
    return model.eval()


class _Visual(torch.nn.Module):
    """What OpenAI's TorchScript release holds under `visual.` (its tensors are all we read)."""

    def __init__(self, visual):
        super().__init__()
        self.visual = visual

    def forward(self, x):
        return self.visual(x)[0]


def test_clip_converts_to_the_features_open_clip_computes(open_clip_b16, tmp_path, capsys):
    from mimco_mm.models.teacher import ContrastiveTeacher
    from tools.model_converters import clip_to_mmpretrain
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        embedding, tokens = open_clip_b16.visual(images)  # (B, 512) ln_post(CLS) @ proj; (B, 196, 768)
    plain = str(tmp_path / 'open_clip_pytorch_model.bin')
    torch.save(open_clip_b16.state_dict(), plain)  # text tower included, as released
    scripted = str(tmp_path / 'ViT-B-16.pt')
    with torch.no_grad():
        torch.jit.trace(_Visual(open_clip_b16.visual), images[:1], check_trace=False).save(scripted)
    for src in (plain, scripted):
        dst = src + '.converted.pth'
        clip_to_mmpretrain.main([src, dst])
        teacher = ContrastiveTeacher(
            backbone=dict(type='VisionTransformer', arch='b', img_size=224, patch_size=16,
                          out_type='raw', **clip_to_mmpretrain.CLIP_VIT),
            neck=dict(type='ProjectionMatrix', in_channels=768, out_channels=512),
            global_target='projector', checkpoint=dst)
        with torch.no_grad():
            targets = teacher(images)
        torch.testing.assert_close(targets.patch, tokens, rtol=1e-4, atol=1e-4, msg=src)
        torch.testing.assert_close(targets.global_, embedding, rtol=1e-4, atol=1e-4, msg=src)
        arch = torch.load(dst, weights_only=True)['meta']['architecture']['backbone']
        assert (arch['num_heads'], arch['activation'], arch['pre_norm'], arch['ln_eps']) == \
            (12, 'QuickGELU', True, 1e-5)
    out = capsys.readouterr().out
    assert 'left out: token_embedding.weight' in out and 'left out: logit_scale' in out


def test_a_clip_tower_refuses_a_gelu_teacher(open_clip_b16, tmp_path):
    """Activation is in no weight's shape: a DeiT-style config (GELU) fed CLIP weights would
    load strictly and compute other features; the recorded architecture stops it."""
    from mimco_mm.architecture import ArchitectureMismatch
    from mimco_mm.models.teacher import ContrastiveTeacher
    from tools.model_converters import clip_to_mmpretrain
    src, dst = str(tmp_path / 'clip.bin'), str(tmp_path / 'clip.pth')
    torch.save({f'visual.{k}': v for k, v in open_clip_b16.visual.state_dict().items()}, src)
    clip_to_mmpretrain.main([src, dst])
    gelu = dict(clip_to_mmpretrain.CLIP_VIT, layer_cfgs=dict())
    with pytest.raises(ArchitectureMismatch, match="activation: checkpoint 'QuickGELU', model 'GELU'"):
        ContrastiveTeacher(backbone=dict(type='VisionTransformer', arch='b', img_size=224,
                                         patch_size=16, out_type='raw', **gelu),
                           checkpoint=dst)
