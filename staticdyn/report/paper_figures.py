"""The papers' figures and Table 1, rebuilt from a sweep's tidy tables.

Every builder takes the same ``FigureInputs`` and returns the paths it wrote. A builder whose
inputs are absent (no segmentation runs, no ``shuffle_results.csv`` ...) logs why and returns an
empty list: a partial sweep still yields the figures it can support, and the log says which
ones are missing and for what reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from staticdyn.metrics.intervals import seed_interval
from staticdyn.report.aggregate import CLASS_COLUMNS, PCT_COLUMNS, SweepResult
from staticdyn.report.figures import (
    COLORS,
    interval_yerr,
    legend_outside,
    new_figure,
    plot_layerwise_bars,
    plot_unit_stack,
    save_figure,
)
from staticdyn.report.runs import read_card_facts
from staticdyn.report.selection import (
    PATHWAY_KINDS,
    STREAMS,
    card_value,
    group_panels,
    is_segmentation,
    last_layers,
    merge_seeds,
    model_facts,
    pick_condition,
    series_label,
    split_layer,
)
from staticdyn.report.tables import write_table_set
from staticdyn.report.vis_figure import is_vis, vis_figures

log = logging.getLogger("staticdyn.report")

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">")
# Okabe-Ito colours not used for the factors, for bars that stand for models or datasets.
OTHER_COLORS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#000000", "#CC79A7")
SHUFFLE_CSV = "shuffle_results.csv"
SHUFFLE_COLUMNS = ["dataset", "model", "top1_ordered", "top1_shuffled"]
CENTER_BIAS = "center_bias.npy"


@dataclass
class FigureInputs:
    """What every builder reads: the sweep's tables, its root (for side files), the output,
    and each model's card facts (``arch_group``, ``pathway_kind``; ``selection.model_facts``)."""

    layerwise: pd.DataFrame
    unitwise: pd.DataFrame
    root: Path
    out_dir: Path
    formats: tuple[str, ...] = ("png", "pdf")
    facts: dict[str, dict[str, str | None]] = field(default_factory=dict)

    @classmethod
    def from_sweep(cls, sweep: SweepResult, out_dir: Path,
                   formats: tuple[str, ...] = ("png", "pdf")) -> FigureInputs:
        """The sweep's tables, with the card facts each kept run recorded in its config."""
        runs = [df[["model", "run_dir"]] for df in (sweep.layerwise, sweep.unitwise)
                if {"model", "run_dir"} <= set(df.columns)]
        pairs = pd.concat(runs).astype(str).drop_duplicates() if runs else pd.DataFrame()
        facts = model_facts((m, d, read_card_facts(Path(d)))
                            for m, d in pairs.itertuples(index=False))
        return cls(sweep.layerwise, sweep.unitwise, sweep.root, Path(out_dir), formats, facts)


def _skip(name: str, reason: str) -> list[Path]:
    log.info("%s: skipped (%s)", name, reason)
    return []


def _action(df: pd.DataFrame) -> pd.DataFrame:
    return df[~is_segmentation(df) & ~is_vis(df)] if not df.empty else df


def _seg(df: pd.DataFrame) -> pd.DataFrame:
    return df[is_segmentation(df)] if not df.empty else df


# -- Fig. 3 ---------------------------------------------------------------------------------
def _line_panel(ax: Axes, df: pd.DataFrame) -> list[tuple[str, str]]:
    """Dynamic (blue) and static (red) % per layer, one marker shape per model/pathway."""
    labels = []
    ticks: list[str] = []
    series = df.assign(_s=[series_label(m, x) for m, x in zip(df["model"], df["layer"],
                                                                strict=True)])
    for i, (label, g) in enumerate(series.groupby("_s", sort=False)):
        g = g.sort_values("layer_index")
        x = np.arange(len(g))
        marker = MARKERS[i % len(MARKERS)]
        for f in ("dynamic", "static"):
            col = f"{f}_pct"
            ax.errorbar(x, g[col].astype(float), yerr=interval_yerr(g, col), color=COLORS[f],
                        marker=marker, markersize=4, linewidth=1, capsize=2)
        names = [split_layer(v)[1] for v in g["layer"]]
        ticks = names if len(names) > len(ticks) else ticks
        labels.append((label, marker))
    ax.set_xticks(np.arange(len(ticks)))
    ax.set_xticklabels(ticks, rotation=45 if len(ticks) > 6 else 0, fontsize="small")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    return labels


def _marker_legend(ax: Axes, labels: list[tuple[str, str]]) -> None:
    handles = [Line2D([], [], color=COLORS["dynamic"], label="dynamic"),
               Line2D([], [], color=COLORS["static"], label="static")]
    handles += [Line2D([], [], color="black", marker=m, linestyle="none", label=lab)
                for lab, m in labels]
    ax.legend(handles=handles, fontsize="x-small", frameon=False, loc="upper left")


