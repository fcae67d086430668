"""The papers' experiments as code: which ``conf/experiment`` config feeds which figure, and
the smoke run that pushes every one of them through the real chain on CPU.

A figure is only as trustworthy as the chain that made it: experiment config -> Hydra
composition -> pipeline -> features.h5 -> tables -> report. The smoke run therefore does not
fake any stage. It composes the *same* experiment configs a user runs with
``python run.py -m +experiment=...``, expands their ``hydra.sweeper.params`` with Hydra's own
sweep expansion, runs ``staticdyn.pipeline.run`` for every job into the job folder Hydra would
use (``<paper_dir>/<experiment>/<num>_<model>_..._seed<k>/`` with ``.hydra/``), then builds the
figures from that folder. Only sizes shrink: synthetic data stands in for the real sets, pair
counts are small, crops are 32 px and the segmentation nets have one residual block per stage
(``EXPERIMENTS`` and ``smoke_job_overrides`` list every change; docs/paper_figures.md says why).

Jobs run in one process rather than through ``run.py -m``: that saves a Python + torch start
per job (seconds each, most of the smoke's budget). What a launcher adds (job folders,
``.hydra/config.yaml``, ``FAILED.txt`` for a failed job) is reproduced here, and the
experiment configs' multirun composition itself is covered by tests/report/test_paper_smoke.py.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from omegaconf import DictConfig, OmegaConf, open_dict

from staticdyn.report.aggregate import SweepResult

log = logging.getLogger("staticdyn.report")

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
CENTER_BIAS_DIR = "center_bias"
MISSING = "???"


@dataclass(frozen=True)
class Experiment:
    """One ``conf/experiment/<name>.yaml`` and the figures it feeds.

    ``smoke_params`` replace entries of the config's ``hydra.sweeper.params`` in the smoke run
    (as a command-line sweep would); ``smoke_overrides`` are fixed overrides for every job;
    ``quick_params`` shrink the grid further for the quick smoke of the test suite, which still
    gives every figure its inputs (one model per Fig. 3 family, fewer seeds).

    ``kind`` is ``sweep`` for the probe multiruns (``python run.py -m +experiment=NAME``) and
    ``train`` for a training experiment that is one run (``python run.py +experiment=NAME``,
    ``mode: train``), such as the shuffled-frame training of Fig. 5 right.
    """

    name: str
    figures: tuple[str, ...]
    kind: str = "sweep"
    onednn: bool = True  # smoke only; see _cpu_convolutions
    smoke_params: dict[str, str] = field(default_factory=dict)
    smoke_overrides: tuple[str, ...] = ()
    quick_params: dict[str, str] = field(default_factory=dict)


SMOKE_CROP = 32  # px, every model's clip in the smoke
# Synthetic stand-ins. Action: 24 videos of 16 frames at 48 px, 12 pairs. Segmentation: 3
# sequences of 5 frames at 48 px in the DAVIS layout, 8 pairs over 2 passes.
SMOKE_ACTION_DATA: tuple[str, ...] = (
    "dataset=synthetic_tiny", "probe.n_pairs=12", "probe.batch_size=8",
)
SMOKE_VOS_DATA: tuple[str, ...] = (
    "dataset=synthetic_vos", "dataset.cache_dir=${paper_dir}/cache/synthetic_vos",
    "dataset.n_sequences=3", "dataset.num_frames=5", "dataset.size=48",
    "probe.n_pairs=8", "probe.nreps=2", "probe.batch_size=8",
)

EXPERIMENTS: dict[str, Experiment] = {
    "fig3": Experiment(
        "fig3", ("fig3_left", "fig3_right"),
        smoke_params={"probe.seed": "0"},
        smoke_overrides=SMOKE_ACTION_DATA,
        quick_params={"model": "x3d_xs,slowfast_r50,mvit_base_16x4_slowfast"},
    ),
    "fig4": Experiment(
        "fig4", ("fig4",),
        # RTNet with ResNet-34 streams stands in for the ResNeXt-50 one: the first grouped
        # convolution forward on CPU costs ~20-30 s, a tenth of the whole smoke budget.
        smoke_params={"model": "fusionseg,matnet,rtnet_r34", "probe.seed": "1,2"},
        smoke_overrides=SMOKE_VOS_DATA, onednn=False,
        quick_params={"model": "fusionseg,rtnet_r34"},
    ),
    "fig5_6": Experiment(
        "fig5_6", ("fig5_left", "fig6"),
        # The config's own sweep over the training set (experiment/fig5_6_train); one synthetic
        # set stands in for the three probing sets, and each (model, training set) loads its
        # own stand-in checkpoint (``ensure_standin_checkpoint``) through the config's map.
        smoke_params={"dataset": "synthetic_tiny", "probe.seed": "0"},
        smoke_overrides=(*SMOKE_ACTION_DATA, "+data_roots.synthetic_tiny=unused",
                         "~dataset.root"),
        quick_params={"model": "fast_r50"},
    ),
    "table1_fig7": Experiment(
        "table1_fig7", ("table1", "fig7"),
        smoke_params={"probe.seed": "1,2"},
        smoke_overrides=SMOKE_VOS_DATA, onednn=False,
        quick_params={"probe.seed": "1"},
    ),
    # Fig. 5 right: the training helper's experiment (staticdyn/train/experiments/shuffle.py),
    # an ordered and a shuffled-frame training per dataset, writing shuffle_results.csv. The
    # smoke trains each for 8 steps on 20 videos of 32 px and validates on the other 20 (half,
    # so that top-1 is rarely exactly 0, which would leave the drop undefined): the accuracies
    # are noise, but every step of the chain runs.
    "shuffle_training": Experiment(
        "shuffle_training", ("fig5_right",), kind="train",
        smoke_overrides=(
            "dataset.n_videos=40", "dataset.size=32", f"model.clip.crop={SMOKE_CROP}",
            f"model.clip.short_side={SMOKE_CROP}", "train.max_steps=8", "train.batch_size=8",
            "train.log_every=4", "train.val_fraction=0.5",
            "experiment.datasets.motion.train.style_warmup_epochs=0",
        ),
    ),
}

# Checkpoints in the smoke. SlowOnly and FastOnly load stand-in checkpoints (one per training
# tag, written by ``ensure_standin_checkpoint``), in Fig. 3 as in Fig. 5/6, so that their
# Kinetics-400 runs are the same run in both, as with real weights. Every other model runs
# untrained: zoo-sized files for six more action models, or for VOS nets that keep their full
# widths, would be gigabytes written per CI run.
STANDIN_MODELS: frozenset[str] = frozenset({"slow_r50", "fast_r50"})
STANDIN_SEEDS: dict[str, int] = {"kinetics400": 400, "diving48": 48, "ssv2": 2}

# Per-model shrinking for the smoke. Layer widths and depths stay those of the real networks
# (so the layer names and unit counts the figures show are the real ones) except where noted.
_TINY_CLIP = [f"model.clip.crop={SMOKE_CROP}", f"model.clip.short_side={SMOKE_CROP}"]
_TINY_BY_MODEL: dict[str, list[str]] = {
    # Transformers size their positional embeddings from the clip: both must shrink together.
    **{name: [*_TINY_CLIP, "model.clip.frames=4", f"model.builder_kwargs.spatial_size={SMOKE_CROP}",
              "model.builder_kwargs.temporal_size=4"]
       for name in ("mvit_base_16x4", "mvit_base_16x4_slowfast", "mvit_base_32x3")},
    "timesformer": [*_TINY_CLIP, "model.clip.frames=2",
                    f"model.builder_kwargs.img_size={SMOKE_CROP}",
                    "model.builder_kwargs.num_frames=2"],
    # SlowOnly at 1/8 width (like FastOnly): its stand-in checkpoints stay ~2 MB, not 130 MB.
    "slow_r50": [*_TINY_CLIP, "++model.builder_kwargs.stem_dim_out=8"],
}
# Segmentation nets: one residual block per stage (names and widths unchanged).
_TINY_VOS = ["++model.builder_kwargs.blocks=[1,1,1,1]", f"model.clip.crop={SMOKE_CROP}",
             "model.clip.short_side=40"]


def smoke_job_overrides(model: str, task: str) -> list[str]:
    """The smoke's overrides for one job: shrinking, and no checkpoint unless a stand-in."""
    base = _TINY_VOS if task == "vos" else _TINY_BY_MODEL.get(model, _TINY_CLIP)
    return [*base] + ([] if model in STANDIN_MODELS else ["model.checkpoint=null"])


