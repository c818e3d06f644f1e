# Runtime shared by every mimco_mm pre-training config: mmpretrain's, plus our package
# (registers MimCo and applies the pinned-stack fixes, e.g. safe checkpoint loading).
_base_ = 'mmpretrain::_base_/default_runtime.py'

custom_imports = dict(imports=['mimco_mm'], allow_failed_imports=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
# Different masks and crops on each rank; model init is broadcast by the Runner anyway.
randomness = dict(seed=0, diff_rank_seed=True)
