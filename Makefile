# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   venv + CPU torch + headcount, then `dvc repro` on the synthetic default
#   make test   venv + CPU torch + headcount[dev], then ruff and pytest
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0

.PHONY: demo test lint bench browser clean

$(BIN)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU torch first: anything depending on torch must not pull the CUDA wheels
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

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
	$(BIN)/python -m pytest -v -p no:cacheprovider

bench: $(BIN)/.installed
	$(BIN)/headcount bench density

clean:
	rm -rf $(VENV) data
