"""The smoke run: every paper experiment through the real chain on CPU, then every figure.

A figure is only as trustworthy as the chain that made it: experiment config -> Hydra
composition -> pipeline -> features.h5 -> tables -> report. The smoke run therefore fakes no
stage. It composes the *same* experiment configs a user runs with ``python run.py -m
+experiment=...``, expands their sweeps with Hydra's own expansion, runs every job into the
folder Hydra would use (``staticdyn.experiments.sweeps``), then builds the figures from that
folder. Only sizes shrink, and every reduction is data: the experiment's ``experiment.smoke``
block (synthetic data stand-ins, pair counts, grid; ``staticdyn.experiments.catalog``) and each
model card's ``smoke:`` block (clip, builder arguments, stand-in checkpoint). docs/paper_figures.md
says why each one is safe.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from staticdyn.experiments.catalog import (
    TRAIN,
    PaperExperiment,
    SmokePlan,
    figures_of,
    paper_experiments,
)
from staticdyn.experiments.center_bias import ensure_center_bias
from staticdyn.experiments.compose import compose_experiment, hydra_context
from staticdyn.experiments.sweeps import JobHook, JobResult, run_captured, run_sweep

log = logging.getLogger("staticdyn.report")


# -- per job: the model card's smoke block ----------------------------------------------------
def _override_value(value: Any) -> str:
    """A YAML value as Hydra override syntax (lists as ``[a,b]``, mappings as ``{k:v}``, None as
    ``null``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_override_value(v) for v in value) + "]"
    if isinstance(value, dict):  # nested builder arguments (the VIS cards' backbone_kwargs)
        return "{" + ",".join(f"{k}:{_override_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def model_smoke_overrides(card: Mapping[str, Any]) -> list[str]:
    """The overrides a job of this model gets in the smoke, from its card's ``smoke:`` block.

    ``smoke.clip`` and ``smoke.builder_kwargs`` replace (or add) the card's values; a model
    without ``smoke.standin_checkpoint`` runs untrained (``model.checkpoint=null``), one with it
    loads the stand-in file the experiment's checkpoint map points to.
    """
    smoke = card.get("smoke") or {}
    out = [f"model.clip.{k}={_override_value(v)}" for k, v in (smoke.get("clip") or {}).items()]
    out += [f"++model.builder_kwargs.{k}={_override_value(v)}"
            for k, v in (smoke.get("builder_kwargs") or {}).items()]
    return out + ([] if smoke.get("standin_checkpoint") else ["model.checkpoint=null"])


def _job_overrides(_: str, cfg: DictConfig) -> list[str]:
    smoke = OmegaConf.to_container(cfg.model.get("smoke") or {}, resolve=True)
    assert isinstance(smoke, dict)
    return model_smoke_overrides({"smoke": smoke})


def standin_writer(seeds: Mapping[str, int]) -> JobHook:
    """A ``before_job`` hook writing the job's stand-in checkpoint where its config points and
    no file exists yet.

    The file holds the job's own architecture (same builder arguments), initialised from the
    seed of its training tag (``seeds``; else the sum of the tag's character codes), in the
    PyTorchVideo zoo layout ``{"model_state": ...}``: distinct "training sets" give distinct
    weights, and the run loads them through the same strict checkpoint path as a real zoo file.
    """

    def write(_: str, cfg: DictConfig) -> None:
        import torch

        from staticdyn.models.zoo import from_config

        path = cfg.model.get("checkpoint")
        if not path or Path(str(path)).exists():
            return
        model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
        assert isinstance(model_cfg, dict)
        model_cfg.pop("checkpoint_tag", None)
        model_cfg["checkpoint"] = None
        tag = str(cfg.model.get("checkpoint_tag", ""))
        torch.manual_seed(seeds.get(tag, sum(map(ord, tag))))
        module = from_config(model_cfg).module
        Path(str(path)).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"model_state": module.state_dict()}, str(path))

    return write


# -- per experiment: its smoke plan -------------------------------------------------------------
def _standin_checkpoint_overrides(plan: SmokePlan, ckpt_dir: Path) -> list[str]:
    """Paths for the checkpoint-map entries the config leaves at ``???``."""
    return [f"{key}={ckpt_dir / stem}.pyth" for key, stem in plan.standin_checkpoints.items()]


def _center_bias_overrides(plan: SmokePlan, paper_dir: Path) -> list[str]:
    """Synthetic DAVIS-layout sets as Fig. 7's training sets (written on first use)."""
    from staticdyn.data.davis import SyntheticDavisSource

    overrides = []
    for tag, kwargs in plan.center_bias.items():
        src = SyntheticDavisSource(cache_dir=paper_dir / "cache" / "center_bias", **kwargs)
        overrides += [f"center_bias_roots.{tag}={src.root}", f"center_bias_layouts.{tag}=davis"]
    return overrides


