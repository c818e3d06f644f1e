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
