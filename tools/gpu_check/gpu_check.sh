#!/usr/bin/env bash
# Everything a GPU node must show before a long run is trusted to it, in one command.
#
#   tools/gpu_check/gpu_check.sh [--wheelhouse DIR] [--out DIR] [--batch 256] [--iters 200]
#                               [--peak-tflops X] [--skip-setup] [--only 'train_phases_* bench_cuda_graphs']
#                               [--allow-cpu]
#
# --only: run just the stages whose names match these patterns (setup and env always run; stage
# names as in summary.md), to fit a short GPU loan. --allow-cpu: the env stage does not demand a
# GPU (a rehearsal of the script on a CPU machine: tools/install/gpu_rehearsal.sh).
#   1. setup: a venv on top of the node's own PyTorch (tools/setup_env.sh --system-torch
#      --only pretrain --no-ops; --offline DIR when a wheelhouse is given: no network needed);
#   2. the CUDA-only tests (pytest -m cuda) and the attention-kernel test;
#   3. tools/speed/benchmark_step.py for ViT-S and ViT-B, MimCo vs the SimMIM control (and the
#      stage-1 MoCo v3 step, two views per image, for the cores its data needs), bf16,
#      at --batch per GPU (halved until it fits): s/step, images/s, MFU, peak memory, and
#      KNNMonitorHook's cost (10,000 images) as a share of an ImageNet epoch;
#   4. tools/preflight/check_training.py: --iters iterations of configs/mimco/vit-s_100e.py through
#      tools/train.py on generated JPEGs (AmpOptimWrapper bf16), finite losses, teacher
#      bit-identical, its loss curve against the H200 reference run (compare_runs.py, informative);
#      then 60 iterations each with IterPhaseTimerHook (--phases device / host):
#      where the Runner's iteration time goes beyond the bare step; the data pipeline's images/s
#      per worker and per DataLoader, Pillow's crop vs the torch crop (benchmark_data.py), and
#      stage 1's (MoCo v3) views transform by transform (data_mocov3); 20
#      steps of the one-GPU config (2048 images in 8 micro-batches: memory, finite, teacher);
#      the distributed preflight (tools/dist_check.sh) with one process per GPU of the node;
#      the logistic-regression read-out of tools/knn.py at the monitor's and at ImageNet's size;
#   5. benchmark_step.py --compile all: ViT-S MimCo eager vs torch.compile (teacher + student);
#   6. the same with CUDA graphs for the teacher (--compile teacher --compile-mode reduce-overhead).
# Every stage writes its log under --out (default work_dirs/gpu_check); the summary is
# OUT/summary.md. A failed stage is reported and the next one still runs; the exit status is the
# number of failed stages.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
WHEELHOUSE= OUT_DIR=work_dirs/gpu_check BATCH=256 ITERS=200 PEAK= SKIP_SETUP=0 ONLY= NEED_GPU=1
while [ $# -gt 0 ]; do
  case "$1" in
    --wheelhouse) WHEELHOUSE=$2; shift ;;
    --out) OUT_DIR=$2; shift ;;
    --batch) BATCH=$2; shift ;;
    --iters) ITERS=$2; shift ;;
    --peak-tflops) PEAK="--peak-tflops $2"; shift ;;
    --skip-setup) SKIP_SETUP=1 ;;
    --only) ONLY=$2; shift ;;
    --allow-cpu) NEED_GPU=0 ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "[gpu_check] unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
export VENV=${VENV:-/tmp/mimco_gpu_venv} PYTHONUNBUFFERED=1
SUMMARY="$OUT_DIR/summary.md"
FAILED=0
t0=$(date +%s)
selected() {  # selected NAME: true when --only is empty or one of its patterns matches NAME
  [ -z "$ONLY" ] && return 0
  local pattern
  for pattern in $ONLY; do
    # shellcheck disable=SC2254
    case "$1" in $pattern) return 0 ;; esac
  done
  return 1
}
stage() {  # stage NAME TIMEOUT_S CMD...: run, log to OUT/NAME.log, record the outcome
  local name=$1 limit=$2; shift 2
  case "$name" in setup|env) ;; *) selected "$name" || { echo "[gpu_check] $name: not selected"; return 3; } ;; esac
  local start; start=$(date +%s)
  echo "[gpu_check $(date +%H:%M:%S)] $name: $*"
  timeout "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1
  local rc=$?
  local took=$(( $(date +%s) - start ))
  if [ $rc -eq 0 ]; then echo "- $name: ok (${took} s)" >> "$SUMMARY"
  else echo "- $name: FAILED, exit $rc (${took} s), see $name.log" >> "$SUMMARY"; FAILED=$((FAILED + 1))
       tail -25 "$OUT_DIR/$name.log"; fi
  echo "[gpu_check] $name: exit $rc in ${took} s"
  return $rc
}

