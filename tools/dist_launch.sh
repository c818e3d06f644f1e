#!/usr/bin/env bash
# tools/dist_launch.sh TOOL GPUS [TOOL args]: tools/TOOL.py with one process per GPU (torchrun);
# the caller passes --launcher pytorch among the args. The one torchrun command behind
# dist_train.sh, dist_test.sh, dist_knn.sh and dist_retrieval.sh. Multi-node: NNODES, NODE_RANK,
# MASTER_ADDR, PORT (torchrun's static rendezvous), or RDZV_BACKEND=c10d with NNODES, MASTER_ADDR,
# PORT and RDZV_ID (its c10d rendezvous: no NODE_RANK, and with --max-restarts every node starts
# again when one fails). On a machine without GPUs, GPUS processes run on the CPU with gloo.
set -euo pipefail
TOOL=$1
GPUS=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python)}
# torchrun through tools/_torchrun.py: it passes SIGUSR1 on to the workers, gives them 240 s
# (not 30) to write their checkpoint after a signal, exits 75 when a training run was
# preempted (docs/long_runs.md "Preemption"), and gives the workers of every node one name
# for their attempt (docs/long_runs.md "Restarts")
case "${RDZV_BACKEND:-static}" in
    static) RDZV=(--node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}"
                  --master_port="${PORT:-29500}") ;;
    c10d) RDZV=(--rdzv-backend=c10d --rdzv-endpoint="${MASTER_ADDR:-127.0.0.1}:${PORT:-29500}"
                --rdzv-id="${RDZV_ID:-mimco}") ;;
    *) echo "dist_launch.sh: RDZV_BACKEND=$RDZV_BACKEND: use static (the default) or c10d" >&2
       exit 2 ;;
esac
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" "$ROOT/tools/_torchrun.py" \
    --nnodes="${NNODES:-1}" "${RDZV[@]}" --nproc_per_node="$GPUS" \
    "$ROOT/tools/$TOOL.py" "${@:3}"
