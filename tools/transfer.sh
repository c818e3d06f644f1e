#!/usr/bin/env bash
# tools/transfer.sh CHECKPOINT GPUS: every downstream job from one pre-training checkpoint.
# The work is tools/transfer.py's (environment: ARCH, TASKS, NAME, CFG_OPTIONS,
# CFG_OPTIONS_<task>, WORK_ROOT; `tools/transfer.sh --help`); exec, so that a signal to this
# script (sbatch --signal=B:USR1@300) reaches it.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$([ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python)}
exec "$PYTHON" "$ROOT/tools/transfer.py" "$@"
