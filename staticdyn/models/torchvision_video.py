"""torchvision video models offline: no builder downloads, and MViT at any clip size.

``refuse_downloads``: torchvision's builders fetch weights whenever ``weights`` names a weights
enum or its string (``"DEFAULT"``, ``"KINETICS400_V1"``); staticdyn never downloads, so such a
``builder_kwargs.weights`` is refused in one line that says to pass the file as a checkpoint.

torchvision's MViT at any clip size (its builders fix the positional grid to 16x224x224):

``torchvision.models.video.mvit_v1_b`` / ``mvit_v2_s`` hard-code ``spatial_size=(224, 224)`` and
``temporal_size=16`` when they call the private ``_mvit``, so a reduced clip (CI, smoke runs,
small GPUs) cannot be probed through the public builder. ``mvit`` calls the same public builder
with ``_mvit`` briefly wrapped to size the grid, so the block settings stay torchvision's own
(nothing copied here) and, at the default size, the state dict is exactly torchvision's: a
``MViT_V1_B_Weights`` file from ``$TORCH_HOME/hub/checkpoints/`` loads strictly.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any
from unittest import mock

import torch
from torch import nn

from staticdyn.errors import StaticDynError, UnknownChoiceError

VARIANTS = ("mvit_v1_b", "mvit_v2_s")
TORCHVISION_HINT = (
    "staticdyn never downloads weights: keep builder_kwargs.weights=null and pass the "
    "state-dict file as model.checkpoint=/path/to/file.pth (torchvision keeps the files it "
    "downloaded in $TORCH_HOME/hub/checkpoints/)"
)


def _is_weights_enum(value: Any) -> bool:
    from torchvision.models import WeightsEnum

    return isinstance(value, WeightsEnum)


def refuse_downloads(builder: str, kwargs: Mapping[str, Any] | None, entry: str) -> None:
    """Refuse ``builder_kwargs.weights`` that would make a torchvision builder download: a
    weights enum (any builder), or a weights name for a builder from torchvision itself (a
    string may be a local path for other builders, which is theirs to interpret)."""
    weights = (kwargs or {}).get("weights")
    if weights is None:
        return
    if _is_weights_enum(weights) or (
            str(builder).startswith("torchvision.") and isinstance(weights, str | bool)):
        raise StaticDynError(f"model '{entry}': builder_kwargs.weights={weights!s} would "
                             f"download weights; {TORCHVISION_HINT}")

_LOCK = threading.Lock()  # the wrap is process-wide for as long as one build lasts


def mvit(
    variant: str = "mvit_v1_b",
    spatial_size: int | Sequence[int] = 224,
    temporal_size: int = 16,
    weights: Any = None,
    **kwargs: Any,
) -> nn.Module:
    """torchvision MViT ``variant`` for clips of ``temporal_size`` x ``spatial_size``, random
    init (``weights`` must stay None: staticdyn never downloads; use ``model.checkpoint``)."""
    from torchvision.models import video
    from torchvision.models.video import mvit as tv_mvit

    if weights is not None:
        raise StaticDynError(f"builder_kwargs.weights={weights!s} would download weights; "
                             f"{TORCHVISION_HINT}")
    if variant not in VARIANTS:
        raise UnknownChoiceError("torchvision MViT variant", variant, VARIANTS)
    if isinstance(spatial_size, int):
        size = (int(spatial_size), int(spatial_size))
    else:
        size = (int(spatial_size[0]), int(spatial_size[1]))
    original = tv_mvit._mvit

    def sized(**kw: Any) -> nn.Module:
        kw["spatial_size"], kw["temporal_size"] = size, int(temporal_size)
        return original(**kw)

    with _LOCK, mock.patch.object(tv_mvit, "_mvit", sized):
        model = getattr(video, variant)(weights=weights, **kwargs)
    model.register_forward_pre_hook(ClipSizeCheck(variant, int(temporal_size), size))
    return model


class ClipSizeCheck:
    """Forward pre-hook: MViT's positional grid takes one clip size; a different one fails deep
    inside with a shape error, so say which model setting to change instead."""

    def __init__(self, variant: str, frames: int, size: tuple[int, int]):
        self.variant, self.frames, self.size = variant, frames, size

    def __call__(self, _module: nn.Module, args: tuple) -> None:
        x = args[0] if args else None
        if isinstance(x, torch.Tensor) and x.ndim == 5 \
                and (x.shape[2], *x.shape[3:]) != (self.frames, *self.size):
            raise StaticDynError(
                f"{self.variant} is built for {self.frames}x{self.size[0]}x{self.size[1]} "
                f"clips, got {x.shape[2]}x{x.shape[3]}x{x.shape[4]}: set model.clip.frames/crop "
                "or model.builder_kwargs.temporal_size/spatial_size to match"
            )
