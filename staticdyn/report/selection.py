"""Choosing the rows a paper figure shows, kept apart from the drawing code.

The rules here are the ones a reader must know to trust a figure: which run stands for a model
when several exist, how seeds are merged, which layers count as "the last layer", and how a
model name maps to an architecture family. Each is a small pure function on the tidy tables.
"""

from __future__ import annotations

import logging
import re

import pandas as pd

from staticdyn.report.aggregate import seed_summary
from staticdyn.report.runs import KEY_COLUMNS

log = logging.getLogger("staticdyn.report")

FAMILIES: tuple[str, ...] = ("3D CNN", "SlowFast", "Transformer")
STREAMS: tuple[str, ...] = ("app", "mot", "fusion")
PATHWAYS: tuple[str, ...] = ("slow", "fast")
_TRANSFORMER = re.compile(r"mvit|timesformer|vivit|videomae|swin|vit", re.I)
_SLOW_ONLY = re.compile(r"^(slow(?!fast)|slowonly|slow_only)", re.I)
_FAST_ONLY = re.compile(r"^(fast(?!er)|fastonly|fast_only)", re.I)
CONDITION: list[str] = [c for c in KEY_COLUMNS if c not in ("seed", "shard")]


def family(model: str) -> str:
    """Architecture family of Fig. 3: two-pathway SlowFast, transformers, or single-stream CNN."""
    if _TRANSFORMER.search(model):  # first: mvit_base_16x4_slowfast is an MViT
        return "Transformer"
    if "slowfast" in model.lower():
        return "SlowFast"
    return "3D CNN"


def single_pathway_kind(model: str) -> str | None:
    """'SlowOnly' / 'FastOnly' for the single-pathway models of Fig. 5/6, else None."""
    if _SLOW_ONLY.search(model):
        return "SlowOnly"
    if _FAST_ONLY.search(model):
        return "FastOnly"
    return None


def split_layer(layer: str) -> tuple[str, str]:
    """('slow', 'stage3') for 'slow.stage3'; ('app', 'layer2') for 'app.layer2'; ('', x) else."""
    head, _, tail = str(layer).partition(".")
    if tail and head in PATHWAYS + STREAMS:
        return head, tail
    return "", str(layer)


def is_segmentation(df: pd.DataFrame) -> pd.Series:
    """Rows of segmentation runs: their layers are named app./mot./fusion.<layer>."""
    return df["layer"].astype(str).str.match(r"^(app|mot|fusion)\.")


def merge_seeds(df: pd.DataFrame, value_cols: list[str]) -> pd.DataFrame:
    """One row per (condition, layer): the seed mean with the papers' 1.96 std/sqrt(n) interval.

    A condition with a single seed keeps its own bootstrap interval when the run has one.
    """
    if df.empty:
        return df
    merged = seed_summary(df, value_cols)
    return merged.sort_values([*CONDITION, "layer_index"], kind="stable", ignore_index=True)


def pick_condition(df: pd.DataFrame, prefer: str | None = None) -> pd.DataFrame:
    """Keep one condition per model: the one whose train_dataset matches ``prefer`` if any.

    Fig. 3 shows one bar group per model; when a sweep holds the same model trained or probed
    on several datasets, the choice is logged instead of silently averaging them.
    """
    if df.empty:
        return df
    keep = []
    for model, g in df.groupby("model", sort=False):
        conds = g[CONDITION].drop_duplicates()
        if prefer:
            hit = conds[conds["train_dataset"].astype(str).str.contains(prefer, case=False,
                                                                        regex=True)]
            conds = hit if len(hit) else conds
        chosen = conds.iloc[0]
        if len(conds) > 1:
            log.info("model %s: %d conditions, showing train_dataset=%s dataset=%s", model,
                     len(conds), chosen["train_dataset"], chosen["dataset"])
        mask = (g[CONDITION] == chosen[CONDITION]).all(axis=1)
        keep.append(g[mask])
    return pd.concat(keep, ignore_index=True)


def last_layers(df: pd.DataFrame) -> pd.DataFrame:
    """The last layer of each run condition and pathway (highest layer_index)."""
    if df.empty:
        return df
    d = df.copy()
    d["_pathway"] = [split_layer(x)[0] for x in d["layer"]]
    idx = d.groupby([*CONDITION, "_pathway"], sort=False, dropna=False)["layer_index"].idxmax()
    return d.loc[idx.to_numpy()].drop(columns="_pathway").reset_index(drop=True)


def series_label(model: str, layer: str) -> str:
    """'slowfast_r50 (slow)' for a pathway layer, the model name otherwise."""
    pathway = split_layer(layer)[0]
    return f"{model} ({pathway})" if pathway in PATHWAYS else model
