#!/usr/bin/env bash
# tools/dist_knn.sh CONFIG CHECKPOINT GPUS [knn.py args]: k-NN with one process per GPU
# (tools/dist_launch.sh; without GPUs, CPU processes with gloo).
exec "$(dirname "$0")/dist_launch.sh" knn "$3" "$1" "$2" --launcher pytorch "${@:4}"
