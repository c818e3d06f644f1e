# Stage-1 data: MoCo v3's two asymmetric views, mmpretrain's recipe value for value
# (mmpretrain::mocov3/mocov3_vit-small-p16_16xb256-amp-coslr-300e_in1k.py, view_pipeline1/2, the
# same in the ViT-B config: blur always on view 1 and with 0.1 on view 2, solarize 0.2 on view 2
# only), with two transforms swapped for faster ones that compute the same images
# (README "Speed"; tests/test_lut_grayscale.py checks the recipe against mmpretrain's):
# - TorchRandomResizedCrop = RandomResizedCrop(backend='pillow'), bilinear as mmpretrain's: the
#   same crop draws, Pillow's antialiased resize on torch's uint8 kernels (+-1 level);
# - LUTRandomGrayscale = RandomGrayscale: the same draw, the same array.
mocov3_crop = dict(type='TorchRandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0),
                   interpolation='bilinear')
mocov3_jitter = dict(type='RandomApply', prob=0.8, transforms=[
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)])
mocov3_gray = dict(type='LUTRandomGrayscale', prob=0.2, keep_channels=True,
                   channel_weights=(0.114, 0.587, 0.2989))
mocov3_views = [
    [mocov3_crop, mocov3_jitter, mocov3_gray,
     dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=1.0),
     dict(type='Solarize', thr=128, prob=0.0),
     dict(type='RandomFlip', prob=0.5)],
    [mocov3_crop, mocov3_jitter, mocov3_gray,
     dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.1),
     dict(type='Solarize', thr=128, prob=0.2),
     dict(type='RandomFlip', prob=0.5)],
]
mocov3_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1], transforms=mocov3_views),
    dict(type='PackInputs'),
]