def fig3_layerwise(inp: FigureInputs) -> list[Path]:
    """Fig. 3 left: layer-wise dynamic/static % per stage, one panel per architecture group
    (the cards' ``arch_group``; runs without one are drawn in an ``unknown`` panel)."""
    name = "fig3_left_layerwise"
    lw = _action(inp.layerwise)
    if lw.empty:
        return _skip(name, "no action-recognition runs")
    lw = pick_condition(merge_seeds(lw, PCT_COLUMNS), prefer=r"kinetics|k400")
    groups = card_value(lw["model"], inp.facts, "arch_group")
    panels = group_panels(groups)
    fig = new_figure(4.0 * len(panels) + 0.5, 3.8)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, group in zip(axes, panels, strict=True):
        labels = _line_panel(ax, lw[groups == group])
        _marker_legend(ax, labels)
        ax.set_title(group, fontsize="medium")
    axes[0].set_ylabel("units (%)")
    return save_figure(fig, inp.out_dir / name, inp.formats)


def _stack_figure(df: pd.DataFrame, labels: list[str], title: str) -> Figure:
    fig = new_figure(max(4.5, 0.7 * len(df) + 2.0), 3.8)
    ax = fig.add_subplot()
    plot_unit_stack(ax, df.reset_index(drop=True), labels=labels)
    ax.set_title(title, fontsize="medium")
    legend_outside(fig, ax, ncol=5)
    return fig


def fig3_unitwise(inp: FigureInputs) -> list[Path]:
    """Fig. 3 right: unit classes at each model's last layer (per pathway for SlowFast)."""
    name = "fig3_right_unitwise"
    uw = _action(inp.unitwise)
    if uw.empty:
        return _skip(name, "no action-recognition unit-wise tables")
    uw = last_layers(pick_condition(merge_seeds(uw, CLASS_COLUMNS), prefer=r"kinetics|k400"))
    labels = [series_label(m, x) for m, x in zip(uw["model"], uw["layer"], strict=True)]
    fig = _stack_figure(uw, labels, "unit classes at the last layer")
    return save_figure(fig, inp.out_dir / name, inp.formats)


# -- Fig. 4 (segmentation) ----------------------------------------------------------------
def fig4_segmentation(inp: FigureInputs) -> list[Path]:
    """Fig. 4: app/mot/fusion layer-wise bars per model (left); fusion.layer5 classes (right)."""
    lw = _seg(inp.layerwise)
    if lw.empty:
        return _skip("fig4", "no segmentation runs (layers app./mot./fusion.)")
    lw = pick_condition(merge_seeds(lw, PCT_COLUMNS), prefer=r"davis")
    models = list(dict.fromkeys(lw["model"]))
    fig = new_figure(10.0, 2.6 * len(models) + 0.8)
    axes = fig.subplots(len(models), len(STREAMS), sharey=True, squeeze=False)
    streams = lw.assign(_stream=[split_layer(x)[0] for x in lw["layer"]])
    for r, model in enumerate(models):
        for c, stream in enumerate(STREAMS):
            ax = axes[r][c]
            sub = streams[(streams["model"] == model) & (streams["_stream"] == stream)]
            sub = sub.sort_values("layer_index")
            if sub.empty:
                ax.set_axis_off()
                continue
            plot_layerwise_bars(ax, sub.reset_index(drop=True), factors=("dynamic", "static"),
                                labels=[split_layer(x)[1] for x in sub["layer"]])
            ax.set_title(f"{model}: {stream}", fontsize="small")
    legend_outside(fig, axes[0][0], ncol=2)
    written = save_figure(fig, inp.out_dir / "fig4_left_segmentation", inp.formats)
    uw = _seg(inp.unitwise)
    if uw.empty:
        return written + _skip("fig4_right", "no segmentation unit-wise tables")
    uw = pick_condition(merge_seeds(uw, CLASS_COLUMNS), prefer=r"davis")
    fusion = uw[uw["layer"].astype(str).str.startswith("fusion.")]
    rows = []
    for _, g in fusion.groupby("model", sort=False):
        exact = g[g["layer"] == "fusion.layer5"]
        rows.append(exact.iloc[[0]] if len(exact) else g.loc[[g["layer_index"].idxmax()]])
    if not rows:
        return written + _skip("fig4_right", "no fusion layers in the unit-wise tables")
    top = pd.concat(rows, ignore_index=True)
    labels = [f"{m} ({split_layer(x)[1]})" if x != "fusion.layer5" else m
              for m, x in zip(top["model"], top["layer"], strict=True)]
    fig = _stack_figure(top, labels, "unit classes at fusion.layer5")
    return written + save_figure(fig, inp.out_dir / "fig4_right_fusion_units", inp.formats)


