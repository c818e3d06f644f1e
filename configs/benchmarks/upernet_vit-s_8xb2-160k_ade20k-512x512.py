# ADE20K semantic segmentation, UPerNet on the plain ViT-S/16 from a MimCo checkpoint: iBOT's ViT-S
# recipe (Zhou et al., ICLR 2022; bytedance/ibot evaluation/semantic_segmentation, config
# upernet/vit_small_512_ade20k_160k.py and evaluation/README.md), the only published ViT-S UPerNet
# protocol and the one behind the iBOT ViT-S row of our tables: 512 x 512 crops, 160k iterations
# at 8 GPUs x 2 images, ViT blocks 3/5/7/11 each normalised by the pre-trained final norm
# (iBOT's out_with_norm) -> multi-scale adapter -> UPerHead with 384 channels (+ FCN auxiliary
# head on the stride-16 map), AdamW lr 3e-5, wd 0.05, layer decay 0.9, 1500 warm-up iterations
# then linear decay, drop path 0.1, slide test (stride 341).
# Differences from iBOT, and why: bf16 through AmpOptimWrapper (iBOT: fp16 apex); the adapter's
# norm is SyncBN as in iBOT. MAE's ViT-B recipe (lr 1e-4, layer decay 0.65) was used here before:
# with 0.65^13 the patch embedding learned at 0.004x the head's lr.
# Data: data/ade/ADEChallengeData2016 (mmseg's layout), mIoU over 150 classes.
#
#   tools/dist_train.sh configs/benchmarks/upernet_vit-s_8xb2-160k_ade20k-512x512.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mimco/vit-s_100e/epoch_100.pth
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
    '../_base_/long_runs.py',
]
custom_imports = dict(imports=['mimco_mm', 'mimco_mm.seg'], allow_failed_imports=False)
# best_mIoU_*.pth beside the last checkpoint, as mmdet / mmseg users expect;
# the tables read the last checkpoint (the protocols report the end of training)
default_hooks = dict(checkpoint=dict(save_best='mIoU', rule='greater'))
# Long runs (../_base_/long_runs.py): NaN / Inf guard, a resumable checkpoint every 20 min
# and on preemption; this loop resumes them exactly (no batch trained or loaded twice).
train_cfg = dict(type='ResumableIterBasedTrainLoop')

pretrained = 'work_dirs/mimco/vit-s_100e/epoch_100.pth'  # stage 2, student under `backbone.`
vit_s = dict(embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536)
embed_dims = 384
crop_size = (512, 512)
norm_cfg = dict(type='SyncBN', requires_grad=True)

model = dict(
    pretrained=None,  # mmseg copies it into the backbone; an mmpretrain ViT takes init_cfg
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        _delete_=True,
        type='mmpretrain.NormedOutputsViT',  # the final norm on every output (iBOT)
        arch=vit_s,
        img_size=crop_size,
        patch_size=16,
        out_indices=(3, 5, 7, 11),
        out_type='featmap',
        drop_path_rate=0.1,
        # strict: every backbone tensor must come from the checkpoint (mimco_mm.compat), the
        # final norm included; the student's mask token is the only one left unused.
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.', strict=True,
                      allow_unexpected=['mask_token'])),
    neck=dict(type='ViTMultiScaleAdapter', in_channels=embed_dims, scales=(4, 2, 1, 0.5),
              norm_cfg=norm_cfg),
    decode_head=dict(in_channels=[embed_dims] * 4, channels=384, num_classes=150),
    auxiliary_head=dict(in_channels=embed_dims, in_index=2, num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

train_dataloader = dict(batch_size=2)

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    dtype='bfloat16',
    optimizer=dict(type='AdamW', lr=3e-5, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='ViTLayerDecayConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.9))
optimizer = None  # mmseg's schedule base leaves this helper; the optimizer is in optim_wrapper
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500, end=160000),
]
