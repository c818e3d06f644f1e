# The SimMIM control on the CPU: the same student, data and schedule as configs/mimco/vit-tiny_cpu.py.
_base_ = [
    '../_base_/models/vit_tiny_cpu.py',
    '../_base_/datasets/folder_tiny_mim.py',
    '../_base_/schedules/cpu_tiny_mim.py',  # includes the runtime
]

model = dict(
    type='SimMIM',
    backbone=dict(type='MimCoViT', arch={{_base_.tiny_arch}}, img_size=32,
                  patch_size=4, out_type='featmap'),
    neck=dict(type='SimMIMLinearDecoder', in_channels=64, encoder_stride=4),
    head=dict(type='SimMIMHead', patch_size=4,
              loss=dict(type='PixelReconstructionLoss', criterion='L1', channel=3)))
