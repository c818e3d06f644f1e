# Ablation of the mask ratio (default 0.6, SimMIM's): 0.4, same 32-px blocks.
_base_ = '../vit-s_100e.py'

train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.67, 1.0),
         interpolation='bicubic', backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='SimMIMMaskGenerator', input_size=224, mask_patch_size=32, model_patch_size=16,
         mask_ratio=0.4),
    dict(type='PackInputs'),
]))
