# MimCo, the Swin family: Swin-T student (SimMIM's masked Swin), MoBY Swin-T teacher, 100 epochs.
# Patch targets are the teacher's last-stage tokens (7 x 7 at 224 px, stride 32), so the mask
# blocks are 32 px: every masked block is exactly one output token. The global target is the mean
# of those tokens (Swin has no CLS). Otherwise the recipe of vit-s_100e.py. Swin results of MimCo
# are not in any source we could read: this setting is ours.
_base_ = './vit-s_100e.py'

model = dict(
    backbone=dict(_delete_=True, type='SimMIMSwinTransformer', arch='tiny', img_size=224,
                  drop_path_rate=0.1, out_indices=(3, )),
    teacher=dict(backbone=dict(_delete_=True, type='SwinTransformer', arch='tiny', img_size=224,
                               out_indices=(3, )),
                 checkpoint='work_dirs/moby/swin-t_300e/epoch_300.pth'),
    head=dict(patch_proj=dict(in_channels=768, out_channels=768),
              img_proj=dict(in_channels=768, out_channels=768)))

train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.67, 1.0),
         interpolation='bicubic', backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='SimMIMMaskGenerator', input_size=224, mask_patch_size=32, model_patch_size=4,
         mask_ratio=0.6),
    dict(type='PackInputs'),
]))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={
    'absolute_pos_embed': dict(decay_mult=0.0),
    'relative_position_bias_table': dict(decay_mult=0.0)}))
