"""Sine position encodings of Mask2Former (2-D, per frame) and Mask2Former-VIS (3-D, per clip).

Both follow DETR's normalised sine encoding: every axis is a cumulative count scaled to
(0, 2*pi], then mapped through sines and cosines of geometrically spaced frequencies. The 3-D
form adds a time term with twice as many frequencies to the (y, x) encoding; that term is the
only place where Mask2Former-VIS's decoder can tell frames apart, which is why its layers (and no
per-frame layer) can encode frame order. No parameters: nothing here appears in a state dict.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _sine_features(coord: torch.Tensor, num_feats: int, temperature: float) -> torch.Tensor:
    """(..., num_feats) interleaved sin/cos of ``coord`` at ``num_feats`` frequencies."""
    steps = torch.arange(num_feats, dtype=torch.float32, device=coord.device)
    freqs = temperature ** (2 * torch.div(steps, 2, rounding_mode="floor") / num_feats)
    angles = coord[..., None] / freqs
    return torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=-1).flatten(-2)


class _SineBase(nn.Module):
    def __init__(self, num_pos_feats: int = 64, temperature: float = 10000.0,
                 normalize: bool = False, scale: float | None = None) -> None:
        super().__init__()
        if scale is not None and not normalize:
            raise ValueError("a scale needs normalize=True")
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = 2 * math.pi if scale is None else scale

    def _axis(self, ones: torch.Tensor, dim: int) -> torch.Tensor:
        pos = ones.cumsum(dim, dtype=torch.float32)
        if self.normalize:
            last = pos.narrow(dim, pos.shape[dim] - 1, 1)
            pos = pos / (last + 1e-6) * self.scale
        return pos


class PositionEmbeddingSine(_SineBase):
    """(N, C, H, W) -> (N, 2 * num_pos_feats, H, W): y features then x features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ones = torch.ones((x.shape[0], x.shape[2], x.shape[3]), device=x.device)
        y = _sine_features(self._axis(ones, 1), self.num_pos_feats, self.temperature)
        xx = _sine_features(self._axis(ones, 2), self.num_pos_feats, self.temperature)
        return torch.cat((y, xx), dim=3).permute(0, 3, 1, 2)


class PositionEmbeddingSine3D(_SineBase):
    """(B, T, C, H, W) -> (B, T, 2 * num_pos_feats, H, W): the 2-D (y, x) encoding plus a time
    encoding of the same width (2 * num_pos_feats frequencies) added on top."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(f"3-D position encoding takes (B, T, C, H, W), got {tuple(x.shape)}")
        ones = torch.ones((x.shape[0], x.shape[1], x.shape[3], x.shape[4]), device=x.device)
        z = _sine_features(self._axis(ones, 1), 2 * self.num_pos_feats, self.temperature)
        y = _sine_features(self._axis(ones, 2), self.num_pos_feats, self.temperature)
        xx = _sine_features(self._axis(ones, 3), self.num_pos_feats, self.temperature)
        return (torch.cat((y, xx), dim=4) + z).permute(0, 1, 4, 2, 3)
