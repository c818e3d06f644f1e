# Stage-2 data of the CPU variants (tests, `make demo`): any labelled image folder in mmpretrain's
# layout (data_root/train/<class>/<image>), 32-px crops, 4-px patches, 8-px mask blocks at 0.4
# (0.6 masks most of a 32-px digit: on MNIST-5k, the demo's former data, 0.4 gave MimCo k-NN 58.9
# vs 52.2 at 0.6).
data_preprocessor = dict(type='MIMDataPreprocessor', mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.67, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='SimMIMMaskGenerator', input_size=32, mask_patch_size=8, model_patch_size=4,
         mask_ratio=0.4),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CustomDataset', data_root='data/demo', data_prefix='train',
                 pipeline=train_pipeline))
