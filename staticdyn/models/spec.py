"""What the rest of staticdyn needs to know about a model: its input spec and its named layers.

``ZooModel`` is the single object both the Python API (``staticdyn.load_model``) and the Hydra
pipeline use, so there is exactly one code path from a checkpoint to pooled features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from staticdyn.errors import UnknownLayerError


@dataclass(frozen=True)
class ClipSpec:
    """How a clip is built for this model (METHOD.md section 1).

    ``frames`` is the frame count of the (single or slow) pathway. For two-pathway models
    ``alpha`` is the fast/slow frame ratio: the fast pathway gets ``frames * alpha`` frames and
    the slow pathway is subsampled from it, as PyTorchVideo's PackPathway does.
    """

    frames: int = 8
    sampling_rate: int = 8
    crop: int = 256
    short_side: int = 256
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45)
    std: tuple[float, float, float] = (0.225, 0.225, 0.225)
    alpha: int | None = None
    n_sample_frames: int = 64
    task: str = "action"  # "action" (clip input) or "vos" (frame + flow)

    @property
    def num_pathways(self) -> int:
        return 1 if self.alpha is None else 2

    @property
    def pathway_frames(self) -> list[int]:
        """Frame count per pathway, in the order the model takes them (slow first)."""
        if self.alpha is None:
            return [self.frames]
        return [self.frames, self.frames * self.alpha]


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

    def extract(
        self, inputs: torch.Tensor | list[torch.Tensor], layers: Sequence[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Pooled (batch, channels) features of every requested layer, from one forward pass."""
        from staticdyn.probe.hooks import extract_pooled

        resolved = self.resolve_layers(layers)
        return extract_pooled(self.module, inputs, resolved)
