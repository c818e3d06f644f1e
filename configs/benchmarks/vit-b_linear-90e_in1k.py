# ImageNet-1K linear probe of a ViT-B/16 MimCo student: MoCo v3's ViT-B protocol (Chen et al.,
# ICCV 2021; mmpretrain's mocov3 vit-base-p16_8xb128-linear-coslr-90e_in1k.py): frozen backbone,
# a linear classifier on the CLS token after the final norm, SGD lr 12 (batch 1024 = 8 GPUs x
# 128), momentum 0.9, no weight decay, 90 epochs, cosine. The same values as the ViT-S probe
# (vit-s_linear-90e_in1k.py); only the backbone and the classifier's input width differ.
#
#   tools/dist_train.sh configs/benchmarks/vit-b_linear-90e_in1k.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mimco/vit-b_100e/epoch_100.pth
_base_ = './vit-s_linear-90e_in1k.py'

pretrained = 'work_dirs/mimco/vit-b_100e/epoch_100.pth'
model = dict(
    backbone=dict(
        arch=dict(embed_dims=768, num_layers=12, num_heads=12, feedforward_channels=3072),
        init_cfg=dict(checkpoint=pretrained)),
    head=dict(in_channels=768))
