"""Calibration suite: tiny models whose static/dynamic answer is known, probed end to end.

If the whole chain (clips, pairs, hooks, metric, training) is right, then:
- a frame-order-invariant model (per-frame 2D conv + temporal mean) has no dynamic unit at
  any layer: its static pairs give identical features, so r_static = 1 for every unit and no
  unit can be classed dynamic (the layer-wise % cannot be 0, since a softmax is never 0:
  its floor is reported, not checked);
- a 3D CNN trained on motion-defined classes with randomised appearance has a higher dynamic %
  at its last stage than the same architecture trained on appearance-defined classes, with
  non-overlapping bootstrap intervals;
- an untrained 3D CNN is the baseline both trained models move away from.

Every model is probed on unlabelled synthetic videos of another seed than training, with
bootstrap intervals. ``experiment.dynamic_pairs`` lists the dynamic-pair variants to probe
(``probe.dynamic_pairs``: ``style``, the default, and/or ``appearance_free``): each trained
model is probed once per variant, the tables get a ``dynamic_pairs`` column (only when a
variant other than ``style`` is listed, so the default tables keep their columns), and the
checks are made per variant; with appearance-free pairs the motion-trained model must still
rank above the appearance-trained one. ``check`` returns the named checks with their margins;
the suite fails when one does not hold.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from staticdyn.config import DYNAMIC_PAIRS
from staticdyn.errors import InvalidSettingError, StaticDynError
from staticdyn.experiments.training.common import (
    exp,
    last_checkpoint,
    model_card,
    probe_run,
    train_variant,
    write_table,
)
from staticdyn.metrics.bootstrap import bootstrap_h5
from staticdyn.metrics.intervals import attach_intervals
from staticdyn.report.figures import (
    COLORS,
    legend_outside,
    new_figure,
    plot_unit_stack,
    save_figure,
)
from staticdyn.report.tables import to_markdown
from staticdyn.train.build import card_last_layer, model_config

log = logging.getLogger("staticdyn.train")
UNIT_COLS = ("dynamic", "static", "joint", "residual", "dead")


@dataclass
class Check:
    name: str
    passed: bool
    margin: float  # > 0 when passed: how far from failing (percentage points or units)
    detail: str


def dynamic_pair_variants(e: dict[str, Any]) -> list[str]:
    """``experiment.dynamic_pairs`` checked: a list of ``config.DYNAMIC_PAIRS`` (default
    ``[style]``), refused in one line before any training."""
    raw = e.get("dynamic_pairs") or ["style"]
    variants = [raw] if isinstance(raw, str) else list(raw)
    if not variants or any(v not in DYNAMIC_PAIRS for v in variants) or \
            len(set(variants)) != len(variants):
        raise InvalidSettingError("experiment.dynamic_pairs", raw,
                                  f"a list of distinct values from {', '.join(DYNAMIC_PAIRS)}")
    return variants


def probe_model(cfg: DictConfig, name: str, spec: dict[str, Any], out_dir: Path,
                n_boot: int, variants: tuple[str, ...] = ("style",),
                ) -> list[tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, float | None]]:
    """Train (unless ``train: null``) and probe one calibration model, with intervals: one
    result per dynamic-pair variant (``probe/`` for ``style``, ``probe_<variant>/`` else)."""
    run_dir = out_dir / name
    top1 = None
    if spec.get("train", {}) is None:  # the untrained baseline: probe the random init
        card = model_config(model_card(cfg, spec.get("model"), spec.get("model_overrides")),
                            int(spec.get("num_classes", 10)))
        checkpoint = None
    else:
        prep, res = train_variant(cfg, run_dir, dataset=spec.get("dataset"),
                                  train=spec.get("train"), model=spec.get("model_overrides"),
                                  entry=spec.get("model"))
        card, checkpoint, top1 = dict(prep.model_cfg), last_checkpoint(run_dir), res.val_top1
    out = []
    for variant in variants:
        # the intervals come from experiment.bootstrap resamples below, not the probe's default
        extra = {} if variant == "style" else {"dynamic_pairs": variant}
        probe_dir = run_dir / ("probe" if variant == "style" else f"probe_{variant}")
        result = probe_run(cfg, card, checkpoint, probe_dir, bootstrap=0, **extra)
        boot = bootstrap_h5(result["features"], n_boot=n_boot, lam=float(cfg.probe["lambda"]),
                            estimator=str(cfg.probe.estimator), seed=int(cfg.probe.seed))
        tables = attach_intervals(result["tables"], boot)
        lw, uw, us = tables.layerwise.copy(), tables.unitwise.copy(), tables.unit_scores.copy()
        for df in (lw, uw, us):
            df.insert(0, "calibration_model", name)
            if tuple(variants) != ("style",):
                df.insert(1, "dynamic_pairs", variant)
        out.append((lw, uw, us, top1))
    return out


def check(lw: pd.DataFrame, uw: pd.DataFrame, layer: str, us: pd.DataFrame | None = None,
          lam: float = 0.5) -> list[Check]:
    """The orderings the suite guards (see module docstring).

    Margins: percentage points between the intervals for the ordering; for the invariant
    model, how far the lowest r_static of any unit is above lambda (a unit needs
    r_static <= lambda to be classed dynamic).
    """
    out: list[Check] = []
    at = lw[lw["layer"] == layer].set_index("calibration_model")
    if {"motion", "appearance"} <= set(at.index):
        lo, hi = float(at.loc["motion", "dynamic_pct_lo"]), float(at.loc["appearance",
                                                                           "dynamic_pct_hi"])
        out.append(Check("motion > appearance (dynamic %, last stage, intervals apart)",
                         lo > hi, lo - hi,
                         f"motion {at.loc['motion', 'dynamic_pct']} [{lo}, "
                         f"{at.loc['motion', 'dynamic_pct_hi']}] vs appearance "
                         f"{at.loc['appearance', 'dynamic_pct']} "
                         f"[{at.loc['appearance', 'dynamic_pct_lo']}, {hi}]"))
    inv = uw[uw["calibration_model"] == "invariant"]
    if len(inv):
        worst = float(inv["dynamic_hi"].max()) if "dynamic_hi" in inv else float(
            inv["dynamic"].max())
        n_dyn = int(inv["dynamic"].sum())
        margin = float("nan")
        if us is not None and len(us[us["calibration_model"] == "invariant"]):
            margin = float(us[us["calibration_model"] == "invariant"]["r_static"].min()) - lam
        out.append(Check("order-invariant model has no dynamic unit (every layer)",
                         n_dyn == 0 and worst == 0, margin,
                         f"dynamic units per layer {inv['dynamic'].tolist()}, upper interval "
                         f"{inv.get('dynamic_hi', inv['dynamic']).tolist()}, lowest r_static "
                         f"{margin + lam:.3f} (lambda {lam})"))
    return out


def figure(lw: pd.DataFrame, uw: pd.DataFrame, layer: str, stem: Path,
           title: str | None = None) -> list[Path]:
    models = list(dict.fromkeys(lw["calibration_model"]))
    layers = list(dict.fromkeys(lw["layer"]))
    fig = new_figure(11.0, 3.6)
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.2, 1.2, 1.0]})
    width = 0.8 / len(models)
    shades = np.linspace(0.35, 1.0, len(models))
    for ax, factor in zip(axes[:2], ("dynamic", "static"), strict=True):
        for i, m in enumerate(models):
            g = lw[lw["calibration_model"] == m].set_index("layer").loc[layers]
            y = g[f"{factor}_pct"].to_numpy(float)
            err = np.clip(np.vstack([y - g[f"{factor}_pct_lo"], g[f"{factor}_pct_hi"] - y]), 0,
                          None)
            ax.bar(np.arange(len(layers)) + (i - (len(models) - 1) / 2) * width, y, width,
                   yerr=err, capsize=2, color=COLORS[factor], alpha=float(shades[i]),
                   edgecolor="black", linewidth=0.4, hatch=("", "//", "..", "xx")[i % 4],
                   label=m)
        ax.set_xticks(np.arange(len(layers)))
        ax.set_xticklabels(layers)
        ax.set(ylabel=f"{factor} units (%, layer-wise)", title=f"{factor} %")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize="x-small")
    last = uw[uw["layer"] == layer].reset_index(drop=True)
    plot_unit_stack(axes[2], last, labels=list(last["calibration_model"]))
    axes[2].set_title(f"unit classes, {layer}")
    legend_outside(fig, axes[2], ncol=5)
    if title:
        fig.suptitle(title)
    return save_figure(fig, stem, ("png",))


def markdown(lw: pd.DataFrame, uw: pd.DataFrame, checks: list[Check], top1: dict[str, Any],
             seconds: float, layer: str) -> str:
    variant = [c for c in ("dynamic_pairs",) if c in lw.columns]
    lcols = ["calibration_model", *variant, "layer", "dynamic_pct", "dynamic_pct_lo",
             "dynamic_pct_hi", "static_pct", "static_pct_lo", "static_pct_hi", "score_dynamic",
             "score_static"]
    ucols = ["calibration_model", "dynamic_pairs", "layer", *UNIT_COLS,
             *[f"{c}_{s}" for c in ("dynamic", "static") for s in ("lo", "hi")]]
    acc = pd.DataFrame([{"calibration_model": k, "val_top1": v} for k, v in top1.items()])
    lines = ["# Calibration suite", "",
             f"Runtime: {seconds / 60:.1f} min. Intervals: 95% bootstrap over pairs.", "",
             "## Checks", ""]
    for c in checks:
        lines.append(f"- {'PASS' if c.passed else 'FAIL'}: {c.name} (margin {c.margin:.2f}); "
                     f"{c.detail}")
    lines += ["", "## Validation top-1 of the trained models", "", to_markdown(acc),
              "## Layer-wise (all stages)", "", to_markdown(lw[lcols], float_digits=
                                                              {"score_dynamic": 3,
                                                               "score_static": 3}),
              f"## Unit-wise ({layer} and all stages)", "",
              to_markdown(uw[[c for c in ucols if c in uw.columns]])]
    return "\n".join(lines)


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    e = exp(cfg)
    models: dict[str, dict[str, Any]] = e.get("models") or {}
    n_boot = int(e.get("bootstrap", 1000))
    layer = str(e.get("last_layer") or card_last_layer(cfg.model))
    variants = tuple(dynamic_pair_variants(e))
    lws, uws, uss, top1 = [], [], [], {}
    for name, spec in models.items():
        for lw, uw, us, acc in probe_model(cfg, name, spec or {}, out_dir, n_boot, variants):
            lws.append(lw)
            uws.append(uw)
            uss.append(us)
            if acc is not None:
                top1[name] = round(float(acc), 1)
    lw, uw = pd.concat(lws, ignore_index=True), pd.concat(uws, ignore_index=True)
    us = pd.concat(uss, ignore_index=True)
    checks = variant_checks(lw, uw, us, layer, float(cfg.probe["lambda"]), variants)
    seconds = time.perf_counter() - t0
    write_table(lw, out_dir / "calibration_layerwise.csv")
    write_table(uw, out_dir / "calibration_unitwise.csv")
    write_table(pd.DataFrame([c.__dict__ for c in checks]), out_dir / "calibration_checks.csv")
    fig = variant_figures(lw, uw, layer, out_dir, variants)
    text = markdown(lw, uw, checks, top1, seconds, layer)
    (out_dir / "calibration.md").write_text(text)
    passed = conclude(checks, out_dir, seconds, e.get("docs"), bool(e.get("require_pass")))
    return {"layerwise": lw, "unitwise": uw, "checks": checks, "passed": passed,
            "figure": fig, "markdown": out_dir / "calibration.md", "seconds": seconds,
            "top1": top1}


def _variant(df: pd.DataFrame, variant: str) -> pd.DataFrame:
    if "dynamic_pairs" not in df.columns:
        return df
    return df[df["dynamic_pairs"] == variant].reset_index(drop=True)


def variant_checks(lw: pd.DataFrame, uw: pd.DataFrame, us: pd.DataFrame, layer: str,
                   lam: float, variants: tuple[str, ...]) -> list[Check]:
    """``check`` once per dynamic-pair variant; a non-default variant's checks say which."""
    out = []
    for variant in variants:
        for c in check(_variant(lw, variant), _variant(uw, variant), layer,
                       _variant(us, variant), lam):
            if variant != "style":
                c.name = f"{c.name} [{variant} dynamic pairs]"
            out.append(c)
    return out


