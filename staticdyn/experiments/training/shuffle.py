"""Shuffled-frame training (Fig. 5 right of the CVPR paper).

For each dataset and seed, two runs start from the *same* initial weights (same
``train.init_seed``) and see the same videos in the same order with the same styles; one gets
ordered clips, the other clips whose time axis is permuted (training and validation alike).
The relative top-1 drop, 100 * (ordered - shuffled) / ordered, says how much a dataset needs
temporal order: large when the classes are defined by motion, near zero when appearance alone
defines them.

Writes ``shuffle_results.csv`` (dataset, model, seed, top1_ordered, top1_shuffled, drop_pct),
the file ``staticdyn.report.paper_figures`` reads for Fig. 5 right, and draws that figure.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from staticdyn.experiments.training.common import exp, train_variant, write_table
from staticdyn.report.tables import to_markdown

log = logging.getLogger("staticdyn.train")


def relative_drop(ordered: float, shuffled: float) -> float:
    """Relative top-1 drop in % (the paper's Fig. 5 right quantity)."""
    return 100.0 * (ordered - shuffled) / ordered if ordered > 0 else float("nan")


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    e = exp(cfg)
    # name -> {dataset: overrides of cfg.dataset, train: overrides of cfg.train}
    datasets: dict[str, dict[str, Any]] = e.get("datasets") or {
        "motion": {"dataset": {"classes": "motion"}}}
    seeds = [int(s) for s in e.get("seeds") or [0]]
    model = str(cfg.model.name)
    rows = []
    for name, variant in datasets.items():
        for seed in seeds:
            top1 = {}
            for regime, shuffled in (("ordered", False), ("shuffled", True)):
                train = {**(variant.get("train") or {}), "seed": seed, "init_seed": seed,
                         "shuffle_frames": shuffled}
                _, res = train_variant(cfg, out_dir / name / f"seed{seed}" / regime,
                                       dataset=variant.get("dataset"), train=train)
                top1[regime] = float(res.val_top1 or 0.0)
            rows.append({"dataset": name, "model": model, "seed": seed,
                         "top1_ordered": round(top1["ordered"], 2),
                         "top1_shuffled": round(top1["shuffled"], 2),
                         "drop_pct": round(relative_drop(top1["ordered"], top1["shuffled"]), 1)})
            log.info("shuffle %s seed %d: %s", name, seed, rows[-1])
    df = pd.DataFrame(rows)
    csv = write_table(df, out_dir / "shuffle_results.csv")
    figure = _figure(out_dir)
    summary = (df.groupby("dataset", sort=False)[["top1_ordered", "top1_shuffled", "drop_pct"]]
               .mean().round(1).reset_index())
    (out_dir / "shuffle_summary.md").write_text(
        "# Shuffled-frame training: relative top-1 drop (mean over seeds)\n\n"
        + to_markdown(summary))
    print(summary.to_string())
    return {"results": df, "csv": csv, "figure": figure}


def _figure(out_dir: Path) -> list[Path]:
    from staticdyn.report.paper_figures import FigureInputs, fig5_shuffle_drop

    empty = pd.DataFrame()
    return fig5_shuffle_drop(FigureInputs(empty, empty, out_dir, out_dir, ("png",)))
