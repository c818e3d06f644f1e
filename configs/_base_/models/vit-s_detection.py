# The plain ViT-S/16 detection backbone and neck shared by the COCO configs that read blocks
# 3/5/7/11 (Mask R-CNN primary, iBOT's Cascade Mask R-CNN): the MimCo student, strictly loaded
# (every backbone tensor from the checkpoint; its mask token and final norm unused), its outputs
# un-normalised (iBOT's out_with_norm=False) -> multi-scale adapter (x4 deconv, x2 deconv, x1,
# x0.5 pool; BEiT / iBOT's fpn1-4) -> FPN 256.
pretrained = 'work_dirs/mimco/vit-s_100e/epoch_100.pth'  # stage 2, student under `backbone.`
vit_s = dict(embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536)
embed_dims = 384
norm_cfg = dict(type='SyncBN', requires_grad=True)
vit_s_detection_backbone = dict(
    _delete_=True,
    type='mmpretrain.VisionTransformer',
    arch=vit_s,
    img_size=224,  # the pre-training grid; position embeddings are resized per input
    patch_size=16,
    out_indices=(3, 5, 7, 11),
    out_type='featmap',
    final_norm=False,
    drop_path_rate=0.1,
    init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.', strict=True,
                  allow_unexpected=['mask_token', 'ln1.*']))
vit_s_detection_neck = [
    dict(type='ViTMultiScaleAdapter', in_channels=embed_dims, scales=(4, 2, 1, 0.5),
         norm_cfg=norm_cfg),
    dict(type='FPN', in_channels=[embed_dims] * 4, out_channels=256, num_outs=5),
]
