# COCO Mask R-CNN on the Swin-T student of a MimCo (or SimMIM / MoBY) checkpoint: mmdet's Swin-T
# recipe, config swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py (Liu et al., ICCV 2021), unchanged
# except the backbone's origin: all four stages -> FPN (96/192/384/768 channels), 1x schedule
# (12 epochs, steps 8 / 11) at 8 GPUs x 2 images, AdamW lr 1e-4, wd 0.05, no decay on norms and
# relative position tables, drop path 0.2, single-scale 1333 x 800 training.
# The backbone: configs/_base_/models/swin-t_transfer.py (the student, strict load).
# Difference to mmdet: bf16 autocast through AmpOptimWrapper (mmdet's Swin config: fp32).
#
#   tools/dist_train.sh configs/benchmarks/mask-rcnn_swin-t_fpn_1x_coco.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mimco/swin-t_100e/epoch_100.pth
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
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
