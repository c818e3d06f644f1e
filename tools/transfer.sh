#!/usr/bin/env bash
# tools/transfer.sh CHECKPOINT GPUS: every downstream job from one pre-training checkpoint.
#
# Each job writes work_dirs/<name>/<task>/ (logs, checkpoints) and its metrics to
# work_dirs/<name>/<task>/metrics.json, which tools/benchmark.py collects. <name> defaults to the
# checkpoint's two parent folders (work_dirs/mimco/vit-s_100e/epoch_100.pth -> mimco_vit-s_100e).
#
# Environment:
#   ARCH=vit-s|vit-b|swin-t|vit-tiny   which benchmark configs (vit-tiny: the CPU variants;
#                               swin-t: COCO 1x / 3x and ADE20K only). Default:
#                               read from the architecture the checkpoint records; a head count
#                               other than the configs' (a 12-head ViT-S: MoCo v3's, or the
#                               student_12heads ablation) is passed to every job as
#                               model.backbone.arch.num_heads=N
#   TASKS="ft linear knn roxford rparis coco coco_cascade coco3x ade"   a subset (default: all)
#   NAME=...                    the folder under work_dirs
#   CFG_OPTIONS="k=v ..."       extra --cfg-options for every job (e.g. data roots), and
#   CFG_OPTIONS_<task>="k=v ..." extra --cfg-options for that task only
#   WORK_ROOT=work_dirs
#
# Reruns (after a preemption, a crash, or to add tasks) continue where the last run stopped:
# each task's folder records the sha256 of the pre-training checkpoint it belongs to
# (pretrained.sha256). A task with metrics.json is skipped; a task whose training was interrupted
# resumes from its last checkpoint (--resume); a folder of another checkpoint, or of unknown
# origin, stops the script before anything in it is touched.
#
# Preemption: SIGUSR1 or SIGTERM to this script (`sbatch --signal=B:USR1@300` signals the batch
# shell only) is passed on to the job that runs; a training writes its checkpoint. The script
# then stops with status 75, as tools/slurm_train.sh does (130 after Ctrl-C), and a rerun
# continues.
set -euo pipefail
CHECKPOINT=$1
GPUS=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python)}
[ -f "$CHECKPOINT" ] || { echo "transfer.sh: checkpoint $CHECKPOINT does not exist" >&2; exit 1; }
ARCH_OPTIONS=""
if [ -z "${ARCH:-}" ]; then
  { read -r ARCH; read -r ARCH_OPTIONS || true; } < <(PYTHONPATH="$ROOT" "$PYTHON" -m \
      mimco_mm.architecture "$CHECKPOINT" 2>/dev/null || echo "?")
  if [ "$ARCH" = "?" ] || [ -z "$ARCH" ]; then
    PYTHONPATH="$ROOT" "$PYTHON" -m mimco_mm.architecture "$CHECKPOINT" >&2 || true
    echo "transfer.sh: cannot tell the architecture of $CHECKPOINT; set ARCH=" >&2
    exit 1
  fi
  echo "=== architecture recorded in the checkpoint: $ARCH ${ARCH_OPTIONS:+($ARCH_OPTIONS)}"
fi
NAME=${NAME:-$(basename "$(dirname "$(dirname "$CHECKPOINT")")")_$(basename "$(dirname "$CHECKPOINT")")}
OUT=${WORK_ROOT:-work_dirs}/$NAME
B=configs/benchmarks

declare -A CFG
case $ARCH in
  vit-s) CFG=([ft]=$B/vit-s_ft-200e_in1k.py [linear]=$B/vit-s_linear-90e_in1k.py
              [knn]=$B/vit-s_knn_in1k.py [roxford]=$B/vit-s_retrieval_roxford5k.py
              [rparis]=$B/vit-s_retrieval_rparis6k.py [coco]=$B/mask-rcnn_vit-s_fpn_ms-1x_coco.py
              [coco_cascade]=$B/cascade-mask-rcnn_vit-s_fpn_giou-4conv1f_ms-1x_coco.py
              [ade]=$B/upernet_vit-s_8xb2-160k_ade20k-512x512.py) ;;
  vit-b) CFG=([ft]=$B/vit-b_ft-100e_in1k.py [linear]=$B/vit-b_linear-90e_in1k.py
              [knn]=$B/vit-b_knn_in1k.py [coco]=$B/mask-rcnn_vit-b_simple-fpn_lsj-100e_coco.py
              [ade]=$B/upernet_vit-b_8xb2-160k_ade20k-512x512.py) ;;
  swin-t) CFG=([coco]=$B/mask-rcnn_swin-t_fpn_1x_coco.py
               [coco3x]=$B/mask-rcnn_swin-t_fpn_ms-crop-3x_coco.py
               [ade]=$B/upernet_swin-t_8xb2-160k_ade20k-512x512.py) ;;
  vit-tiny) CFG=([linear]=$B/vit-tiny_linear_cpu.py [knn]=$B/vit-tiny_knn_cpu.py
                 [recall]=$B/vit-tiny_retrieval-recall_cpu.py [coco]=$B/mask-rcnn_vit-tiny_cpu.py
                 [ade]=$B/upernet_vit-tiny_cpu.py) ;;
  *) echo "transfer.sh: unknown ARCH=$ARCH (vit-s, vit-b, swin-t, vit-tiny)" >&2; exit 1 ;;
esac
TASKS=${TASKS:-ft linear knn roxford rparis recall coco coco_cascade coco3x ade}

