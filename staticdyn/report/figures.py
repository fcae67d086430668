"""Figure primitives shared by the per-run report and the paper figures.

Figures are built on ``matplotlib.figure.Figure`` with an explicit Agg canvas instead of pyplot:
no global backend switch (a notebook that imports staticdyn keeps its own backend), no figure
registry to leak memory across a sweep of hundreds of runs, and it works on headless nodes.

Colours follow the paper (dynamic blue, static red) using the Okabe-Ito palette, which stays
distinguishable under the common colour-vision deficiencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

COLORS: dict[str, str] = {
    "dynamic": "#0072B2",  # Okabe-Ito blue
    "static": "#D55E00",  # Okabe-Ito vermillion
    "joint": "#CC79A7",  # Okabe-Ito reddish purple
    "residual": "#BBBBBB",  # light grey
    "dead": "#444444",  # dark grey
}
LAYER_FACTORS: tuple[str, ...] = ("dynamic", "static", "residual")
UNIT_CLASS_ORDER: tuple[str, ...] = ("dynamic", "static", "joint", "residual", "dead")


def new_figure(width: float = 6.4, height: float = 3.6) -> Figure:
    """A pyplot-free figure attached to an Agg canvas (see module docstring for why)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(
    fig: Figure, stem: str | Path, formats: Sequence[str] = ("png",), dpi: int = 150
) -> list[Path]:
    """Save ``stem.<fmt>`` for every format; PDF for the paper (vector), PNG for quick looks."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        fig.savefig(path, dpi=dpi, format=fmt)
        out.append(path)
    return out


def interval_yerr(
    df: pd.DataFrame, col: str, center: np.ndarray | None = None
) -> np.ndarray | None:
    """A (2, n) yerr array from ``<col>_lo``/``<col>_hi`` columns, or None when absent.

    Error lengths are clipped at 0: a percentile interval need not contain a point estimate
    computed with truncation (unit counts are integers), and matplotlib rejects negative errors.
    """
    lo, hi = f"{col}_lo", f"{col}_hi"
    if lo not in df.columns or hi not in df.columns:
        return None
    y = np.asarray(df[col] if center is None else center, dtype=float)
    lo_v = pd.to_numeric(df[lo], errors="coerce").to_numpy(dtype=float)
    hi_v = pd.to_numeric(df[hi], errors="coerce").to_numpy(dtype=float)
    if np.isnan(lo_v).all():
        return None
    err = np.vstack([np.nan_to_num(y - lo_v), np.nan_to_num(hi_v - y)])
    return np.clip(err, 0.0, None)


def _short_labels(labels: Sequence[str], ax: Axes) -> None:
    ax.set_xticks(np.arange(len(labels)))
    rotate = max((len(s) for s in labels), default=0) > 6 or len(labels) > 8
    ax.set_xticklabels(labels, rotation=45 if rotate else 0, ha="right" if rotate else "center")


def not_estimable_rows(df: pd.DataFrame) -> np.ndarray:
    """Row positions whose ``estimable`` column says False (tables read back from CSV give
    booleans or text; a table without the column has none)."""
    if "estimable" not in df.columns:
        return np.zeros(0, dtype=int)
    flags = df["estimable"].astype(str).str.lower().to_numpy()
    return np.flatnonzero(flags == "false")


def mark_not_estimable(ax: Axes, df: pd.DataFrame) -> None:
    """Write 'not estimable' where a row's bars are missing, so a gap is never read as 0."""
    for i in not_estimable_rows(df):
        ax.text(i, 50, "not estimable", rotation=90, ha="center", va="center",
                fontsize="small", color="0.3")


