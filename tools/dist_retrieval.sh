#!/usr/bin/env bash
# tools/dist_retrieval.sh CONFIG CHECKPOINT GPUS [retrieval.py args]: retrieval with one process
# per GPU (tools/dist_launch.sh; without GPUs, CPU processes with gloo).
exec "$(dirname "$0")/dist_launch.sh" retrieval "$3" "$1" "$2" --launcher pytorch "${@:4}"
