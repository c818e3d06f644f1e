# The project's two commands (README): `make test` and `make demo`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
TEST_WORKERS ?= auto

.PHONY: setup test install-check demo clean-venv wheelhouse offline-install-check gpu-rehearsal torch-floor

setup:  ## create or update .venv with the pinned stack (mmcv wheel cached in ~/.cache/mimco_mm)
	VENV=$(abspath $(VENV)) bash tools/setup_env.sh

test: setup  ## the CPU test suite on every core (TEST_WORKERS=auto), all but the install checks; exits non-zero on failure and on "no tests collected"
	$(PY) -m pytest tests -n $(TEST_WORKERS) --dist worksteal -m "not install" $(PYTEST_ARGS)

install-check: setup  ## the installs into a stand-in cluster Python, offline and online (tests marked `install`, ~3 min; not part of `make test`)
	$(PY) -m pytest tests/test_install.py -m install $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)

DATA ?=
BUNDLED ?=
demo: setup  ## the whole pipeline on bundled real images on CPU (BUNDLED=mnist5k, or DATA=<folder> for your own)
	$(PY) tools/demo.py $(if $(DATA),--data $(DATA),) $(if $(BUNDLED),--bundled $(BUNDLED),)

DIR ?=
WHEELHOUSE_ARGS ?=
wheelhouse:  ## every wheel an offline install needs, into DIR (WHEELHOUSE_ARGS: --only pretrain --system-torch --python-version X.Y ...)
	@test -n "$(DIR)" || { echo "usage: make wheelhouse DIR=<folder> [WHEELHOUSE_ARGS='--only pretrain --system-torch']"; exit 2; }
	bash tools/install/wheelhouse.sh $(DIR) $(WHEELHOUSE_ARGS)

offline-install-check:  ## the full offline install end to end (several GB, ~10 min; not part of `make test`)
	bash tools/install/offline_check.sh $(DIR)

gpu-rehearsal:  ## gpu_check.sh against a CPU stand-in of the GPU node (Python 3.12, its torch; ~5 GB once, ~10 min; not part of `make test`)
	@test -n "$(DIR)" || { echo "usage: make gpu-rehearsal DIR=<folder>"; exit 2; }
	bash tools/install/gpu_rehearsal.sh $(DIR)

FLOOR_ARGS ?=
torch-floor:  ## the pre-training tests on the oldest supported torch (2.6.0), installed with --system-torch (~6 GB once, ~10 min; not part of `make test`; FLOOR_ARGS="--python python3.10")
	@test -n "$(DIR)" || { echo "usage: make torch-floor DIR=<folder> [FLOOR_ARGS=...]"; exit 2; }
	bash tools/install/torch_floor.sh $(DIR) $(FLOOR_ARGS)
