"""Choosing the rows a paper figure shows, kept apart from the drawing code.

The rules here are the ones a reader must know to trust a figure: which run stands for a model
when several exist, how seeds are merged, which layers count as "the last layer", and which
architecture group a model belongs to. That last one is a fact of the model card
(``arch_group``, ``pathway_kind`` in conf/model/*.yaml), read from each run's saved config and
never guessed from the model's name. Each rule is a small pure function on the tidy tables.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from staticdyn.report.aggregate import seed_summary
from staticdyn.report.runs import CARD_FACTS, KEY_COLUMNS, UNKNOWN

log = logging.getLogger("staticdyn.report")

ARCH_GROUPS: tuple[str, ...] = ("3D CNN", "SlowFast", "Transformer")  # Fig. 3's panel order
PATHWAY_KINDS: tuple[str, ...] = ("SlowOnly", "FastOnly")  # Fig. 5/6's single-pathway models
STREAMS: tuple[str, ...] = ("app", "mot", "fusion")
PATHWAYS: tuple[str, ...] = ("slow", "fast")
CONDITION: list[str] = [c for c in KEY_COLUMNS if c not in ("seed", "shard")]

CardFacts = Mapping[str, str | None]


def model_facts(
    runs: Iterable[tuple[str, str | Path, CardFacts]],
) -> dict[str, dict[str, str | None]]:
    """Card facts per model from ``(model, run_dir, facts)`` of every run.

    A run whose config lacks a key (written before the cards carried it) leaves it ``unknown``,
    with a warning naming the run; another run of the same model that has it fills it in.
    """
    out: dict[str, dict[str, str | None]] = {}
    for model, run_dir, facts in runs:
        lacking = [k for k in CARD_FACTS if facts.get(k, UNKNOWN) == UNKNOWN]
        if lacking:
            log.warning("run %s (model %s): its saved config has no %s (written before model "
                        "cards carried them); grouped as '%s'", run_dir, model,
                        ", ".join(f"model.{k}" for k in lacking), UNKNOWN)
        known = out.setdefault(str(model), dict.fromkeys(CARD_FACTS, UNKNOWN))
        for key in CARD_FACTS:
            value = facts.get(key, UNKNOWN)
            if value == UNKNOWN:
                continue
            if known[key] not in (UNKNOWN, value):
                log.warning("model %s: runs disagree on model.%s (%s vs %s); using %s", model,
                            key, known[key], value, known[key])
                continue
            known[key] = value
    return out


def card_value(models: pd.Series, facts: Mapping[str, CardFacts], key: str) -> pd.Series:
    """``key`` of each row's model card (``unknown`` for a model with no facts)."""
    return models.map(lambda m: (facts.get(str(m)) or {}).get(key, UNKNOWN))


def group_panels(groups: pd.Series) -> list[str]:
    """Fig. 3's panels for these ``arch_group`` values: the paper's groups in its order, then
    any group a card names itself, then ``unknown`` (runs without the key are shown, not
    dropped)."""
    present = set(groups.astype(str))
    others = sorted(present - {*ARCH_GROUPS, UNKNOWN})
    return [g for g in (*ARCH_GROUPS, *others, UNKNOWN) if g in present]


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
