# The COCO Mask R-CNN protocol on the CPU (tests, `make demo`): mask-rcnn_vit-s_fpn_ms-1x_coco.py
# with the 4-layer 64-d ViT of configs/mimco/vit-tiny_cpu.py (4-px patches, so the adapter only
# pools: strides 4/8/16/32) on the generated COCO-format set (mimco_mm.datasets.make_coco_instances
# under data/demo/coco). It shows the path from a stage-2 checkpoint to COCO AP, not a score.
_base_ = './mask-rcnn_vit-s_fpn_ms-1x_coco.py'

pretrained = 'work_dirs/mimco/vit-tiny_cpu/epoch_20.pth'
data_root = 'data/demo/coco/'
classes = ('person', 'bicycle', 'car')  # mimco_mm.datasets.synthetic.COCO_NAMES
width = 64

model = dict(
    backbone=dict(arch=dict(embed_dims=width, num_layers=4, num_heads=4, feedforward_channels=256),
                  img_size=32, patch_size=4, out_indices=(0, 1, 2, 3), drop_path_rate=0.0,
                  init_cfg=dict(checkpoint=pretrained)),
    neck=[
        dict(type='ViTMultiScaleAdapter', in_channels=width, scales=(1, 0.5, 0.25, 0.125)),
        dict(type='FPN', in_channels=[width] * 4, out_channels=width, num_outs=5),
    ],
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width),
        bbox_head=dict(in_channels=width, fc_out_channels=128, num_classes=len(classes)),
        mask_roi_extractor=dict(out_channels=width),
        mask_head=dict(in_channels=width, conv_out_channels=width, num_classes=len(classes))))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(128, 96), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 96), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=dict(classes=classes),
                 ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='train/'), filter_cfg=dict(min_size=8),
                 pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=dict(classes=classes),
                 ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='val/'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

train_cfg = dict(max_epochs=2, val_interval=2)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=2, milestones=[1], gamma=0.1),
]
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=2e-4, weight_decay=0.05),
                     constructor='ViTLayerDecayConstructor',
                     paramwise_cfg=dict(layer_decay_rate=0.75))
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
