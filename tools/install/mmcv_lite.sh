# Sourced by tools/setup_env.sh (online installs without ops) and tools/install/wheelhouse.sh
# (offline wheelhouses): the one place that builds mmcv without compiled ops.
#
#   build_mmcv_lite SDIST OUT_DIR PIP_COMMAND...
#   e.g. build_mmcv_lite mmcv-2.1.0.tar.gz wheels python -m pip
#
# Builds the `mmcv-lite` wheel (pure Python, any platform; MMCV_WITH_OPS=0 names the distribution
# mmcv-lite and compiles nothing) from the official source archive SDIST and moves it into OUT_DIR
# once complete; prints its path. The build is not isolated, so setuptools must be importable
# where pip runs (torch requires it on Python >= 3.12; an isolated build would fetch it).
build_mmcv_lite() {
  local sdist=$1 out=$2; shift 2
  [ -f "$sdist" ] || { echo "[mmcv-lite] no source archive $sdist" >&2; return 1; }
  local build src wheel
  build=$(mktemp -d)
  tar xzf "$sdist" -C "$build"
  src=$(find "$build" -mindepth 1 -maxdepth 1 -type d -name 'mmcv-*' | head -1)
  if [ -z "$src" ]; then
    echo "[mmcv-lite] $sdist holds no mmcv-* folder" >&2; rm -rf "$build"; return 1
  fi
  if ! MMCV_WITH_OPS=0 "$@" wheel --quiet --disable-pip-version-check --no-build-isolation \
      --no-deps "$src" -w "$build/wheel" >&2; then
    rm -rf "$build"; return 1
  fi
  wheel=$(ls "$build"/wheel/mmcv_lite-*.whl 2>/dev/null | head -1)
  if [ -z "$wheel" ]; then
    echo "[mmcv-lite] the build of $sdist made no mmcv_lite wheel" >&2; rm -rf "$build"; return 1
  fi
  mkdir -p "$out" && mv "$wheel" "$out/"
  rm -rf "$build"
  echo "$out/$(basename "$wheel")"
}
