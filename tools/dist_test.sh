#!/usr/bin/env bash
# tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args] (tools/dist_launch.sh)
exec "$(dirname "$0")/dist_launch.sh" test "$3" "$1" "$2" --launcher pytorch "${@:4}"
