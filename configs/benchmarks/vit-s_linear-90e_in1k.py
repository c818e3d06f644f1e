# ImageNet-1K linear probe, MoCo v3's protocol (Chen et al., ICCV 2021; mmpretrain's
# mocov3 vit-small linear config): frozen backbone, a linear classifier on the CLS token after the
# final norm, SGD lr 12 (batch 1024 = 8 GPUs x 128), no weight decay, 90 epochs, cosine.
#
#   tools/dist_train.sh configs/benchmarks/vit-s_linear-90e_in1k.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mimco/vit-s_100e/epoch_100.pth
_base_ = 'mmpretrain::mocov3/benchmarks/vit-small-p16_8xb128-linear-coslr-90e_in1k.py'
custom_imports = dict(imports=['mimco_mm'], allow_failed_imports=False)
# NaN / Inf steps are skipped; 3 in a row stop the run (mimco_mm/engine/nonfinite_guard.py).
custom_hooks = [dict(type='NonFiniteGuardHook', max_consecutive=3, action='stop')]

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
train_cfg = dict(val_interval=10)
