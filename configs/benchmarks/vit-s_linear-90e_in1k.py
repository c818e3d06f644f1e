# ImageNet-1K linear probe, MoCo v3's protocol (Chen et al., ICCV 2021; mmpretrain's
# mocov3 vit-small linear config): frozen backbone, a linear classifier on the CLS token after the
# final norm, SGD lr 12 (batch 1024 = 8 GPUs x 128), no weight decay, 90 epochs, cosine.
#
#   tools/dist_train.sh configs/benchmarks/vit-s_linear-90e_in1k.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mimco/vit-s_100e/epoch_100.pth
_base_ = ['mmpretrain::mocov3/benchmarks/vit-small-p16_8xb128-linear-coslr-90e_in1k.py',
          '../_base_/long_runs.py']
custom_imports = dict(imports=['mimco_mm'], allow_failed_imports=False)
# best_accuracy_top1_*.pth beside the last checkpoint, as mmdet / mmseg users expect;
# the tables read the last checkpoint (the protocols report the end of training)
default_hooks = dict(checkpoint=dict(save_best='accuracy/top1', rule='greater'))
# Long runs (../_base_/long_runs.py): NaN / Inf guard, a resumable checkpoint every 20 min
# and on preemption; this loop resumes them exactly (no batch trained or loaded twice).
train_cfg = dict(type='ResumableEpochBasedTrainLoop', val_interval=10)

pretrained = 'work_dirs/mimco/vit-s_100e/epoch_100.pth'
model = dict(
    backbone=dict(
        _delete_=True, type='VisionTransformer',
        arch=dict(embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536),
        img_size=224, patch_size=16, out_type='cls_token', final_norm=True, frozen_stages=12,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.', strict=True,
                      allow_unexpected=['mask_token'])))
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
