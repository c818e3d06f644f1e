# Stage 1 of the Swin family: the MoBY Swin-T teacher (Xie et al., arXiv 2105.04553), recipe of the
# official configs/moby_swin_tiny.yaml (SwinTransformer/Transformer-SSL): 300 epochs, AdamW base
# lr 1e-3 per 512 images, wd 0.05, 5 warm-up epochs + cosine; online drop path 0.2, target 0;
# momentum 0.99 -> 1; tau 0.2; 4096 negatives per queue; 2-layer projector and predictor.
# BYOL's two-view augmentation (mmpretrain's imagenet_bs32_byol base), with the faster crop and
# grayscale that compute the same images (../_base_/datasets/imagenet_two_views.py); 8 GPUs x 64,
# bf16.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_byol.py',
    '../_base_/default_runtime.py',
    '../_base_/datasets/imagenet_two_views.py',
]

train_dataloader = dict(batch_size=64, num_workers=8,
                        dataset=dict(pipeline={{_base_.byol_train_pipeline}}))

mlp = dict(type='NonLinearNeck', hid_channels=4096, out_channels=256, num_layers=2,
           with_bias=True, with_last_bn=False, with_last_bias=True)
model = dict(
    type='MoBY',
    base_momentum=0.01,
    queue_len=4096,
    feat_dim=256,
    target_drop_path_rate=0.0,
    backbone=dict(type='SwinTransformer', arch='tiny', img_size=224, drop_path_rate=0.2,
                  out_indices=(3, )),
    neck=dict(mlp, in_channels=768, with_avg_pool=True),
    head=dict(type='MoBYHead', predictor=dict(mlp, in_channels=256, with_avg_pool=False),
              temperature=0.2))

optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='bfloat16',
    optimizer=dict(type='AdamW', lr=1e-3 * 512 / 512, weight_decay=0.05),
    clip_grad=dict(max_norm=5.0),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                       custom_keys={'absolute_pos_embed': dict(decay_mult=0.0),
                                    'relative_position_bias_table': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=295, eta_min=1e-6, by_epoch=True, begin=5, end=300,
         convert_to_iter_based=True),
]
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=300)
auto_scale_lr = dict(base_batch_size=512)
