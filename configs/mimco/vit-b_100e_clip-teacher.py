# MimCo stage 2: ViT-B/16 student, OpenAI CLIP ViT-B/16 image tower as the teacher (Radford et
# al., arXiv 2103.00020), the teacher MaskDistill / MILAN-style methods distil from. Same data,
# schedule and losses as vit-b_100e.py; the losses stay MimCo's two InfoNCEs.
#
# Teacher checkpoint: OpenAI's TorchScript release (or open_clip's `openai` state dict):
#   https://openaipublic.azureedge.net/clip/models/5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt
#   python tools/model_converters/clip_to_mmpretrain.py ViT-B-16.pt checkpoints/clip_vit-b16_teacher.pth
# Architecture: mmpretrain's ViT-B with CLIP's differences (the converter's CLIP_VIT: ln_pre as
# `pre_norm`, no patch-embedding bias, QuickGELU, LN eps 1e-5); the checkpoint records them and
# a load into a plain ViT-B is an error.
# Input: CLIP's own mean / std (below), converted from the student's ImageNet-normalised batch
# inside the teacher (mimco_mm/models/teacher_input.py); same 224 px, same 16-px patches.
# Targets: patch = last-block tokens after `ln_post` (open_clip applies it to every token);
# global = CLIP's image embedding, ln_post(CLS) @ proj (512-d), hence the 512-d image projector.
# Assumed: CLIP's released preprocessing crops at 224 with bicubic resizing; we keep the
# student's pipeline (one 0.67-1 crop, bilinear) and only convert the statistics.
_base_ = './vit-b_100e.py'

clip_mean = [122.771, 116.746, 104.094]  # (0.48145466, 0.4578275, 0.40821073) x 255
clip_std = [68.501, 66.632, 70.323]  # (0.26862954, 0.26130258, 0.27577711) x 255

model = dict(
    teacher=dict(
        backbone=dict(_delete_=True, type='VisionTransformer', arch='b', img_size=224,
                      patch_size=16, out_type='raw', pre_norm=True,
                      norm_cfg=dict(type='LN', eps=1e-5),
                      layer_cfgs=dict(act_cfg=dict(type='QuickGELU'))),
        neck=dict(type='ProjectionMatrix', in_channels=768, out_channels=512),
        checkpoint='checkpoints/clip_vit-b16_teacher.pth',
        global_target='projector',
        input_norm=dict(mean=clip_mean, std=clip_std)),
    head=dict(img_proj=dict(out_channels=512)))
