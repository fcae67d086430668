"""Sweep bookkeeping: a failed job never takes the other jobs down, and is reported at the end.

In a multirun, run.py catches a job's exception, logs it, and writes ``FAILED.txt`` (the error
and traceback) into that job's directory instead of raising, because Hydra's sweepers stop at
the first failed job's result and skip the end-of-sweep callbacks. ``SweepReport`` (a Hydra
callback, registered in conf/config.yaml) then lists every job with its status and error in
``sweep_status.csv`` and on the terminal, and makes the sweep exit non-zero if any job failed.
"""

from __future__ import annotations

import csv
import logging
import sys
import traceback
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("staticdyn")
FAILED = "FAILED.txt"


def record_failure(job_dir: Path, exc: BaseException) -> None:
    job_dir.mkdir(parents=True, exist_ok=True)
    text = f"{type(exc).__name__}: {exc}\n\n" + "".join(
        traceback.format_exception(type(exc), exc, exc.__traceback__))
    (job_dir / FAILED).write_text(text)


def job_status(job_dir: Path) -> tuple[str, str]:
    """('ok' | 'failed' | 'incomplete', first line of the error)."""
    failed = job_dir / FAILED
    if failed.exists():
        return "failed", failed.read_text().splitlines()[0]
    if (job_dir / "layerwise.csv").exists() or (job_dir / "train_log.csv").exists():
        return "ok", ""
    return "incomplete", "no results and no recorded error (killed or still running?)"


class SweepReport(Callback):
    """Prints and writes the status of every job of a multirun when it ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep = Path(str(config.hydra.sweep.dir))
        jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and (p / ".hydra").exists()) \
            if sweep.exists() else []
        rows = []
        for job in jobs:
            status, error = job_status(job)
            overrides = (job / ".hydra" / "overrides.yaml")
            ov = " ".join(x.strip("- \n") for x in overrides.read_text().splitlines()) \
                if overrides.exists() else ""
            rows.append({"job": job.name, "status": status, "overrides": ov, "error": error})
        with (sweep / "sweep_status.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["job", "status", "overrides", "error"])
            w.writeheader()
            w.writerows(rows)
        bad = [r for r in rows if r["status"] != "ok"]
        print(f"\nsweep {sweep}: {len(rows) - len(bad)} of {len(rows)} jobs ok")
        for r in bad:
            print(f"  {r['status'].upper()} {r['job']} [{r['overrides']}]: {r['error']}")
        print(f"status of every job: {sweep / 'sweep_status.csv'}")
        sys.stdout.flush()
        if bad:
            sys.exit(1)
