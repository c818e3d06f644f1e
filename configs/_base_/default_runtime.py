# Runtime shared by every mimco_mm pre-training config: mmpretrain's, plus our package
# (registers MimCo and applies the pinned-stack fixes, e.g. safe checkpoint loading).
_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['mimco_mm'], allow_failed_imports=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
# Long runs (README "Long runs"): epoch checkpoints above are the ones downstream configs read;
# PreemptionCheckpointHook adds a resumable iter_N.pth every 20 min of training (2 kept) and on
# SIGTERM / SIGUSR1, and NonFiniteGuardHook skips NaN / Inf steps and stops after 3 in a row.
# Exact resume from any of them needs train_cfg type ResumableEpochBasedTrainLoop (the
# schedules set it).
custom_hooks = [
    dict(type='NonFiniteGuardHook', max_consecutive=3, action='stop'),
    dict(type='PreemptionCheckpointHook', interval_minutes=20, max_keep_ckpts=2),
]
# Different masks and crops on each rank; model init is broadcast by the Runner anyway.
randomness = dict(seed=0, diff_rank_seed=True)
# DDP through mmengine's wrapper, except that a model with micro_batches > 1 (MimCo: one GPU
# taking the batch of several, mimco_mm/models/micro_batches.py) syncs gradients once per step.
model_wrapper_cfg = dict(type='MicroBatchDDP', broadcast_buffers=False)
