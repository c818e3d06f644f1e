"""ViTDet's detector on plain-ViT weights (configs/benchmarks/mask-rcnn_vit-s_simple-fpn_lsj-100e_coco.py):
window attention with zero-initialised relative positions, the simple feature pyramid, the
2-conv RPN and the LayerNorm heads, all present and trainable."""
import os.path as osp

import pytest
import torch

from tools._common import ROOT, load_config

CONFIG = osp.join(ROOT, 'configs/benchmarks/mask-rcnn_vit-s_simple-fpn_lsj-100e_coco.py')


def test_layer_norm_2d_normalises_each_position_over_channels():
    from mimco_mm.transfer import LayerNorm2d
    x = torch.randn(2, 8, 3, 5) * 4 + 3
    y = LayerNorm2d(8)(x)
    want = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (8, ), eps=1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(y, want)


def test_simple_pyramid_levels_and_widths():
    from mimco_mm.transfer import SimpleFeaturePyramid
    neck = SimpleFeaturePyramid(in_channels=64, out_channels=32)
    outs = neck((torch.randn(1, 64, 8, 8), ))
    assert [tuple(o.shape[2:]) for o in outs] == [(32, 32), (16, 16), (8, 8), (4, 4), (2, 2)]
    assert all(o.shape[1] == 32 for o in outs)
    # the stride-4 branch narrows to C/4 and the stride-8 one to C/2 before the output convs
    assert neck.output[0][0][0].in_channels == 16 and neck.output[1][0][0].in_channels == 32
    assert neck.output[2][0][0].in_channels == 64 and neck.output[3][0][0].in_channels == 64
    # no top-down path: a level does not depend on another level's output
    convs = [m for m in neck.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.bias is None for c in convs)


@pytest.fixture(scope='module')
def vitdet():
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    import mimco_mm.det  # noqa: F401
    from mmdet.registry import MODELS
    cfg = load_config(CONFIG)
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.img_size = 128  # small enough for a CPU step; windows of 14 still apply
    cfg.model.data_preprocessor.batch_augments = None
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def test_backbone_windows_all_blocks_but_the_global_ones(vitdet):
    windows = [layer.window_size for layer in vitdet.backbone.layers]
    assert windows == [0 if i in (2, 5, 8, 11) else 14 for i in range(12)]
    assert all(layer.attn.use_rel_pos for layer in vitdet.backbone.layers)
    assert vitdet.rpn_head.num_convs == 2
    box = vitdet.roi_head.bbox_head
    assert (box.num_shared_convs, box.num_shared_fcs) == (4, 1)
    assert type(box.shared_convs[0].norm).__name__ == 'LayerNorm2d'
    assert len(vitdet.roi_head.mask_head.convs) == 4
    assert type(vitdet.roi_head.mask_head.convs[0].norm).__name__ == 'LayerNorm2d'


def test_vitdet_trains_a_step_with_gradients_in_the_new_parts(vitdet):
    from mmdet.testing import demo_mm_inputs
    packed = demo_mm_inputs(2, [[3, 128, 128], [3, 128, 128]], num_items=[3, 2], num_classes=80,
                            with_mask=True)
    vitdet.train()
    data = vitdet.data_preprocessor(packed, True)
    losses = vitdet.loss(data['inputs'], data['data_samples'])
    total = sum(v for k, v in losses.items() if 'loss' in k
                for v in (v if isinstance(v, list) else [v]))
    assert torch.isfinite(total)
    total.backward()
    rel = vitdet.backbone.layers[0].attn.rel_pos_h
    assert rel.grad is not None and rel.grad.abs().sum() > 0  # the zero-init tables learn
    assert vitdet.neck.output[0][0][0].weight.grad.abs().sum() > 0


def test_layer_decay_reaches_the_windowed_backbone(vitdet):
    """ViTDet's layer-wise decay (0.7) over WindowedViT's names: the rel-pos tables of block i
    get block i's rate, the patch embedding the lowest, the neck and heads the full lr."""
    from mmengine.optim import build_optim_wrapper
    cfg = load_config(CONFIG)
    wrapper = build_optim_wrapper(vitdet, dict(
        type='OptimWrapper', optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.1),
        constructor='ViTLayerDecayConstructor', paramwise_cfg=cfg.optim_wrapper.paramwise_cfg))
    lr_of = {}
    names = {id(p): n for n, p in vitdet.named_parameters()}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            lr_of[names[id(p)]] = group['lr']
    rate = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
    assert lr_of['backbone.layers.11.attn.rel_pos_h'] == pytest.approx(rate)
    assert lr_of['backbone.layers.0.attn.rel_pos_w'] == pytest.approx(rate ** 12)
    assert lr_of['backbone.patch_embed.projection.weight'] == pytest.approx(rate ** 13)
    assert lr_of['neck.output.0.0.0.weight'] == pytest.approx(1.0)
