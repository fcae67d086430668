"""Training tests run on one torch thread: the tiny configs (``tests.helpers.configs``) are
sized for one CPU core, and a fixed thread count keeps their timings predictable.

The CI-size calibration (``fast_cfg``) trains two models (about 25 s each on one core), so it
runs once per session (``calibration``), with both kinds of dynamic pairs, and every test that
needs a trained calibration model reads that one run: the calibration orderings with style and
with appearance-free pairs, and the behavioural known answer of the motion-trained model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import DictConfig, open_dict

from staticdyn.experiments.train_job import run_train
from tests.helpers.configs import compose_cfg

FAST_MODELS = {
    # the order-invariant check is structural: an untrained invariant model must pass it too
    "invariant": {"model": "toy_invariant", "train": None},
    "appearance": {"dataset": {"classes": "appearance"}, "train": {"style": 0}},
    "motion": {"dataset": {"classes": "motion"},
               "train": {"style": "random", "style_warmup_epochs": 2}},
}
#: the dynamic-pair variants the session's calibration probes every model with
VARIANTS = ["style", "appearance_free"]


def fast_cfg(out: Path, seed: int = 0) -> DictConfig:
    """The calibration suite at CI size: 32-px, 8-frame synthetic videos, width-8 Tiny3D,
    400 training steps per model, 500 pairs probed on 400 unlabelled unseen videos."""
    cfg = compose_cfg(out, ["+experiment=calibrate"],
                      model={"builder_kwargs": {"width": 8, "num_classes": 10}},
                      dataset={"n_videos": 2000, "seed": 10 + seed},
                      train={"max_steps": 400, "batch_size": 16, "seed": seed,
                             "val_fraction": 0.1, "log_every": 50, "num_workers": 1})
    with open_dict(cfg):
        cfg.experiment.models = FAST_MODELS
        cfg.experiment.bootstrap = 300
        cfg.experiment.probe_dataset = {"classes": None, "seed": 1, "n_videos": 400}
        cfg.probe.n_pairs = 500
        cfg.probe.batch_size = 50
        cfg.probe.num_workers = 1
    return cfg


@dataclass(frozen=True)
class Calibration:
    """One finished CI-size calibration run: its config, output folder and ``run_train``
    result (checks, tables, top-1)."""

    cfg: DictConfig
    out: Path
    result: dict[str, Any]


@pytest.fixture(scope="session")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Calibration:
    """``fast_cfg`` with ``experiment.dynamic_pairs=[style, appearance_free]``, trained and
    probed once for the session (each model trained once, probed per variant). Tests read it;
    none may write into its folder."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("calibration") / "calib"
        cfg = fast_cfg(out)
        with open_dict(cfg):
            cfg.experiment.dynamic_pairs = list(VARIANTS)
        return Calibration(cfg, out, run_train(cfg))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def calibration_cfg() -> Callable[..., DictConfig]:
    """``fast_cfg`` itself, for tests that build their own (refused) calibration config."""
    return fast_cfg


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)
