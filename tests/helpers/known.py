"""Small models and checks with known answers, shared by the API, zoo and model tests.

- ``Net3D``: a user's own two-stage 3-D module, (B, C, T, H, W) in, no zoo card.
- ``assert_frame_order_blind``: the known answer of every frame-order-invariant model
  (METHOD.md): no dynamic unit, and r_static = 1 for every live unit of every probed layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


class Net3D(nn.Module):
    """(B, C, T, H, W) in; two conv stages (``stem``: 4 channels, ``block``: 6)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.ReLU())
        self.block = nn.Sequential(nn.Conv3d(4, 6, 3, stride=2, padding=1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.stem(x))


def assert_frame_order_blind(tables: Any) -> None:
    """No dynamic unit anywhere, and every live unit (r_static 0 marks a dead one) of every
    layer has r_static = 1 (to 1e-4), with at least one live unit per layer."""
    assert (tables.unitwise["dynamic"] == 0).all()
    dead = dict(zip(tables.unitwise["layer"], tables.unitwise["dead"], strict=True))
    for layer, scores in tables.unit_scores.groupby("layer"):
        r_static = scores["r_static"].to_numpy()  # 0 for a dead unit
        live = r_static[r_static != 0]
        assert len(live) == len(r_static) - dead[layer] > 0, layer
        assert np.all(live > 1 - 1e-4), (layer, live.min())
