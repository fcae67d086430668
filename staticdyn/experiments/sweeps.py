"""Running an experiment's sweep in this process, laid out as ``run.py -m`` lays it out.

Each job runs ``staticdyn.pipeline.run`` in the job folder Hydra would use
(``<paper_dir>/<experiment>/<num>_<model>_..._seed<k>/`` with ``.hydra/``). Running in one
process saves a Python + torch start per job (seconds each, most of the smoke's budget); what a
launcher adds (job folders, ``.hydra/config.yaml``, ``FAILED.txt`` for a failed job) is
reproduced here, and the experiment configs' multirun composition itself is covered by
tests/report/test_paper_smoke.py.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf, open_dict

from staticdyn.experiments.compose import (
    compose_experiment,
    expand_sweep,
    hydra_context,
    sweep_params,
)

log = logging.getLogger("staticdyn.report")


@dataclass
class JobResult:
    """One job of a sweep: where it ran, whether it worked, and how long it took."""

    experiment: str
    overrides: list[str]
    run_dir: Path
    seconds: float
    error: str | None = None


JobHook = Callable[[str, DictConfig], None]
PerJob = Callable[[str, DictConfig], list[str]]


def run_sweep(
    name: str,
    paper_dir: Path,
    overrides: Sequence[str] = (),
    params: dict[str, str] | None = None,
    per_job: PerJob | None = None,
    before_job: JobHook | None = None,
) -> list[JobResult]:
    """Run every job of experiment ``name`` in this process, as ``run.py -m`` would lay it out.

    ``params`` replace entries of the config's sweeper params; ``per_job(name, cfg)`` returns
    extra overrides for a job given its composed config (the smoke's per-model shrinking);
    ``before_job(name, cfg)`` prepares inputs (the smoke's stand-in checkpoints). A failed job
    is recorded in its folder (``FAILED.txt``) and the others still run, as in a sweep.
    """
    with hydra_context():
        return _run_sweep(name, paper_dir, overrides, params, per_job, before_job)


def _run_sweep(name: str, paper_dir: Path, overrides: Sequence[str],
               params: dict[str, str] | None, per_job: PerJob | None,
               before_job: JobHook | None) -> list[JobResult]:
    from staticdyn.pipeline import run

    base = [f"paper_dir={paper_dir}", *overrides]
    grid = {**sweep_params(name, base), **(params or {})}
    results = []
    for num, job in enumerate(expand_sweep(grid)):
        job_overrides = [*job, *base, f"hydra.job.num={num}"]
        cfg = compose_experiment(name, job_overrides, hydra_config=True)
        if per_job is not None:
            job_overrides += per_job(name, cfg)
            cfg = compose_experiment(name, job_overrides, hydra_config=True)
        run_dir = Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
        task_cfg = _task_config(cfg, run_dir, job_overrides)
        t0 = time.perf_counter()
        error = run_captured(run_dir, partial(_job, task_cfg, name, before_job, run))
        if error:
            log.error("%s job %d failed: %s", name, num, error)
        results.append(JobResult(name, job, run_dir, time.perf_counter() - t0, error))
    return results


def _job(cfg: DictConfig, name: str, before_job: JobHook | None,
         run: Callable[[DictConfig], object]) -> None:
    if before_job is not None:
        before_job(name, cfg)
    run(cfg)


def run_captured(run_dir: Path, job: Callable[[], object]) -> str | None:
    """Run ``job`` with its stdout saved to ``run_dir/run.log``; a failure is recorded in
    ``FAILED.txt`` (as ``run.py -m`` does) and returned as one line, never raised."""
    from staticdyn.experiments.callbacks import record_failure

    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.redirect_stdout(io.StringIO()) as out:
            try:
                job()
            finally:
                (run_dir / "run.log").write_text(out.getvalue())
    except Exception as exc:  # noqa: BLE001 - a sweep records a failed job and goes on
        record_failure(run_dir, exc)
        return f"{type(exc).__name__}: {exc}"
    return None


def _task_config(cfg: DictConfig, run_dir: Path, overrides: list[str]) -> DictConfig:
    """The job's config without ``hydra``, saved as Hydra saves it, aimed at ``run_dir``.

    ``.hydra/config.yaml`` is written unresolved, as Hydra writes it, so the report reads these
    folders exactly as it reads a real multirun's.
    """
    task = cfg.copy()
    with open_dict(task):
        del task["hydra"]
    hydra_dir = run_dir / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    (hydra_dir / "config.yaml").write_text(OmegaConf.to_yaml(task))
    (hydra_dir / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    with open_dict(task):
        task.out_dir = str(run_dir)
    return task
