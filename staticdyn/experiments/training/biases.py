"""Biases along training (journal extension): the metric on every saved checkpoint.

One training run saves a checkpoint every ``train.ckpt_every`` steps, step 0 (the
initialisation) included; each checkpoint is probed with the ordinary pipeline. The result is
the dynamic/static % of every probed layer and the unit classes against the training step, and,
per quantity, the step at which it reached 90% of its final value.

"90% of its final value" is ambiguous for a quantity that starts high and falls, or starts well
above zero: the literal reading (x >= 0.9 * x_final) is then met at step 0. Both readings are
reported: ``step_90_final`` (literal: the first checkpoint with x >= 0.9 * x_final, for a
positive final value) and ``step_90_change`` (the first checkpoint at which 90% of the change
from the initial to the final value has happened), which is what a learning curve's "time to
90%" usually means.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from staticdyn.experiments.training.common import exp, probe_run, train_variant, write_table
from staticdyn.report.figures import COLORS, legend_outside, new_figure, save_figure
from staticdyn.report.tables import to_markdown
from staticdyn.train.checkpoints import list_checkpoints, load_training_state

QUANTITIES = ("dynamic_pct", "static_pct", "units_dynamic", "units_static", "units_joint",
              "units_residual")


def step_to_90(steps: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """(step_90_final, step_90_change) of one curve; NaN where undefined (see module doc)."""
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    final, first = values[-1], values[0]
    literal = math.nan
    if final > 0:
        hit = np.nonzero(values >= 0.9 * final)[0]
        literal = float(steps[hit[0]]) if hit.size else math.nan
    change = math.nan
    if final != first:
        progress = (values - first) / (final - first)
        hit = np.nonzero(progress >= 0.9)[0]
        change = float(steps[hit[0]]) if hit.size else math.nan
    return literal, change


def curves(cfg: DictConfig, run_dir: Path, probe_root: Path, card: dict[str, Any]
           ) -> pd.DataFrame:
    """One row per (checkpoint, layer): layer-wise %, unit classes and val top-1."""
    rows = []
    for step, path in list_checkpoints(run_dir / "checkpoints"):
        tables = probe_run(cfg, card, path, probe_root / f"step_{step:07d}")["tables"]
        state = load_training_state(path)
        top1 = state.get("val_top1")
        uw = tables.unitwise.set_index("layer")
        for _, r in tables.layerwise.iterrows():
            u = uw.loc[r["layer"]]
            rows.append({"step": step, "layer": r["layer"], "dynamic_pct": r["dynamic_pct"],
                         "static_pct": r["static_pct"], "residual_pct": r["residual_pct"],
                         **{f"units_{c}": int(u[c]) for c in
                            ("dynamic", "static", "joint", "residual", "dead")},
                         "val_top1": float(top1) if top1 is not None else math.nan})
    return pd.DataFrame(rows)


def t90_table(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for layer, g in df.groupby("layer", sort=False):
        g = g.sort_values("step")
        for q in QUANTITIES:
            lit, chg = step_to_90(g["step"].to_numpy(), g[q].to_numpy())
            rows.append({"layer": layer, "quantity": q, "initial": g[q].iloc[0],
                         "final": g[q].iloc[-1], "step_90_final": lit, "step_90_change": chg})
    return pd.DataFrame(rows)


def figure(df: pd.DataFrame, out_stem: Path) -> list[Path]:
    layers = list(dict.fromkeys(df["layer"]))
    fig = new_figure(10.0, 3.4)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    for i, layer in enumerate(layers):
        g = df[df["layer"] == layer].sort_values("step")
        alpha = 0.35 + 0.65 * (i + 1) / len(layers)
        ax1.plot(g["step"], g["dynamic_pct"], color=COLORS["dynamic"], alpha=alpha,
                 marker="o", ms=3, label=f"dynamic {layer}")
        ax1.plot(g["step"], g["static_pct"], color=COLORS["static"], alpha=alpha,
                 marker="s", ms=3, linestyle="--", label=f"static {layer}")
    ax1.set(xlabel="training step", ylabel="units (%)", title="layer-wise")
    last = df[df["layer"] == layers[-1]].sort_values("step")
    total = last[[f"units_{c}" for c in ("dynamic", "static", "joint", "residual", "dead")]
                 ].sum(axis=1).replace(0, np.nan)
    for c in ("dynamic", "static", "joint", "residual"):
        ax2.plot(last["step"], 100.0 * last[f"units_{c}"] / total, color=COLORS[c], marker="o",
                 ms=3, label=c)
    ax2.set(xlabel="training step", ylabel="units (%)", title=f"unit classes, {layers[-1]}")
    ax3.plot(last["step"], last["val_top1"], color="black", marker="o", ms=3)
    ax3.set(xlabel="training step", ylabel="val top-1 (%)", title="accuracy")
    ax1.legend(fontsize="x-small", ncol=1)
    legend_outside(fig, ax2, ncol=4)
    return save_figure(fig, out_stem, ("png",))


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    e = exp(cfg)
    prep, _ = train_variant(cfg, out_dir / "train", dataset=e.get("dataset"),
                            train={"save_initial": True, **(e.get("train") or {})})
    card = dict(prep.model_cfg, checkpoint=None)
    df = curves(cfg, out_dir / "train", out_dir / "probes", card)
    t90 = t90_table(df)
    write_table(df, out_dir / "biases_along_training.csv")
    write_table(t90, out_dir / "biases_t90.csv")
    fig = figure(df, out_dir / "biases_along_training")
    (out_dir / "biases_summary.md").write_text(
        "# Biases along training\n\nStep at which each quantity reached 90% of its final "
        "value (see staticdyn/train/experiments/biases.py for the two readings).\n\n"
        + to_markdown(t90, float_digits=1))
    print(to_markdown(t90, float_digits=1))
    return {"curves": df, "t90": t90, "figure": fig}
