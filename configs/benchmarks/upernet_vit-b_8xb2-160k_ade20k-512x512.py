# ADE20K semantic segmentation, UPerNet on the plain ViT-B/16 from a MimCo checkpoint: MAE's ViT-B
# protocol (He et al., CVPR 2022; mmseg configs/mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py,
# whose published row is MAE 48.1 mIoU): 512 x 512 crops, 160k iterations at 8 GPUs x 2 images,
# features of blocks 3/5/7/11 -> multi-scale adapter (4x, 2x, 1x, 0.5x) -> UPerHead with 768
# channels (+ FCN auxiliary head), AdamW lr 1e-4, wd 0.05, layer decay 0.65, 1500 warm-up
# iterations then linear decay, drop path 0.1, slide test (stride 341).
# Differences from mmseg's MAE config, and why: mmseg's `MAE` backbone adds to every block a
# trainable layer scale initialised at 1.0 and a trainable relative position bias initialised at
# 0 (both identities at the start; our student has neither, and a strict load has nothing to fill
# them from), so the row beside MAE's 48.1 is not like-for-like; bf16 AmpOptimWrapper instead of
# fp16; the block
# outputs are not normalised (as in mmseg's MAE backbone, final_norm=False), unlike the ViT-S
# config, which follows iBOT.
#
#   tools/dist_train.sh configs/benchmarks/upernet_vit-b_8xb2-160k_ade20k-512x512.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mimco/vit-b_100e/epoch_100.pth
_base_ = './upernet_vit-s_8xb2-160k_ade20k-512x512.py'

pretrained = 'work_dirs/mimco/vit-b_100e/epoch_100.pth'
embed_dims = 768
model = dict(
    backbone=dict(
        type='mmpretrain.VisionTransformer',
        arch=dict(embed_dims=768, num_layers=12, num_heads=12, feedforward_channels=3072),
        final_norm=False,
        # every backbone tensor from the checkpoint; its mask token and final norm stay unused
        init_cfg=dict(checkpoint=pretrained, allow_unexpected=['mask_token', 'ln1.*'])),
    neck=dict(in_channels=embed_dims),
    decode_head=dict(in_channels=[embed_dims] * 4, channels=768),
    auxiliary_head=dict(in_channels=embed_dims))
optim_wrapper = dict(optimizer=dict(lr=1e-4), paramwise_cfg=dict(layer_decay_rate=0.65))
