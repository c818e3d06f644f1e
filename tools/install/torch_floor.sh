#!/usr/bin/env bash
# The oldest torch mimco_mm supports (mimco_mm/torch_check.py), checked for real: a stand-in of a
# cluster Python that carries torch 2.6.0 (made once in DIR/cluster, ~6 GB: PyPI's CUDA build),
# `tools/setup_env.sh --system-torch --only pretrain --no-ops` on top of it in DIR/venv, then the
# pre-training tests such a venv can run (those that need no mmdet, mmseg, timm or safetensors).
#
#   tools/install/torch_floor.sh DIR [--python PY] [--torch 2.6.0 --torchvision 0.21.0]
#                                [pytest args]
#
# --python: the cluster's interpreter (default python3), e.g. a Python 3.10, setup.py's floor.
#
# Exit 0 only when every selected test passed. About 10 min on 2 cores once DIR/cluster exists.
# Run by hand before a release, and after changing anything torch-version dependent (checkpoint
# loading, the torchrun launcher, the NaN guard): `make test` runs on the pinned torch only.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case "${1:-}" in -h|--help|'') sed -n '2,14p' "$0"; exit 0 ;; esac
DIR=$1
shift
TORCH=2.6.0 TORCHVISION=0.21.0 PYTEST_ARGS=() CLUSTER_PY=python3
while [ $# -gt 0 ]; do
  case "$1" in
    --python) CLUSTER_PY=$2; shift ;;
    --torch) TORCH=$2; shift ;;
    --torchvision) TORCHVISION=$2; shift ;;
    *) PYTEST_ARGS+=("$1") ;;
  esac
  shift
done
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
CLUSTER=$DIR/cluster
STAMP="$("$CLUSTER_PY" --version) torch $TORCH torchvision $TORCHVISION"
t0=$(date +%s)
if [ "$(cat "$CLUSTER/.floor" 2>/dev/null)" != "$STAMP" ]; then
  echo "[floor] making the cluster's Python in $CLUSTER ($STAMP)"
  rm -rf "$CLUSTER"
  "$CLUSTER_PY" -m venv "$CLUSTER"
  # the machine's pip constraints cap torch from above only; the cap does not apply to 2.6
  "$CLUSTER/bin/pip" install -q --disable-pip-version-check "torch==$TORCH" \
    "torchvision==$TORCHVISION" numpy matplotlib opencv-python pillow
  echo "$STAMP" > "$CLUSTER/.floor"
fi
rm -rf "$DIR/venv"
PYTHON="$CLUSTER/bin/python" VENV="$DIR/venv" bash "$ROOT/tools/setup_env.sh" --system-torch \
  --only pretrain --no-ops
"$DIR/venv/bin/pip" install -q --disable-pip-version-check pytest
echo "[floor] setup done after $(( $(date +%s) - t0 )) s; the tests"
cd "$ROOT"
status=0
"$DIR/venv/bin/python" -m pytest -p no:cacheprovider -q \
  tests/test_train_tool.py tests/test_runner_checkpoint.py tests/test_checkpoint_integrity.py \
  tests/test_mimco_model.py tests/test_compat.py tests/test_resume_check.py \
  tests/test_nonfinite_guard.py tests/test_long_runs.py tests/test_dist_train.py \
  tests/test_slurm_script.py tests/test_hang_watchdog.py tests/test_process_exit.py \
  tests/test_knn_monitor.py tests/test_frozen_tools.py tests/test_micro_batches.py \
  tests/test_logreg.py tests/test_data_wait.py tests/test_losses.py tests/test_torch_check.py \
  tests/test_check_dist.py tests/test_attention_kernels.py tests/test_compile.py \
  "${PYTEST_ARGS[@]}" || status=$?
echo "[floor] $STAMP: pytest status $status after $(( $(date +%s) - t0 )) s"
exit "$status"
