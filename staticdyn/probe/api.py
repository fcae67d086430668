"""The Python API's probing side: pooled features of named layers from one forward pass.

``extract`` is a plain function over a ``ZooModel`` so models never import the probe (imports
point down); ``ProbeModel`` is the object ``staticdyn.load_model`` returns, a zoo model with
``extract`` attached, and the same code path ``run.py`` uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from staticdyn.models.spec import ZooModel
from staticdyn.probe.hooks import extract_pooled
from staticdyn.probe.layouts import LayerIO, resolve_layer_io

_CACHE = "_layer_io_cache"


def layer_io(
    model: ZooModel, layers: dict[str, str],
    example: torch.Tensor | Sequence[torch.Tensor] | None = None,
) -> dict[str, LayerIO] | None:
    """Each layer's layout (declared, or verified on one dry run), cached on the model so
    repeated ``extract`` calls pay for the dry run once. The dry run uses ``example`` (the
    caller's own clips) when given, else random clips of the model's clip spec. Only clip
    models (task ``action``) are checked; other tasks pool by the rank rule."""
    if model.clip_spec.task != "action":
        return None
    cache: dict[tuple[tuple[str, str], ...], dict[str, LayerIO]]
    cache = model.__dict__.setdefault(_CACHE, {})
    key = tuple(layers.items())
    if key not in cache:
        cache[key] = resolve_layer_io(model, layers, model.io, example)
    return cache[key]


def extract(
    model: ZooModel,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    layers: Sequence[str] | None = None,
) -> dict[str, torch.Tensor]:
    """Pooled (batch, channels) features of every requested layer, from one forward pass.

    ``layers`` are aliases or module paths (default: the model's default layers).
    """
    resolved = model.resolve_layers(layers)
    io = layer_io(model, resolved, inputs)
    return extract_pooled(model.module, inputs, resolved, io=io)


class ProbeModel:
    """A ``ZooModel`` with ``extract``; every other attribute is the zoo model's."""

    def __init__(self, model: ZooModel):
        self.model = model

    def extract(
        self, inputs: torch.Tensor | Sequence[torch.Tensor], layers: Sequence[str] | None = None
    ) -> dict[str, torch.Tensor]:
        return extract(self.model, inputs, layers)

    def show_layers(self, layers: Sequence[str] | None = None) -> str:
        """The layer table of ``probe.list_layers`` (alias, module path, output shape on a
        dry run, layout, channels), printed and returned."""
        from staticdyn.probe.layers_table import layer_table

        text = layer_table(self.model, layers, io=self.model.io)
        print(text)
        return text

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["model"], name)
