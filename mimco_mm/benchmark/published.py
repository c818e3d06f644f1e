"""Published reference rows for the paper-form tables, each with its source.

Only numbers read in the cited place are here (shared/reference/published_numbers.md, tags [R] /
[P]); the MimCo paper body was not available, so its only row is the abstract's fine-tune number.
Every row's source says, column by column, whether the protocol behind the number is ours
(configs/benchmarks, pinned in mimco_mm/benchmark/protocols.py) or which other one it is; a
published number from another detector sits in that detector's own columns (Cascade).
"""

# column keys: ft, ft_ibot, linear, knn, coco_box, coco_mask, cascade_box, cascade_mask,
# coco1x_ms_box, coco1x_ms_mask, coco3x_box, coco3x_mask, ade, roxford_m, roxford_h,
# roxford_ibot_m, roxford_ibot_h, rparis_m, rparis_h
PUBLISHED = {
    'ViT-S/16': [
        dict(method='MimCo (paper)', epochs='100', ft=82.53,
             source='arXiv 2209.03063, abstract (MoCo v3 ViT-S teacher); its fine-tune '
                    'protocol is not published'),
        dict(method='MoCo v3', epochs='300', ft=81.4, linear=73.2,
             source='facebookresearch/moco-v3 README. linear: MoCo v3 protocol = ours; '
                    'fine-tune: DeiT recipe, 300 epochs, not ours (MAE recipe, 200 epochs)'),
        dict(method='DINO', epochs='800', linear=77.0, knn=74.5,
             source='facebookresearch/dino README. k-NN: DINO protocol = ours; linear: DINO\'s '
                    '(last 4 CLS tokens concatenated, 100 epochs), not ours (MoCo v3\'s)'),
        dict(method='iBOT', epochs='800', ft_ibot=82.3, linear=77.9, knn=75.2, cascade_box=49.4,
             cascade_mask=42.6, ade=45.4,
             source='bytedance/ibot README (fine-tune, linear, k-NN); the iBOT paper (COCO, '
                    'ADE: the README has no ViT-S dense numbers). COCO: Cascade Mask R-CNN 1x, '
                    '4conv1f GIoU heads, batch 32, layer decay 0.8 = ours (cascade-mask-rcnn_vit-s '
                    'config, Cascade columns); ADE: UPerNet with iBOT\'s ViT-S recipe = ours; '
                    'k-NN: DINO protocol = ours; fine-tune: iBOT\'s ViT-S recipe = our '
                    'vit-s_ft-ibot-200e config (iBOT recipe column); linear: iBOT\'s own, not '
                    'ours'),
        dict(method='MAE (TinyMIM report)', epochs='-', ft=80.6, ade=42.8,
             source='OliverRensu/TinyMIM README: TinyMIM\'s fine-tune and UPerNet recipes, not '
                    'ours'),
    ],
    'ViT-B/16': [
        dict(method='MoCo v3', epochs='300', ft=83.2, linear=76.7,
             source='facebookresearch/moco-v3 README. linear: MoCo v3 protocol = ours; '
                    'fine-tune: 150-epoch DeiT recipe, not ours (MAE 100 epochs)'),
        dict(method='MAE', epochs='1600', ft=83.6, coco_box=51.6, coco_mask=45.9, ade=48.1,
             source='facebookresearch/mae README (fine-tune); detectron2 '
                    'projects/ViTDet README (COCO); the MAE paper, as mmseg configs/mae (ADE). '
                    'fine-tune: MAE recipe = ours; COCO: detectron2 ViTDet Mask R-CNN = our ViTDet '
                    'config; ADE: mmseg\'s MAE UPerNet, not ours (its backbone adds layer scale '
                    'and a relative position bias per block)'),
        dict(method='SimMIM', epochs='800', ft=83.8,
             source='microsoft/SimMIM README: SimMIM\'s fine-tune recipe, not ours'),
        dict(method='iBOT', epochs='400', ft_ibot=84.0, linear=79.5, knn=77.1, cascade_box=51.2,
             cascade_mask=44.2, ade=50.0,
             source='bytedance/ibot README. COCO: Cascade Mask R-CNN 1x, layer decay 0.75, not '
                    'ours (no ViT-B cascade config yet); ADE: iBOT\'s ViT-B UPerNet recipe, not '
                    'ours (MAE\'s); fine-tune: iBOT\'s ViT-B recipe (iBOT recipe column); k-NN: '
                    'DINO protocol = ours'),
        dict(method='DINO', epochs='400', linear=78.2, knn=76.1,
             source='facebookresearch/dino README. k-NN: DINO protocol = ours; linear: '
                    'DINO\'s, not ours'),
    ],
    'Swin-T': [
        dict(method='MoBY', epochs='-', coco1x_ms_box=43.6, coco1x_ms_mask=39.6, coco3x_box=46.0,
             coco3x_mask=41.7, ade=44.06,
             source='SwinTransformer/Transformer-SSL README (pre-training epochs not stated '
                    'there). COCO: Swin\'s Mask R-CNN 1x (multi-scale + crop) = our ms-crop-1x '
                    'config, 3x = our 3x config; ADE: Swin\'s UPerNet 160k = ours'),
        dict(method='Supervised (IN-1K labels)', epochs='300', coco1x_ms_box=43.7,
             coco1x_ms_mask=39.8, coco3x_box=46.0, coco3x_mask=41.6, ade=44.51,
             source='SwinTransformer/Transformer-SSL README: the protocols of the MoBY row = '
                    'ours'),
        dict(method='Supervised (IN-1K labels), mmdet', epochs='300', coco_box=42.7,
             coco_mask=39.3,
             source='mmdet v3.3.0 configs/swin/metafile.yml: single-scale 1x = ours '
                    '(mask-rcnn_swin-t_fpn_1x config)'),
    ],
}
