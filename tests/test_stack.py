"""The pinned stack works together: the three libraries beside mimco_mm, and mmcv's compiled ops."""
import torch
import torchvision
from mmengine.config import Config

import mimco_mm  # noqa: F401


def test_mmcv_has_compiled_ops():
    import mmcv
    import mmcv._ext  # noqa: F401  an op-less mmcv fails here
    assert mmcv.__version__ == '2.1.0'


def test_nms_matches_torchvision():
    from mmcv.ops import nms
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(50, 2, generator=g) * 50
    boxes = torch.cat([xy, xy + 5 + torch.rand(50, 2, generator=g) * 20], dim=1)
    scores = torch.rand(50, generator=g)
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    expected = torchvision.ops.nms(boxes, scores, 0.5)
    assert torch.equal(keep.sort().values, expected.sort().values)
    assert 0 < len(keep) < 50


def test_roi_align_forward_backward_match_torchvision():
    from mmcv.ops import RoIAlign
    feats = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0), requires_grad=True)
    rois = torch.tensor([[0, 1.0, 1.0, 9.0, 12.0], [1, 3.0, 2.0, 15.0, 8.0]])
    out = RoIAlign((4, 4), spatial_scale=1.0, sampling_ratio=2, aligned=True)(feats, rois)
    ref_feats = feats.detach().clone().requires_grad_(True)
    ref = torchvision.ops.roi_align(ref_feats, rois, (4, 4), 1.0, 2, aligned=True)
    torch.testing.assert_close(out, ref)
    out.sum().backward()
    ref.sum().backward()
    assert feats.grad.abs().sum() > 0
    torch.testing.assert_close(feats.grad, ref_feats.grad)


def _config(text, tmp_path):
    path = tmp_path / 'cfg.py'
    path.write_text(text)
    return Config.fromfile(str(path))


def test_the_three_libraries_build_models_in_one_process(tmp_path):
    from mmdet.registry import MODELS as DET_MODELS
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    from mmseg.registry import MODELS as SEG_MODELS
    from mmengine.registry import init_default_scope

    det_cfg = _config("_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'\n"
                      "model = dict(backbone=dict(depth=18, init_cfg=None),\n"
                      "             neck=dict(in_channels=[64, 128, 256, 512]))\n", tmp_path)
    init_default_scope('mmdet')
    detector = DET_MODELS.build(det_cfg.model)
    # one real loss + backward through RPN, RoIAlign and the mask head
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    from mmdet.structures.mask import BitmapMasks
    sample = DetDataSample(metainfo=dict(img_shape=(64, 64), pad_shape=(64, 64), ori_shape=(64, 64),
                                         scale_factor=(1.0, 1.0), batch_input_shape=(64, 64)))
    masks = torch.zeros(1, 64, 64, dtype=torch.uint8)
    masks[0, 10:40, 12:50] = 1
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[12.0, 10.0, 50.0, 40.0]]),
                                       labels=torch.tensor([3]),
                                       masks=BitmapMasks(masks.numpy(), 64, 64))
    losses = detector.loss(torch.randn(1, 3, 64, 64), [sample])
    total = sum(v for k, v in losses.items() if 'loss' in k and isinstance(v, torch.Tensor)) + \
        sum(sum(v) for k, v in losses.items() if 'loss' in k and isinstance(v, list))
    total.backward()
    assert torch.isfinite(total) and 'loss_mask' in losses

    seg_cfg = _config("_base_ = 'mmseg::_base_/models/upernet_r50.py'\n"
                      "norm_cfg = dict(type='BN', requires_grad=True)\n"
                      "model = dict(data_preprocessor=None, pretrained=None,\n"
                      "             backbone=dict(depth=18, norm_cfg=norm_cfg),\n"
                      "             decode_head=dict(in_channels=[64, 128, 256, 512], channels=32,\n"
                      "                              norm_cfg=norm_cfg),\n"
                      "             auxiliary_head=dict(in_channels=256, channels=16, norm_cfg=norm_cfg))\n",
                      tmp_path)
    init_default_scope('mmseg')
    segmentor = SEG_MODELS.build(seg_cfg.model)
    segmentor.eval()  # the pyramid pooling's BatchNorm cannot train on one 1x1 map
    logits = segmentor(torch.randn(1, 3, 64, 64), mode='tensor')
    assert logits.shape == (1, 19, 16, 16)

    init_default_scope('mmpretrain')
    classifier = PRETRAIN_MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='VisionTransformer', arch='deit-tiny', img_size=32, patch_size=8),
        neck=None, head=dict(type='LinearClsHead', num_classes=10, in_channels=192)))
    assert classifier(torch.randn(2, 3, 32, 32), mode='tensor').shape == (2, 10)
    assert 'MimCo' in PRETRAIN_MODELS.module_dict
