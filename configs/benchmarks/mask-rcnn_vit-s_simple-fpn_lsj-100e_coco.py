# COCO Mask R-CNN, ViTDet protocol (Li et al., "Exploring Plain Vision Transformer Backbones for
# Object Detection", ECCV 2022; mmdet projects/ViTDet recipe), for users with the compute:
# simple feature pyramid from the LAST block only, large-scale jitter at 1024 px (scale 0.1-2.0),
# 100 epochs at batch 64 (184,375 iterations, steps at epochs 88 and 96), AdamW lr 1e-4, wd 0.1,
# layer decay 0.7, drop path 0.1, bf16, 8 GPUs x 8 images.
# Difference to ViTDet: our backbone is mmpretrain's plain ViT (global attention, no window
# attention or relative positions), so memory at 1024 px is higher.
_base_ = './mask-rcnn_vit-s_fpn_ms-1x_coco.py'

image_size = (1024, 1024)
model = dict(
    data_preprocessor=dict(pad_size_divisor=32,
                           batch_augments=[dict(type='BatchFixedSizePad', size=image_size,
                                                pad_mask=True)]),
    backbone=dict(out_indices=(11, )),
    neck=[
        dict(type='ViTMultiScaleAdapter', in_channels={{_base_.embed_dims}},
             scales=(4, 2, 1, 0.5), use_last_only=True, norm_cfg={{_base_.norm_cfg}}),
        dict(type='FPN', in_channels=[{{_base_.embed_dims}}] * 4, out_channels=256, num_outs=5),
    ])

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
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
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
