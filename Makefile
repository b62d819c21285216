# SPDX-License-Identifier: MIT
# kernelmagic: `make lab` to learn, `make test` to check. GNU make; works as root or with sudo.
#
# setup, step by step (each step is skipped when already done, so a second run takes seconds):
#   host-packages  Debian packages from vm/host-packages.txt (sudo when not root)
#   venv           .venv with `pip install -e .[dev]`, redone only when pyproject.toml changes
#   kernelspec     the "Kernel Lab (Python 3)" Jupyter kernel, inside .venv
#   vm-bundle      `kernelmagic vm build`: the lab VM bundle in $KERNELMAGIC_HOME
#   accel          `kernelmagic vm probe-accel`: records once whether KVM works here

PYTHON        ?= python3
HOST_PACKAGES ?= yes
PYTEST_ARGS   ?=
LAB_ARGS      ?=

VENV       := .venv
VPY        := $(VENV)/bin/python
INSTALLED  := $(VENV)/.installed
KERNELSPEC := $(VENV)/share/jupyter/kernels/kernelmagic/kernel.json
LINT_PATHS := kernelmagic tests bench

# Steps must run in order (the venv needs python3-venv, the bundle needs the venv).
.NOTPARALLEL:
.DEFAULT_GOAL := help
.PHONY: help setup host-packages test-packages venv kernelspec vm-bundle accel lab test lint bench \
        clean distclean

help:
	@echo "make lab        set up, then open JupyterLab on notebooks/"
	@echo "make test       set up, then run the test suite and ruff"
	@echo "make setup      host packages, .venv, Jupyter kernel, VM bundle, accelerator probe"
	@echo "make lint       ruff check"
	@echo "make bench      VM benchmarks (JSON)"
	@echo "make clean      remove build outputs (keeps .venv and ~/.cache/kernelmagic)"
	@echo "make distclean  clean, and remove .venv"

setup: host-packages venv kernelspec vm-bundle accel

host-packages:
ifeq ($(HOST_PACKAGES),yes)
	@sh vm/host-packages.sh
else
	@echo "host-packages: skipped (HOST_PACKAGES=$(HOST_PACKAGES))"
endif

# What only the tests need (a one-node Slurm for the course server's Slurm test).
test-packages:
ifeq ($(HOST_PACKAGES),yes)
	@sh vm/host-packages.sh vm/test-packages.txt
else
	@echo "test-packages: skipped (HOST_PACKAGES=$(HOST_PACKAGES))"
endif

venv: $(INSTALLED)

$(VPY): | host-packages
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "$(PYTHON) is older than 3.11; run make PYTHON=python3.11 (or newer)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(VPY)
	$(VPY) -m pip install --disable-pip-version-check -e '.[dev]'
	@touch $@

kernelspec: $(KERNELSPEC)

$(KERNELSPEC): $(INSTALLED) kernelmagic/notebook/kernelspec.py
	$(VPY) -m kernelmagic.notebook.kernelspec
	$(VPY) -m kernelmagic.notebook.labext

vm-bundle: $(INSTALLED)
	$(VENV)/bin/kernelmagic vm build

accel: vm-bundle
	$(VENV)/bin/kernelmagic vm probe-accel

lab: setup
	@set -- --notebook-dir=notebooks --ip=127.0.0.1; \
	if [ "$$(id -u)" -eq 0 ]; then set -- "$$@" --allow-root; fi; \
	if [ -z "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ]; then set -- "$$@" --no-browser; fi; \
	echo "$(VENV)/bin/jupyter lab $$* $(LAB_ARGS)"; \
	exec $(VENV)/bin/jupyter lab "$$@" $(LAB_ARGS)

test: setup test-packages
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VPY) -m pytest -q --nbval tests notebooks $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(VENV)/bin/ruff check $(LINT_PATHS)

bench: setup
	$(VPY) bench/bench_vm.py
	$(VPY) bench/bench_faults.py
	$(VPY) bench/bench_machines.py
	$(VPY) bench/bench_batch.py
	$(VPY) bench/bench_grading.py
	$(VPY) bench/bench_hub.py

clean:
	rm -rf build .pytest_cache .ruff_cache tests/artifacts *.egg-info
	find . \( -path ./.venv -o -path ./.git \) -prune -o \
	  -type d -name __pycache__ -prune -exec rm -rf {} +
	find modules \( -name '*.o' -o -name '*.ko' -o -name '*.mod' -o -name '*.mod.c' \
	  -o -name '.*.cmd' -o -name Module.symvers -o -name modules.order \) -type f -delete
	find modules -type d -name .tmp_versions -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
