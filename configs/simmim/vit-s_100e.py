# The MIM-only control: the same ViT-S/16 student (MimCoViT), the same crop, mask, schedule and
# batch as configs/mimco/vit-s_100e.py, but SimMIM's target: L1 on the masked pixels through a
# linear decoder (Xie et al., SimMIM, CVPR 2022). What MimCo adds is exactly the teacher.
_base_ = [
    '../_base_/datasets/imagenet_mim.py',
    '../_base_/schedules/mim_adamw.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='SimMIM',
    backbone=dict(type='MimCoViT', arch='deit-small', img_size=224, patch_size=16,
                  out_type='featmap'),
    neck=dict(type='SimMIMLinearDecoder', in_channels=384, encoder_stride=16),
    head=dict(type='SimMIMHead', patch_size=16,
              loss=dict(type='PixelReconstructionLoss', criterion='L1', channel=3)))
