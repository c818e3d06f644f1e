#!/usr/bin/env bash
# The full offline install, end to end (`make offline-install-check`; minutes and several GB, so
# not part of `make test`, which checks the same logic at small scale in tests/test_install.py):
#   1. a wheelhouse of EVERYTHING (torch and its CUDA libraries, the compiled mmcv wheel from the
#      cache, mmdet, mmseg, ...) for this Python;
#   2. tools/setup_env.sh --offline into a fresh venv, every package index pointing at a closed
#      port, so that any download attempt fails;
#   3. the stack tests (compiled ops, Mask R-CNN / UPerNet / ViT built) in that venv.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=${1:-$(mktemp -d /tmp/mimco_offline_check.XXXX)}
mkdir -p "$WORK"
start=$(date +%s)
log() { echo "[offline-check $(( $(date +%s) - start )) s] $*"; }
log "wheelhouse -> $WORK/wheels"
bash "$ROOT/tools/install/wheelhouse.sh" "$WORK/wheels" 2>&1 | grep -v 'is ignored' | tail -3
log "offline install -> $WORK/venv"
rm -rf "$WORK/venv"
env -u PIP_FIND_LINKS VENV="$WORK/venv" MIMCO_CACHE="$WORK/empty_cache" \
  PIP_INDEX_URL=http://127.0.0.1:9/simple PIP_CONFIG_FILE=/dev/null \
  http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 PIP_RETRIES=0 PIP_TIMEOUT=2 \
  bash "$ROOT/tools/setup_env.sh" --offline "$WORK/wheels"
log "stack tests in the offline venv"
cd "$ROOT" && "$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_stack.py
log "ok: $(du -sh "$WORK/wheels" | cut -f1) of wheels, everything installed without network"
