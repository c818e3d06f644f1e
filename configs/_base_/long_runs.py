# What every training config (pre-training and every downstream benchmark) does to survive a
# long run (docs/long_runs.md "Long runs"):
# - NonFiniteGuardHook: a NaN / Inf step is skipped; 3 in a row stop the run with the last good
#   checkpoint named (mimco_mm/engine/nonfinite_guard.py);
# - PreemptionCheckpointHook: a resumable iter_N.pth every 20 minutes of training (2 kept) and on
#   SIGTERM / SIGUSR1, then exit code 75, which tools/slurm_train.sh answers with a requeue.
# The config's train_cfg type must then be ResumableEpochBasedTrainLoop or
# ResumableIterBasedTrainLoop (mimco_mm/engine/), so these checkpoints resume exactly; the
# config sets it, as only it knows whether it counts epochs or iterations.
# Change the cadence with --cfg-options custom_hooks.1.interval_minutes=10.
custom_hooks = [
    dict(type='NonFiniteGuardHook', max_consecutive=3, action='stop'),
    dict(type='PreemptionCheckpointHook', interval_minutes=20, max_keep_ckpts=2),
]
