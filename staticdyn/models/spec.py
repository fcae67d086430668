"""What the rest of staticdyn needs to know about a model: its input spec and its named layers.

``ZooModel`` is the single object both the Python API (``staticdyn.load_model``) and the Hydra
pipeline use, so there is exactly one code path from a checkpoint to pooled features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from staticdyn.data.spec import ClipSpec
from staticdyn.errors import UnknownLayerError
from staticdyn.models.io import ModelIO

__all__ = ["ClipSpec", "ZooModel"]


@dataclass
class ZooModel:
    """A model ready for probing.

    ``layers`` maps alias (``stage1``, ``slow.stage3``, ``block7`` ...) to a module path of
    ``module.named_modules()``. Raw module paths are accepted wherever an alias is.
    """

    name: str
    module: nn.Module
    clip_spec: ClipSpec
    layers: dict[str, str]
    untrained: bool = True
    checkpoint: str | None = None
    default_layers: list[str] = field(default_factory=list)
    # tensor layouts declared by the card (input side, per-layer output layouts, selectors)
    io: ModelIO = field(default_factory=ModelIO)

    def __post_init__(self) -> None:
        self.module.eval()
        if not self.default_layers:
            self.default_layers = list(self.layers)

    def module_paths(self) -> list[str]:
        return [n for n, _ in self.module.named_modules() if n]

    def resolve_layers(self, names: Sequence[str] | None) -> dict[str, str]:
        """Map each requested name (alias or module path) to a module path, in request order.

        Raises UnknownLayerError listing every alias and module path when a name is unknown.
        """
        names = list(names) if names else list(self.default_layers)
        paths = set(self.module_paths())
        out: dict[str, str] = {}
        for name in names:
            if name in self.layers:
                out[name] = self.layers[name]
            elif name in paths:
                out[name] = name
            else:
                raise UnknownLayerError(self.name, name, self.layers, self.module_paths())
        return out

    @property
    def device(self) -> torch.device:
        try:
            return next(self.module.parameters()).device
        except StopIteration:
            return torch.device("cpu")
