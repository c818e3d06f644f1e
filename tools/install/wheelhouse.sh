#!/usr/bin/env bash
# Collect every wheel an install needs into one folder, for `tools/setup_env.sh --offline DIR`
# on a node without network (`make wheelhouse DIR=...` calls this).
#
#   tools/install/wheelhouse.sh DIR [--python-version 3.12] [--only pretrain|all]
#                               [--system-torch] [--exclude "numpy matplotlib ..."]
#
#   --python-version   the target's Python (default: this one); wheels are fetched for it
#   --only pretrain    what pre-training and the classification benchmarks need (no mmdet/mmseg)
#   --system-torch     leave out torch and torchvision (the target has its own)
#   --exclude          further packages the target already has (their own needs are left out too)
#   --max-glibc 2.28   the target's glibc (`ldd --version`); wheels needing a newer one are skipped
#
# DIR/mmcv/ holds mmcv's source (so the target can compile its ops against its own torch), the
# op-less mmcv_lite wheel, and every compiled mmcv wheel in this machine's cache
# (~/.cache/mimco_mm/wheels/<key>/, the key naming torch, Python and CUDA) for the target Python.
# DIR/MANIFEST.txt lists every file with its sha256.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${1:?usage: $0 DIR [--python-version X.Y] [--only pretrain|all] [--system-torch] [--exclude "..."]}
shift
PYVER=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
ONLY=all SYSTEM_TORCH=0 EXCLUDE= GLIBC=2.28
while [ $# -gt 0 ]; do
  case "$1" in
    --python-version) PYVER=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --system-torch) SYSTEM_TORCH=1 ;;
    --exclude) EXCLUDE=$2; shift ;;
    --max-glibc) GLIBC=$2; shift ;;
    *) echo "[wheelhouse] unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
PY=${PY:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=python3
CACHE=${MIMCO_CACHE:-$HOME/.cache/mimco_mm}
MMCV_VERSION=2.1.0
mkdir -p "$OUT/mmcv"
OUT=$(cd "$OUT" && pwd)
cd "$ROOT"

reqs=(requirements/build-tools.txt)
[ "$SYSTEM_TORCH" = 1 ] || reqs+=(requirements/build.txt)
if [ "$ONLY" = all ]; then reqs+=(requirements/runtime.txt requirements/data.txt)
else reqs+=(requirements/pretrain.txt); fi
excl=($EXCLUDE)
[ "$SYSTEM_TORCH" = 0 ] || excl+=(torch torchvision)
echo "[wheelhouse] Python $PYVER: ${reqs[*]}${excl:+ (leaving out ${excl[*]})}"
"$PY" tools/install/deps.py wheelhouse "$OUT" --python-version "$PYVER" \
  --requirements "${reqs[@]}" --constraints requirements/constraints.txt --exclude "${excl[@]}" \
  --max-glibc "$GLIBC"

source tools/install/mmcv_lite.sh  # build_mmcv_lite
# mmcv: source + op-less wheel (built here; pure Python) + the compiled wheels we have.
if [ ! -f "$OUT/mmcv/mmcv-$MMCV_VERSION.tar.gz" ]; then
  "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    "mmcv==$MMCV_VERSION" -d "$OUT/mmcv"
fi
if ! ls "$OUT"/mmcv/mmcv_lite-$MMCV_VERSION-*.whl >/dev/null 2>&1; then
  build_mmcv_lite "$OUT/mmcv/mmcv-$MMCV_VERSION.tar.gz" "$OUT/mmcv" "$PY" -m pip >/dev/null
fi
py_tag=cp${PYVER/./}
for dir in "$CACHE"/wheels/mmcv-${MMCV_VERSION}_torch-*_${py_tag}_*; do
  [ -d "$dir" ] || continue
  mkdir -p "$OUT/mmcv/$(basename "$dir")"
  cp "$dir"/mmcv-*.whl "$OUT/mmcv/$(basename "$dir")/"
  echo "[wheelhouse] compiled mmcv: $(basename "$dir")"
done

(cd "$OUT" && find . -type f ! -name MANIFEST.txt | sort | xargs sha256sum > MANIFEST.txt)
echo "[wheelhouse] $(grep -c . "$OUT/MANIFEST.txt") files, $(du -sh "$OUT" | cut -f1) in $OUT"
