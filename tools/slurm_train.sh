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
# from the checkpoint on, so srun still returns 75 (docs/long_runs.md "Preemption").
#
# Preflight: before training (also after each requeue, which may land on other nodes) the same
# tasks run tools/preflight/check_dist.py: a shared GPU, another environment on some node, a work
# dir or data root not every node sees stop the job here, before it hangs or crashes mid-run
# (about 20 s; PREFLIGHT=0 skips it).
#
# Restarts after a failure (MAX_RESTARTS=N, default 0), as torchrun's --max-restarts: when the
# training step fails (a NCCL timeout, an ECC error, a hang ended by --hang-exit, which this
# passes then), the script runs the preflight and the step again in the same allocation with
# --resume, at most N times, and only after an attempt that wrote a checkpoint: a failure that
# comes back before any progress (a bug, a broken node) stops the job instead of looping.
set -uo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
GPUS=${GPUS:-8}
PREEMPTED=75
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python)}
TRAIN_ARGS=("${@:4}")
# A continuation (a requeued job, a restarted step) takes the work dir's newest checkpoint: the
# first start's arguments with --resume, less any --resume [CKPT] of their own (argparse would
# take that one over ours, and train from CKPT again)
CONTINUE_ARGS=(--resume)
for ((i = 0; i < ${#TRAIN_ARGS[@]}; i++)); do
  case "${TRAIN_ARGS[i]}" in
    --resume=*) ;;
    --resume)  # argparse's nargs='?': the next word is its value unless it is an option
      next=${TRAIN_ARGS[i + 1]-}
      if [ -n "$next" ] && [ "${next#-}" = "$next" ]; then i=$((i + 1)); fi ;;
    *) CONTINUE_ARGS+=("${TRAIN_ARGS[i]}") ;;
  esac
done
RUN_ARGS=("${TRAIN_ARGS[@]}")
if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then
  RUN_ARGS=("${CONTINUE_ARGS[@]}")
  echo "[slurm_train] restart ${SLURM_RESTART_COUNT}: resuming"
fi
tasks() {  # srun with the job's geometry, running "$@"
  PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" srun -p "$PARTITION" --job-name="$JOB_NAME" \
    --gres=gpu:"${GPUS_PER_NODE:-8}" --ntasks="$GPUS" --ntasks-per-node="${GPUS_PER_NODE:-8}" \
    --cpus-per-task="${CPUS_PER_TASK:-5}" --kill-on-bad-exit=1 ${SRUN_ARGS:-} "$@"
}
GIVEN_WORK_DIR=
for ((i = 0; i < ${#TRAIN_ARGS[@]}; i++)); do  # the run's own work dir, when given
  case "${TRAIN_ARGS[i]}" in
    --work-dir) GIVEN_WORK_DIR=${TRAIN_ARGS[i + 1]:-} ;;
    --work-dir=*) GIVEN_WORK_DIR=${TRAIN_ARGS[i]#--work-dir=} ;;
  esac
done
preflight() {
  [ "${PREFLIGHT:-1}" = 1 ] || return 0
  local CHECK_ARGS=()
  [ -n "$GIVEN_WORK_DIR" ] && CHECK_ARGS=(--work-dir "$GIVEN_WORK_DIR")
  if ! tasks "$PYTHON" -u "$ROOT/tools/preflight/check_dist.py" --launcher slurm --config "$CONFIG" \
      --timeout 300 "${CHECK_ARGS[@]}"; then
    echo "[slurm_train] the preflight found a problem (above): not training. PREFLIGHT=0 skips it" >&2
    exit 1
  fi
}
MAX_RESTARTS=${MAX_RESTARTS:-0} HANG_ARGS=()
if ! [[ "$MAX_RESTARTS" =~ ^[0-9]+$ ]]; then
  echo "[slurm_train] MAX_RESTARTS must be a whole number, got '$MAX_RESTARTS'" >&2
  exit 2
fi
if [ "$MAX_RESTARTS" -gt 0 ]; then
  # where the checkpoints go (for the progress check): --work-dir, else as train.py works it
  # out from these arguments; a hang then ends the attempt instead of idling to the time limit
  WORK_DIR=$GIVEN_WORK_DIR
  if [ -z "$WORK_DIR" ]; then
    WORK_DIR=$(PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" "$ROOT/tools/train.py" \
      "$CONFIG" "${TRAIN_ARGS[@]}" --print-work-dir | tail -n 1) || exit 1
  fi
  HANG_ARGS=(--hang-exit)
fi
restarts=0
while :; do
  preflight
  if [ "$MAX_RESTARTS" -gt 0 ]; then
    # the attempt's start, stamped by the file server that stamps the checkpoints
    mkdir -p "$WORK_DIR" && touch "$WORK_DIR/.slurm_attempt_start" || exit 1
  fi
  tasks --signal=USR1@"${SIGNAL_AHEAD:-300}" \
      "$PYTHON" -u "$ROOT/tools/train.py" "$CONFIG" --launcher slurm "${RUN_ARGS[@]}" "${HANG_ARGS[@]}"
  status=$?
  if [ "$status" -eq "$PREEMPTED" ] && [ -n "${SLURM_JOB_ID:-}" ] && [ "${REQUEUE:-1}" = 1 ]; then
    echo "[slurm_train] checkpoint written on a preemption signal: requeueing job $SLURM_JOB_ID"
    scontrol requeue "$SLURM_JOB_ID"
  fi
  if [ "$status" -eq 0 ] || [ "$status" -eq "$PREEMPTED" ] || [ "$MAX_RESTARTS" -eq 0 ]; then
    exit "$status"
  fi
  if [ "$restarts" -ge "$MAX_RESTARTS" ]; then
    echo "[slurm_train] the training step failed (status $status) and all $MAX_RESTARTS restarts are used: stopping" >&2
    exit "$status"
  fi
  newest=$(find "$WORK_DIR" -maxdepth 1 -name '*.pth' -newer "$WORK_DIR/.slurm_attempt_start" \
    -printf '%T@ %f\n' 2>/dev/null | sort -n | tail -n 1 | cut -d' ' -f2-)
  if [ -z "$newest" ]; then
    echo "[slurm_train] the training step failed (status $status) before writing any checkpoint in $WORK_DIR: not restarting (the failure would likely come back; see the log above)" >&2
    exit "$status"
  fi
  restarts=$((restarts + 1))
  echo "[slurm_train] the training step failed (status $status) after writing $newest: restart $restarts of $MAX_RESTARTS, resuming" >&2
  RUN_ARGS=("${CONTINUE_ARGS[@]}")
done