PREEMPTED=75
JOB=          # the pid of the job that runs
SIGNALLED=    # the signal this script received, if any
pass_on() {  # trap: remember signal $1, and give the running job signal $2
  SIGNALLED=$1
  [ -z "$JOB" ] || kill -s "$2" "$JOB" 2>/dev/null || true
}
trap 'pass_on USR1 USR1' USR1
trap 'pass_on TERM TERM' TERM
# Ctrl-C: a job in the background ignores SIGINT (bash's rule without job control), so it gets
# SIGTERM (a training then writes its checkpoint, as it does for a preemption)
trap 'pass_on INT TERM' INT
job() {  # run a command as a job: in the background, so that a signal is passed on at once
  # (bash runs a trap only after a foreground command ends, and SIGUSR1 would end bash itself)
  [ -z "$SIGNALLED" ] || stopped
  "$@" &
  JOB=$!
  local status own
  while :; do
    status=0; wait "$JOB" || status=$?
    # above 128 after a trap ran: the wait was cut short, unless the job has ended
    if [ "$status" -le 128 ] || ! kill -0 "$JOB" 2>/dev/null; then break; fi
  done
  if [ "$status" -gt 128 ]; then  # the job's own status, when bash has not handed it out yet
    own=0; wait "$JOB" 2>/dev/null || own=$?
    [ "$own" -eq 127 ] || status=$own
  fi
  JOB=
  # the allocation is ending: no further job, even after one that finished
  [ -z "$SIGNALLED" ] || stopped
  return "$status"
}
stopped() {  # after a signal: 75 (preempted: requeue), 130 after Ctrl-C
  local code=$PREEMPTED
  [ "$SIGNALLED" != INT ] || code=130
  echo "=== transfer.sh: SIG$SIGNALLED, the running job stopped; rerun the same command to" \
    "continue (finished tasks are skipped, an interrupted training resumes): exit $code" >&2
  exit "$code"
}

PRETRAINED_SHA=$(sha256sum "$CHECKPOINT" | cut -d' ' -f1)
task_state() {  # work dir -> "done", "resume" or "new" (claims a new folder for $CHECKPOINT)
  local work=$1 mark=$1/pretrained.sha256
  if [ -f "$mark" ]; then
    if [ "$(cat "$mark")" != "$PRETRAINED_SHA" ]; then
      echo "transfer.sh: $work holds a run from another pre-training checkpoint (sha256" \
        "$(cat "$mark"), not $PRETRAINED_SHA of $CHECKPOINT): set NAME= or move it away" >&2
      return 1
    fi
    if [ -f "$work/metrics.json" ]; then echo done
    elif [ -f "$work/last_checkpoint" ]; then echo resume
    else echo new; fi
  elif [ -d "$work" ] && [ -n "$(ls -A "$work")" ]; then
    echo "transfer.sh: $work is not empty and has no pretrained.sha256 (an older transfer.sh," \
      "or another tool, wrote it): which checkpoint its files come from is unknown; move it" \
      "away, or write the sha256 of $CHECKPOINT into $work/pretrained.sha256 to continue it" >&2
    return 1
  else
    mkdir -p "$work" && echo "$PRETRAINED_SHA" > "$mark" && echo new
  fi
}

run_trained() {  # task config: fine-tune, then evaluate the last checkpoint
  local task=$1 config=$2 work=$OUT/$1 state resume=()
  state=$(task_state "$work")
  case $state in
    done) echo "=== [$task] done before: $work/metrics.json (delete it to run the task again)"
          return ;;
    resume) echo "=== [$task] resuming the interrupted training in $work"; resume=(--resume) ;;
    *) echo "=== [$task] train $config -> $work" ;;
  esac
  job bash "$ROOT/tools/dist_train.sh" "$config" "$GPUS" --work-dir "$work" "${resume[@]}" \
    --cfg-options "model.backbone.init_cfg.checkpoint=$CHECKPOINT" "${EXTRA[@]}"
  local last
  last=$(cat "$work/last_checkpoint")
  echo "=== [$task] test $last"
  job bash "$ROOT/tools/dist_test.sh" "$config" "$last" "$GPUS" --work-dir "$work" \
    --out "$work/metrics.json" ${EXTRA[@]:+--cfg-options "${EXTRA[@]}"}
}

run_frozen() {  # task config tool: evaluation of frozen features, no training
  local task=$1 config=$2 tool=$3 work=$OUT/$1 state
  state=$(task_state "$work")
  if [ "$state" = done ]; then
    echo "=== [$task] done before: $work/metrics.json (delete it to run the task again)"
    return
  fi
  echo "=== [$task] $tool $config -> $work"
  job "$PYTHON" "$ROOT/tools/$tool" "$config" "$CHECKPOINT" --out "$work/metrics.json" \
    ${EXTRA[@]:+--cfg-options "${EXTRA[@]}"}
}

cd "$ROOT"
for task in $TASKS; do
  per_task=CFG_OPTIONS_$task
  read -r -a EXTRA <<< "$ARCH_OPTIONS ${CFG_OPTIONS:-} ${!per_task:-}"
  config=${CFG[$task]:-}
  if [ -z "$config" ]; then
    echo "=== [$task] no $ARCH config for this task: skipped"
    continue
  fi
  case $task in
    ft|linear|coco|coco_cascade|coco3x|ade) run_trained "$task" "$config" ;;
    knn) run_frozen "$task" "$config" knn.py ;;
    roxford|rparis|recall) run_frozen "$task" "$config" retrieval.py ;;
    *) echo "transfer.sh: unknown task $task" >&2; exit 1 ;;
  esac
done
echo "metrics under $OUT/*/metrics.json; tables: python tools/benchmark.py"
