"""The report of one run: the three CSV tables, a Markdown summary and two figures.

The CSVs are the run's durable result (the sweep aggregator reads them back), so their columns
are the documented lists of ``staticdyn.metrics.analyze``, in that order. Bootstrap interval
columns (``<col>_lo``/``<col>_hi``) are appended after them only when a run was bootstrapped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from staticdyn.metrics.analyze import (
    LAYERWISE_COLUMNS,
    UNIT_SCORE_COLUMNS,
    UNITWISE_COLUMNS,
    RunTables,
)
from staticdyn.metrics.estimable import ESTIMABLE_COLUMNS
from staticdyn.report.figures import layerwise_figure, save_figure, unitwise_figure
from staticdyn.report.tables import to_fixed_width, to_markdown, write_csv

# Everything a sweep aggregator needs that the CSVs do not carry (estimator, untrained ...).
META_JSON = "report_meta.json"
UNTRAINED_BANNER = ("**UNTRAINED (random init)**: these numbers describe a randomly initialised "
                    "model, not a trained one.")
_TRUE_VALUES = ("True", True, "1", "true")

# Columns shown in the human-readable tables (the CSVs keep everything).
_LAYER_VIEW = ["layer", "units", "score_dynamic", "score_static", "dynamic_pct", "static_pct",
               "residual_pct"]
_UNIT_VIEW = ["layer", "dynamic", "static", "joint", "residual", "dead"]
_DIGITS = {"score_dynamic": 3, "score_static": 3, "dynamic_pct": 1, "static_pct": 1,
           "residual_pct": 1}


def is_untrained(meta: dict[str, object]) -> bool:
    """True when the run's metadata marks a randomly initialised model."""
    value = meta.get("untrained")
    return value in _TRUE_VALUES or (isinstance(value, int) and value == 1)


def interval_columns(df: pd.DataFrame, documented: list[str]) -> list[str]:
    """Documented columns, then any ``_lo``/``_hi`` interval columns, then ``estimable`` and
    ``note`` when present: appended, so readers of the documented columns see no change."""
    extra = [c for c in df.columns if c not in documented and str(c).endswith(("_lo", "_hi"))]
    return documented + extra + [c for c in ESTIMABLE_COLUMNS if c in df.columns]


def _fmt(v: float, d: int) -> str:
    return "n/a" if pd.isna(v) else f"{float(v):.{d}f}"


def _view(df: pd.DataFrame, base: list[str]) -> pd.DataFrame:
    """Human-readable view: interval columns folded into 'x [lo, hi]' strings when present."""
    view = df.loc[:, [c for c in base if c in df.columns]].copy()
    for c in base:
        lo, hi = f"{c}_lo", f"{c}_hi"
        if c in df.columns and lo in df.columns and hi in df.columns:
            d = _DIGITS.get(c, 0)
            view[c] = [
                "n/a" if pd.isna(v) else f"{_fmt(v, d)} [{_fmt(a, d)}, {_fmt(b, d)}]"
                for v, a, b in zip(df[c].astype(float), df[lo].astype(float),
                                   df[hi].astype(float), strict=True)
            ]
    return view


def _notes(tables: RunTables) -> list[str]:
    """One line per layer that is not estimable or partial (the ``note`` column)."""
    if "note" not in tables.layerwise.columns:
        return []
    return [f"- {layer}: {note}" for layer, note in
            zip(tables.layerwise["layer"], tables.layerwise["note"], strict=True) if note]


def _meta_str(meta: dict[str, object], key: str, default: str = "?") -> str:
    value = meta.get(key, default)
    return default if value is None else str(value)


def _pairs_line(tables: RunTables) -> str:
    lw = tables.layerwise
    n = _meta_str(tables.meta, "n_pairs")
    if len(lw):
        first = lw.iloc[0]
        return f"{n} ({first['pairs_dynamic']} dynamic, {first['pairs_static']} static)"
    return n


def summary_markdown(tables: RunTables, title: str | None = None) -> str:
    """summary.md: what was measured, on what, and the two result tables."""
    meta = tables.meta
    model, dataset = _meta_str(meta, "model"), _meta_str(meta, "dataset")
    lines = [f"# {title or f'{model} on {dataset}'}", ""]
    if is_untrained(meta):
        lines += [UNTRAINED_BANNER, ""]
    lines += [
        f"- model: {model}",
        f"- dataset: {dataset}",
        f"- pairs: {_pairs_line(tables)}",
        f"- lambda: {_meta_str(meta, 'lambda')}",
        f"- estimator: {_meta_str(meta, 'estimator')}",
    ]
    for key in ("checkpoint", "sampling", "seed", "bootstrap", "partial"):
        if key in meta:
            lines.append(f"- {key}: {_meta_str(meta, key)}")
    if "bootstrap" in meta:
        lines.append("- brackets: 95% bootstrap interval (pairs resampled within each factor)")
    cycled = _meta_str(meta, "cycled_groups", "0")
    if cycled not in ("0", "?"):  # only runs that have some: other summaries are unchanged
        lines.append(f"- cycled clips: {cycled} groups read a video shorter than the clip "
                     "window (cycled, METHOD.md section 1; see probe.short_videos)")
    notes = _notes(tables)
    if notes:
        lines += ["", "## Not estimable / partial", "", *notes]
    lines += ["", "## Layer-wise (% of units per factor)", ""]
    lines.append(to_markdown(_view(tables.layerwise, _LAYER_VIEW), float_digits=_DIGITS))
    lines += [f"## Unit-wise (unit counts per class, lambda = {_meta_str(meta, 'lambda')})", ""]
    lines.append(to_markdown(_view(tables.unitwise, _UNIT_VIEW), float_digits=0))
    return "\n".join(lines)


