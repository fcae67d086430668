"""Behavioural cross-check (``probe.behaviour=true``): what the classifier does with the probe's
clips when their frame order or their appearance is destroyed.

For a model with a classification head and a labelled data set, every group of the run gives one
clip, the probe's clip A (same video, style, window and transform as in the features), in three
conditions:

- ``original``: clip A itself;
- ``shuffled``: clip A with its time axis permuted, by the permutation of the group's static
  pair (the very clip the representation measure calls static);
- ``appearance_free``: clip A's appearance-free render, the very clip that
  ``probe.dynamic_pairs=appearance_free`` pairs with clip A (noise moving with the optical flow
  between clip A's picked frames, seeded by the group's dynamic pair, through clip A's
  transform).

All three come from the probe's own group builder (``data.tasks.action.load_group`` with
``dynamic_pairs=appearance_free``), so they are bit for bit the clips the probe feeds the model;
a group that lacks a static or a dynamic pair (the ``authors`` sampler) gets a stand-in pair
with its first pair's seed.

Top-1 per condition, its relative drop against the original and the paired bootstrap intervals
come from ``metrics.behaviour``. Whether the check can run is settled before any work
(``plan_behaviour``): a model whose forward does not return (batch, classes) logits, a data set
without labels, or labels outside the head's classes give one line and no behaviour.csv. That
the labels mean the head's classes (a Kinetics head on Kinetics labels) is the user's to ensure:
only their range can be checked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from staticdyn.config import ProbeSettings
from staticdyn.data.pairs import DYNAMIC, STATIC, Pair
from staticdyn.data.source import VideoSource
from staticdyn.data.spec import ClipSpec
from staticdyn.data.tasks.action import load_group
from staticdyn.data.tasks.base import READ_ERRORS
from staticdyn.errors import VideoReadError
from staticdyn.metrics.behaviour import CONDITIONS, behaviour_table
from staticdyn.models.spec import ZooModel
from staticdyn.probe.extract import _autocast
from staticdyn.probe.hooks import fresh_inputs
from staticdyn.probe.layouts import example_inputs

log = logging.getLogger(__name__)

BEHAVIOUR_CSV = "behaviour.csv"
Clip = list[torch.Tensor]  # one (3, T, crop, crop) tensor per pathway


@dataclass
class BehaviourPlan:
    """What a behaviour measurement will use: the labelled groups and the head's class count."""

    groups: list[list[Pair]]
    labels: list[int]
    num_classes: int
    unlabelled: int = 0  # groups left out: their video has no label


@dataclass
class BehaviourResult:
    table: pd.DataFrame
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (video, reason)
    path: Path | None = None
    # per measured clip, in plan order (skipped groups left out): its label, and the predicted
    # class per condition; what the table counts, kept for analyses by class (which classes
    # only frame order tells apart)
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    predictions: dict[str, np.ndarray] = field(default_factory=dict)


def logits_of(out: Any) -> torch.Tensor | None:
    """The (batch, classes) logits of a forward's output (a tensor, or an object with
    ``logits`` as Hugging Face models return), or None when it is anything else."""
    t = out if isinstance(out, torch.Tensor) else getattr(out, "logits", None)
    if isinstance(t, torch.Tensor) and t.ndim == 2 and t.shape[1] >= 2:
        return t
    return None


def _describe(out: Any) -> str:
    if isinstance(out, torch.Tensor):
        return f"a tensor of shape {tuple(out.shape)}"
    return f"a {type(out).__name__}"


def _inputs(clips: Sequence[Clip], device: torch.device, dtype: torch.dtype
            ) -> torch.Tensor | list[torch.Tensor]:
    paths = [torch.stack([c[p] for c in clips]).to(device, dtype) for p in range(len(clips[0]))]
    return paths[0] if len(paths) == 1 else paths


