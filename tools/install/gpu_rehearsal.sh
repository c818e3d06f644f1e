#!/usr/bin/env bash
# A dress rehearsal of tools/gpu_check/gpu_check.sh on this CPU machine, against a stand-in of the
# GPU node it will run on: a GPU session lasts minutes, and a stage that fails there for a reason
# a CPU could have shown (an argument, an import, a missing package) loses its measurement.
#
#   tools/install/gpu_rehearsal.sh DIR [--python PY] [--torch 2.11.0 --torchvision 0.26.0]
#                                      [--only 'STAGES']
#
# 1. DIR/node: the GPU node's image (Python 3.12, torch 2.11 CUDA build from
#    PyPI, transformers, numpy / matplotlib / OpenCV / Pillow; no OpenMMLab, no pytest), itself a
#    venv; made once (~5 GB) and reused while its versions match;
# 2. DIR/wheels: `make wheelhouse` for that Python, as docs/get_started.md tells the node's users;
# 3. gpu_check.sh from this checkout, installing from DIR/wheels with the network shut off
#    (--offline), every stage a CPU can run at CPU size (batch 8, 20 iterations; stages that only
#    mean something on a GPU or take hours on 2 cores are left out: --only overrides), with
#    --allow-cpu. Exit 0 only when every stage passed. Logs and summary.md in DIR/out.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case "${1:-}" in -h|--help) sed -n '2,16p' "$0"; exit 0 ;; esac
DIR=${1:?usage: tools/install/gpu_rehearsal.sh DIR [--python PY] [--torch V --torchvision V] [--only STAGES]}
shift
NODE_PY= TORCH=2.11.0 TORCHVISION=0.26.0
# left out by default: bench_vit-b (the ViT-S stage's code with other configs; ~4 min here, near
# its 300 s limit), train_1gpu (2048 images per step), bench_logreg (ImageNet's size), the compile
# stages (minutes of compiling on 2 cores; the H200 runs of docs/gpu_check/ cover it)
STAGES='cuda_tests bench_vit-s train train_phases_* data data_mocov3 dist_check'
while [ $# -gt 0 ]; do
  case "$1" in
    --python) NODE_PY=$2; shift ;;
    --torch) TORCH=$2; shift ;;
    --torchvision) TORCHVISION=$2; shift ;;
    --only) STAGES=$2; shift ;;
    *) echo "[rehearsal] unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$NODE_PY" ]; then  # python3.12 on PATH, else one pyenv installed
  for candidate in python3.12 "$(pyenv root 2>/dev/null)"/versions/3.12*/bin/python3.12; do
    if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      NODE_PY=$candidate; break
    fi
  done
  [ -n "$NODE_PY" ] || { echo "[rehearsal] no Python 3.12 found: pass --python" >&2; exit 2; }
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
NODE=$DIR/node
PYVER=$("$NODE_PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
t0=$(date +%s)

# 1. the node's image
STAMP="python $PYVER torch $TORCH torchvision $TORCHVISION"
if [ "$(cat "$NODE/.rehearsal" 2>/dev/null)" != "$STAMP" ]; then
  echo "[rehearsal] making the node's image in $NODE ($STAMP; ~5 GB the first time)"
  rm -rf "$NODE"
  "$NODE_PY" -m venv "$NODE"
  "$NODE/bin/pip" install -q "torch==$TORCH" "torchvision==$TORCHVISION" transformers numpy \
    matplotlib opencv-python pillow
  echo "$STAMP" > "$NODE/.rehearsal"
fi
"$NODE/bin/python" -c 'import torch, transformers, sys
print("[rehearsal] node: Python", sys.version.split()[0], "torch", torch.__version__,
      "transformers", transformers.__version__)'

# 2. the wheelhouse, as docs/get_started.md builds it
rm -rf "$DIR/wheels"
make -C "$ROOT" --no-print-directory wheelhouse DIR="$DIR/wheels" WHEELHOUSE_ARGS="--only \
pretrain --system-torch --python-version $PYVER --exclude 'numpy matplotlib opencv-python pillow'" \
  > "$DIR/wheelhouse.log" 2>&1 || { tail -20 "$DIR/wheelhouse.log"; exit 1; }
tail -1 "$DIR/wheelhouse.log"

# 3. gpu_check, from a fresh venv, offline
rm -rf "$DIR/venv" "$DIR/out"
status=0
PYTHON=$NODE/bin/python VENV=$DIR/venv OMP_NUM_THREADS=$(nproc) \
  bash "$ROOT/tools/gpu_check/gpu_check.sh" --wheelhouse "$DIR/wheels" --out "$DIR/out" \
  --batch 8 --iters 20 --allow-cpu --only "$STAGES" > "$DIR/gpu_check.log" 2>&1 || status=$?
grep -E '^- ' "$DIR/out/summary.md" || true
echo "[rehearsal] gpu_check exit $status ($status failed stage(s)), $(( $(date +%s) - t0 )) s in all;" \
  "logs in $DIR/out"
exit "$status"
