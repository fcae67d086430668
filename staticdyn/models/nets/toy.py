"""Tiny models with known behaviour, for tests and the calibration suite.

``FrameOrderInvariant`` applies a 2-D conv stack to every frame independently and averages over
time, so any permutation of the frames gives the same features at every layer: a probe must see
r_static = 1 for every unit and no dynamic unit. ``Tiny3D`` is a small 3-D CNN with the same
stage naming as the zoo's CNNs (stage1..stage4), whose temporal kernels can see motion.
"""

from __future__ import annotations

import torch
from torch import nn


class _PerFrame(nn.Module):
    """Runs a 2-D module on each frame of (B, C, T, H, W); returns (B, C', T, H', W')."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = self.inner(x.transpose(1, 2).reshape(b * t, c, h, w))
        return y.reshape(b, t, *y.shape[1:]).transpose(1, 2)


def _block2d(cin: int, cout: int, stride: int) -> nn.Module:
    return _PerFrame(nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout), nn.ReLU(inplace=True)))


def _block3d(cin: int, cout: int, stride: int, kt: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv3d(cin, cout, (kt, 3, 3), stride=(1, stride, stride), padding=(kt // 2, 1, 1),
                  bias=False),
        nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class _Head(nn.Module):
    def __init__(self, cin: int, num_classes: int):
        super().__init__()
        self.proj = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x.mean(dim=(2, 3, 4)))


class FrameOrderInvariant(nn.Module):
    """Per-frame 2-D CNN + temporal mean: blind to frame order by construction."""

    def __init__(self, width: int = 8, num_classes: int = 10):
        super().__init__()
        w = width
        self.blocks = nn.ModuleList([
            _block2d(3, w, 2), _block2d(w, 2 * w, 2), _block2d(2 * w, 4 * w, 2),
            _block2d(4 * w, 8 * w, 2), _Head(8 * w, num_classes),
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return x


class Tiny3D(nn.Module):
    """A four-stage 3-D CNN; temporal kernel ``kt`` lets it respond to motion."""

    def __init__(self, width: int = 8, num_classes: int = 10, kt: int = 3):
        super().__init__()
        w = width
        self.blocks = nn.ModuleList([
            _block3d(3, w, 2, kt), _block3d(w, 2 * w, 2, kt), _block3d(2 * w, 4 * w, 2, kt),
            _block3d(4 * w, 8 * w, 2, kt), _Head(8 * w, num_classes),
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return x
