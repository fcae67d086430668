"""lambda_sweep.csv and lambda_sweep.png of one run (the numbers: ``metrics.lambda_sweep``)."""

from __future__ import annotations

from pathlib import Path

from staticdyn.metrics.analyze import RunTables
from staticdyn.metrics.lambda_sweep import SWEEP_COLUMNS, lambda_sweep
from staticdyn.report.figures import lambda_sweep_figure, save_figure
from staticdyn.report.run_report import is_untrained
from staticdyn.report.tables import write_csv


def write_lambda_sweep(tables: RunTables, out_dir: str | Path) -> dict[str, Path]:
    """lambda_sweep.csv and lambda_sweep.png for a run; returns the paths by file name."""
    out_dir = Path(out_dir)
    sweep = lambda_sweep(tables.unit_scores)
    written = {"lambda_sweep.csv": write_csv(sweep, out_dir / "lambda_sweep.csv", SWEEP_COLUMNS)}
    title = f"{tables.meta.get('model', '?')} on {tables.meta.get('dataset', '?')}"
    if is_untrained(tables.meta):
        title += " [UNTRAINED]"
    fig = lambda_sweep_figure(sweep, title=title, mark=float(tables.meta.get("lambda", 0.5)))
    for path in save_figure(fig, out_dir / "lambda_sweep", formats=("png",)):
        written[path.name] = path
    return written
