# MimCo stage 2: ViT-B/16 student, MoCo v3 ViT-B/16 teacher, 100 epochs. Same recipe as
# vit-s_100e.py (8 GPUs x 256, bf16); only the widths change. ViT-B results of MimCo are not in
# any source we could read: this setting is ours.
_base_ = './vit-s_100e.py'

model = dict(
    backbone=dict(arch='deit-base', drop_path_rate=0.1),  # 768-d, 12 layers, 12 heads
    teacher=dict(backbone=dict(arch='base'),
                 checkpoint='work_dirs/mocov3/vit-b_300e/epoch_300.pth'),
    head=dict(patch_proj=dict(in_channels=768, out_channels=768),
              img_proj=dict(in_channels=768, out_channels=768)))
