"""The runs of several sweep folders read as one sweep, for one set of figures.

The experiments write to one folder each (``paper_runs/fig3``, ``paper_runs/fig4`` ...), and a
user may keep them on different disks; the figures need them together.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from staticdyn.report.aggregate import SweepResult


def collect_many(dirs: Sequence[Path], staging: Path, n_boot: int = 0,
                 analyze_missing: bool = True) -> SweepResult:
    """The runs of several sweep folders as one sweep, as if they shared a parent.

    One folder is ``collect_runs`` itself. For several, the tables are stacked; a run identity
    found in more than one folder keeps only its newest copy (the others are listed as
    ``duplicate``, as ``collect_runs`` does within one folder); the side files the figures look
    for (``shuffle_results.csv``, ``center_bias.npy``) are copied under ``staging``, keeping
    their parent folder's name, which titles the Fig. 7 panels.
    """
    import pandas as pd

    from staticdyn.report.aggregate import collect_runs
    from staticdyn.report.paper_figures import CENTER_BIAS, SHUFFLE_CSV
    from staticdyn.report.runs import KEY_COLUMNS

    dirs = [Path(d) for d in dirs]
    if len(dirs) == 1:
        return collect_runs(dirs[0], analyze_missing=analyze_missing, n_boot=n_boot)
    parts = [collect_runs(d, analyze_missing=analyze_missing, n_boot=n_boot) for d in dirs]
    lw = pd.concat([p.layerwise for p in parts], ignore_index=True)
    uw = pd.concat([p.unitwise for p in parts], ignore_index=True)
    status = pd.concat([p.status for p in parts], ignore_index=True)
    newest = status.set_index("run_dir")["mtime"].to_dict()
    dropped: set[str] = set()
    if not lw.empty:
        runs = lw[[*KEY_COLUMNS, "run_dir"]].astype(str).drop_duplicates()
        for _, g in runs.groupby(KEY_COLUMNS, sort=False):
            if len(g) > 1:
                keep = max(g["run_dir"], key=lambda d: newest.get(d, 0.0))
                dropped |= set(g["run_dir"]) - {keep}
    if dropped:
        lw = lw[~lw["run_dir"].astype(str).isin(dropped)].reset_index(drop=True)
        uw = uw[~uw["run_dir"].astype(str).isin(dropped)].reset_index(drop=True)
        hit = status["run_dir"].astype(str).isin(dropped)
        status.loc[hit, "status"] = "duplicate"
        status.loc[hit, "reason"] = "same run key as a newer run in another sweep folder"
    if staging.exists():
        shutil.rmtree(staging)
    for i, d in enumerate(dirs):
        for name in (SHUFFLE_CSV, CENTER_BIAS):
            for src in sorted(p for p in d.rglob(name) if p.is_file()):
                rel = src.relative_to(d)
                dst = staging / f"{i}_{d.name}" / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
    staging.mkdir(parents=True, exist_ok=True)
    notes = [n for p in parts for n in p.notes]
    return SweepResult(lw, uw, status, staging, notes)