def variant_figures(lw: pd.DataFrame, uw: pd.DataFrame, layer: str, out_dir: Path,
                    variants: tuple[str, ...]) -> list[Path]:
    """calibration.png for the first variant (the default figure), calibration_<variant>.png
    for each other one, side by side in the folder and in calibration.md."""
    paths = []
    for i, variant in enumerate(variants):
        stem = out_dir / ("calibration" if i == 0 else f"calibration_{variant}")
        title = f"dynamic pairs: {variant}" if len(variants) > 1 else None
        paths += figure(_variant(lw, variant), _variant(uw, variant), layer, stem, title)
    return paths


def conclude(checks: list[Check], out_dir: Path, seconds: float, docs: str | None = None,
             require_pass: bool = False) -> bool:
    """Print the verdict, copy the table and figure to ``docs``; with ``require_pass`` a failed
    check fails the run (``make calibrate`` exits non-zero), after everything is written."""
    for c in checks:
        print(f"{'PASS' if c.passed else 'FAIL'}: {c.name} (margin {c.margin:.2f}); {c.detail}")
    passed = all(c.passed for c in checks)
    print(f"calibration: {'PASSED' if passed else 'FAILED'} in {seconds / 60:.1f} min; "
          f"{out_dir / 'calibration.md'}")
    publish(out_dir, docs)
    if require_pass and not passed:
        failed = ", ".join(c.name for c in checks if not c.passed)
        raise StaticDynError(f"calibration failed: {failed}; see {out_dir / 'calibration.md'}")
    return passed


def publish(out_dir: Path, docs: str | None) -> list[Path]:
    """Copy calibration.{md,png} to ``docs`` (``experiment.docs``; the README shows them)."""
    if not docs:
        return []
    target = Path(docs)
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in ("calibration.md", "calibration.png"):
        copied.append(Path(shutil.copy2(out_dir / name, target / name)))
        print(f"wrote {copied[-1]}")
    return copied