{ echo "# gpu_check $(date -u +%Y-%m-%dT%H:%MZ)"; echo; echo '```'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || true
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo '```'; echo; } > "$SUMMARY"

if [ "$SKIP_SETUP" = 0 ]; then
  setup_args=(--system-torch --only pretrain --no-ops)
  [ -z "$WHEELHOUSE" ] || setup_args+=(--offline "$WHEELHOUSE")
  stage setup 600 bash tools/setup_env.sh "${setup_args[@]}" || { cat "$SUMMARY"; exit 1; }
  tail -2 "$OUT_DIR/setup.log"
fi
PY=$VENV/bin/python
[ -x "$PY" ] || PY=python3

stage env 60 "$PY" -c 'import torch, mmcv, mmengine, mmpretrain, mimco_mm, sys
print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
      "cudnn", torch.backends.cudnn.version(), "| mmcv", mmcv.__version__, "mmengine",
      mmengine.__version__, "mmpretrain", mmpretrain.__version__)
print(torch.cuda.get_device_name() if torch.cuda.is_available() else "NO CUDA DEVICE")
assert torch.cuda.is_available() or sys.argv[1] == "0"' "$NEED_GPU"
cat "$OUT_DIR/env.log" | tail -2 | sed 's/^/    /' >> "$SUMMARY"

stage cuda_tests 300 "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py \
  tests/test_attention_kernels.py

bench() {  # bench ARCH: MimCo vs SimMIM, halving the batch until it fits
  local arch=$1 b=$BATCH
  selected "bench_$arch" || { echo "[gpu_check] bench_$arch: not selected"; return 0; }
  while [ "$b" -ge 1 ]; do
    if stage "bench_$arch" 300 "$PY" tools/speed/benchmark_step.py \
        --mimco "configs/mimco/${arch}_100e.py" --simmim "configs/simmim/${arch}_100e.py" \
        --batch "$b" --warmup 3 --iters 10 $PEAK --json "$OUT_DIR/bench_$arch.json" \
        --knn-monitor 10000 1281167 --stage1 "configs/mocov3/${arch}_300e.py"; then
      sed -n '/^train step/,$p' "$OUT_DIR/bench_$arch.log" >> "$SUMMARY"; echo >> "$SUMMARY"
      return 0
    fi
    grep -q 'OutOfMemoryError\|out of memory' "$OUT_DIR/bench_$arch.log" || return 1
    FAILED=$((FAILED - 1)); b=$((b / 2)); echo "[gpu_check] $arch: out of memory, batch $b"
  done
  return 1
}
bench vit-s
bench vit-b

stage train 600 "$PY" tools/preflight/check_training.py configs/mimco/vit-s_100e.py \
  --iters "$ITERS" --images $((BATCH * 8)) --batch "$BATCH" --workers "$(( $(nproc) - 2 ))" \
  --work-dir /tmp/mimco_check_training --json "$OUT_DIR/train.json"
[ -f "$OUT_DIR/train.log" ] && tail -3 "$OUT_DIR/train.log" | sed 's/^/    /' >> "$SUMMARY"
# the same 200 iterations on the reference H200 (same generated data, seeds and batch 256):
# informative, not a failed stage (another GPU or torch moves bf16 results a little, and the
# reference run resized its crops with Pillow, ours with torch's kernels: +-1 level)
REF=docs/gpu_check/2026-11-26_nvidia-h200/train_one_epoch_log.txt
if [ "$BATCH" = 256 ] && [ "$ITERS" = 200 ] && [ -f "$REF" ] && [ -f "$OUT_DIR/train.log" ]; then
  { echo "    loss curve vs the reference H200 run ($REF):"
    "$PY" tools/analysis_tools/compare_runs.py "$OUT_DIR/train.log" "$REF" \
      --keys loss loss_patch loss_img 2>&1 | sed 's/^/    /'; } >> "$SUMMARY"
fi

# 4b. where the Runner's iteration time goes, beyond the bare step of stage 3: each phase as
# device time (synchronised: the parts add up to the iteration) and as host time (unsynchronised)
for mode in device host; do
  stage "train_phases_$mode" 300 "$PY" tools/preflight/check_training.py \
    configs/mimco/vit-s_100e.py --iters 60 --images $((BATCH * 8)) --batch "$BATCH" \
    --workers "$(( $(nproc) - 2 ))" --phases "$mode" --work-dir "/tmp/mimco_phases_$mode" \
    --json "$OUT_DIR/train_phases_$mode.json" \
    && sed -n '/iteration phases/,/^  iteration /p' "$OUT_DIR/train_phases_$mode.log" \
       | sed 's/^.*INFO - //; s/^/    /' >> "$SUMMARY"
