# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   venv + CPU torch + the locked packages + headcount, then `dvc repro` on the synthetic default
#   make test   the same venv, then ruff and pytest
# requirements.lock pins every package (pip and setuptools included) to the versions that
# produced the committed dvc.lock and metrics.json; `make lock` re-resolves it (see README).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock
TORCH  := $(or $(shell grep '^torch==' $(LOCK) 2>/dev/null),torch==2.13.0)  # the CPU build; see README
DATASETS ?= $(or $(HEADCOUNT_DATASETS),../shared/datasets)  # the folder holding ShanghaiTech/ (make weights)

.PHONY: demo test lint bench browser clean lock weights docs

$(BIN)/.installed: pyproject.toml $(LOCK)
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# CPU torch first: anything depending on torch must not pull the CUDA wheels
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q --no-deps -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $@

# Re-resolve every package to its newest release (torch stays as pinned in the lock) in a
# throw-away venv; commit the new lock together with the dvc.lock/metrics.json it produces.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q --upgrade pip setuptools
	.lock-venv/bin/python -m pip install -q $(TORCH)
	.lock-venv/bin/python -m pip install -q -e '.[dev]'
	.lock-venv/bin/python -m pip freeze --all --exclude-editable | sed -E 's/^(torch==[^+]+)\+cpu$$/\1/' > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)
	rm -rf .lock-venv

demo: $(BIN)/.installed
	PATH="$(abspath $(BIN)):$$PATH" dvc repro

# Debian's Chromium for the annotation tool's browser tests (root + apt: as in CI);
# without it those tests are skipped with a message
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium not installed: browser tests will be skipped"

test: $(BIN)/.installed browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -v -p no:cacheprovider --durations=15 -n 2

# The shipped real-photo model (pipeline/weights/README.md) from pipeline/presets/photo-cpu.yaml, with ShanghaiTech A
# and B train under $(DATASETS)
# (about 1 h on 2 cores); work files go to build/photo
weights: $(BIN)/.installed
	$(BIN)/headcount recipe photo-cpu --root $(DATASETS) --work build/photo --out pipeline/weights/photo.pt --workers 2

# The docs site into site/ (strict: a broken link or a missing page fails)
docs: $(BIN)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(BIN)/.installed
	$(BIN)/headcount bench density

clean:
	rm -rf $(VENV) data site
