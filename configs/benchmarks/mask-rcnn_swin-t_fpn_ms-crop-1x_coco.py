# COCO Mask R-CNN 1x on the Swin-T student in MoBY's protocol (Xie et al., arXiv 2105.04553;
# Transformer-SSL README), which is Swin's official
# mask_rcnn_swin_tiny_patch4_window7_mstrain_480-800_adamw_1x_coco.py: the multi-scale training
# with random crops of mask-rcnn_swin-t_fpn_ms-crop-3x_coco.py (mmdet's port of that policy),
# AdamW lr 1e-4, wd 0.05, on the 1x schedule (12 epochs, steps 8 / 11, 1000-iteration warm-up).
# mask-rcnn_swin-t_fpn_1x_coco.py is mmdet's single-scale 1x; the tables keep the two apart.
#
#   tools/dist_train.sh configs/benchmarks/mask-rcnn_swin-t_fpn_ms-crop-1x_coco.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mimco/swin-t_100e/epoch_100.pth
_base_ = './mask-rcnn_swin-t_fpn_ms-crop-3x_coco.py'

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[8, 11],
         gamma=0.1),
]