def head_classes(model: ZooModel) -> tuple[int | None, str]:
    """(number of classes, "") from one forward of a random clip, or (None, why not).

    Runs where the model is (before the run moves it), on a private generator's clip, so it
    neither moves the global RNG nor needs data."""
    example = example_inputs(model.clip_spec, batch=1)
    device = model.device
    try:
        dtype = next(model.module.parameters()).dtype
    except StopIteration:
        dtype = torch.float32
    moved = (example.to(device, dtype) if isinstance(example, torch.Tensor)
             else [x.to(device, dtype) for x in example])
    try:
        with torch.inference_mode():
            out = model.module(fresh_inputs(moved))
    except Exception as exc:  # noqa: BLE001 - any failure means: no usable head here
        first = str(exc).splitlines()[0] if str(exc) else ""
        return None, (f"its forward on a {model.clip_spec.crop}-px clip fails "
                      f"({type(exc).__name__}: {first[:120]})")
    logits = logits_of(out)
    if logits is None:
        return None, f"its forward returns {_describe(out)}, not (batch, classes) logits"
    return int(logits.shape[1]), ""


def plan_behaviour(model: ZooModel, source: VideoSource, groups: list[list[Pair]]
                   ) -> BehaviourPlan | str:
    """The plan, or one line saying why there is no behavioural check for this run.

    Labels are looked up first (no forward needed), then the head (one forward of one clip).
    """
    if model.clip_spec.task != "action":
        return f"model '{model.name}' is a {model.clip_spec.task} model, not a clip classifier"
    labels = [source.label(g[0].video) for g in groups]
    kept = [(g, int(y)) for g, y in zip(groups, labels, strict=True) if y is not None]
    if not kept:
        return (f"dataset '{source.name}' has no labels for the probed videos (synthetic "
                "classes, a labels_csv or annotation labels give them)")
    k, why = head_classes(model)
    if k is None:
        return f"model '{model.name}' has no classification head: {why}"
    top = max(y for _, y in kept)
    if top >= k or min(y for _, y in kept) < 0:
        return (f"dataset '{source.name}' has label {top}, outside the {k} classes of model "
                f"'{model.name}''s head: they are not the same label space")
    return BehaviourPlan([g for g, _ in kept], [y for _, y in kept], k,
                         unlabelled=len(groups) - len(kept))


def condition_clips(source: VideoSource, group: list[Pair], spec: ClipSpec,
                    start_mode: str = "first", short_videos: str = "cycle") -> dict[str, Clip]:
    """Clip A of ``group`` in every condition (``metrics.behaviour.CONDITIONS``).

    Built by the probe's own ``load_group`` with ``dynamic_pairs=appearance_free``: the
    original is the probe's clip A, the shuffled clip the group's static pair's clip B and the
    appearance-free clip the group's appearance-free dynamic clip B, each bit for bit. A factor
    the group lacks gets a stand-in pair (the first pair's seed); the first pair stays first, as
    it sets the clip's window. A group the probe could not build raises ``VideoReadError``."""
    present = {p.factor for p in group}
    pairs = list(group) + [replace(group[0], factor=f) for f in (DYNAMIC, STATIC)
                           if f not in present]
    item = load_group(source, 0, pairs, spec, start_mode, short_videos, "appearance_free")
    if item.skip_reason is not None:
        raise VideoReadError(f"{item.skip_item}: {item.skip_reason}")
    clip_b = {p.factor: item.clips[b] for p, (_, b) in zip(pairs, item.rows, strict=True)}
    return {"original": item.clips[0], "shuffled": clip_b[STATIC],
            "appearance_free": clip_b[DYNAMIC]}


def predict(model: ZooModel, clips: Sequence[Clip], device: torch.device,
            dtype: torch.dtype, amp: str | None = None) -> np.ndarray:
    """Top-1 class per clip, one forward."""
    with torch.inference_mode(), _autocast(device, amp):
        out = model.module(fresh_inputs(_inputs(clips, device, dtype)))
    logits = logits_of(out)
    if logits is None:
        raise RuntimeError(f"model '{model.name}' returned {_describe(out)}, not logits")
    return logits.argmax(dim=1).cpu().numpy()


