"""Sweep aggregation: every finished run under a directory in two tidy tables.

``layerwise_all.csv`` and ``unitwise_all.csv`` carry one row per (run, layer) with the run's
identity columns (``runs.INFO_COLUMNS``) in front, so a figure is a filter and a groupby away.
``runs_status.csv`` lists every run directory and submitit job with its status: ``ok``,
``incomplete`` (no ``complete`` marker), ``failed`` (a Hydra or submitit error), ``duplicate``
(same identity as a newer run, which is kept) or ``no_results``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from staticdyn.errors import StaticDynError
from staticdyn.metrics.analyze import LAYERWISE_COLUMNS, UNITWISE_COLUMNS
from staticdyn.report.runs import (
    FEATURES,
    INFO_COLUMNS,
    LAYERWISE,
    STATUS_COLUMNS,
    RunInfo,
    find_run_dirs,
    find_submitit_jobs,
    inspect_run,
    submitit_run_dir,
)
from staticdyn.report.seeds import seed_summary
from staticdyn.report.tables import to_latex, to_markdown, write_csv

log = logging.getLogger("staticdyn.report")

PCT_COLUMNS = ["dynamic_pct", "static_pct", "residual_pct"]
CLASS_COLUMNS = ["dynamic", "static", "joint", "residual", "dead"]
_LAYER_VIEW = ["model", "train_dataset", "dataset", "seed", "layer", *PCT_COLUMNS]
_UNIT_VIEW = ["model", "train_dataset", "dataset", "seed", "layer", "lambda", *CLASS_COLUMNS]


@dataclass
class SweepResult:
    """Tidy tables of the kept runs and the status of every run found."""

    layerwise: pd.DataFrame
    unitwise: pd.DataFrame
    status: pd.DataFrame
    root: Path
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> pd.DataFrame:
        return self.status[self.status["status"] != "ok"]


def _status_row(info: RunInfo, status: str, reason: str) -> dict[str, object]:
    return {"run_dir": str(info.run_dir), "status": status, "reason": reason,
            "model": info.keys.get("model", ""), "dataset": info.keys.get("dataset", ""),
            "seed": info.keys.get("seed", ""), "mtime": info.mtime}


def judge(info: RunInfo) -> tuple[str, str]:
    """(status, reason) of a run from its markers, before duplicates are resolved.

    A features file marked complete wins over an error line in the Hydra log: Hydra appends
    to ``<job>.log``, so a run that crashed once and was resumed to the end keeps the old error.
    """
    if info.has_features and info.complete:
        return "ok", f"finished; earlier error in log: {info.error}" if info.error else ""
    if info.error:
        return "failed", info.error
    if info.has_features:
        note = "; ".join(info.notes) or "features.h5 has no complete=True marker"
        return "incomplete", note
    if info.has_tables:
        return "ok", ""
    return "no_results", "no features.h5 and no layerwise.csv (job did not get far)"


def _tables_of(
    info: RunInfo, analyze_missing: bool, n_boot: int
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """A run's layer-wise and unit-wise tables: its CSVs, else computed from the features."""
    lw_path, uw_path = info.run_dir / LAYERWISE, info.run_dir / "unitwise.csv"
    has_ci = False
    if lw_path.is_file():
        lw = pd.read_csv(lw_path)
        uw = pd.read_csv(uw_path) if uw_path.is_file() else pd.DataFrame(columns=UNITWISE_COLUMNS)
        has_ci = "dynamic_pct_lo" in lw.columns
        if not (n_boot and not has_ci and info.has_features):
            return lw, uw
    if not info.has_features or not (analyze_missing or n_boot):
        return None
    from staticdyn.metrics.analyze import analyze_with_intervals

    seed = info.keys.get("seed")
    tables = analyze_with_intervals(
        info.run_dir / FEATURES, lam=float(info.keys["lambda"] or 0.5),
        estimator=info.keys["estimator"] or "pooled", n_boot=n_boot,
        seed=int(seed) if str(seed).isdigit() else 0)  # the run's seed, as the run itself
    return tables.layerwise, tables.unitwise


def _with_keys(df: pd.DataFrame, info: RunInfo) -> pd.DataFrame:
    """Run identity in front, the run's own layer order kept as ``layer_index``."""
    df = df.drop(columns=[c for c in ("model", "dataset") if c in df.columns]).copy()
    if "lambda" in df.columns:
        df = df.drop(columns=["lambda"])
    df.insert(0, "layer_index", np.arange(len(df)))
    for col in reversed(INFO_COLUMNS):
        value = info.keys.get(col) if col in info.keys else None
        if col == "untrained":
            value = info.untrained
        elif col == "run_dir":
            value = str(info.run_dir)
        df.insert(0, col, value)
    return df


