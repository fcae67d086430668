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


def extract(
    model: ZooModel,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    layers: Sequence[str] | None = None,
) -> dict[str, torch.Tensor]:
    """Pooled (batch, channels) features of every requested layer, from one forward pass.

    ``layers`` are aliases or module paths (default: the model's default layers).
    """
    return extract_pooled(model.module, inputs, model.resolve_layers(layers))


class ProbeModel:
    """A ``ZooModel`` with ``extract``; every other attribute is the zoo model's."""

    def __init__(self, model: ZooModel):
        self.model = model

    def extract(
        self, inputs: torch.Tensor | Sequence[torch.Tensor], layers: Sequence[str] | None = None
    ) -> dict[str, torch.Tensor]:
        return extract(self.model, inputs, layers)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["model"], name)
