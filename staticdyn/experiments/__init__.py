"""The top layer: what ``run.py`` dispatches to, sweeps, smoke runs, calibration and the
training-side experiments. Everything here may import every layer below; nothing below imports
this package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from staticdyn.errors import StaticDynError

MODES = ("probe", "train")


def dispatch(cfg: DictConfig, accept: Callable[[], None] | None = None) -> Any:
    """``mode=probe`` (default): one probe run; ``mode=train``: training or an experiment.

    ``accept`` is called before the job's first write into its run directory (``run.py``
    saves Hydra's files then); the probe calls it only once all its checks passed.
    """
    mode = cfg.get("mode", "probe")
    if mode == "train":
        from staticdyn.experiments.train_job import run_train

        if accept is not None:
            accept()
        return run_train(cfg)
    if mode == "probe":
        from staticdyn.pipeline import run

        return run(cfg, accept)
    raise StaticDynError(f"unknown mode '{mode}'. Valid choices: {', '.join(MODES)}")
