# Stage 1: the MoCo v3 ViT-S/16 teacher, mmpretrain's own recipe (Chen et al., ICCV 2021; mmpretrain
# config mocov3_vit-small-p16_16xb256-amp-coslr-300e_in1k): two heavy crops (0.08-1), colour jitter,
# blur, solarize; AdamW lr 2.4e-3 for batch 4096, wd 0.1, 40 warm-up + cosine, 300 epochs, T 0.2.
# Here on 8 GPUs x 512 (same 4096 total) with bf16. The views are mmpretrain's, with a faster
# crop and grayscale that compute the same images (../_base_/datasets/imagenet_two_views.py). The
# jitter's negative hue needs mimco_mm's numpy-2 fix of mmcv.adjust_hue, hence the custom_imports.
_base_ = ['mmpretrain::mocov3/mocov3_vit-small-p16_16xb256-amp-coslr-300e_in1k.py',
          '../_base_/long_runs.py', '../_base_/datasets/imagenet_two_views.py']

custom_imports = dict(imports=['mimco_mm'], allow_failed_imports=False)
train_dataloader = dict(batch_size=512, dataset=dict(pipeline={{_base_.mocov3_train_pipeline}}))
optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
# Long runs: the hooks of ../_base_/long_runs.py and the loop that resumes them exactly.
train_cfg = dict(type='ResumableEpochBasedTrainLoop')