# -- composing and expanding ------------------------------------------------------------------
def compose_experiment(name: str, overrides: Sequence[str] = (),
                       hydra_config: bool = False) -> DictConfig:
    """``conf/config.yaml`` + ``+experiment=<name>`` + overrides, as ``run.py`` composes it."""
    from hydra import compose
    from hydra.core.global_hydra import GlobalHydra

    args = {"overrides": [f"+experiment={name}", *overrides], "return_hydra_config": hydra_config}
    if GlobalHydra.instance().is_initialized():  # inside hydra_context(): reuse it
        return compose("config", **args)
    with hydra_context():
        return compose("config", **args)


@contextlib.contextmanager
def hydra_context() -> Iterator[None]:
    """Hydra initialised on conf/ once, for many compositions (each init costs ~0.1 s)."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        yield
        return
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        yield


def list_experiments() -> list[str]:
    """Every experiment config in conf/experiment (the ones ``+experiment=`` accepts)."""
    return sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def sweep_params(name: str, overrides: Sequence[str] = ()) -> dict[str, str]:
    """The experiment's ``hydra.sweeper.params`` (key -> comma-separated values)."""
    cfg = compose_experiment(name, overrides, hydra_config=True)
    params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
    return {str(k): str(v) for k, v in params.items()}


def expand_sweep(params: dict[str, str]) -> list[list[str]]:
    """Job override lists of a sweep, in Hydra's BasicSweeper order (its own expansion)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    batches = BasicSweeper.split_arguments(parsed, None)
    return [list(job) for batch in batches for job in batch]


# -- running ------------------------------------------------------------------------------------
@dataclass
class JobResult:
    """One job of a sweep: where it ran, whether it worked, and how long it took."""

    experiment: str
    overrides: list[str]
    run_dir: Path
    seconds: float
    error: str | None = None


JobHook = Callable[[str, DictConfig], None]


def run_sweep(
    name: str,
    paper_dir: Path,
    overrides: Sequence[str] = (),
    params: dict[str, str] | None = None,
    per_job: Callable[[str, DictConfig], list[str]] | None = None,
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
               params: dict[str, str] | None,
               per_job: Callable[[str, DictConfig], list[str]] | None,
               before_job: JobHook | None) -> list[JobResult]:
    from staticdyn.experiments.callbacks import record_failure
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
        error = None
        try:
            if before_job is not None:
                before_job(name, task_cfg)
            with contextlib.redirect_stdout(io.StringIO()) as out:
                try:
                    run(task_cfg)
                finally:
                    (run_dir / "run.log").write_text(out.getvalue())
        except Exception as exc:  # noqa: BLE001 - a sweep records a failed job and goes on
            record_failure(run_dir, exc)
            error = f"{type(exc).__name__}: {exc}"
            log.error("%s job %d failed: %s", name, num, error)
        results.append(JobResult(name, job, run_dir, time.perf_counter() - t0, error))
    return results


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


# -- Fig. 7 inputs --------------------------------------------------------------------------
def center_bias_requests(sweep_root: Path) -> dict[Path, dict[str, tuple[str, str]]]:
    """Centre-bias maps the runs under ``sweep_root`` ask for, per sweep folder.

    The Table 1 / Fig. 7 experiment carries ``center_bias_roots`` (training set -> mask root)
    and ``center_bias_layouts`` in its config; every job saves them in ``.hydra/config.yaml``,
    so the figure step knows which maps to make without a second place to configure them.
    Entries left at ``???`` are skipped.
    """
    found: dict[Path, dict[str, tuple[str, str]]] = {}
    for cfg_path in sorted(Path(sweep_root).rglob(".hydra/config.yaml")):
        try:
            data = yaml.safe_load(cfg_path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        roots = data.get("center_bias_roots") or {}
        layouts = data.get("center_bias_layouts") or {}
        sweep_dir = cfg_path.parent.parent.parent
        for tag, root in roots.items():
            if root in (None, MISSING) or "${" in str(root):
                continue
            found.setdefault(sweep_dir, {})[str(tag)] = (str(root), str(layouts.get(tag, "auto")))
    return found


def ensure_center_bias(sweep_root: Path) -> list[Path]:
    """Write every requested centre-bias map that is not there yet; returns the .npy paths.

    Maps go to ``<sweep>/center_bias/<training set>/center_bias.npy`` (Fig. 7 titles each panel
    with that folder's name), beside the runs of the same experiment.
    """
    from staticdyn.data.davis import CENTER_BIAS_SIZE, center_bias, mask_paths

    written = []
    for sweep_dir, requests in center_bias_requests(sweep_root).items():
        for tag, (root, layout) in requests.items():
            out = sweep_dir / CENTER_BIAS_DIR / tag / "center_bias.npy"
            if not out.is_file():
                out.parent.mkdir(parents=True, exist_ok=True)
                bias = center_bias(mask_paths(Path(root), layout), CENTER_BIAS_SIZE)
                np.save(out, bias)
                log.info("centre bias of %s (%s) -> %s", tag, root, out)
            written.append(out)
    return written


# -- several sweep folders ------------------------------------------------------------------
def collect_many(dirs: Sequence[Path], staging: Path, n_boot: int = 0) -> SweepResult:
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
        return collect_runs(dirs[0], n_boot=n_boot)
    parts = [collect_runs(d, n_boot=n_boot) for d in dirs]
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


# -- the smoke run ----------------------------------------------------------------------------
def ensure_standin_checkpoint(experiment: str, cfg: DictConfig) -> None:
    """Write a stand-in checkpoint where the job's config points and no file exists yet.

    The file holds the job's own architecture (same builder arguments), initialised from a seed
    of the training tag, in the PyTorchVideo zoo layout ``{"model_state": ...}``: distinct
    "training sets" give distinct weights, and the run loads them through the same strict
    checkpoint path as a real zoo file.
    """
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
    torch.manual_seed(STANDIN_SEEDS.get(tag, sum(map(ord, tag))))
    module = from_config(model_cfg).module
    Path(str(path)).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model_state": module.state_dict()}, str(path))


def _smoke_center_bias_overrides(paper_dir: Path) -> list[str]:
    """Three synthetic DAVIS-layout sets (different seeds and object counts) as the training
    sets of Fig. 7, so that the three maps differ."""
    from staticdyn.data.davis import SyntheticDavisSource

    overrides = []
    for k, tag in enumerate(("davis16", "imagenet_vid", "tao_vos")):
        src = SyntheticDavisSource(cache_dir=paper_dir / "cache" / "center_bias", n_sequences=3,
                                   num_frames=4, size=48, seed=10 + k, n_objects=1 + k % 2)
        overrides += [f"center_bias_roots.{tag}={src.root}", f"center_bias_layouts.{tag}=davis"]
    return overrides


def _smoke_checkpoint_overrides(name: str, ckpt_dir: Path) -> list[str]:
    """Paths for the stand-in models' map entries the configs leave at ``???``.

    SlowOnly on Kinetics-400 keeps the config's zoo file name under ``ckpt_dir``; Fig. 3's flat
    entry for FastOnly names the same file as Fig. 5/6's Kinetics-400 one.
    """
    def path(model: str, tag: str) -> Path:
        return ckpt_dir / f"{model}_{tag}.pyth"

    if name == "fig3":
        return [f"checkpoints.fast_r50={path('fast_r50', 'kinetics400')}"]
    if name == "fig5_6":
        return [f"checkpoints.{m}.{t}={path(m, t)}" for m in sorted(STANDIN_MODELS)
                for t in STANDIN_SEEDS if (m, t) != ("slow_r50", "kinetics400")]
    return []


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
    """Every experiment on synthetic data with tiny sizes, then every figure from the result.

    ``paper_dir`` receives the runs (``<paper_dir>/<experiment>/...``), ``out_dir`` (default
    ``<paper_dir>/paper``) the tables and figures. ``experiments`` (default: all) picks a subset,
    and then only their figures are expected. ``quick`` applies each experiment's
    ``quick_params`` on top of its smoke grid.
    """
    from staticdyn.report.aggregate import collect_runs, write_sweep_tables
    from staticdyn.report.paper_figures import FigureInputs, build_paper_figures

    paper_dir = Path(paper_dir).resolve()
    out_dir = Path(out_dir) if out_dir else paper_dir / "paper"
    ckpt_dir = paper_dir / "ckpt"
    names = list(experiments or EXPERIMENTS)
    jobs: list[JobResult] = []
    seconds: dict[str, float] = {}

    with hydra_context():
        for name in names:
            if EXPERIMENTS[name].kind == "train":
                jobs += _smoke_training(name, paper_dir, seconds)
                continue
            with _cpu_convolutions(onednn=EXPERIMENTS[name].onednn):
                jobs += _smoke_experiment(name, paper_dir, ckpt_dir, quick, seconds)
    t0 = time.perf_counter()
    ensure_center_bias(paper_dir)
    sweep = collect_runs(paper_dir)
    write_sweep_tables(sweep, out_dir)
    figures = build_paper_figures(FigureInputs.from_sweep(sweep, out_dir))
    seconds["figures"] = time.perf_counter() - t0
    return SmokeResult(paper_dir, out_dir, jobs, figures, seconds, figures_of(names))


def _smoke_experiment(name: str, paper_dir: Path, ckpt_dir: Path, quick: bool,
                      seconds: dict[str, float]) -> list[JobResult]:
    """One experiment's smoke sweep (its grid, data stand-ins, checkpoints and shrinking)."""

    def per_job(_: str, cfg: DictConfig) -> list[str]:
        return smoke_job_overrides(str(cfg.model.name), str(cfg.probe.get("task", "action")))

    exp = EXPERIMENTS[name]
    overrides = [f"ckpt_dir={ckpt_dir}", "probe.progress=false", *exp.smoke_overrides]
    overrides += _smoke_checkpoint_overrides(name, ckpt_dir)
    if name == "table1_fig7":
        overrides += _smoke_center_bias_overrides(paper_dir)
    params = {**exp.smoke_params, **(exp.quick_params if quick else {})}
    t0 = time.perf_counter()
    jobs = run_sweep(name, paper_dir, overrides, params, per_job, ensure_standin_checkpoint)
    seconds[name] = time.perf_counter() - t0
    return jobs


def _smoke_training(name: str, paper_dir: Path, seconds: dict[str, float]) -> list[JobResult]:
    """A training experiment, run in this process into ``<paper_dir>/<name>``, as
    ``python run.py +experiment=<name>`` would run it there (run.py dispatches on ``mode``)."""
    from staticdyn.experiments.callbacks import record_failure
    from staticdyn.experiments.train_job import run_train

    run_dir = paper_dir / name
    overrides = [*EXPERIMENTS[name].smoke_overrides, f"out_dir={run_dir}"]
    t0 = time.perf_counter()
    error = None
    try:
        cfg = compose_experiment(name, overrides)
        run_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.redirect_stdout(io.StringIO()) as out:
            try:
                run_train(cfg)
            finally:
                (run_dir / "run.log").write_text(out.getvalue())
    except Exception as exc:  # noqa: BLE001 - reported with the sweeps' failures
        record_failure(run_dir, exc)
        error = f"{type(exc).__name__}: {exc}"
        log.error("%s failed: %s", name, error)
    seconds[name] = time.perf_counter() - t0
    return [JobResult(name, overrides, run_dir, seconds[name], error)]


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


def figures_of(names: Sequence[str]) -> list[str]:
    """The figure names the given experiments feed (for partial smoke runs)."""
    return [f for n in names for f in EXPERIMENTS[n].figures]

