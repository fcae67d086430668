"""StaticDropout against plain dropout of equal rate, and against no dropout.

All arms start from the same initial weights and see the same batches. The training set is a
dynamics-requiring one in which appearance is a distractor: motion-defined classes, plus (by
default) a static cue that predicts the class on training videos only (``train.cue``, see
``staticdyn/train/distractor.py``). Validation videos carry a cue of a random class, so
validation top-1 measures what the model learned from motion.

Arms (``experiment.arms``):
- ``none``: no dropout;
- ``static``: StaticDropout with ``train.dropout`` (layer, p, classes, start, refresh_every);
- ``plain``: channel dropout on every unit of the same layer, from the same step, at the rate
  StaticDropout actually had while active (its mean expected fraction of dropped units), so
  both drop as many units on average; only *which* units differs;
- ``plain_p``: channel dropout at StaticDropout's per-unit probability p on every unit
  (optional, drops more units than StaticDropout).

Each final model is probed on unlabelled synthetic videos; the table reports validation top-1
and the dynamic % (layer-wise) and unit classes of the dropout layer.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from staticdyn.experiments.training.common import (
    exp,
    last_checkpoint,
    last_layer_row,
    probe_run,
    train_variant,
    write_table,
)
from staticdyn.report.tables import to_markdown

log = logging.getLogger("staticdyn.train")
ARMS = ("none", "static", "plain", "plain_p")


def arm_dropout(arm: str, base: dict[str, Any], static_rate: float | None) -> dict[str, Any]:
    """The ``train.dropout`` settings of one arm."""
    if arm == "none":
        return {**base, "kind": "none"}
    if arm == "static":
        return {**base, "kind": "static"}
    if arm == "plain_p":
        return {**base, "kind": "plain"}
    if arm == "plain":
        if static_rate is None:
            raise ValueError("the 'plain' arm needs the 'static' arm first (its rate)")
        return {**base, "kind": "plain", "p": float(static_rate)}
    raise ValueError(f"unknown arm '{arm}'. Valid choices: {', '.join(ARMS)}")


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    e = exp(cfg)
    arms = [str(a) for a in e.get("arms") or ("none", "static", "plain")]
    if "plain" in arms and "static" in arms:  # the matched baseline needs StaticDropout's rate
        arms = ["static"] + [a for a in arms if a != "static"]
    seeds = [int(s) for s in e.get("seeds") or [0]]
    base = dict(cfg.train.get("dropout") or {})
    rows = []
    for seed in seeds:
        static_rate = None
        for arm in arms:
            drop = arm_dropout(arm, base, static_rate)
            prep, res = train_variant(cfg, out_dir / f"seed{seed}" / arm,
                                      dataset=e.get("dataset"),
                                      train={"seed": seed, "init_seed": seed, "dropout": drop})
            if arm == "static":
                static_rate = res.mean_dropout_rate
            card = dict(prep.model_cfg, checkpoint=None)
            tables = probe_run(cfg, card, last_checkpoint(res.out_dir),
                               out_dir / f"seed{seed}" / arm / "probe")["tables"]
            layer = str(prep.settings.dropout["layer"])  # train.dropout's, or the card's
            r = last_layer_row(tables, layer)
            rows.append({"seed": seed, "arm": arm, "layer": layer,
                         "p": drop.get("p", 0.0) if arm != "none" else 0.0,
                         "mean_dropped_fraction": round(res.mean_dropout_rate, 4),
                         "val_top1": round(float(res.val_top1 or 0.0), 2),
                         "dynamic_pct": r["dynamic_pct"], "static_pct": r["static_pct"],
                         "score_dynamic": round(float(r["score_dynamic"]), 4),
                         "score_static": round(float(r["score_static"]), 4),
                         **{k: v for k, v in r.items() if k.startswith("units_")}})
            log.info("static_dropout seed %d %s: %s", seed, arm, rows[-1])
    df = pd.DataFrame(rows)
    write_table(df, out_dir / "static_dropout_results.csv")
    numeric = [c for c in df.columns if c not in ("seed", "arm", "layer")]
    summary = df.groupby("arm", sort=False)[numeric].mean().reset_index()
    text = to_markdown(summary, float_digits=2)
    (out_dir / "static_dropout_summary.md").write_text(
        "# StaticDropout vs plain dropout (mean over seeds)\n\n" + text)
    print(text)
    return {"results": df, "summary": summary}
