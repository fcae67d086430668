"""Helpers every experiment shares: config variants, one training run, one probe.

An experiment is a handful of training runs that differ in one or two keys (ordered vs
shuffled frames, motion vs appearance classes, a dropout kind), each followed by a probe. These
helpers derive each run's model, dataset and train settings from the composed config plus
small overrides, so an experiment module only says what varies.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from staticdyn.config import merged, plain
from staticdyn.experiments.training.probing import probe_checkpoint
from staticdyn.metrics.analyze import RunTables
from staticdyn.train.build import Prepared, prepare, train_run
from staticdyn.train.checkpoints import list_checkpoints
from staticdyn.train.loop import TrainResult

log = logging.getLogger("staticdyn.train")


def exp(cfg: DictConfig) -> dict[str, Any]:
    """The ``experiment`` node as a plain dict."""
    return plain(cfg.get("experiment") or {})


def model_card(cfg: DictConfig, entry: str | None = None,
               overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """``cfg.model``, or zoo entry ``entry`` with ``cfg.model``'s builder_kwargs and clip (so
    a width or clip size set for the experiment applies to every architecture in it), plus
    ``overrides``."""
    if entry is None or entry == cfg.model.get("name"):
        return merged(cfg.model, overrides)
    from staticdyn.models.zoo import entry_config

    shared = {"builder_kwargs": plain(cfg.model.get("builder_kwargs") or {}),
              "clip": plain(cfg.model.get("clip") or {})}
    return merged(merged(entry_config(entry), shared), overrides)


def train_variant(cfg: DictConfig, out_dir: Path, dataset: dict[str, Any] | None = None,
                  train: dict[str, Any] | None = None, model: dict[str, Any] | None = None,
                  entry: str | None = None) -> tuple[Prepared, TrainResult]:
    """Train ``cfg.model`` (or zoo ``entry``) on ``cfg.dataset`` with overrides; resumes if
    already (partly) done."""
    prep = prepare(model_card(cfg, entry, model), merged(cfg.dataset, dataset),
                   merged(cfg.train, train))
    log.info("training %s -> %s", prep.model_cfg.get("name"), out_dir)
    result = train_run(prep, Path(out_dir))
    log.info("%s: %d steps, val top-1 %.1f%% (%.0f s)", out_dir, result.steps,
             result.val_top1 or float("nan"), result.seconds)
    return prep, result


def probe_dataset(cfg: DictConfig) -> dict[str, Any]:
    """The probe's dataset: ``cfg.dataset`` with ``experiment.probe_dataset`` merged in
    (unlabelled, another seed: the probe then sees videos training never saw)."""
    return merged(cfg.dataset, exp(cfg).get("probe_dataset"))


def probe_run(cfg: DictConfig, model_card: dict[str, Any], checkpoint: Path | None,
              out_dir: Path, **probe_overrides: Any) -> dict[str, Any]:
    """Probe one checkpoint (None: the untrained model) with ``cfg.probe``, updated by
    ``experiment.probe`` and then ``probe_overrides``."""
    overrides = {"progress": False, **(exp(cfg).get("probe") or {}), **probe_overrides}
    return probe_checkpoint(model_card, checkpoint, probe_dataset(cfg), cfg.probe, out_dir,
                            **overrides)


def last_checkpoint(run_dir: Path) -> Path:
    found = list_checkpoints(Path(run_dir) / "checkpoints")
    if not found:
        raise FileNotFoundError(f"no checkpoint in {run_dir}/checkpoints")
    return found[-1][1]


def last_layer_row(tables: RunTables, layer: str | None = None) -> dict[str, Any]:
    """Layer-wise and unit-wise numbers of one layer (default: the last probed) as one row."""
    lw, uw = tables.layerwise, tables.unitwise
    name = layer or str(lw["layer"].iloc[-1])
    row = lw[lw["layer"] == name].iloc[0].to_dict()
    row.update({f"units_{k}": v for k, v in uw[uw["layer"] == name].iloc[0].to_dict().items()
                if k in ("dynamic", "static", "joint", "residual", "dead")})
    return row


def write_table(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path