def collect_runs(
    root: str | Path, analyze_missing: bool = True, n_boot: int = 0
) -> SweepResult:
    """Every run under ``root`` judged, duplicates resolved, finished runs' tables stacked.

    ``analyze_missing`` computes the tables of a finished run that has features but no CSVs;
    ``n_boot`` > 0 bootstraps intervals for runs whose CSVs lack them (needs features.h5).
    """
    root = Path(root)
    infos = [inspect_run(d) for d in find_run_dirs(root)]
    for info in infos:  # the unit-wise table knows which lambda the CSVs were made with
        uw = info.run_dir / "unitwise.csv"
        if uw.is_file():
            try:
                lam = pd.read_csv(uw, usecols=["lambda"])["lambda"]
                if len(lam):
                    info.keys["lambda"] = str(float(lam.iloc[0]))
            except (ValueError, KeyError):
                pass
        elif info.keys.get("lambda"):
            info.keys["lambda"] = str(float(info.keys["lambda"]))
    by_dir = {info.run_dir.resolve(): info for info in infos}
    status: dict[Path, tuple[str, str]] = {d: judge(i) for d, i in by_dir.items()}
    extra_rows = []
    for job in find_submitit_jobs(root):
        target = submitit_run_dir(job)
        if job.status != "error":
            continue
        reason = f"submitit {job.job_id}: {job.reason}"
        if target is not None and target.resolve() in by_dir:
            d = target.resolve()
            if by_dir[d].complete:  # a requeued job finished the same run later
                status[d] = (status[d][0], f"finished; earlier {reason}")
            else:
                status[d] = ("failed", reason)
        else:
            extra_rows.append({"run_dir": str(target or job.path), "status": "failed",
                               "reason": reason, "model": "", "dataset": "", "seed": "",
                               "mtime": job.path.stat().st_mtime})
    # Duplicates: same identity twice -> keep the newest, report the others.
    groups: dict[tuple[str, ...], list[Path]] = {}
    for d, (st, _) in status.items():
        if st == "ok":
            groups.setdefault(by_dir[d].key(), []).append(d)
    for dirs in groups.values():
        if len(dirs) > 1:
            dirs.sort(key=lambda d: by_dir[d].mtime, reverse=True)
            for old in dirs[1:]:
                status[old] = ("duplicate", f"same run key as newer {by_dir[dirs[0]].run_dir}")
    lw_frames, uw_frames, notes = [], [], []
    for d, (st, _) in list(status.items()):
        if st != "ok":
            continue
        info = by_dir[d]
        try:
            got = _tables_of(info, analyze_missing, n_boot)
        except (OSError, KeyError, ValueError, StaticDynError) as exc:
            status[d] = ("failed", f"tables unreadable: {exc}")
            continue
        if got is None:
            status[d] = ("no_results", "finished features but no layerwise.csv (analysis off)")
            continue
        lw_frames.append(_with_keys(got[0], info))
        uw_frames.append(_with_keys(got[1], info))
    rows = [_status_row(by_dir[d], st, why) for d, (st, why) in status.items()] + extra_rows
    status_df = pd.DataFrame(rows, columns=STATUS_COLUMNS).sort_values(
        ["status", "run_dir"], kind="stable", ignore_index=True)
    lw_cols = INFO_COLUMNS + ["layer_index"] + [c for c in LAYERWISE_COLUMNS
                                                 if c not in ("model", "dataset")]
    uw_cols = INFO_COLUMNS + ["layer_index", "layer", *CLASS_COLUMNS]
    lw_all = _stack(lw_frames, lw_cols)
    uw_all = _stack(uw_frames, uw_cols)
    return SweepResult(lw_all, uw_all, status_df, root, notes)


def _stack(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """Concatenate, documented columns first, interval columns after them."""
    if not frames:
        return pd.DataFrame(columns=columns)
    df = pd.concat(frames, ignore_index=True)
    extra = [c for c in df.columns if c not in columns]
    return df[[c for c in columns if c in df.columns] + extra]


def write_sweep_tables(result: SweepResult, out_dir: str | Path) -> dict[str, Path]:
    """layerwise_all / unitwise_all (CSV + Markdown + LaTeX), seed summaries, runs_status.csv."""
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    for name, df, view in (("layerwise_all", result.layerwise, _LAYER_VIEW),
                           ("unitwise_all", result.unitwise, _UNIT_VIEW)):
        # The CSV keeps every column; the Markdown and LaTeX versions show a readable subset.
        written[f"{name}.csv"] = write_csv(df, out_dir / f"{name}.csv")
        shown = [c for c in view if c in df.columns]
        shown += [c for c in df.columns if c.endswith(("_lo", "_hi")) and c[:-3] in view]
        md, tex = out_dir / f"{name}.md", out_dir / f"{name}.tex"
        md.write_text(to_markdown(df, shown))
        tex.write_text(to_latex(df, shown, caption=name.replace("_", " ")))
        written[f"{name}.md"], written[f"{name}.tex"] = md, tex
    if not result.layerwise.empty:
        seeds = seed_summary(result.layerwise, PCT_COLUMNS)
        written["layerwise_seeds.csv"] = write_csv(seeds, out_dir / "layerwise_seeds.csv")
    written["runs_status.csv"] = write_csv(result.status, out_dir / "runs_status.csv",
                                           STATUS_COLUMNS)
    return written


def format_status(result: SweepResult) -> str:
    """Lines for stdout: counts per status, one line per run that is not ok or has a note."""
    counts = result.status["status"].value_counts()
    lines = [f"{len(result.status)} runs under {result.root}: "
             + ", ".join(f"{int(n)} {s}" for s, n in counts.items())]
    st = result.status
    noted = st[(st["status"] != "ok") | (st["reason"].fillna("").astype(str) != "")]
    for row in noted.itertuples(index=False):
        lines.append(f"  {row.status:<10} {row.run_dir}: {row.reason}")
    return "\n".join(lines) + "\n"

