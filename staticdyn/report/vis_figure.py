"""The VIS figure (issue 13), in the style of Fig. 4: per VIS model, the dynamic and static % of
units at every probed layer (backbone, pixel decoder, decoder, tracker) with intervals (left),
and the unit classes at each model's last decoder layer (right).

Rows are those of runs made with ``probe=vis`` (the ``task`` column), so VIS runs never enter
the action figures and action runs never enter this one. "The last decoder layer" is the model
card's ``last_layer`` fact, read from each run's saved config (never guessed from a name); a
run without it shows its highest layer, labelled so. Each bar names its layer (DVIS's last
layer is its refiner's). Seeds are merged as in the other figures
(mean and 1.96 std / sqrt(n); one seed keeps its bootstrap interval).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from staticdyn.report.aggregate import CLASS_COLUMNS, PCT_COLUMNS
from staticdyn.report.figures import (
    legend_outside,
    new_figure,
    plot_layerwise_bars,
    plot_unit_stack,
    save_figure,
)
from staticdyn.report.runs import FEATURES, read_config, read_h5_attrs
from staticdyn.report.selection import merge_seeds, pick_condition

__all__ = ["VIS_TASK", "card_last_layers", "is_vis", "vis_figures"]

log = logging.getLogger("staticdyn.report")

VIS_TASK = "vis"
PREFER = r"youtube|ovis"  # the condition shown when a model was probed on several sets
LEFT, RIGHT = "vis_left_layerwise", "vis_right_last_decoder_units"


def is_vis(df: pd.DataFrame) -> pd.Series:
    """Rows of VIS runs (``probe.task=vis``)."""
    if "task" not in df.columns:
        return pd.Series(False, index=df.index)
    return df["task"].astype(str) == VIS_TASK


def card_last_layers(rows: pd.DataFrame) -> dict[str, str]:
    """model -> its card's ``last_layer``, from the saved config of one of its runs."""
    out: dict[str, str] = {}
    if "run_dir" not in rows.columns:
        return out
    for model, run_dir in rows[["model", "run_dir"]].astype(str).drop_duplicates().itertuples(
            index=False):
        if model in out:
            continue
        path = Path(run_dir)
        try:
            attrs = read_h5_attrs(path / FEATURES) if (path / FEATURES).is_file() else {}
        except (OSError, KeyError):
            attrs = {}
        layer = read_config(path, attrs).get("model.last_layer")
        if layer:
            out[model] = str(layer)
    return out


def _layerwise(lw: pd.DataFrame, out_dir: Path, formats: Sequence[str]) -> list[Path]:
    models = list(dict.fromkeys(lw["model"]))
    n_layers = int(lw.groupby("model")["layer"].nunique().max())
    fig = new_figure(max(6.0, 0.45 * n_layers + 2.0), 2.6 * len(models) + 0.9)
    axes = fig.subplots(len(models), 1, sharey=True, squeeze=False)[:, 0]
    for ax, model in zip(axes, models, strict=True):
        sub = lw[lw["model"] == model].sort_values("layer_index").reset_index(drop=True)
        plot_layerwise_bars(ax, sub, factors=("dynamic", "static"))
        ax.set_title(model, fontsize="small")
    legend_outside(fig, axes[0], ncol=2)
    return save_figure(fig, out_dir / LEFT, formats)


def _last_decoder_units(uw: pd.DataFrame, last: dict[str, str], out_dir: Path,
                        formats: Sequence[str]) -> list[Path]:
    rows, labels = [], []
    for model, g in uw.groupby("model", sort=False):
        exact = g[g["layer"] == last.get(str(model))]
        row = exact.iloc[[0]] if len(exact) else g.loc[[g["layer_index"].idxmax()]]
        rows.append(row)
        layer = str(row["layer"].iloc[0])
        labels.append(f"{model}\n{layer}" if len(exact) else f"{model}\n{layer} (highest)")
    top = pd.concat(rows, ignore_index=True)
    fig = new_figure(max(4.5, 0.8 * len(top) + 2.0), 3.8)
    ax = fig.add_subplot()
    plot_unit_stack(ax, top, labels=labels)
    ax.set_title("unit classes at the last decoder layer", fontsize="medium")
    legend_outside(fig, ax, ncol=5)
    return save_figure(fig, out_dir / RIGHT, formats)


def vis_figures(layerwise: pd.DataFrame, unitwise: pd.DataFrame, out_dir: Path,
                formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Both panels from a sweep's tidy tables; [] (logged once) when there is no VIS run."""
    lw = layerwise[is_vis(layerwise)] if not layerwise.empty else layerwise
    if lw.empty:
        log.info("vis: skipped (no VIS runs, probe=vis)")
        return []
    last = card_last_layers(lw)
    written = _layerwise(pick_condition(merge_seeds(lw, PCT_COLUMNS), prefer=PREFER),
                         Path(out_dir), formats)
    uw = unitwise[is_vis(unitwise)] if not unitwise.empty else unitwise
    if uw.empty:
        log.info("vis_right: no VIS unit-wise tables")
        return written
    uw = pick_condition(merge_seeds(uw, CLASS_COLUMNS), prefer=PREFER)
    return written + _last_decoder_units(uw, last, Path(out_dir), formats)