def plot_layerwise_bars(
    ax: Axes, df: pd.DataFrame, factors: Sequence[str] = LAYER_FACTORS,
    labels: Sequence[str] | None = None,
) -> None:
    """Grouped bars of ``<factor>_pct`` per row of ``df`` (usually one row per layer).

    Error bars come from ``<factor>_pct_lo/_hi`` columns when the run was bootstrapped.
    """
    x = np.arange(len(df))
    width = 0.8 / max(len(factors), 1)
    for i, f in enumerate(factors):
        col = f"{f}_pct"
        vals = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        yerr = interval_yerr(df, col)
        ax.bar(x + (i - (len(factors) - 1) / 2) * width, vals, width, label=f,
               color=COLORS[f], yerr=yerr, capsize=2 if yerr is not None else 0,
               error_kw={"elinewidth": 0.8})
    mark_not_estimable(ax, df)
    _short_labels(list(labels) if labels is not None else [str(v) for v in df["layer"]], ax)
    ax.set_ylabel("units (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)


def unit_class_percent(df: pd.DataFrame) -> pd.DataFrame:
    """Unit-class counts turned into percentages of all units of the row.

    Intervals (``<class>_lo/_hi``) are scaled the same way, so the figure can carry them.
    """
    present = [c for c in UNIT_CLASS_ORDER if c in df.columns]
    counts = df[present].apply(pd.to_numeric, errors="coerce").astype(float)
    total = counts.sum(axis=1).replace(0, np.nan)
    out = pd.DataFrame(index=df.index)
    for c in present:
        out[c] = (100.0 * counts[c] / total).fillna(0.0)
        for suffix in ("_lo", "_hi"):  # a missing interval stays NaN: no error bar, not 0
            if f"{c}{suffix}" in df.columns:
                v = pd.to_numeric(df[f"{c}{suffix}"], errors="coerce").astype(float)
                out[f"{c}{suffix}"] = 100.0 * v / total
    return out


def plot_unit_stack(
    ax: Axes, df: pd.DataFrame, labels: Sequence[str] | None = None,
) -> None:
    """One stacked bar of unit classes (in %) per row of ``df``.

    With intervals, each class's error bar is drawn at the top of its own segment, i.e. the
    class's interval shifted by the classes stacked below it.
    """
    pct = unit_class_percent(df)
    x = np.arange(len(df))
    bottom = np.zeros(len(df))
    for c in UNIT_CLASS_ORDER:
        if c not in pct.columns:
            continue
        vals = pct[c].to_numpy(dtype=float)
        ax.bar(x, vals, 0.7, bottom=bottom, label=c, color=COLORS[c],
               hatch="//" if c == "dead" else None, edgecolor="white", linewidth=0.5)
        yerr = interval_yerr(pct, c)
        if yerr is not None:
            ax.errorbar(x, bottom + vals, yerr=yerr, fmt="none", ecolor="black",
                        elinewidth=0.8, capsize=2)
        bottom = bottom + vals
    mark_not_estimable(ax, df)
    names = list(labels) if labels is not None else [str(v) for v in df["layer"]]
    _short_labels(names, ax)
    ax.set_ylabel("units (%)")
    ax.set_ylim(0, 100)


def legend_outside(fig: Figure, ax: Axes, ncol: int = 5) -> None:
    """One legend under the axes, de-duplicated (stacked plots repeat labels)."""
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, object] = {}
    for h, label in zip(handles, labels, strict=True):
        seen.setdefault(label, h)
    fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncol=ncol,
               frameon=False, fontsize="small")


def layerwise_figure(df: pd.DataFrame, title: str | None = None) -> Figure:
    """Per-run figure: dynamic/static/residual % per layer."""
    fig = new_figure(max(4.0, 0.6 * len(df) + 2.5), 3.6)
    ax = fig.add_subplot()
    plot_layerwise_bars(ax, df)
    if title:
        ax.set_title(title, fontsize="medium")
    legend_outside(fig, ax, ncol=3)
    return fig


def unitwise_figure(df: pd.DataFrame, title: str | None = None) -> Figure:
    """Per-run figure: stacked unit classes per layer."""
    fig = new_figure(max(6.0, 0.5 * len(df) + 2.5), 3.6)
    ax = fig.add_subplot()
    plot_unit_stack(ax, df)
    if title:
        ax.set_title(title, fontsize="medium")
    legend_outside(fig, ax, ncol=5)
    return fig


def lambda_sweep_figure(
    sweep: pd.DataFrame, title: str | None = None, mark: float | None = 0.5, max_cols: int = 4
) -> Figure:
    """Small multiples, one panel per layer: % of units per class against lambda.

    ``mark`` draws the run's own lambda as a dotted line so the reader sees where the table sits.
    """
    layers = list(dict.fromkeys(sweep["layer"])) or [""]
    ncols = min(max_cols, len(layers))
    nrows = int(np.ceil(len(layers) / ncols))
    fig = new_figure(2.6 * ncols + 0.6, 2.2 * nrows + 0.8)
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax, layer in zip(axes, layers, strict=False):
        g = sweep[sweep["layer"] == layer]
        pct = unit_class_percent(g)
        for c in UNIT_CLASS_ORDER:
            if c in pct.columns and (c != "dead" or pct[c].any()):
                ax.plot(g["lambda"], pct[c], color=COLORS[c], label=c,
                        linestyle="--" if c in ("residual", "dead") else "-")
        if mark is not None:
            ax.axvline(mark, color="black", linestyle=":", linewidth=0.8)
        ax.set_title(str(layer), fontsize="small")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    for ax in axes[len(layers):]:
        ax.set_visible(False)
    for ax in axes[::ncols]:
        ax.set_ylabel("units (%)")
    for ax in axes[-ncols:]:
        ax.set_xlabel("lambda")
    if title:
        fig.suptitle(title, fontsize="medium")
    legend_outside(fig, axes[0], ncol=5)
    return fig
