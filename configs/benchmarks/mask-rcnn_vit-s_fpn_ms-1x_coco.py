# COCO Mask R-CNN with the plain ViT-S/16 from a MimCo checkpoint: the primary detection protocol.
# ViT blocks 3/5/7/11 -> multi-scale adapter (x4 deconv, x2 deconv, x1, x0.5 pool; BEiT / iBOT) ->
# FPN -> Mask R-CNN heads. 1x schedule (12 epochs, steps at 8 and 11), multi-scale training
# (short side 480-800), AdamW lr 1e-4, wd 0.05, layer-wise lr decay 0.75, drop path 0.1, bf16,
# 8 GPUs x 2 images. mmdet's own `mask-rcnn_r50_fpn` model, COCO instance data and 1x schedule
# are the bases. Data: data/coco (annotations/instances_{train,val}2017.json, {train,val}2017/).
#
#   tools/dist_train.sh configs/benchmarks/mask-rcnn_vit-s_fpn_ms-1x_coco.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mimco/vit-s_100e/epoch_100.pth
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
    '../_base_/models/vit-s_detection.py',  # backbone + neck, shared with the Cascade config
    '../_base_/long_runs.py',
]
custom_imports = dict(imports=['mimco_mm', 'mimco_mm.det'], allow_failed_imports=False)
# best_coco_bbox_mAP_*.pth beside the last checkpoint, as mmdet / mmseg users expect;
# the tables read the last checkpoint (the protocols report the end of training)
default_hooks = dict(checkpoint=dict(save_best='coco/bbox_mAP', rule='greater'))
# Long runs (../_base_/long_runs.py): NaN / Inf guard, a resumable checkpoint every 20 min
# and on preemption; this loop resumes them exactly (no batch trained or loaded twice).
train_cfg = dict(type='ResumableEpochBasedTrainLoop')

model = dict(backbone={{_base_.vit_s_detection_backbone}}, neck={{_base_.vit_s_detection_neck}})

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomChoiceResize', keep_ratio=True,
         scales=[(1333, s) for s in range(480, 801, 32)]),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    dtype='bfloat16',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='ViTLayerDecayConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))
auto_scale_lr = dict(base_batch_size=16)
