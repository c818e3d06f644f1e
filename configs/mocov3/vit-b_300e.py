# Stage 1: the MoCo v3 ViT-B/16 teacher, mmpretrain's recipe (config
# mocov3_vit-base-p16_16xb256-amp-coslr-300e_in1k: batch 4096, AdamW lr 2.4e-3, wd 0.1, 300 epochs),
# here 8 GPUs x 512 with bf16, and the views of vit-s_300e.py (mmpretrain's, faster transforms).
# See vit-s_300e.py for why mimco_mm is imported.
_base_ = ['mmpretrain::mocov3/mocov3_vit-base-p16_16xb256-amp-coslr-300e_in1k.py',
          '../_base_/long_runs.py', '../_base_/datasets/imagenet_two_views.py']

custom_imports = dict(imports=['mimco_mm'], allow_failed_imports=False)
train_dataloader = dict(batch_size=512, dataset=dict(pipeline={{_base_.mocov3_train_pipeline}}))
optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
# Long runs: the hooks of ../_base_/long_runs.py and the loop that resumes them exactly.
train_cfg = dict(type='ResumableEpochBasedTrainLoop')