def measure_behaviour(
    model: ZooModel, source: VideoSource, plan: BehaviourPlan, *, batch_size: int = 8,
    device: torch.device | None = None, dtype: torch.dtype = torch.float32,
    amp: str | None = None, start_mode: str = "first", short_videos: str = "cycle",
    n_boot: int = 1000, seed: int = 0, progress: bool = False, dataset: str = "",
) -> BehaviourResult:
    """Correct/incorrect per clip and condition, then the table (``metrics.behaviour``).

    Groups whose video cannot be read are left out and named, as extraction does."""
    device = device if device is not None else model.device
    spec = model.clip_spec
    preds: dict[str, list[int]] = {c: [] for c in CONDITIONS}
    labels: list[int] = []
    skipped: list[tuple[str, str]] = []
    batch: list[tuple[dict[str, Clip], int]] = []

    def flush() -> None:
        labels.extend(y for _, y in batch)
        for cond in CONDITIONS:
            pred = predict(model, [c[cond] for c, _ in batch], device, dtype, amp)
            preds[cond].extend(pred.tolist())
        batch.clear()

    todo = zip(plan.groups, plan.labels, strict=True)
    for group, label in tqdm(todo, total=len(plan.groups), disable=not progress,
                             desc="behaviour", unit="clip"):
        try:
            clips = condition_clips(source, group, spec, start_mode, short_videos)
        except READ_ERRORS as exc:
            skipped.append((group[0].video, f"{type(exc).__name__}: {exc}"))
            continue
        batch.append((clips, label))
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    truth = np.array(labels, np.int64)
    predicted = {c: np.array(v, np.int64) for c, v in preds.items()}
    table = behaviour_table({c: v == truth for c, v in predicted.items()}, n_boot=n_boot,
                            seed=seed, num_classes=plan.num_classes, model=model.name,
                            dataset=dataset)
    return BehaviourResult(table, skipped, labels=truth, predictions=predicted)


def write_behaviour(result: BehaviourResult, path: Path) -> Path:
    """behaviour.csv (``metrics.behaviour.BEHAVIOUR_COLUMNS``), numbers rounded to 3 digits."""
    result.table.round(3).to_csv(path, index=False)
    result.path = path
    return path


def _with_interval(value: float, lo: float, hi: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    bounds = f" [{lo:.1f}, {hi:.1f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
    return f"{value:5.1f}{bounds}"


def format_behaviour(table: pd.DataFrame) -> str:
    """Lines for the terminal: top-1 and relative drop with intervals, per condition."""
    lines = ["behaviour (top-1 %, relative drop vs original %, 95% intervals):"]
    for r in table.itertuples(index=False):
        top1 = _with_interval(r.top1, r.top1_lo, r.top1_hi)
        drop = _with_interval(r.relative_drop, r.relative_drop_lo, r.relative_drop_hi).strip()
        lines.append(f"  {r.condition:<16} top-1 {top1}  drop {drop}  ({r.n_clips} clips)")
    notes = [n for n in dict.fromkeys(table["note"].fillna("").astype(str)) if n]
    return "\n".join(lines + [f"  not estimable: {n}" for n in notes])


# -- the run's side (``probe.behaviour=true`` in ``pipeline.run``) ------------------------------
def plan_for_run(model: ZooModel, source: VideoSource, groups: list[list[Pair]]
                 ) -> BehaviourPlan | None:
    """The plan of a run's behavioural check, settled before any work; None, with one line
    saying why, when the model has no head or the data set no labels (the probe still runs)."""
    plan = plan_behaviour(model, source, groups)
    if isinstance(plan, str):
        log.warning("probe.behaviour=true: no %s: %s", BEHAVIOUR_CSV, plan)
        return None
    if plan.unlabelled:
        log.warning("probe.behaviour: %d of %d probed videos have no label and are left out",
                    plan.unlabelled, plan.unlabelled + len(plan.groups))
    return plan


def behaviour_for_run(model: ZooModel, source: VideoSource, plan: BehaviourPlan,
                      settings: ProbeSettings, out: Path, device: torch.device,
                      dtype: torch.dtype, dataset: str) -> Path:
    """Measure with the run's settings (batch size, device, clip start, bootstrap and seed),
    print the terminal lines and write ``<out>/behaviour.csv``."""
    result = measure_behaviour(
        model, source, plan, batch_size=settings.batch_size, device=device, dtype=dtype,
        amp=settings.amp, start_mode=settings.clip_start,
        short_videos=settings.short_videos or "cycle", n_boot=settings.bootstrap,
        seed=settings.seed, progress=settings.progress, dataset=dataset)
    for video, reason in result.skipped:
        log.warning("behaviour: unreadable, left out: %s (%s)", video, reason)
    print(format_behaviour(result.table))
    return write_behaviour(result, Path(out) / BEHAVIOUR_CSV)
