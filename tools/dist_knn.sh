#!/usr/bin/env bash
# tools/dist_knn.sh CONFIG CHECKPOINT GPUS [knn.py args]: k-NN with one process per GPU (torchrun).
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT. Without GPUs, GPUS processes run on the CPU
# with gloo. tools/dist_retrieval.sh is the same for tools/retrieval.py.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOL=${MIMCO_FROZEN_TOOL:-knn}
PYTHON=${PYTHON:-$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python)}
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$3" --master_port="${PORT:-29500}" \
    "$ROOT/tools/$TOOL.py" "$1" "$2" --launcher pytorch "${@:4}"
