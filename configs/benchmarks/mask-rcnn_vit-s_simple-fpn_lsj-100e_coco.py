# COCO Mask R-CNN, ViTDet (Li et al., "Exploring Plain Vision Transformer Backbones for Object
# Detection", ECCV 2022; detectron2 projects/ViTDet configs common/models/mask_rcnn_vitdet.py and
# COCO/mask_rcnn_vitdet_b_100ep.py), on the plain ViT-S/16 of a MimCo checkpoint, as ViTDet does
# with MAE weights:
# - backbone: the pre-trained ViT with window attention (14 x 14) in every block but 2/5/8/11
#   (global) and relative position biases initialised at zero (mimco_mm WindowedViT =
#   mmpretrain's ViTSAM: the CLS token dropped, the position embedding resized to 64 x 64 once);
# - neck: the simple feature pyramid from the LAST block only (deconv / identity / max-pool to
#   strides 4-32 with C/4, C/2, C, C channels, 1x1 + 3x3 convs with LayerNorm, max-pooled P6;
#   mimco_mm SimpleFeaturePyramid), no top-down path;
# - RPN with 2 convs; box head 4 convs + 1 fc and mask head 4 convs, convs with LayerNorm;
# - large-scale jitter at 1024 px (scale 0.1-2.0), 100 epochs at batch 64 (184,375 iterations,
#   steps at 163,889 and 177,546), 250 warm-up iterations, AdamW lr 1e-4, wd 0.1, layer decay 0.7
#   (ViTDet's ViT-B value; ViTDet has no ViT-S), drop path 0.1, 8 GPUs x 8 images.
# Differences, and why: bf16 AmpOptimWrapper (detectron2: fp16 AMP); ViTDet's ViT-S does not
# exist, so the ViT-B values are kept except the width.
_base_ = './mask-rcnn_vit-s_fpn_ms-1x_coco.py'

image_size = (1024, 1024)
ln2d = dict(type='LN2d')  # LayerNorm over channels (mimco_mm/transfer/simple_pyramid.py)
model = dict(
    data_preprocessor=dict(pad_size_divisor=32,
                           batch_augments=[dict(type='BatchFixedSizePad', size=image_size,
                                                pad_mask=True)]),
    backbone=dict(
        _delete_=True,
        type='mmpretrain.WindowedViT',
        arch=dict(embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536,
                  global_attn_indexes=[2, 5, 8, 11]),
        img_size=1024,
        patch_size=16,
        window_size=14,
        out_indices=(11, ),
        drop_path_rate=0.1,
        # strict: every pre-trained tensor arrives; the rel-pos tables are new (zero), the CLS
        # token, mask token and final norm of the checkpoint are not used (ViTDet: the same)
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.pretrained}}, prefix='backbone.',
                      strict=True, allow_missing=['layers.*.attn.rel_pos_*'],
                      allow_unexpected=['cls_token', 'mask_token', 'ln1.*'])),
    neck=dict(_delete_=True, type='SimpleFeaturePyramid', in_channels={{_base_.embed_dims}},
              out_channels=256, scales=(4.0, 2.0, 1.0, 0.5), num_outs=5),
    rpn_head=dict(num_convs=2),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', conv_out_channels=256, norm_cfg=ln2d),
        mask_head=dict(norm_cfg=ln2d)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size,
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='Pad', size=image_size, pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='Pad', size=image_size, pad_val=dict(img=(114, 114, 114))),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size=8, num_workers=8,
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 184375
train_cfg = dict(_delete_=True, type='ResumableIterBasedTrainLoop', max_iters=max_iters,
                 val_interval=10000)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=250),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[163889, 177546], gamma=0.1),
]
optim_wrapper = dict(optimizer=dict(weight_decay=0.1), paramwise_cfg=dict(layer_decay_rate=0.7))
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=10000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
auto_scale_lr = dict(base_batch_size=64)
