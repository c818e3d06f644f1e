# ADE20K UPerNet on the Swin-T student of a MimCo checkpoint: mmseg's Swin-T recipe, config
# swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py (Liu et al., ICCV
# 2021), unchanged except the backbone's origin: all four stages -> UPerHead (512 channels) + FCN
# auxiliary head on stage 2, 512 x 512 crops, 160k iterations at 8 GPUs x 2, AdamW lr 6e-5,
# wd 0.01, no decay on norms and relative position tables, drop path 0.3, 1500 warm-up iterations
# then linear decay, whole-image test.
# The backbone: configs/_base_/models/swin-t_transfer.py (the student, strict load).
# Difference to mmseg: bf16 AmpOptimWrapper (mmseg: fp32).
#
#   tools/dist_train.sh configs/benchmarks/upernet_swin-t_8xb2-160k_ade20k-512x512.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mimco/swin-t_100e/epoch_100.pth
_base_ = ['mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py',
          '../_base_/models/swin-t_transfer.py', '../_base_/long_runs.py']
custom_imports = dict(imports=['mimco_mm', 'mimco_mm.seg'], allow_failed_imports=False)
# best_mIoU_*.pth beside the last checkpoint, as mmdet / mmseg users expect;
# the tables read the last checkpoint (the protocols report the end of training)
default_hooks = dict(checkpoint=dict(save_best='mIoU', rule='greater'))
# Long runs (../_base_/long_runs.py): NaN / Inf guard, a resumable checkpoint every 20 min
# and on preemption; this loop resumes them exactly (no batch trained or loaded twice).
train_cfg = dict(type='ResumableIterBasedTrainLoop')

model = dict(pretrained=None,  # mmseg would copy it into the backbone; ours takes init_cfg
             backbone={{_base_.swin_t_student_seg}})
optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')
optimizer = None  # mmseg's schedule base leaves this helper; the optimizer is in optim_wrapper
