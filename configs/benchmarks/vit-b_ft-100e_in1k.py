# ImageNet-1K end-to-end fine-tune of a ViT-B/16 MimCo student: MAE's recipe (He et al., CVPR 2022;
# mmpretrain's mae vit-base 100e fine-tune config; BEiT's differs: lr 4e-3, 20 warm-up epochs):
# 100 epochs, AdamW lr 2e-3 for batch 1024 (8 GPUs x 128), wd 0.05, layer decay 0.65, drop path
# 0.1, 5 warm-up epochs + cosine, RandAugment (9, 0.5), random erasing 0.25, mixup 0.8 /
# cutmix 1.0, label smoothing 0.1, mean-pooled tokens.
# Layer decay comes from mimco_mm's ViTLayerDecayConstructor (the same one detection and
# segmentation use).
_base_ = ['mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py',
          '../_base_/long_runs.py']
custom_imports = dict(imports=['mimco_mm'], allow_failed_imports=False)
# best_accuracy_top1_*.pth beside the last checkpoint, as mmdet / mmseg users expect;
# the tables read the last checkpoint (the protocols report the end of training)
default_hooks = dict(checkpoint=dict(save_best='accuracy/top1', rule='greater'))
# Long runs (../_base_/long_runs.py): NaN / Inf guard, a resumable checkpoint every 20 min
# and on preemption; this loop resumes them exactly (no batch trained or loaded twice).
# (_delete_: mmpretrain's train_cfg has by_epoch=True, which names MMEngine's own loop)
train_cfg = dict(_delete_=True, type='ResumableEpochBasedTrainLoop', max_epochs=100,
                 val_interval=1)

pretrained = 'work_dirs/mimco/vit-b_100e/epoch_100.pth'
model = dict(backbone=dict(
    arch=dict(_delete_=True, embed_dims=768, num_layers=12, num_heads=12, feedforward_channels=3072),
    # avg_featmap + final_norm=False: a fresh norm after pooling (MAE's fc_norm), hence ln2 is
    # new and the student's final norm ln1 unused
    init_cfg=dict(checkpoint=pretrained, strict=True, allow_missing=['ln2.*'],
                  allow_unexpected=['mask_token', 'ln1.*'])))
optim_wrapper = dict(
    constructor='ViTLayerDecayConstructor',
    paramwise_cfg=dict(_delete_=True, layer_decay_rate=0.65))
