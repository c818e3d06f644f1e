# ImageNet-1K end-to-end fine-tune of a ViT-S/16 MimCo student in iBOT's ViT-S recipe (Zhou et al.,
# ICLR 2022; bytedance/ibot evaluation README, run.sh and
# classification_layer_decay/run_class_finetuning.py), the one published ViT-S fine-tune recipe:
# 200 epochs, AdamW lr 4e-3 for batch 1024 (8 GPUs x 128; iBOT does not scale it by the batch),
# 20 warm-up epochs + cosine to 1e-6, wd 0.05, layer decay 0.75, drop path 0.1, the CLS token
# after the final norm (iBOT's --use_cls), and MAE's augmentation, which is iBOT's (RandAugment
# (9, 0.5), random erasing 0.25, mixup 0.8 / cutmix 1.0, label smoothing 0.1).
# vit-s_ft-200e_in1k.py is MAE's ViT-B recipe at ViT-S (lr 2e-3, 5 warm-up epochs, mean-pooled
# tokens); the tables keep the two in separate columns.
_base_ = './vit-s_ft-200e_in1k.py'

model = dict(backbone=dict(
    out_type='cls_token', final_norm=True,
    # the student's final norm ln1 is used (no new norm), so only the mask token is left over
    init_cfg=dict(allow_missing=[], allow_unexpected=['mask_token'])))
optim_wrapper = dict(optimizer=dict(lr=4e-3))
max_epochs = 200
warmup_epochs = 20
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, eta_min=1e-6, convert_to_iter_based=True),
]
