# MimCo stage 2 with DINOv2's ViT-S/14 as the teacher (Oquab et al., arXiv 2304.07193), instead of
# our MoCo v3: same student (ViT-S/16 at 224), data, schedule and losses as vit-s_100e.py.
#
# Teacher checkpoint: DINOv2's torch.hub release:
#   https://dl.fbaipublicfiles.com/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth
#   python tools/model_converters/dinov2_to_mmpretrain.py dinov2_vits14_pretrain.pth \
#       checkpoints/dinov2_vit-s14_teacher.pth --img-size 196
# The release with registers (dinov2_vits14_reg4_pretrain.pth, same command) needs
#   --cfg-options model.teacher.backbone.type=RegisterViT \
#       model.teacher.backbone.num_register_tokens=4
# (a plain ViT refuses that file: its register tokens would have nowhere to go).
# Architecture: ViT-S (6 heads, 12 blocks, LN eps 1e-6) with patch 14 and layer scale; the
# checkpoint records both, and a teacher config without them is an error.
# Input: the teacher sees the student's 224-px crop resized to 196 px (bicubic, antialiased,
# inside the teacher: mimco_mm/models/teacher_input.py), so its 14 x 14 grid of 14-px patches
# covers the image as the student's 14 x 14 grid of 16-px patches does and each patch target
# lines up with one student patch; the position embedding (DINOv2's is for 518 px) was
# resampled to that grid by the converter as DINOv2 interpolates it at 196 px. Statistics:
# ImageNet's, the student's, so only the size changes.
# Assumed (no MimCo result with a DINOv2 teacher exists): patch targets = last-block tokens
# after the final norm (DINOv2's x_norm_patchtokens), global target = the CLS token after it
# (x_norm_clstoken, what its linear and k-NN evaluations use); its DINO / iBOT heads are not in
# the release. Feeding 224 px (a 16 x 16 grid) and pooling the targets to 14 x 14 would be the
# alternative; we keep one target per student patch instead.
_base_ = './vit-s_100e.py'

model = dict(
    teacher=dict(
        backbone=dict(_delete_=True, type='VisionTransformer', arch='deit-small', img_size=196,
                      patch_size=14, layer_scale_init_value=1e-5, out_type='raw'),
        checkpoint='checkpoints/dinov2_vit-s14_teacher.pth',
        global_target='cls',
        input_norm=dict(mean={{_base_.data_preprocessor.mean}},
                        std={{_base_.data_preprocessor.std}}, size=196)))
