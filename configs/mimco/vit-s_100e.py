# MimCo stage 2: ViT-S/16 student, MoCo v3 ViT-S/16 teacher, 100 epochs on ImageNet-1K.
# The paper's headline setting: 82.53 % ImageNet fine-tune top-1 (arXiv 2209.03063, abstract).
#
# Recipe: 8 GPUs x 256 images, bf16 autocast, AdamW lr 4e-4 (1e-4 per 512), wd 0.05, 10 warm-up
# epochs + cosine, clip 3.0; one crop (scale 0.67-1) + flip; SimMIM block mask 32 px at 0.6;
# patch InfoNCE (same-image negatives, tau 0.2) + image InfoNCE (global-batch negatives, tau 0.2),
# weights 1 : 1. Everything beyond "ViT-S, MoCo v3 teacher, 100 epochs, two contrastive losses"
# is our assumption (docs/method.md "Assumptions"); each has a file in ablations/.
#
#   tools/dist_train.sh configs/mimco/vit-s_100e.py 8 \
#       --cfg-options model.teacher.checkpoint=work_dirs/mocov3/vit-s_300e/epoch_300.pth
_base_ = [
    '../_base_/models/mimco_vit-s.py',
    '../_base_/datasets/imagenet_mim.py',
    '../_base_/schedules/mim_adamw.py',
    '../_base_/default_runtime.py',
]
