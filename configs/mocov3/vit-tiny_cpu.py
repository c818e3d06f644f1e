# Stage 1 on the CPU (tests, `make demo`): MoCo v3 with a 4-layer 64-d ViT on 32-px crops.
# MoCo v3's two-view recipe (crop 0.2-1 at this size, colour jitter with hue, grayscale, flip);
# blur and solarize are left out at 32 px.
_base_ = [
    '../_base_/models/vit_tiny_cpu.py',
    '../_base_/schedules/cpu_tiny.py',  # includes the runtime
]

view = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.2, 1.0), backend='pillow'),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)]),
    dict(type='LUTRandomGrayscale', prob=0.2, keep_channels=True,  # = RandomGrayscale, faster
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='RandomFlip', prob=0.5),
]
data_preprocessor = dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
train_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CustomDataset', data_root='data/demo', data_prefix='train', pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='MultiView', num_views=2, transforms=[view]),
        dict(type='PackInputs'),
    ]))

temperature = 0.2
projector = dict(type='NonLinearNeck', in_channels=64, hid_channels=256, out_channels=64,
                 num_layers=3, with_bias=False, with_last_bn=True, with_last_bn_affine=False,
                 with_last_bias=False, with_avg_pool=False)
model = dict(
    type='MoCoV3',
    base_momentum=0.01,
    backbone=dict(type='MoCoV3ViT', arch={{_base_.tiny_arch}}, img_size=32,
                  patch_size=4, stop_grad_conv1=True),
    neck=projector,
    head=dict(type='MoCoV3Head',
              predictor=dict(projector, in_channels=64, num_layers=2),
              loss=dict(type='CrossEntropyLoss', loss_weight=2 * temperature),
              temperature=temperature))
