# Stage-1 data: the two asymmetric views of mmpretrain's MoCo v3 and BYOL recipes, value for value,
# with two transforms swapped for faster ones that compute the same images (docs/speed.md "2-core CPU (this project's CI machine)";
# tests/test_lut_grayscale.py checks both recipes against mmpretrain's):
# - TorchRandomResizedCrop = RandomResizedCrop(backend='pillow'): the same crop draws, Pillow's
#   antialiased resize on torch's uint8 kernels (+-1 level);
# - LUTRandomGrayscale = RandomGrayscale: the same draw, the same array.
# Both recipes: colour jitter 0.8, grayscale 0.2, blur always on view 1 and with 0.1 on view 2,
# solarize 0.2 on view 2 only. They differ in the crop's interpolation and the flip's place.
two_view_jitter = dict(type='RandomApply', prob=0.8, transforms=[
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)])
two_view_gray = dict(type='LUTRandomGrayscale', prob=0.2, keep_channels=True,
                     channel_weights=(0.114, 0.587, 0.2989))
two_view_flip = dict(type='RandomFlip', prob=0.5)
two_view_blur = [dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf',
                      prob=p) for p in (1.0, 0.1)]  # view 1, view 2
two_view_solarize = [dict(type='Solarize', thr=128, prob=p) for p in (0.0, 0.2)]

# MoCo v3 (mmpretrain::mocov3/mocov3_vit-small-p16_16xb256-amp-coslr-300e_in1k.py, view_pipeline1/2,
# the same in the ViT-B config): bilinear crop, flip last.
mocov3_crop = dict(type='TorchRandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0),
                   interpolation='bilinear')
mocov3_views = [[mocov3_crop, two_view_jitter, two_view_gray, blur, solarize, two_view_flip]
                for blur, solarize in zip(two_view_blur, two_view_solarize)]
mocov3_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1], transforms=mocov3_views),
    dict(type='PackInputs'),
]

# BYOL (mmpretrain::_base_/datasets/imagenet_bs32_byol.py; MoBY trains on these): bicubic crop,
# flip right after it.
byol_crop = dict(type='TorchRandomResizedCrop', scale=224, interpolation='bicubic')
byol_views = [[byol_crop, two_view_flip, two_view_jitter, two_view_gray, blur, solarize]
              for blur, solarize in zip(two_view_blur, two_view_solarize)]
byol_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1], transforms=byol_views),
    dict(type='PackInputs'),
]
