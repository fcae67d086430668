"""Model cards at their smoke size, composed the way Hydra does it (overrides before resolution).

``zoo.load_model`` merges overrides into an already resolved card, so an override never reaches
a value that interpolates it (``builder_kwargs.path: ${..hf_path}``); ``run.py`` composes first
and resolves after, and these helpers do the same.
"""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from staticdyn.models import zoo
from staticdyn.models.io import ModelIO, io_from_card


def smoke_card(name: str, **overrides: Any) -> dict[str, Any]:
    """Card ``name`` with its ``smoke:`` clip and builder_kwargs, then ``overrides``, resolved."""
    raw = OmegaConf.load(zoo.conf_dir() / "model" / f"{name}.yaml")
    smoke = raw.get("smoke") or {}
    merged = OmegaConf.merge(
        raw,
        {"clip": smoke.get("clip") or {}, "builder_kwargs": smoke.get("builder_kwargs") or {}},
        overrides,
    )
    card = OmegaConf.to_container(merged, resolve=True)
    assert isinstance(card, dict)
    card.setdefault("name", name)
    return card


def build(card: dict[str, Any]) -> tuple[zoo.ZooModel, ModelIO]:
    """The zoo model of a card and the card's layout declarations."""
    return zoo.from_config(card), io_from_card(card)
