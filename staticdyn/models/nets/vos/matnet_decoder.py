"""MATNet's boundary-aware refinement decoder (bridge to the mask; never hooked by default).

Behaviour kept from the authors' code because the released weights were trained with it: each
refinement module builds a pyramid-dilation block with three atrous branches but applies the
first branch three times (``block2``/``block3`` and ``convFS1`` are built, unused, and kept for the
key layout). One deliberate difference: the reference resizes every prediction to a fixed
473 x 473; here predictions are resized to the input size (identical at 473 x 473, and it does
not touch any encoder feature the probe reads).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from staticdyn.models.nets.vos.common import init_like_reference


class BoundaryModule(nn.Module):
    """BN-conv-ReLU-BN-conv-ReLU-conv: a one-channel boundary logit map of a fused scale."""

    def __init__(self, channels: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv1 = nn.Conv2d(channels, 64, 3, padding=1)
        self.relu = nn.ReLU()
        self.bn2 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 1, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv1(self.bn1(x)))
        x = self.relu(self.conv2(self.bn2(x)))
        return self.conv3(x)


class GlobalConv(nn.Module):
    """Large separable kernel (k x 1 then 1 x k, plus the transposed order)."""

    def __init__(self, cin: int, cout: int, k: int = 7):
        super().__init__()
        self.conv_l1 = nn.Conv2d(cin, 256, (k, 1), padding=(k // 2, 0))
        self.conv_l2 = nn.Conv2d(256, cout, (1, k), padding=(0, k // 2))
        self.conv_r1 = nn.Conv2d(cin, 256, (1, k), padding=(0, k // 2))
        self.conv_r2 = nn.Conv2d(256, cout, (k, 1), padding=(k // 2, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_l2(self.conv_l1(x)) + self.conv_r2(self.conv_r1(x))


class AtrousBlock(nn.Module):
    def __init__(self, cin: int, cout: int, rate: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, dilation=rate, padding=rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class PyramidDilationConv(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.block0 = nn.Conv2d(cin, cout, 1)
        self.block1 = AtrousBlock(cin, cout, 3)
        self.block2 = AtrousBlock(cin, cout, 5)  # unused, as in the reference
        self.block3 = AtrousBlock(cin, cout, 7)  # unused, as in the reference
        self.bn = nn.BatchNorm2d(cout * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.block1(x)
        return self.bn(torch.cat([self.block0(x), x1, x1, x1], 1))


class Refine(nn.Module):
    def __init__(self, cin: int, planes: int):
        super().__init__()
        self.convFS1 = nn.Conv2d(cin, planes, 3, padding=1)  # released key names; FS1 unused
        self.convFS2 = nn.Conv2d(planes, planes, 3, padding=1)
        self.convFS3 = nn.Conv2d(planes, planes, 3, padding=1)
        self.convMM1 = nn.Conv2d(planes, planes, 3, padding=1)
        self.convMM2 = nn.Conv2d(planes, planes, 3, padding=1)
        self.pdc = PyramidDilationConv(cin, planes // 4)

    def forward(self, f: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        s = self.pdc(f)
        s = s + self.convFS3(F.relu(self.convFS2(F.relu(s))))
        m = s + F.interpolate(coarse, size=s.shape[2:], mode="bilinear", align_corners=False)
        return m + self.convMM2(F.relu(self.convMM1(F.relu(m))))


class Decoder(nn.Module):
    """Inputs: fused features of res5..res2 (2C channels each); output: mask probability."""

    def __init__(self, widths: tuple[int, int, int, int] = (4096, 2048, 1024, 512),
                 mdim: int = 256):
        super().__init__()
        w5, w4, w3, w2 = widths
        self.GC = GlobalConv(w5 + 1, mdim)  # released key names
        self.convG1 = nn.Conv2d(mdim, mdim, 3, padding=1)
        self.convG2 = nn.Conv2d(mdim, mdim, 3, padding=1)
        self.RF4 = Refine(w4 + 1, mdim)
        self.RF3 = Refine(w3 + 1, mdim)
        self.RF2 = Refine(w2 + 1, mdim)
        for k in (5, 4, 3, 2):
            setattr(self, f"pred{k}", nn.Conv2d(mdim, 1, 3, padding=1))
        self.concat = nn.Conv2d(4, 1, 3, padding=1)
        for k, w in zip((5, 4, 3, 2), widths, strict=True):
            setattr(self, f"bdry{k}", BoundaryModule(w))
        init_like_reference(self, conv_std=0.001)

    def forward(self, r5: torch.Tensor, r4: torch.Tensor, r3: torch.Tensor, r2: torch.Tensor,
                size: tuple[int, int]) -> torch.Tensor:
        r5, r4, r3, r2 = (torch.cat([r, getattr(self, f"bdry{k}")(r)], 1)
                          for k, r in zip((5, 4, 3, 2), (r5, r4, r3, r2), strict=True))
        x = self.GC(r5)
        m5 = x + self.convG2(F.relu(self.convG1(F.relu(x))))
        m2 = self.RF2(r2, self.RF3(r3, self.RF4(r4, m5)))
        logits = F.interpolate(self.pred2(F.relu(m2)), size=size, mode="bilinear",
                               align_corners=False)
        return torch.sigmoid(logits)
