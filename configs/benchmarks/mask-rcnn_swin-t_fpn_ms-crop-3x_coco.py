# COCO Mask R-CNN 3x on the Swin-T student: mmdet's swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py
# (36 epochs, steps 27 / 33, multi-scale training with random crops, AdamW lr 1e-4, wd 0.05), with
# the student backbone of configs/_base_/models/swin-t_transfer.py (strict load).
#
#   tools/dist_train.sh configs/benchmarks/mask-rcnn_swin-t_fpn_ms-crop-3x_coco.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mimco/swin-t_100e/epoch_100.pth
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py',
          '../_base_/models/swin-t_transfer.py', '../_base_/long_runs.py']
custom_imports = dict(imports=['mimco_mm', 'mimco_mm.det'], allow_failed_imports=False)
# best_coco_bbox_mAP_*.pth beside the last checkpoint, as mmdet / mmseg users expect;
# the tables read the last checkpoint (the protocols report the end of training)
default_hooks = dict(checkpoint=dict(save_best='coco/bbox_mAP', rule='greater'))
# Long runs (../_base_/long_runs.py): NaN / Inf guard, a resumable checkpoint every 20 min
# and on preemption; this loop resumes them exactly (no batch trained or loaded twice).
train_cfg = dict(type='ResumableEpochBasedTrainLoop')

model = dict(backbone={{_base_.swin_t_student}})
optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')