def pairs_needed_lines(tables: RunTables, target: float = 2.0) -> list[str]:
    """'pairs needed' line from the layer table's intervals (none without intervals)."""
    from staticdyn.metrics.intervals import pairs_needed_table

    n_pairs = int(str(tables.meta.get("n_pairs", 0)))
    table = pairs_needed_table(tables.layerwise, n_pairs, target)
    if table.empty or table["pairs_needed"].isna().all():
        return []
    parts = [f"{r.layer} {int(r.pairs_needed)}" if pd.notna(r.pairs_needed) else f"{r.layer} n/a"
             for r in table.itertuples()]
    return [f"pairs needed for a 95% half-width of {target:g} pp on dynamic/static % "
            f"(now {n_pairs}; width ~ 1/sqrt(N)): " + ", ".join(parts)]


def format_terminal_summary(tables: RunTables, half_width: float = 2.0) -> str:
    """A short fixed-width table for the terminal: one row per layer, both metrics; with
    intervals, the pairs a 95% half-width of ``half_width`` pp would need."""
    meta = tables.meta
    head = (f"{_meta_str(meta, 'model')} on {_meta_str(meta, 'dataset')}: "
            f"{_pairs_line(tables)} pairs, estimator {_meta_str(meta, 'estimator')}, "
            f"lambda {_meta_str(meta, 'lambda')}")
    lw = _view(tables.layerwise, ["layer", "units", "dynamic_pct", "static_pct", "residual_pct"])
    lw = lw.rename(columns={"dynamic_pct": "dyn%", "static_pct": "stat%", "residual_pct": "res%"})
    uw = _view(tables.unitwise, _UNIT_VIEW).rename(
        columns={"dynamic": "u_dyn", "static": "u_stat", "joint": "u_joint",
                 "residual": "u_res", "dead": "u_dead"})
    table = lw.merge(uw, on="layer", how="left", sort=False)
    out = [head]
    if is_untrained(meta):
        out.append("!!! UNTRAINED (random init) !!!")
    out.append(to_fixed_width(table, float_digits=1).rstrip("\n"))
    if "bootstrap" in meta:
        out.append(f"[lo, hi]: 95% bootstrap interval ({_meta_str(meta, 'bootstrap')})")
        out += pairs_needed_lines(tables, half_width)
    out += _notes(tables)
    return "\n".join(out) + "\n"


def write_run_report(
    tables: RunTables, out_dir: Path, title: str | None = None, figures: bool = True
) -> dict[str, Path]:
    """Write the run's CSVs, summary.md, layerwise.png and unitwise.png into ``out_dir``.

    Also ``report_meta.json`` (the run metadata minus the config), which lets the sweep
    aggregator know the estimator and lambda of CSVs re-made with other settings.

    Returns the written paths keyed by file name (``"layerwise.csv"``, ``"summary.md"`` ...).
    ``figures=False`` skips the two PNGs (about half the time of a report), for bulk re-analysis.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, df, cols in (
        ("layerwise.csv", tables.layerwise, LAYERWISE_COLUMNS),
        ("unitwise.csv", tables.unitwise, UNITWISE_COLUMNS),
        ("unit_scores.csv", tables.unit_scores, UNIT_SCORE_COLUMNS),
    ):
        written[name] = write_csv(df, out_dir / name, interval_columns(df, cols))
    meta_path = out_dir / META_JSON
    meta_path.write_text(json.dumps(
        {k: v if isinstance(v, int | float | bool) else str(v)
         for k, v in tables.meta.items() if k != "config"}, indent=2) + "\n")
    written[META_JSON] = meta_path
    summary = out_dir / "summary.md"
    summary.write_text(summary_markdown(tables, title))
    written["summary.md"] = summary
    if not figures:
        return written
    meta = tables.meta
    fig_title = title or f"{_meta_str(meta, 'model')} on {_meta_str(meta, 'dataset')}"
    if is_untrained(meta):
        fig_title += " [UNTRAINED]"
    for name, fig in (
        ("layerwise", layerwise_figure(tables.layerwise, fig_title)),
        ("unitwise", unitwise_figure(tables.unitwise, fig_title)),
    ):
        for path in save_figure(fig, out_dir / name, formats=("png",)):
            written[path.name] = path
    return written
