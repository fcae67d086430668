"""RTNet's reciprocal-transformation blocks and its STAFM fusion.

Written from the behaviour of the released RTNet code (the weights only reproduce under that
forward pass), including two details that look like slips but are what was trained:

- ``RTModule``: the second stream attends to the *already transformed* first stream.
- The two released backbones differ inside the attention: in the ResNeXt-50 model the full
  attention normalises over keys and then contracts values over *queries* (``v @ softmax(q k)``,
  with biased projections); the ResNet-34 model uses unbiased projections and normalises over
  keys (``v @ softmax_k(k^T q)``). ``r34`` selects the latter. The stage-1 blocks use a pooled
  ("reduced") attention at half resolution in both.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from staticdyn.models.nets.vos.matnet_attention import RGating


class RScaling(nn.Module):
    """Channel re-scaling of both streams from their joint global context: x + x * s."""

    def __init__(self, channels: int, ratio: int):
        super().__init__()
        self.channels = channels
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(2 * channels, channels // ratio, 1)
        self.relu1 = nn.ReLU(True)
        self.fc2 = nn.Conv2d(channels // ratio, 2 * channels, 1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = torch.sigmoid(self.fc2(self.relu1(self.fc1(self.avg_pool(torch.cat([a, b], 1))))))
        c = self.channels
        return a * f[:, :c] + a, b * f[:, c:] + b


class SelfScaling(nn.Module):
    def __init__(self, channels: int, ratio: int):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // ratio, 1)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Conv2d(channels // ratio, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc2(self.relu1(self.fc1(self.avg_pool(x))))) + x


class SelfGating(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(channels, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv(x) + x


class RTrans(nn.Module):
    """Multi-head attention over positions with 1x1 projections (query from ``q``, key and
    value from ``k``/``v``)."""

    def __init__(self, d_model: int, h: int, r34: bool = False):
        super().__init__()
        self.d_model, self.h, self.d_k, self.r34 = d_model, h, d_model // h, r34
        bias = not r34
        self.query = nn.Conv2d(d_model, d_model, 1, bias=bias)
        self.key = nn.Conv2d(d_model, d_model, 1, bias=bias)
        self.value = nn.Conv2d(d_model, d_model, 1, bias=bias)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = q.shape
        shape = (b, self.h, self.d_k, hh * ww)
        q, k, v = self.query(q).view(shape), self.key(k).view(shape), self.value(v).view(shape)
        scale = math.sqrt(self.d_k)
        if self.r34:
            att = F.softmax(k.transpose(-1, -2) @ q / scale, dim=-2)
        else:
            att = F.softmax(q.transpose(-1, -2) @ k / scale, dim=-1)
        return (v @ att).reshape(b, c, hh, ww)


class PooledRTrans(nn.Module):
    """Attention at half resolution (3x3/2 max-pooling), bilinearly resized back (stage 1).

    In the ResNet-34 model queries and keys are projected to d_model / h channels with a single
    head; in the ResNeXt-50 model they keep d_model channels split into h heads.
    """

    def __init__(self, d_model: int, h: int, r34: bool = False):
        super().__init__()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.d_model, self.h, self.d_k, self.r34 = d_model, h, d_model // h, r34
        qk = self.d_k if r34 else d_model
        self.query = nn.Conv2d(d_model, qk, 1)
        self.key = nn.Conv2d(d_model, qk, 1)
        self.value = nn.Conv2d(d_model, d_model, 1)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        size = q.shape[-2:]
        q, k, v = self.maxpool(q), self.maxpool(k), self.maxpool(v)
        b, c, hh, ww = q.shape
        heads = 1 if self.r34 else self.h
        q = self.query(q).view(b, heads, -1, hh * ww).transpose(-1, -2)
        k = self.key(k).view(b, heads, -1, hh * ww)
        v = self.value(v).view(b, heads, -1, hh * ww)
        att = F.softmax(q @ k / math.sqrt(self.d_k), dim=-1)
        x = (v @ att).reshape(b, c, hh, ww)
        return F.interpolate(x, size, mode="bilinear", align_corners=True)


def _transformation(channels: int, h: int, reduced: bool, r34: bool) -> nn.Module:
    return PooledRTrans(channels, h, r34) if reduced else RTrans(channels, h, r34)


class RTModule(nn.Module):
    """Reciprocal transformation between two feature maps (frame-frame or RGB-flow)."""

    def __init__(self, channels: int, h: int, st: bool, reduced: bool = False,
                 r34: bool = False):
        super().__init__()
        self.st = st
        self.scaling = RScaling(channels, h)
        self.transformation1 = _transformation(channels, h, reduced, r34)
        if st:
            self.transformation2 = _transformation(channels, h, reduced, r34)
        self.gating = RGating(channels)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.scaling(x, y)
        x = self.transformation1(x, y, y)
        y = (self.transformation2 if self.st else self.transformation1)(y, x, x)
        return self.gating(x, y)


class SelfModule(nn.Module):
    """Self-transformation of one feature map."""

    def __init__(self, channels: int, h: int, reduced: bool = False, r34: bool = False):
        super().__init__()
        self.scaling = SelfScaling(channels, h)
        self.transformation = _transformation(channels, h, reduced, r34)
        self.gating = SelfGating(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.scaling(x)
        return self.gating(self.transformation(x, x, x))


class ChannelMix(nn.Module):
    """Per-channel convex weights f, 1 - f for the RGB and flow features."""

    def __init__(self, channels: int, ratio: int):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(2 * channels, channels // ratio, 1)
        self.relu1 = nn.ReLU(True)
        self.fc2 = nn.Conv2d(channels // ratio, channels, 1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = torch.sigmoid(self.fc2(self.relu1(self.fc1(self.avg_pool(torch.cat([a, b], 1))))))
        return a * f, b * (1 - f)


class SpatialMix(nn.Module):
    """Per-pixel convex combination x * a + (1 - x) * b from mean/max maps of both."""

    def __init__(self, kernel: int = 7):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 1, kernel, padding=kernel // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        stats = torch.cat([a.mean(1, keepdim=True), a.max(1, keepdim=True)[0],
                           b.mean(1, keepdim=True), b.max(1, keepdim=True)[0]], 1)
        x = self.sigmoid(self.conv1(stats))
        return a * x + b * (1 - x)


class STAFM(nn.Module):
    """Spatio-temporal attentive fusion: channel then spatial convex mixing of the streams."""

    def __init__(self, channels: int, ratio: int = 2):
        super().__init__()
        self.channel = ChannelMix(channels, ratio)
        self.spatial = SpatialMix()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.spatial(*self.channel(a, b))
