"""tools/model_converters/mocov3_to_mmpretrain.py on a checkpoint built here in the official layout."""
import pytest
import timm
import torch
from mmpretrain.registry import MODELS
from torch import nn

from conftest import shell, tiny_projector, tiny_vit
from tools.model_converters import mocov3_to_mmpretrain as converter


def _timm_vit():
    return timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0,
        qkv_bias=True, num_classes=0, global_pool='token')


def _official_mlp(num_layers, dim_in, hidden, dim_out):
    """moco-v3's `_build_mlp`: [Linear, BN, ReLU] * (n - 1), Linear, BN(affine=False)."""
    layers = []
    for i in range(num_layers):
        d1 = dim_in if i == 0 else hidden
        d2 = dim_out if i == num_layers - 1 else hidden
        layers.append(nn.Linear(d1, d2, bias=False))
        if i < num_layers - 1:
            layers += [nn.BatchNorm1d(d2), nn.ReLU(inplace=True)]
        else:
            layers.append(nn.BatchNorm1d(d2, affine=False))
    mlp = nn.Sequential(*layers)
    for m in mlp.modules():  # non-trivial running statistics
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    return mlp.eval()


@pytest.fixture(scope='module')
def official(tmp_path_factory):
    torch.manual_seed(0)
    base, momentum = _timm_vit().eval(), _timm_vit().eval()
    base_head, momentum_head = _official_mlp(3, 32, 24, 16), _official_mlp(3, 32, 24, 16)
    predictor = _official_mlp(2, 16, 24, 16)
    state = {}
    for name, module in (('base_encoder', base), ('momentum_encoder', momentum)):
        state.update({f'module.{name}.{k}': v for k, v in module.state_dict().items()})
    state.update({f'module.base_encoder.head.{k}': v for k, v in base_head.state_dict().items()})
    state.update({f'module.momentum_encoder.head.{k}': v
                  for k, v in momentum_head.state_dict().items()})
    state.update({f'module.predictor.{k}': v for k, v in predictor.state_dict().items()})
    path = tmp_path_factory.mktemp('official') / 'vit-tiny-300ep.pth.tar'
    torch.save(dict(epoch=300, arch='vit_tiny', state_dict=state), path)
    return dict(path=path, base=base, momentum=momentum, base_head=base_head,
                momentum_head=momentum_head)


def _mmpretrain_mocov3():
    return MODELS.build(dict(
        type='MoCoV3', base_momentum=0.01,
        backbone=tiny_vit(), neck=tiny_projector(),
        head=dict(type='MoCoV3Head', predictor=dict(tiny_projector(16, 16), num_layers=2),
                  loss=dict(type='CrossEntropyLoss', loss_weight=0.4), temperature=0.2)))


def test_converted_checkpoint_loads_strictly_into_mmpretrain_mocov3(official, tmp_path):
    dst = tmp_path / 'mocov3_tiny.pth'
    done = shell('tools/model_converters/mocov3_to_mmpretrain.py', official['path'], dst,
                 '--num-heads', '2')
    assert done.returncode == 0, done.stdout + done.stderr
    state = torch.load(dst, weights_only=True)['state_dict']
    model = _mmpretrain_mocov3()
    model.load_state_dict(state, strict=True)  # every key, both ways


def test_teacher_features_equal_timm(official, tmp_path):
    dst = tmp_path / 'mocov3_tiny.pth'
    converter.main([str(official['path']), str(dst), '--num-heads', '2'])
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    for encoder, prefix in (('base', ''), ('momentum', 'momentum_encoder.module.')):
        teacher = MODELS.build(dict(
            type='ContrastiveTeacher', backbone=tiny_vit(out_type='raw'), neck=tiny_projector(),
            checkpoint=str(dst), global_target='projector',
            backbone_prefix=(prefix + '0.') if prefix else 'backbone.',
            neck_prefix=(prefix + '1.') if prefix else 'neck.'))
        targets = teacher(x)
        with torch.no_grad():
            tokens = official[encoder].forward_features(x)  # (B, 1 + N, C) after the final norm
            projected = official[f'{encoder}_head'](tokens[:, 0])
        torch.testing.assert_close(targets.patch, tokens[:, 1:], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(targets.global_, projected, atol=1e-5, rtol=1e-5)


def test_unknown_key_is_an_error():
    with pytest.raises(KeyError, match='module.queue'):
        converter.convert({'module.queue': torch.zeros(1)})
    with pytest.raises(KeyError, match='blocks.0.attn.rel_pos'):
        converter.convert({'module.base_encoder.blocks.0.attn.rel_pos': torch.zeros(1)})


def test_head_count_is_recorded_and_never_guessed(official, tmp_path):
    dst = tmp_path / 'mocov3_tiny.pth'
    with pytest.raises(ValueError, match='--num-heads'):  # 'vit_tiny' is no official name
        converter.main([str(official['path']), str(dst)])
    assert not dst.exists()
    converter.main([str(official['path']), str(dst), '--num-heads', '2'])
    recorded = torch.load(dst, weights_only=True)['meta']['architecture']
    assert recorded['backbone']['num_heads'] == 2 and recorded['backbone']['num_layers'] == 2
    assert recorded['momentum_encoder.module.0'] == recorded['backbone']
    assert converter.OFFICIAL_HEADS == {'vit_small': 12, 'vit_base': 12}
