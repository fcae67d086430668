# staticdyn: `make demo` and `make test` are the two commands a fresh clone needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The torch/torchvision pairing known to work here (see README, "Torch pairing").
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: install demo test test-full lint bench clean

$(STAMP): pyproject.toml Makefile requirements/mmaction.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps -r requirements/mmaction.txt
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) run.py

test: install
	$(PY) -m pytest -m "not slow"

test-full: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PY) scripts/bench.py

clean:
	rm -rf outputs multirun .pytest_cache