@dataclass
class SmokeResult:
    """What the smoke run did: every job, the figure files per figure, the timings."""

    paper_dir: Path
    out_dir: Path
    jobs: list[JobResult]
    figures: dict[str, list[Path]]
    seconds: dict[str, float]
    expected: list[str] = field(default_factory=list)  # figures the run experiments feed

    @property
    def failed_jobs(self) -> list[JobResult]:
        return [j for j in self.jobs if j.error]

    @property
    def missing_figures(self) -> list[str]:
        """Expected figures with no file, or with an empty one."""
        return [n for n in self.expected
                if not (paths := self.figures.get(n))
                or any(not p.is_file() or p.stat().st_size == 0 for p in paths)]

    @property
    def ok(self) -> bool:
        return not self.failed_jobs and not self.missing_figures


def run_smoke(paper_dir: Path, out_dir: Path | None = None,
              experiments: Sequence[str] | None = None, quick: bool = False) -> SmokeResult:
    """Every paper experiment on synthetic data with tiny sizes, then every figure.

    ``paper_dir`` receives the runs (``<paper_dir>/<experiment>/...``), ``out_dir`` (default
    ``<paper_dir>/paper``) the tables and figures. ``experiments`` (default: all that feed a
    figure) picks a subset, and then only their figures are expected. ``quick`` applies each
    experiment's ``smoke.quick`` on top of its smoke grid.
    """
    from staticdyn.report.aggregate import collect_runs, write_sweep_tables
    from staticdyn.report.paper_figures import FigureInputs, build_paper_figures

    paper_dir = Path(paper_dir).resolve()
    out_dir = Path(out_dir) if out_dir else paper_dir / "paper"
    catalog = paper_experiments()
    names = list(experiments or catalog)
    expected = figures_of(catalog, names)
    jobs: list[JobResult] = []
    seconds: dict[str, float] = {}

    with hydra_context():
        for name in names:
            exp = catalog[name]
            t0 = time.perf_counter()
            if exp.kind == TRAIN:
                jobs += _smoke_training(exp, paper_dir)
            else:
                with _cpu_convolutions(onednn=exp.smoke.onednn):
                    jobs += _smoke_sweep(exp, paper_dir, quick)
            seconds[name] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ensure_center_bias(paper_dir)
    sweep = collect_runs(paper_dir)
    write_sweep_tables(sweep, out_dir)
    figures = build_paper_figures(FigureInputs.from_sweep(sweep, out_dir))
    seconds["figures"] = time.perf_counter() - t0
    return SmokeResult(paper_dir, out_dir, jobs, figures, seconds, expected)


def _smoke_sweep(exp: PaperExperiment, paper_dir: Path, quick: bool) -> list[JobResult]:
    """One experiment's smoke sweep (its grid, data stand-ins, checkpoints and shrinking)."""
    plan = exp.smoke
    ckpt_dir = paper_dir / "ckpt"
    overrides = [f"ckpt_dir={ckpt_dir}", "probe.progress=false", *plan.overrides,
                 *_standin_checkpoint_overrides(plan, ckpt_dir),
                 *_center_bias_overrides(plan, paper_dir)]
    params = {**plan.params, **(plan.quick if quick else {})}
    return run_sweep(exp.name, paper_dir, overrides, params, _job_overrides,
                     standin_writer(plan.standin_seeds))


def _smoke_training(exp: PaperExperiment, paper_dir: Path) -> list[JobResult]:
    """A training experiment, run in this process into ``<paper_dir>/<name>``, as
    ``python run.py +experiment=<name>`` would run it there (run.py dispatches on ``mode``)."""
    from staticdyn.experiments.train_job import run_train

    run_dir = paper_dir / exp.name
    overrides = [*exp.smoke.overrides, f"out_dir={run_dir}"]
    t0 = time.perf_counter()
    error = run_captured(run_dir, lambda: run_train(compose_experiment(exp.name, overrides)))
    if error:
        log.error("%s failed: %s", exp.name, error)
    return [JobResult(exp.name, overrides, run_dir, time.perf_counter() - t0, error)]


@contextlib.contextmanager
def _cpu_convolutions(onednn: bool) -> Iterator[None]:
    """oneDNN on or off for one smoke experiment, restored after.

    oneDNN builds a kernel the first time it meets each convolution shape. For the 3D action
    networks it pays off (2-4x faster forwards than torch's fallback, measured here); for the
    segmentation nets' many distinct 2D shapes at the smoke's 32 px it does not (1.5-2x slower,
    and RTNet's first forward spent ~20 s building kernels). Real runs keep torch's default.
    """
    import torch

    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = onednn
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


def format_smoke(result: SmokeResult) -> str:
    """Lines for the terminal: per-experiment time, failed jobs, and each figure's files."""
    lines = [f"smoke run in {result.paper_dir} ({sum(result.seconds.values()):.0f} s)"]
    lines += [f"  {k:<16} {v:6.1f} s" for k, v in result.seconds.items()]
    for job in result.failed_jobs:
        lines.append(f"  FAILED {job.run_dir}: {job.error}")
    for name, paths in result.figures.items():
        status = ("MISSING" if name in result.missing_figures
                  else "ok" if name in result.expected else "extra" if paths else "not run")
        lines.append(f"  {name:<11} {status:<8} " + ", ".join(p.name for p in paths))
    return "\n".join(lines)
