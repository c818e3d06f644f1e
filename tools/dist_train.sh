#!/usr/bin/env bash
# tools/dist_train.sh CONFIG GPUS [train.py args]: one process per GPU with torchrun.
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT. On a machine without GPUs, GPUS processes run
# on the CPU with the gloo backend.
set -euo pipefail
CONFIG=$1
GPUS=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python)}
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$GPUS" --master_port="${PORT:-29500}" \
    "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "${@:3}"
