"""``run_train(cfg)``: what ``python run.py mode=train`` calls after Hydra composed the config.

A config with ``experiment.name`` runs that experiment (the function ``experiment.runner``
names: several trainings and probes) in the run directory; otherwise one training run goes to
``train.out_dir`` or ``<run dir>/train`` (a subfolder, so the probe of the same model and
dataset keeps its own files beside it).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from staticdyn.config import run_dir_of

log = logging.getLogger("staticdyn.train")


def output_dir(cfg: DictConfig) -> Path:
    train_out = cfg.get("train", {}).get("out_dir")
    if train_out:
        return Path(train_out)
    base = run_dir_of(cfg)
    return base if (cfg.get("experiment") or {}).get("name") else base / "train"


def run_train(cfg: DictConfig) -> Any:
    """Train (or run the configured experiment); returns its result."""
    from staticdyn.experiments.training import get_runner
    from staticdyn.train.build import prepare, train_run

    experiment = cfg.get("experiment") or {}
    runner = get_runner(experiment) if experiment.get("name") else None
    out = output_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    if runner is not None:
        log.info("experiment %s -> %s", experiment.get("name"), out)
        return runner(cfg, out)
    result = train_run(prepare(cfg.model, cfg.dataset, cfg.train), out)
    top1 = "n/a" if result.val_top1 is None else f"{result.val_top1:.1f}%"
    print(f"trained {result.steps} steps in {result.seconds:.0f} s; val top-1 {top1}")
    print(f"checkpoints: {out / 'checkpoints'}; log: {result.log_path}")
    print(f"probe the last one: python run.py model=<entry> model.checkpoint="
          f"{result.checkpoints[-1] if result.checkpoints else '<ckpt>'} (card: {out}/model.yaml)")
    return result
