#!/usr/bin/env bash
# tools/dist_train.sh CONFIG GPUS [train.py args]: one process per GPU with torchrun.
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT. On a machine without GPUs, GPUS processes run
# on the CPU with the gloo backend (tools/dist_launch.sh).
exec "$(dirname "$0")/dist_launch.sh" train "$2" "$1" --launcher pytorch "${@:3}"