done

# 4c. the one-GPU recipe: vit-s_100e_1gpu.py (2048 images per step in 8 micro-batches), 20 steps
stage train_1gpu 400 "$PY" tools/preflight/check_training.py configs/mimco/vit-s_100e_1gpu.py \
  --iters 20 --workers "$(( $(nproc) - 2 ))" --log-interval 5 --work-dir /tmp/mimco_check_1gpu \
  --json "$OUT_DIR/train_1gpu.json" \
  && tail -3 "$OUT_DIR/train_1gpu.log" | sed 's/^/    /' >> "$SUMMARY"

# 4d. the stage-2 data pipeline on this node's cores: Pillow's crop vs the configs' torch crop,
# per worker and for the whole DataLoader
stage data 300 "$PY" tools/speed/benchmark_data.py configs/mimco/vit-s_100e.py \
  --backends cv2 --crop-backends pillow torch --loader-workers "$(( $(nproc) - 2 ))" \
  --json "$OUT_DIR/data.json" \
  && grep '^\[data\]' "$OUT_DIR/data.log" | sed 's/^/    /' >> "$SUMMARY"

# 4d'. the stage-1 (MoCo v3) views on this node's cores, transform by transform: mmpretrain's
# Pillow crop vs the configs' torch crop (one worker)
# at the stage-1 GPU rate bench_vit-s measured (source images / s), when it ran
STAGE1_RATE=$("$PY" -c 'import json, sys
print(json.load(open(sys.argv[1]))["models"]["stage 1 (2 views)"]["images_per_s"])' \
  "$OUT_DIR/bench_vit-s.json" 2>/dev/null) || STAGE1_RATE=
stage data_mocov3 150 "$PY" tools/speed/benchmark_data.py configs/mocov3/vit-s_300e.py \
  --backends cv2 --crop-backends pillow torch --samples 200 --json "$OUT_DIR/data_mocov3.json" \
  ${STAGE1_RATE:+--gpu-images-per-s "$STAGE1_RATE"} \
  && grep '^\[data\]' "$OUT_DIR/data_mocov3.log" | sed 's/^/    /' >> "$SUMMARY"

# 4e. the distributed preflight with one process per GPU of this node (NCCL): shared work dir,
# versions, GPU per process, and the all-reduce bandwidth at the ViT gradient sizes (2+ GPUs)
GPUS=$("$PY" -c 'import torch; print(max(torch.cuda.device_count(), 1))')
stage dist_check 180 env PYTHON="$PY" PORT=29561 bash tools/dist_check.sh "$GPUS" \
  --work-dir /tmp/mimco_dist_check --json "$OUT_DIR/dist_check.json" \
  && grep -E '^(all-reduce|verdict|ERROR|warning)' "$OUT_DIR/dist_check.log" \
  | sed 's/^/    /' >> "$SUMMARY"

# 4f. tools/knn.py's logistic regression: the monitor's bank (5,000 x 384, 100 classes), then
# ImageNet's (1,281,167 x 384, 1,000 classes, 50,000 queries)
stage bench_logreg 300 bash -c "'$PY' tools/overhead/benchmark_logreg.py && '$PY' \
  tools/overhead/benchmark_logreg.py --bank 1281167 --queries 50000 --classes 1000" \
  && grep -E '^(logistic|read-out)' "$OUT_DIR/bench_logreg.log" | sed 's/^/    /' >> "$SUMMARY"

# 5. torch.compile of teacher and student (last: compiling is the slowest stage)
stage bench_compile 400 "$PY" tools/speed/benchmark_step.py --batch "$BATCH" --warmup 3 \
  --iters 10 --compile all $PEAK --json "$OUT_DIR/bench_compile.json" \
  && { sed -n '/^train step/,$p' "$OUT_DIR/bench_compile.log" >> "$SUMMARY"; echo >> "$SUMMARY"; }

# 6. CUDA graphs for the static-shape teacher (torch.compile mode 'reduce-overhead')
stage bench_cuda_graphs 400 "$PY" tools/speed/benchmark_step.py --batch "$BATCH" --warmup 3 \
  --iters 10 --compile teacher --compile-mode reduce-overhead $PEAK \
  --json "$OUT_DIR/bench_cuda_graphs.json" \
  && { sed -n '/^train step/,$p' "$OUT_DIR/bench_cuda_graphs.log" >> "$SUMMARY"; echo >> "$SUMMARY"; }

echo "total $(( $(date +%s) - t0 )) s, $FAILED failed stage(s)" >> "$SUMMARY"
cat "$SUMMARY"
exit $FAILED