# -- Fig. 5 / 6 (training dataset) --------------------------------------------------------
def _single_pathway(inp: FigureInputs) -> pd.DataFrame:
    """SlowOnly/FastOnly rows (the cards' ``pathway_kind``), seeds merged, with a ``kind``."""
    lw = _action(inp.layerwise)
    if lw.empty:
        return lw
    lw = lw[card_value(lw["model"], inp.facts, "pathway_kind").isin(PATHWAY_KINDS)]
    if lw.empty:
        return lw
    merged = merge_seeds(lw, PCT_COLUMNS)
    return merged.assign(kind=card_value(merged["model"], inp.facts, "pathway_kind"))


def fig5_training_dataset(inp: FigureInputs) -> list[Path]:
    """Fig. 5 left: last-stage dynamic/static % of SlowOnly and FastOnly per training dataset."""
    name = "fig5_left_training_dataset"
    lw = _single_pathway(inp)
    if lw.empty:
        return _skip(name, "no SlowOnly/FastOnly runs")
    last = last_layers(lw)
    kinds = [k for k in PATHWAY_KINDS if (last["kind"] == k).any()]
    fig = new_figure(4.0 * len(kinds) + 0.5, 3.6)
    axes = fig.subplots(1, len(kinds), sharey=True, squeeze=False)[0]
    for ax, kind in zip(axes, kinds, strict=True):
        sub = last[last["kind"] == kind].reset_index(drop=True)
        plot_layerwise_bars(ax, sub, factors=("dynamic", "static"),
                            labels=[str(t) for t in sub["train_dataset"]])
        ax.set_title(f"{kind} (last stage)", fontsize="medium")
        ax.set_xlabel("training dataset")
    legend_outside(fig, axes[0], ncol=2)
    return save_figure(fig, inp.out_dir / name, inp.formats)


def fig6_stages_by_dataset(inp: FigureInputs) -> list[Path]:
    """Fig. 6: every stage of SlowOnly/FastOnly, one panel per (model, training dataset)."""
    name = "fig6_stages_by_dataset"
    lw = _single_pathway(inp)
    if lw.empty:
        return _skip(name, "no SlowOnly/FastOnly runs")
    kinds = [k for k in PATHWAY_KINDS if (lw["kind"] == k).any()]
    datasets = list(dict.fromkeys(lw["train_dataset"]))
    fig = new_figure(3.2 * len(datasets) + 0.5, 2.8 * len(kinds) + 0.8)
    axes = fig.subplots(len(kinds), len(datasets), sharey=True, squeeze=False)
    for r, kind in enumerate(kinds):
        for c, ds in enumerate(datasets):
            ax = axes[r][c]
            sub = lw[(lw["kind"] == kind) & (lw["train_dataset"] == ds)]
            if sub.empty:
                ax.set_axis_off()
                continue
            sub = sub.sort_values("layer_index").reset_index(drop=True)
            plot_layerwise_bars(ax, sub, factors=("dynamic", "static"))
            ax.set_title(f"{kind}, trained on {ds}", fontsize="small")
    legend_outside(fig, axes[0][0], ncol=2)
    return save_figure(fig, inp.out_dir / name, inp.formats)


def _find_files(root: Path, name: str) -> list[Path]:
    return sorted(p for p in root.rglob(name) if p.is_file())


def fig5_shuffle_drop(inp: FigureInputs) -> list[Path]:
    """Fig. 5 right: relative top-1 drop (%) when training and testing on shuffled frames."""
    name = "fig5_right_shuffle_drop"
    files = _find_files(inp.root, SHUFFLE_CSV)
    if not files:
        return _skip(name, f"no {SHUFFLE_CSV} under {inp.root}")
    df = pd.concat([pd.read_csv(p) for p in files], ignore_index=True)
    missing = [c for c in SHUFFLE_COLUMNS if c not in df.columns]
    if missing:
        return _skip(name, f"{SHUFFLE_CSV} lacks columns {missing}")
    df = df.assign(drop=100.0 * (df["top1_ordered"] - df["top1_shuffled"]) / df["top1_ordered"])
    datasets = list(dict.fromkeys(df["dataset"]))
    models = list(dict.fromkeys(df["model"]))
    fig = new_figure(max(4.0, 1.2 * len(datasets) + 2.0), 3.4)
    ax = fig.add_subplot()
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        means, halves = [], []
        for ds in datasets:
            v = df[(df["model"] == model) & (df["dataset"] == ds)]["drop"].to_numpy(float)
            mean, half = seed_interval(v) if len(v) else (np.nan, np.nan)
            means.append(float(mean))
            halves.append(float(half) if len(v) > 1 else 0.0)
        ax.bar(np.arange(len(datasets)) + (i - (len(models) - 1) / 2) * width, means, width,
               yerr=halves, capsize=2, label=model, color=OTHER_COLORS[i % len(OTHER_COLORS)])
    ax.set_xticks(np.arange(len(datasets)))
    ax.set_xticklabels(datasets)
    ax.set_ylabel("relative top-1 drop (%)")
    ax.axhline(0, color="black", linewidth=0.6)
    legend_outside(fig, ax, ncol=min(len(models), 4))
    return save_figure(fig, inp.out_dir / name, inp.formats)


