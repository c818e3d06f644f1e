# MimCo stage 2 with DINO's ViT-S/16 as the teacher (Caron et al., arXiv 2104.14294), instead of
# our MoCo v3: same student, data, schedule and losses as vit-s_100e.py.
#
# Teacher checkpoint: DINO's released ViT-S/16, either the backbone-only file or the full
# training checkpoint (its `teacher` is taken):
#   https://dl.fbaipublicfiles.com/dino/dino_deitsmall16_pretrain/dino_deitsmall16_pretrain.pth
#   python tools/model_converters/dino_to_mmpretrain.py dino_deitsmall16_pretrain.pth \
#       checkpoints/dino_vit-s16_teacher.pth --num-heads 6
# Architecture: DeiT-S (6 heads, 12 blocks, LN eps 1e-6), as DINO's vit_small.
# Input: DINO trains on ImageNet mean / std, the student's, so no `input_norm`.
# Assumed (no MimCo result with a DINO teacher exists): patch targets = last-block tokens after
# the final norm, global target = the CLS token after it (what DINO's k-NN evaluates; its
# projection head is not in the backbone release and is left out of the full checkpoint).
_base_ = './vit-s_100e.py'

model = dict(
    teacher=dict(
        backbone=dict(_delete_=True, type='VisionTransformer', arch='deit-small', img_size=224,
                      patch_size=16, out_type='raw'),
        checkpoint='checkpoints/dino_vit-s16_teacher.pth',
        global_target='cls'))
