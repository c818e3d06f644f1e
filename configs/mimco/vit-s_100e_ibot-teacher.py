# MimCo stage 2 with iBOT's ViT-S/16 as the teacher (Zhou et al., arXiv 2111.07832): a teacher
# that was itself trained with a masked-patch objective. Same student, data, schedule and losses
# as vit-s_100e.py.
#
# Teacher checkpoint: iBOT's released ViT-S/16 teacher (bytedance/ibot README, "ViT-S/16 Block"):
#   https://lf3-nlp-opensource.bytetos.com/obj/nlp-opensource/archive/2022/ibot/vits_16/checkpoint_teacher.pth
#   python tools/model_converters/ibot_to_mmpretrain.py checkpoint_teacher.pth \
#       checkpoints/ibot_vit-s16_teacher.pth --num-heads 6
# The converter drops iBOT's `masked_embed` (the student's mask token, unused by its teacher).
# Architecture: DeiT-S (6 heads, 12 blocks, LN eps 1e-6), as iBOT's vit_small.
# Input: ImageNet mean / std, the student's, so no `input_norm`.
# Assumed: targets are the last-block tokens after the final norm (patch) and the CLS token
# (global); iBOT's own patch / CLS heads are not in the teacher release.
# The teacher's backbone is the DINO config's DeiT-S: only the file differs.
_base_ = './vit-s_100e_dino-teacher.py'

model = dict(teacher=dict(checkpoint='checkpoints/ibot_vit-s16_teacher.pth'))
