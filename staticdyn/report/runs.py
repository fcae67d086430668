"""Finding the runs of a sweep and judging each one: finished, incomplete, failed or duplicate.

A sweep directory is whatever Hydra and submitit left behind: ``outputs/<model>/<dataset>/seedK``
folders, ``multirun/<time>/<num>_<model>_<dataset>_seedK`` folders with ``.hydra/``, and
``.submitit/<job>/`` logs. A run that did not finish must show up in the status table: a figure
that quietly lacks a model is worse than a figure that fails, so nothing is dropped unreported.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import yaml

from staticdyn.report.run_report import META_JSON

FEATURES = "features.h5"
LAYERWISE = "layerwise.csv"
HYDRA_CONFIG = Path(".hydra") / "config.yaml"

# Probe settings that change the features (and so the result); batch size, device, threads
# or progress bars do not, so they are not part of a run's identity.
KEY_COLUMNS: list[str] = [
    "model", "dataset", "train_dataset", "checkpoint", "task", "sampler", "n_pairs",
    "clip_start", "dynamic_pairs", "vis_pooling", "estimator", "lambda", "shard", "seed",
]
INFO_COLUMNS: list[str] = [*KEY_COLUMNS, "untrained", "run_dir"]
# Model card keys the figures group by (conf/model/*.yaml): every run records its resolved
# card in its config, so the report reads them there and never guesses from a model's name.
CARD_FACTS: tuple[str, ...] = ("arch_group", "pathway_kind")
UNKNOWN = "unknown"  # a run whose config lacks a card key (written before cards carried it)
STATUS_COLUMNS: list[str] = ["run_dir", "status", "reason", "model", "dataset", "seed", "mtime"]

_TRUE = ("true", "1", "yes")
_HYDRA_ERROR = re.compile(r"\[ERROR\]|Traceback \(most recent call last\)")


@dataclass
class RunInfo:
    """One run directory as found on disk, before its tables are read."""

    run_dir: Path
    keys: dict[str, str]
    untrained: bool
    has_features: bool
    complete: bool
    has_tables: bool
    error: str | None = None
    mtime: float = 0.0
    notes: list[str] = field(default_factory=list)

    def key(self) -> tuple[str, ...]:
        return tuple(self.keys[k] for k in KEY_COLUMNS)


def flatten(cfg: object, prefix: str = "") -> dict[str, object]:
    """Nested mappings as dotted keys: {"model": {"name": x}} -> {"model.name": x}."""
    out: dict[str, object] = {}
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif prefix:
        out[prefix[:-1]] = cfg
    return out


def _as_str(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _int(value: object, default: int) -> int:
    try:
        return int(_as_str(value) or default)
    except ValueError:
        return default


def _truthy(value: object) -> bool:
    return _as_str(value).strip().lower() in _TRUE


def is_run_dir(path: Path) -> bool:
    """A run holds features.h5 or layerwise.csv; a Hydra job folder is one even if it crashed."""
    return (path / FEATURES).is_file() or (path / LAYERWISE).is_file() or (
        path / HYDRA_CONFIG).is_file()


def find_run_dirs(root: Path) -> list[Path]:
    """Every run directory under ``root`` (itself included), skipping hidden folders."""
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        p = Path(dirpath)
        if is_run_dir(p):
            found.append(p)
    return found


def read_h5_attrs(path: Path) -> dict[str, object]:
    with h5py.File(path, "r") as f:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}


def read_config(run_dir: Path, h5_attrs: dict[str, object] | None) -> dict[str, object]:
    """The run's resolved config, flattened: Hydra's copy first, else the h5 ``config`` attr."""
    text = None
    if (run_dir / HYDRA_CONFIG).is_file():
        text = (run_dir / HYDRA_CONFIG).read_text()
    elif h5_attrs and "config" in h5_attrs:
        text = _as_str(h5_attrs["config"])
    if not text:
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return flatten(data) if isinstance(data, dict) else {}


def card_facts(cfg: dict[str, object]) -> dict[str, str | None]:
    """``model.<key>`` of a flattened run config for each of ``CARD_FACTS``.

    A null value stays None (e.g. ``pathway_kind`` of a model that is not single-pathway); a key
    the config lacks is ``UNKNOWN``.
    """
    return {k: (_as_str(cfg[f"model.{k}"]) or None) if f"model.{k}" in cfg else UNKNOWN
            for k in CARD_FACTS}


def read_card_facts(run_dir: Path) -> dict[str, str | None]:
    """The card facts run ``run_dir`` recorded (Hydra's config, else the features.h5 copy)."""
    attrs: dict[str, object] = {}
    if not (run_dir / HYDRA_CONFIG).is_file() and (run_dir / FEATURES).is_file():
        try:
            attrs = read_h5_attrs(run_dir / FEATURES)
        except (OSError, KeyError):
            attrs = {}
    return card_facts(read_config(run_dir, attrs))


def _first(*values: object) -> str:
    for v in values:
        s = _as_str(v)
        if s and s.lower() not in ("none", "null"):
            return s
    return ""


def run_keys(
    cfg: dict[str, object], attrs: dict[str, object], meta: dict[str, object]
) -> dict[str, str]:
    """A run's identity from its config, h5 attributes and report metadata (in that order).

    ``train_dataset`` is what Fig. 5/6 group by: the checkpoint's tag or training dataset when
    the config names one, else the probing dataset (a model without such a tag is taken to be
    trained on what it is probed on).
    """
    dataset = _first(meta.get("dataset"), attrs.get("dataset"), cfg.get("dataset.name"))
    keys = {
        "model": _first(meta.get("model"), attrs.get("model"), cfg.get("model.name")),
        "dataset": dataset,
        "train_dataset": _first(cfg.get("model.checkpoint_tag"), cfg.get("model.train_dataset"),
                                cfg.get("model.checkpoint_dataset"), attrs.get("checkpoint_tag"),
                                attrs.get("train_dataset"), dataset),
        "checkpoint": _first(attrs.get("checkpoint"), cfg.get("model.checkpoint")),
        "task": _first(cfg.get("probe.task"), attrs.get("task"), "action"),
        "sampler": _first(attrs.get("sampler"), cfg.get("probe.sampler")),
        "n_pairs": _first(cfg.get("probe.n_pairs"), meta.get("n_pairs")),
        "clip_start": _first(cfg.get("probe.clip_start")),
        "dynamic_pairs": _first(cfg.get("probe.dynamic_pairs"), "style"),
        "vis_pooling": _first(cfg.get("probe.vis_pooling")),
        "estimator": _first(meta.get("estimator"), cfg.get("probe.estimator"), "pooled"),
        "lambda": _first(meta.get("lambda"), cfg.get("probe.lambda"), "0.5"),
        "shard": _as_str(attrs.get("shard", "")) if _int(attrs.get("num_shards"), 1) > 1 else "",
        "seed": _first(cfg.get("probe.seed"), cfg.get("seed"), attrs.get("seed")),
    }
    return keys


def hydra_log_error(run_dir: Path) -> str | None:
    """First error line of a Hydra job log (``<job>.log`` in the run dir), if any."""
    for log in sorted(run_dir.glob("*.log")):
        try:
            for line in log.read_text(errors="replace").splitlines():
                if _HYDRA_ERROR.search(line):
                    return f"{log.name}: {line.strip()[:200]}"
        except OSError:
            continue
    return None


def inspect_run(run_dir: Path) -> RunInfo:
    """Read a run dir's markers and identity without loading any table."""
    notes: list[str] = []
    h5 = run_dir / FEATURES
    attrs: dict[str, object] = {}
    complete = False
    if h5.is_file():
        try:
            attrs = read_h5_attrs(h5)
            complete = _truthy(attrs.get("complete"))
        except (OSError, KeyError) as exc:
            notes.append(f"features.h5 unreadable: {exc}")
    meta: dict[str, object] = {}
    if (run_dir / META_JSON).is_file():
        try:
            meta = json.loads((run_dir / META_JSON).read_text())
        except (OSError, json.JSONDecodeError):
            notes.append(f"{META_JSON} unreadable")
    cfg = read_config(run_dir, attrs)
    keys = run_keys(cfg, attrs, meta)
    untrained = _truthy(meta.get("untrained", attrs.get("untrained", "")))
    if not untrained and "untrained" not in attrs and "untrained" not in meta and cfg:
        untrained = not _first(cfg.get("model.checkpoint")) and not _truthy(
            cfg.get("model.pretrained"))
    files = [p for p in (h5, run_dir / LAYERWISE) if p.is_file()]
    mtime = max((p.stat().st_mtime for p in files), default=run_dir.stat().st_mtime)
    return RunInfo(run_dir, keys, untrained, h5.is_file(), complete,
                   (run_dir / LAYERWISE).is_file(), hydra_log_error(run_dir), mtime, notes)


@dataclass
class SubmititJob:
    """One submitit job folder and what its result file says."""

    path: Path
    job_id: str
    task_id: str | None
    status: str  # "success" | "error" | "unknown"
    reason: str


def _submitit_result(folder: Path) -> tuple[str, str]:
    for res in sorted(folder.glob("*_result.pkl")):
        try:
            with res.open("rb") as fh:
                outcome = pickle.load(fh)  # noqa: S301 - our own sweep's files
        except Exception as exc:  # noqa: BLE001 - unpickling may need classes we lack
            return "unknown", f"{res.name} unreadable ({type(exc).__name__})"
        if isinstance(outcome, tuple) and outcome and outcome[0] == "error":
            text = _as_str(outcome[1]).strip().splitlines()
            return "error", text[-1][:200] if text else "error"
        return "success", ""
    for err in sorted(folder.glob("*_log.err")):
        text = err.read_text(errors="replace")
        if "Traceback (most recent call last)" in text:
            return "error", text.strip().splitlines()[-1][:200]
    return "unknown", "no result file (still running, or killed)"


def find_submitit_jobs(root: Path) -> Iterator[SubmititJob]:
    """Every ``.submitit/<job>/`` folder under root with its outcome."""
    for sub in sorted(root.rglob(".submitit")):
        if not sub.is_dir():
            continue
        for folder in sorted(p for p in sub.iterdir() if p.is_dir()):
            job_id = folder.name
            task = job_id.split("_", 1)[1] if "_" in job_id else None
            status, reason = _submitit_result(folder)
            yield SubmititJob(folder, job_id, task, status, reason)


def submitit_run_dir(job: SubmititJob) -> Path | None:
    """The Hydra job folder of a submitit array task: ``<sweep>/<task>_...`` by task number."""
    sweep = job.path.parent.parent
    if job.task_id is None or not job.task_id.isdigit():
        return None
    matches = sorted(p for p in sweep.glob(f"{job.task_id}_*") if p.is_dir())
    exact = [p for p in sweep.glob(job.task_id) if p.is_dir()]
    hits = matches or exact
    return hits[0] if len(hits) == 1 else None
