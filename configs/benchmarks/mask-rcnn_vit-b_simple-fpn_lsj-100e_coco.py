# COCO Mask R-CNN, ViTDet, on the plain ViT-B/16 of a MimCo checkpoint: ViTDet's ViT-B recipe
# (Li et al., ECCV 2022; detectron2 projects/ViTDet COCO/mask_rcnn_vitdet_b_100ep.py), whose
# published row with MAE weights is 51.6 box AP / 45.9 mask AP (facebookresearch/mae README):
# window attention + zero-initialised relative positions on the plain weights, simple feature
# pyramid, 2-conv RPN, LayerNorm 4conv1fc box and 4-conv mask heads, LSJ 1024, 100 epochs at
# batch 64, AdamW lr 1e-4, wd 0.1, layer decay 0.7, drop path 0.1. Everything but the width comes
# from the ViT-S config it extends; the one difference to ViTDet is bf16 instead of fp16.
#
#   tools/dist_train.sh configs/benchmarks/mask-rcnn_vit-b_simple-fpn_lsj-100e_coco.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mimco/vit-b_100e/epoch_100.pth
_base_ = './mask-rcnn_vit-s_simple-fpn_lsj-100e_coco.py'

pretrained = 'work_dirs/mimco/vit-b_100e/epoch_100.pth'
embed_dims = 768
model = dict(
    backbone=dict(
        arch=dict(embed_dims=768, num_layers=12, num_heads=12, feedforward_channels=3072),
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=embed_dims))
