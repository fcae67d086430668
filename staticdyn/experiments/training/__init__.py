"""Experiments built on the training loop; each is ``run(cfg, out_dir) -> dict``.

Selected by ``experiment.name`` (set by ``conf/experiment/<name>.yaml``); imported lazily so
that a plain training run never loads plotting code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from staticdyn.errors import UnknownChoiceError

EXPERIMENTS: dict[str, str] = {
    "shuffle_training": "staticdyn.experiments.training.shuffle",
    "biases_along_training": "staticdyn.experiments.training.biases",
    "static_dropout": "staticdyn.experiments.training.static_dropout",
    "calibrate": "staticdyn.experiments.training.calibrate",
}


def get_experiment(name: str) -> Callable[[DictConfig, Path], dict[str, Any]]:
    if name not in EXPERIMENTS:
        raise UnknownChoiceError("experiment.name", name, EXPERIMENTS)
    return importlib.import_module(EXPERIMENTS[name]).run
