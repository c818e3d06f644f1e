# Ablation of the student's head count: 12 heads as in MoCo v3's ViT-S (default: DeiT-S, 6 heads).
_base_ = '../vit-s_100e.py'

model = dict(backbone=dict(
    _delete_=True, type='MimCoViT', img_size=224, patch_size=16, out_type='raw',
    arch=dict(embed_dims=384, num_layers=12, num_heads=12, feedforward_channels=1536)))
