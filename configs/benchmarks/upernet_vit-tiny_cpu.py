# The ADE20K UPerNet protocol on the CPU (tests, `make demo`): upernet_vit-s_8xb2-160k_ade20k-512x512.py
# with the 4-layer 64-d ViT of configs/mimco/vit-tiny_cpu.py on the generated ADE-format set
# (mimco_mm.datasets.make_ade_segmentation under data/demo/ade), 64-px crops. It shows the path
# from a stage-2 checkpoint to mIoU, not a score.
_base_ = './upernet_vit-s_8xb2-160k_ade20k-512x512.py'

pretrained = 'work_dirs/mimco/vit-tiny_cpu/epoch_20.pth'
data_root = 'data/demo/ade'
width = 64
crop = (64, 64)
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    data_preprocessor=dict(size=crop),
    backbone=dict(arch=dict(embed_dims=width, num_layers=4, num_heads=4, feedforward_channels=256),
                  img_size=32, patch_size=4, out_indices=(0, 1, 2, 3), drop_path_rate=0.0,
                  init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=width, scales=(1, 0.5, 0.25, 0.125), norm_cfg=norm_cfg),
    decode_head=dict(in_channels=[width] * 4, channels=32, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=width, channels=16, norm_cfg=norm_cfg),
    test_cfg=dict(mode='whole'))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(128, 64), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_iters=4, val_interval=4)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=2, end=4),
]
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=2e-4, weight_decay=0.05),
                     constructor='ViTLayerDecayConstructor',
                     paramwise_cfg=dict(layer_decay_rate=0.65))
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=4))
