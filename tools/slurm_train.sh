#!/usr/bin/env bash
# tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py args]
# GPUS (total, default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS from the environment.
#
# Preemption-safe: Slurm sends SIGUSR1 to every task SIGNAL_AHEAD seconds (default 300) before
# the time limit; PreemptionCheckpointHook (in every training config) then writes iter_N.pth
# at the next iteration boundary and exits with code 75. This script answers 75 (also what a
# preemption's SIGTERM produces) by requeueing the job (`scontrol requeue`, REQUEUE=0 turns it
# off); the requeued job passes --resume and continues from that checkpoint, exactly.
# Run it inside sbatch (e.g. `sbatch --requeue -N1 --wrap "tools/slurm_train.sh ..."`) for the
# requeue; under a bare srun it only saves and exits. --kill-on-bad-exit=1 ends the step when one
# task fails; it also SIGTERMs the other tasks once the first exits with 75, which they ignore
# from the checkpoint on, so srun still returns 75 (README "The requeue needs every task's 75").
#
# Preflight: before training (also after each requeue, which may land on other nodes) the same
# tasks run tools/analysis/check_dist.py: a shared GPU, another environment on some node, a work
# dir or data root not every node sees stop the job here, before it hangs or crashes mid-run
# (about 20 s; PREFLIGHT=0 skips it).
set -uo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
GPUS=${GPUS:-8}
PREEMPTED=75
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python)}
RESUME=()
if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then
  RESUME=(--resume)  # a requeued job: continue from last_checkpoint of the work dir
  echo "[slurm_train] restart ${SLURM_RESTART_COUNT}: resuming"
fi
tasks() {  # srun with the job's geometry, running "$@"
  PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" srun -p "$PARTITION" --job-name="$JOB_NAME" \
    --gres=gpu:"${GPUS_PER_NODE:-8}" --ntasks="$GPUS" --ntasks-per-node="${GPUS_PER_NODE:-8}" \
    --cpus-per-task="${CPUS_PER_TASK:-5}" --kill-on-bad-exit=1 ${SRUN_ARGS:-} "$@"
}
if [ "${PREFLIGHT:-1}" = 1 ]; then
  TRAIN_ARGS=("${@:4}") CHECK_ARGS=()
  for ((i = 0; i < ${#TRAIN_ARGS[@]}; i++)); do  # the run's own work dir, when given
    [ "${TRAIN_ARGS[i]}" = --work-dir ] && CHECK_ARGS=(--work-dir "${TRAIN_ARGS[i + 1]:-}")
  done
  if ! tasks "$PYTHON" -u "$ROOT/tools/analysis/check_dist.py" --launcher slurm --config "$CONFIG" \
      --timeout 300 "${CHECK_ARGS[@]}"; then
    echo "[slurm_train] the preflight found a problem (above): not training. PREFLIGHT=0 skips it" >&2
    exit 1
  fi
fi
tasks --signal=USR1@"${SIGNAL_AHEAD:-300}" \
    "$PYTHON" -u "$ROOT/tools/train.py" "$CONFIG" --launcher slurm "${RESUME[@]}" "${@:4}"
status=$?
if [ "$status" -eq "$PREEMPTED" ] && [ -n "${SLURM_JOB_ID:-}" ] && [ "${REQUEUE:-1}" = 1 ]; then
  echo "[slurm_train] checkpoint written on a preemption signal: requeueing job $SLURM_JOB_ID"
  scontrol requeue "$SLURM_JOB_ID"
fi
exit "$status"