# -- Table 1 / Fig. 7 (segmentation dataset bias) -----------------------------------------
def table1_dataset_bias(inp: FigureInputs) -> list[Path]:
    """Table 1: dynamic/static % at fusion layers 2 and 5 per segmentation training dataset."""
    name = "table1_dataset_bias"
    lw = _seg(inp.layerwise)
    if lw.empty:
        return _skip(name, "no segmentation runs")
    lw = merge_seeds(lw, PCT_COLUMNS)
    lw = lw[lw["layer"].isin(["fusion.layer2", "fusion.layer5"])]
    if lw.empty:
        return _skip(name, "no fusion.layer2 / fusion.layer5 rows")
    rows = []
    for (model, ds), g in lw.groupby(["model", "train_dataset"], sort=False):
        row: dict[str, object] = {"model": model, "train_dataset": ds}
        for layer in ("fusion.layer2", "fusion.layer5"):
            r = g[g["layer"] == layer]
            short = split_layer(layer)[1]
            for f in ("dynamic", "static"):
                col = f"{f}_pct"
                if r.empty:
                    row[f"{short} {f} %"] = ""
                    continue
                v, lo, hi = (float(r[c].iloc[0]) for c in (col, f"{col}_lo", f"{col}_hi"))
                ci = "" if np.isnan(lo) else f" [{lo:.1f}, {hi:.1f}]"
                row[f"{short} {f} %"] = f"{v:.1f}{ci}"
        rows.append(row)
    table = pd.DataFrame(rows)
    paths = write_table_set(table, inp.out_dir / name,
                            caption="Dynamic and static units at fusion layers 2 and 5")
    return list(paths.values())


def fig7_center_bias(inp: FigureInputs) -> list[Path]:
    """Fig. 7: the centre-bias map of each dataset (one ``center_bias.npy`` per dataset folder)."""
    name = "fig7_center_bias"
    files = _find_files(inp.root, CENTER_BIAS)
    if not files:
        return _skip(name, f"no {CENTER_BIAS} under {inp.root}")
    fig = new_figure(3.2 * len(files) + 0.8, 2.6)
    axes = fig.subplots(1, len(files), squeeze=False)[0]
    image = None
    for ax, path in zip(axes, files, strict=True):
        m = np.squeeze(np.load(path)).astype(float)
        while m.ndim > 2:  # a stack of maps: show their mean
            m = m.mean(axis=0)
        image = ax.imshow(m, cmap="viridis", vmin=0.0, vmax=max(1e-9, float(np.nanmax(m))))
        ax.set_title(path.parent.name, fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8, label="foreground frequency")
    return save_figure(fig, inp.out_dir / name, inp.formats)


# -- VIS (issue 13) -------------------------------------------------------------------------
def vis_segmentation(inp: FigureInputs) -> list[Path]:
    """The VIS figure: dynamic/static % per layer per VIS model, unit classes at the last
    decoder layer (``staticdyn.report.vis_figure``)."""
    return vis_figures(inp.layerwise, inp.unitwise, inp.out_dir, inp.formats)


BUILDERS: dict[str, Callable[[FigureInputs], list[Path]]] = {
    "fig3_left": fig3_layerwise,
    "fig3_right": fig3_unitwise,
    "fig4": fig4_segmentation,
    "fig5_left": fig5_training_dataset,
    "fig5_right": fig5_shuffle_drop,
    "fig6": fig6_stages_by_dataset,
    "table1": table1_dataset_bias,
    "fig7": fig7_center_bias,
    "vis": vis_segmentation,
}


def build_paper_figures(
    inp: FigureInputs, only: list[str] | None = None
) -> dict[str, list[Path]]:
    """Run every builder (or ``only`` these); returns what each wrote ([] when skipped)."""
    names = only or list(BUILDERS)
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        raise ValueError(f"unknown figures {unknown}. Valid choices: {', '.join(BUILDERS)}")
    inp.out_dir.mkdir(parents=True, exist_ok=True)
    return {n: BUILDERS[n](inp) for n in names}
