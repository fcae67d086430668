"""MATNet's cross connections (motion-attentive transition) and scale-sensitive fusions.

Written from the behaviour of the authors' code, because released checkpoints only reproduce
its numbers under exactly that forward pass:

- The MAT block runs five cascades of soft self-attention on each stream followed by
  co-attention between them. In the original (unidirectional) design only the appearance stream
  receives the co-attended motion features; the motion stream keeps its self-attended features.
  ``reciprocal=True`` (the journal's bidirectional design) also feeds co-attended appearance
  features into the motion stream; ``gated=True`` adds a learned two-way gate. The
  ``bottolneck1/2`` and ``bna/bnb`` layers exist in the reference but are never used in its
  forward; they are built so that the released state dicts load strictly.
- Fusion of the two streams at each scale: ``gated`` (squeeze-excitation, spatial and global
  gates with a residual, on the concatenation) or ``convex_gated`` (channel then spatial convex
  combination of the streams).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RGating(nn.Module):
    """Per-pixel sigmoid gate for each stream from both: x + x * g."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(2 * channels, 2, 1), nn.Sigmoid())

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.conv(torch.cat([a, b], 1))
        return a * g[:, :1] + a, b * g[:, 1:] + b


class CoAttention(nn.Module):
    """Five-cascade MAT block; returns (Za, Zb, Qa, Qb) of the last cascade.

    ``a`` is the appearance stream, ``b`` the motion stream. Zb is motion-guided appearance
    (added to the appearance stream by the encoder), Za its counterpart.
    """

    CASCADES = 5

    def __init__(self, channels: int, norm: str = "tanh", gated: bool = False,
                 reciprocal: bool = False):
        super().__init__()
        if norm not in ("tanh", "softmax"):
            raise ValueError(f"co-attention norm must be tanh or softmax, got '{norm}'")
        self.norm, self.gated, self.reciprocal = norm, gated, reciprocal
        d = channels // 16
        self.proja = nn.Conv2d(channels, d, 1)
        self.projb = nn.Conv2d(channels, d, 1)
        # Built but unused in the reference forward; kept for the released key layout.
        self.bottolneck1 = self._unused_bottleneck(channels)
        self.bottolneck2 = self._unused_bottleneck(channels)
        self.proj1 = nn.Conv2d(channels, 1, 1)
        self.proj2 = nn.Conv2d(channels, 1, 1)
        self.bna = nn.BatchNorm2d(channels)
        self.bnb = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        if gated:
            self.rgating = RGating(channels)

    @staticmethod
    def _unused_bottleneck(channels: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels),
                             nn.ReLU(inplace=True))

    def self_attend(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each stream re-weighted by a softmax over its own spatial positions."""
        n, _, h, w = a.shape
        wa = F.softmax(self.proj1(a).view(n, h * w), dim=1).view(n, 1, h, w)
        wb = F.softmax(self.proj2(b).view(n, h * w), dim=1).view(n, 1, h, w)
        return a * wa, b * wb

    def co_attend(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Affinity between every appearance and motion position; each stream is re-expressed
        through the other's features (L2-normalised over channels)."""
        n, c, h, w = a.shape
        qa = self.proja(a).flatten(2)                          # (N, d, HW)
        qb = self.projb(b).flatten(2)
        affinity = torch.bmm(qb.transpose(1, 2), qa)           # (N, HW_b, HW_a)
        if self.norm == "tanh":
            att_a = torch.tanh(affinity)
            att_b = att_a.transpose(1, 2)
        else:
            att_a = F.softmax(affinity, dim=2)
            att_b = F.softmax(affinity, dim=1).transpose(1, 2)
        za = torch.bmm(b.reshape(n, c, h * w), att_a).view(n, c, h, w)
        zb = torch.bmm(a.reshape(n, c, h * w), att_b).view(n, c, h, w)
        return F.normalize(za), F.normalize(zb)

    def forward(self, a: torch.Tensor, b: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        pa, pb = a, b
        for _ in range(self.CASCADES - 1):
            sa, sb = self.self_attend(pa, pb)
            za, zb = self.co_attend(sa, sb)
            to_a = zb + pa
            to_b = (za if self.reciprocal else sb) + pb
            if self.gated:
                ga, gb = self.rgating(sa, sb)
                to_a = to_a + ga
                if self.reciprocal:
                    to_b = to_b + gb
            pa, pb = F.relu(to_a), F.relu(to_b)
        sa, sb = self.self_attend(pa, pb)
        za, zb = self.co_attend(sa, sb)
        if self.gated:
            ga, gb = self.rgating(sa, sb)
            za, zb = za + gb, zb + ga
        return za, zb, sa, sb


class BasicConv(nn.Module):
    """conv (no bias) + BatchNorm (momentum 0.01, as the reference) [+ ReLU]."""

    def __init__(self, cin: int, cout: int, kernel: int, padding: int = 0, relu: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.01)
        self.relu = nn.ReLU() if relu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return self.relu(x) if self.relu is not None else x


class GatedFusion(nn.Module):
    """MATNet's scale-sensitive fusion of the concatenated streams U:
    O = U + g_global * g_spatial * (g_channel * U)."""

    def __init__(self, channels: int, reduction: int = 16, use_global: bool = True):
        super().__init__()
        self.use_global = use_global
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        hidden = channels // reduction
        self.excitation_1 = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True))
        self.excitation_2 = nn.Sequential(nn.Linear(hidden, channels), nn.Sigmoid())
        self.global_attention = nn.Sequential(nn.Linear(hidden, 1), nn.Sigmoid())
        self.spatial = BasicConv(1, 1, 7, padding=3, relu=False)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        u = torch.cat([a, b], 1)
        n, c = u.shape[:2]
        e1 = self.excitation_1(self.avg_pool(u).view(n, c))
        u_se = self.excitation_2(e1).view(n, c, 1, 1) * u
        u_se_sp = self.spatial(u_se.max(dim=1, keepdim=True)[0]) * u_se
        v = self.global_attention(e1).view(n, 1, 1, 1) * u_se_sp if self.use_global else u_se_sp
        return u + v


class ChannelConvex(nn.Module):
    """Per-channel convex weights f and 1 - f for the two streams, from both."""

    def __init__(self, channels: int, ratio: int):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // ratio, 1)
        self.relu1 = nn.ReLU(True)
        self.fc2 = nn.Conv2d(channels // ratio, channels // 2, 1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = torch.sigmoid(self.fc2(self.relu1(self.fc1(self.avg_pool(torch.cat([a, b], 1))))))
        return a * f, b * (1 - f)


class SpatialConvex(nn.Module):
    """Per-pixel convex weights x and 1 - x from mean/max maps of both streams; the weighted
    streams are concatenated (so the output has both streams' channels)."""

    def __init__(self, kernel: int = 7):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 1, kernel, padding=kernel // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        stats = torch.cat([a.mean(1, keepdim=True), a.max(1, keepdim=True)[0],
                           b.mean(1, keepdim=True), b.max(1, keepdim=True)[0]], 1)
        x = self.sigmoid(self.conv1(stats))
        return torch.cat([a * x, b * (1 - x)], 1)


class ConvexGatedFusion(nn.Module):
    """The convex-gated fusion variant: channel convex combination, then spatial."""

    def __init__(self, channels: int, ratio: int = 16):
        super().__init__()
        self.channel = ChannelConvex(channels, ratio)
        self.spatial = SpatialConvex()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.spatial(*self.channel(a, b))
