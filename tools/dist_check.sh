#!/usr/bin/env bash
# tools/dist_check.sh GPUS [check_dist.py args]: the preflight of a multi-GPU / multi-node job
# (tools/preflight/check_dist.py) with one process per GPU, as dist_train.sh would start them.
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT. Without GPUs, CPU processes with gloo.
exec "$(dirname "$0")/dist_launch.sh" preflight/check_dist "$1" --launcher pytorch "${@:2}"
