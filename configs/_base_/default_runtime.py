# Runtime shared by every mimco_mm pre-training config: mmpretrain's, plus our package
# (registers MimCo and applies the pinned-stack fixes, e.g. safe checkpoint loading).
_base_ = ['mmpretrain::_base_/default_runtime.py', './long_runs.py']

custom_imports = dict(imports=['mimco_mm'], allow_failed_imports=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
# Long runs (./long_runs.py): epoch checkpoints above are the ones downstream configs read; the
# custom hooks add NaN / Inf guarding and a resumable iter_N.pth every 20 min and on preemption
# (the schedules set train_cfg type ResumableEpochBasedTrainLoop).
# Different masks and crops on each rank; model init is broadcast by the Runner anyway.
randomness = dict(seed=0, diff_rank_seed=True)
# DDP through mmengine's wrapper, except that a model with micro_batches > 1 (MimCo: one GPU
# taking the batch of several, mimco_mm/models/micro_batches.py) syncs gradients once per step.
model_wrapper_cfg = dict(type='MicroBatchDDP', broadcast_buffers=False)
