#!/usr/bin/env bash
# tools/dist_launch.sh TOOL GPUS [TOOL args]: tools/TOOL.py with one process per GPU (torchrun);
# the caller passes --launcher pytorch among the args. The one torchrun command behind
# dist_train.sh, dist_test.sh, dist_knn.sh and dist_retrieval.sh. Multi-node: NNODES, NODE_RANK,
# MASTER_ADDR, PORT. On a machine without GPUs, GPUS processes run on the CPU with gloo.
set -euo pipefail
TOOL=$1
GPUS=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python)}
# torchrun through tools/_torchrun.py: it passes SIGUSR1 on to the workers, gives them 240 s
# (not 30) to write their checkpoint after a signal, and exits 75 when a training run was
# preempted (README "Preemption under torchrun")
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" "$ROOT/tools/_torchrun.py" \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$GPUS" --master_port="${PORT:-29500}" \
    "$ROOT/tools/$TOOL.py" "${@:3}"
