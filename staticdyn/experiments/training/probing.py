"""Probe a training checkpoint with the ordinary pipeline (``staticdyn.pipeline.run``).

The experiments probe what training wrote exactly as a user would: a model card with
``checkpoint: PATH`` loaded strictly by the zoo, the probe settings of ``cfg.probe``, one run
folder per checkpoint. That exercises the real path from a training run to a result, and a
re-run resumes from the features already extracted.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from staticdyn.config import plain
from staticdyn.metrics.analyze import RunTables


def probe_config(model_card: dict[str, Any], checkpoint: Path | str | None, dataset_cfg: Any,
                 probe_cfg: Any, out_dir: Path | str, **probe_overrides: Any) -> DictConfig:
    """A config ``pipeline.run`` accepts: this model card and checkpoint, this probe."""
    probe = {**plain(probe_cfg), **probe_overrides}
    card = {**plain(model_card), "checkpoint": str(checkpoint) if checkpoint else None}
    return OmegaConf.create({"mode": "probe", "out_dir": str(out_dir), "model": card,
                             "dataset": plain(dataset_cfg), "probe": probe})


def probe_checkpoint(model_card: dict[str, Any], checkpoint: Path | str | None,
                     dataset_cfg: Any, probe_cfg: Any, out_dir: Path | str, quiet: bool = True,
                     **probe_overrides: Any) -> dict[str, Any]:
    """Run the probe pipeline; returns its result dict (``tables``, ``features``, ...).

    ``quiet`` swallows the per-run terminal summary and the untrained-model banner, which
    would otherwise repeat once per checkpoint of a sweep.
    """
    from staticdyn.pipeline import run

    cfg = probe_config(model_card, checkpoint, dataset_cfg, probe_cfg, out_dir,
                       **probe_overrides)
    if not quiet:
        return run(cfg)
    logger = logging.getLogger("staticdyn")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return run(cfg)
    finally:
        logger.setLevel(level)


def tables_of(result: dict[str, Any]) -> RunTables:
    return result["tables"]
