"""The protocol of every benchmark config, value by value, with the reference it follows.

`tests/test_protocols.py` loads each config and checks every value listed here, checks that the
config's header names its reference, and that docs/transfer.md's protocol table is this table
(`python -m mimco_mm.benchmark.protocols` prints it). A config that departs from its reference
says so in its header; the values here are what the config must hold.
"""

LR = 'optim_wrapper.optimizer.lr'
WD = 'optim_wrapper.optimizer.weight_decay'
LD = 'optim_wrapper.paramwise_cfg.layer_decay_rate'
BATCH = 'train_dataloader.batch_size'
EPOCHS = 'train_cfg.max_epochs'
ITERS = 'train_cfg.max_iters'
DROP_PATH = 'model.backbone.drop_path_rate'

# ViTDet's values, the same for ViT-S (its ViT-B recipe) and ViT-B
VITDET = {LR: 1e-4, WD: 0.1, LD: 0.7, BATCH: 8, ITERS: 184375, DROP_PATH: 0.1,
          'model.backbone.window_size': 14,
          'model.backbone.arch.global_attn_indexes': [2, 5, 8, 11],
          'model.rpn_head.num_convs': 2, 'model.neck.type': 'SimpleFeaturePyramid'}

# config (under configs/benchmarks), known differences to the reference, task, reference, word(s)
# its header must contain, values
PROTOCOLS = [
    ('vit-s_ft-200e_in1k.py', 'MAE\'s ViT-B recipe at ViT-S: layer decay 0.75, 200 epochs (MimCo\'s recipe unknown)',
     'ft', 'MAE fine-tune recipe, layer decay 0.75 as iBOT / CAE, 200 epochs (MimCo\'s own: not available)',
     'iBOT', {LR: 2e-3, WD: 0.05, LD: 0.75, BATCH: 128, EPOCHS: 200, DROP_PATH: 0.1}),
    ('vit-s_ft-ibot-200e_in1k.py', 'none known',
     'ft_ibot', 'iBOT ViT-S fine-tune (bytedance/ibot run_class_finetuning.py, run.sh): lr 4e-3 unscaled, 20 warm-up epochs, CLS token',
     'iBOT', {LR: 4e-3, WD: 0.05, LD: 0.75, BATCH: 128, EPOCHS: 200, DROP_PATH: 0.1,
              'param_scheduler.0.end': 20, 'model.backbone.out_type': 'cls_token'}),
    ('vit-b_ft-100e_in1k.py', 'none known',
     'ft', 'MAE ViT-B fine-tune (mmpretrain mae vit-base 100e)',
     'MAE', {LR: 2e-3, WD: 0.05, LD: 0.65, BATCH: 128, EPOCHS: 100, DROP_PATH: 0.1}),
    ('vit-s_linear-90e_in1k.py', 'none known',
     'linear', 'MoCo v3 linear probe (mmpretrain mocov3 vit-small)',
     'MoCo v3', {LR: 12, WD: 0.0, BATCH: 128, EPOCHS: 90}),
    ('vit-b_linear-90e_in1k.py', 'none known',
     'linear', 'MoCo v3 linear probe (mmpretrain mocov3 vit-base)',
     'MoCo v3', {LR: 12, WD: 0.0, BATCH: 128, EPOCHS: 90}),
    ('vit-s_knn_in1k.py', 'none known',
     'knn', 'DINO weighted k-NN (eval_knn.py)',
     'DINO', {'knn.ks': (10, 20, 100, 200), 'knn.temperature': 0.07,
              'knn_pipeline.1.interpolation': 'bicubic'}),
    ('vit-b_knn_in1k.py', 'none known',
     'knn', 'DINO weighted k-NN (eval_knn.py)',
     'DINO', {'knn.ks': (10, 20, 100, 200), 'knn.temperature': 0.07,
              'knn_pipeline.1.interpolation': 'bicubic'}),
    ('vit-s_retrieval_roxford5k_dino.py', 'none known',
     'roxford', 'DINO revisited Oxford (eval_image_retrieval.py, README: 224 px, one scale)',
     'DINO', {'retrieval.protocol': 'revisited', 'retrieval.image_size': 224,
              'retrieval.scales': (1, ), 'retrieval.query_crop': False}),
    ('vit-s_retrieval_roxford5k_ibot.py', 'none known',
     'roxford_ibot', 'iBOT revisited Oxford (DINO\'s eval_image_retrieval.py, run.sh: 512 px, 3 scales)',
     'iBOT', {'retrieval.protocol': 'revisited', 'retrieval.image_size': 512,
              'retrieval.scales': (1, 2 ** -0.5, 0.5), 'retrieval.query_crop': False}),
    ('vit-s_retrieval_rparis6k_dino.py', 'none known',
     'rparis', 'DINO and iBOT revisited Paris (eval_image_retrieval.py: 512 px, 3 scales)',
     'iBOT', {'retrieval.protocol': 'revisited', 'retrieval.image_size': 512,
              'retrieval.scales': (1, 2 ** -0.5, 0.5), 'retrieval.query_crop': False}),
    ('vit-s_retrieval-recall_folder.py', 'our protocol',
     'recall', 'ours: Recall@K on any labelled folder (no published row)',
     'Recall@K', {'retrieval.protocol': 'recall', 'retrieval.ks': (1, 2, 4, 8)}),
    ('mask-rcnn_vit-s_fpn_ms-1x_coco.py', 'our protocol; bf16',
     'coco', 'ours: BEiT / iBOT multi-scale adapter + Mask R-CNN 1x (no published ViT-S row with this detector)',
     'BEiT', {LR: 1e-4, WD: 0.05, LD: 0.75, BATCH: 2, EPOCHS: 12, DROP_PATH: 0.1}),
    ('cascade-mask-rcnn_vit-s_fpn_giou-4conv1f_ms-1x_coco.py', 'bf16 (iBOT: fp16); position embedding resized per input (iBOT: once, to 800 x 1008)',
     'coco_cascade', 'iBOT ViT-S Cascade Mask R-CNN (bytedance/ibot evaluation README)',
     'iBOT', {LR: 1e-4, WD: 0.05, LD: 0.8, BATCH: 4, EPOCHS: 12, DROP_PATH: 0.1,
              'model.roi_head.bbox_head.0.loss_bbox.type': 'GIoULoss',
              'model.roi_head.bbox_head.0.num_shared_convs': 4}),
    ('mask-rcnn_vit-s_simple-fpn_lsj-100e_coco.py', 'ViTDet has no ViT-S: its ViT-B values; bf16 (detectron2: fp16)',
     'coco', 'ViTDet Mask R-CNN (detectron2 projects/ViTDet), ViT-B values',
     'ViTDet', VITDET),
    ('mask-rcnn_vit-b_simple-fpn_lsj-100e_coco.py', 'bf16 (detectron2: fp16)',
     'coco', 'ViTDet ViT-B Mask R-CNN (MAE row 51.6 / 45.9)',
     'ViTDet', VITDET),
    ('upernet_vit-s_8xb2-160k_ade20k-512x512.py', 'bf16 (iBOT: fp16)',
     'ade', 'iBOT ViT-S UPerNet (bytedance/ibot semantic_segmentation)',
     'iBOT', {LR: 3e-5, WD: 0.05, LD: 0.9, BATCH: 2, ITERS: 160000, DROP_PATH: 0.1,
              'model.decode_head.channels': 384}),
    ('upernet_vit-b_8xb2-160k_ade20k-512x512.py', 'no layer scale and no relative position bias (mmseg\'s MAE backbone adds both to every block: scale at 1, bias at 0, both trained); bf16 (mmseg: fp16)',
     'ade', 'MAE ViT-B UPerNet (mmseg configs/mae, row 48.1)',
     'MAE', {LR: 1e-4, WD: 0.05, LD: 0.65, BATCH: 2, ITERS: 160000, DROP_PATH: 0.1,
             'model.decode_head.channels': 768}),
    ('mask-rcnn_swin-t_fpn_1x_coco.py', 'bf16 (mmdet: fp32)',
     'coco', 'mmdet swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
     'mmdet', {LR: 1e-4, WD: 0.05, BATCH: 2, EPOCHS: 12, DROP_PATH: 0.2}),
    ('mask-rcnn_swin-t_fpn_ms-crop-1x_coco.py', 'bf16 (Swin: fp32)',
     'coco1x_ms', 'MoBY / Swin Mask R-CNN 1x (mask_rcnn_swin_tiny_patch4_window7_mstrain_480-800_adamw_1x_coco.py)',
     'MoBY', {LR: 1e-4, WD: 0.05, BATCH: 2, EPOCHS: 12, DROP_PATH: 0.2,
              'param_scheduler.1.milestones': [8, 11]}),
    ('mask-rcnn_swin-t_fpn_ms-crop-3x_coco.py', 'bf16 (mmdet: fp32)',
     'coco3x', 'mmdet swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py',
     'mmdet', {LR: 1e-4, WD: 0.05, BATCH: 2, EPOCHS: 36, DROP_PATH: 0.2}),
    ('upernet_swin-t_8xb2-160k_ade20k-512x512.py', 'bf16 (mmseg: fp32)',
     'ade', 'mmseg swin-tiny UPerNet 160k',
     'mmseg', {LR: 6e-5, WD: 0.01, BATCH: 2, ITERS: 160000, DROP_PATH: 0.3}),
]


def lookup(cfg, path):
    """cfg value at a dotted path ('model.roi_head.bbox_head.0.loss_bbox.type'); KeyError if
    absent."""
    node = cfg
    for part in path.split('.'):
        if isinstance(node, (list, tuple)):
            node = node[int(part)]
        else:
            if part not in node:
                raise KeyError(f'{path}: no {part!r}')
            node = node[part]
    return node


def _short(path):
    return {LR: 'lr', WD: 'wd', LD: 'layer decay', BATCH: 'batch / GPU', EPOCHS: 'epochs',
            ITERS: 'iterations', DROP_PATH: 'drop path'}.get(path, path.split('.')[-1])


def markdown():
    """The protocol table of docs/transfer.md."""
    lines = ['| config (`configs/benchmarks/`) | task | reference | known differences | values the '
             'tests pin |', '|---|---|---|---|---|']
    for config, differences, task, reference, _, values in PROTOCOLS:
        pinned = ', '.join(f'{_short(k)} {v}' for k, v in values.items())
        lines.append(f'| `{config}` | {task} | {reference} | {differences} | {pinned} |')
    return '\n'.join(lines)


if __name__ == '__main__':
    print(markdown())
