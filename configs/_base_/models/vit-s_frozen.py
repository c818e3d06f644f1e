# The frozen ViT-S/16 of the k-NN and retrieval benchmarks: the student of a MimCo checkpoint,
# features = CLS token after the final norm (as DINO and MoCo v3 evaluate), loaded strictly.
pretrained = 'work_dirs/mimco/vit-s_100e/epoch_100.pth'  # stage 2, student under `backbone.`
vit_s = dict(embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536)

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(type='VisionTransformer', arch=vit_s, img_size=224, patch_size=16,
                  out_type='cls_token', final_norm=True,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.',
                                strict=True, allow_unexpected=['mask_token'])),
    neck=None,
    head=None)
