# COCO Mask R-CNN on the plain ViT-B/16 from a MimCo checkpoint, with the ViTDet / MAE schedule
# (Li et al., ECCV 2022; He et al., CVPR 2022, whose published ViT-B row is 51.6 box AP / 45.9 mask
# AP): large-scale jitter at 1024 px, 100 epochs at batch 64, AdamW lr 1e-4, wd 0.1, layer decay
# 0.7, drop path 0.1, bf16, 8 GPUs x 8 images; the same values as the ViT-S config it extends.
# NOT the full ViTDet detector (the same differences as mask-rcnn_vit-s_simple-fpn_lsj-100e_coco.py
# lists: global attention without window attention or relative positions, a standard FPN and
# heads without norm), so the 51.6 / 45.9 row is a reference, not a like-for-like partner.
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
    neck=[
        dict(type='ViTMultiScaleAdapter', in_channels=embed_dims, scales=(4, 2, 1, 0.5),
             use_last_only=True, norm_cfg={{_base_.norm_cfg}}),
        dict(type='FPN', in_channels=[embed_dims] * 4, out_channels=256, num_outs=5),
    ])
