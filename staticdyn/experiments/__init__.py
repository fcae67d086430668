"""The top layer: what ``run.py`` dispatches to, sweeps, smoke runs, calibration and the
training-side experiments. Everything here may import every layer below; nothing below imports
this package.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from staticdyn.errors import StaticDynError

MODES = ("probe", "train")


def dispatch(cfg: DictConfig) -> Any:
    """``mode=probe`` (default): one probe run; ``mode=train``: training or an experiment."""
    mode = cfg.get("mode", "probe")
    if mode == "train":
        from staticdyn.experiments.train_job import run_train

        return run_train(cfg)
    if mode == "probe":
        from staticdyn.pipeline import run

        return run(cfg)
    raise StaticDynError(f"unknown mode '{mode}'. Valid choices: {', '.join(MODES)}")
