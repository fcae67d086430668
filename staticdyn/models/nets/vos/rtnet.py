"""RTNet (reciprocal transformations), as probed by Kowal et al.

Input: a two-frame clip and, per frame, forward and backward flow images stacked as 6 channels:
``forward([rgb, flow])`` with rgb (B, 2, 3, H, W) and flow (B, 2, 6, H, W) (channels 0-2 the
forward flow image, 3-5 the backward one, each normalised like an RGB image). Both frames run
through a spatial (RGB) and a temporal (flow) trunk as one batch; after each of the four stages
reciprocal transformations exchange information between the two frames, between the streams,
and within each map, and the sum replaces the stage output. STAFM fuses the streams on the
skip connections ("bridges") 1-3 for the spatial decoder.

Backbones: ResNeXt-50 32x4d (``variant="rx50"``, entry ``rtnet``; bridges project each stage to
64/128/256 channels) or ResNet-34 (``variant="r34"``, entry ``rtnet_r34``; no bridges). Module
names follow the released ``{"state_dict": ...}`` files (keys prefixed ``module.``).

Hooks: ``app.layerK`` / ``mot.layerK`` (K = conv1, layer1..4 after the transformations; RX50:
64/256/512/1024/2048, R34: 64/64/128/256/512) and ``fusion.layer2..4`` (STAFM on bridges 1-3:
64/128/256) plus ``fusion.layer5`` (the first spatial decoder stage on the transformed layer4
features, 256), the points the authors read. The authors' conv1 for RX50 is the raw convolution
output and for R34 the stem output after max-pooling; ``conv1_tap`` keeps that per variant.
The authors count each frame of the clip as its own row; staticdyn pools over both frames
(T x H x W), or over frame ``tap_frame`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from staticdyn.models.nets.vos.common import (
    FrameTap,
    ReleasedCheckpoint,
    build_resnet,
    split_inputs,
    stage_channels,
    tap_dict,
)
from staticdyn.models.nets.vos.rtnet_attention import STAFM, RTModule, SelfModule

FRAMES = 2
HEADS = (1, 2, 4, 8)
STAFM_RATIOS = (1, 2, 4)
VARIANTS = {"rx50": "resnext50_32x4d", "r34": "resnet34"}


def _conv_bn_relu(cin: int, cout: int, k: int = 1, dilation: int = 1) -> nn.Sequential:
    pad = dilation * (k // 2)
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=pad, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(True))


class DecoderStage(nn.Module):
    def __init__(self, cin: int, mid: int, cout: int):
        super().__init__()
        self.layer = nn.Sequential(
            nn.Conv2d(cin, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class OutBlock(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(cin, 64, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        self.conv2 = nn.Conv2d(64, 1, 1)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x = F.interpolate(self.conv1(x), size, mode="bilinear", align_corners=True)
        return self.conv2(x)


class StreamNet(nn.Module):
    """One RTNet stream (``spatial_net`` or ``temporal_net``): trunk, bridges, dilated
    context, decoder. RTNet only ever runs the spatial decoder; the temporal one is built for
    the released key layout."""

    def __init__(self, arch: str, in_channels: int, bridges: bool,
                 blocks: Sequence[int] | None = None):
        super().__init__()
        trunk = build_resnet(arch, blocks)
        conv1 = trunk.conv1 if in_channels == 3 else \
            nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.channels = stage_channels(trunk)
        c1, c2, c3, c4 = self.channels[1:]
        self.bridges = bridges
        self.inconv = nn.Sequential(conv1, trunk.bn1, trunk.relu, trunk.maxpool)
        self.encoder1 = trunk.layer1
        if bridges:
            self.bridge1 = _conv_bn_relu(c1, 64)
        self.encoder2 = trunk.layer2
        if bridges:
            self.bridge2 = _conv_bn_relu(c2, 128)
        self.encoder3 = trunk.layer3
        if bridges:
            self.bridge3 = _conv_bn_relu(c3, 256)
        self.encoder4 = trunk.layer4
        if bridges:  # the R34 model passes layer4 itself as the first context branch
            self.dilation0 = _conv_bn_relu(c4, 512)
        for i, d in enumerate((1, 2, 4, 8), start=1):
            setattr(self, f"dilation{i}", _conv_bn_relu(c4, 512, 3, d))
        self.decoder4 = DecoderStage(512 * 5, 512, 256)
        self.decoder3 = DecoderStage(512, 256, 128)
        self.decoder2 = DecoderStage(256, 128, 64)
        self.decoder1 = DecoderStage(128, 64, 64)
        self.out4, self.out3 = OutBlock(256), OutBlock(128)
        self.out2, self.out1 = OutBlock(64), OutBlock(64)

    def bridge(self, k: int, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, f"bridge{k}")(x) if self.bridges else x

    def context(self, h4: torch.Tensor) -> torch.Tensor:
        first = self.dilation0(h4) if self.bridges else h4
        return torch.cat([first, *(getattr(self, f"dilation{i}")(h4) for i in range(1, 5))], 1)


class RTNet(ReleasedCheckpoint, nn.Module):
    """forward([rgb (B, 2, 3, H, W), flow (B, 2, 6, H, W)]) -> mask probabilities
    (B, 2, 1, H', W') at 1/4 of the layer1 resolution times 4 (H, W for sizes divisible by 4)."""

    release_format = "state_dict"

    def __init__(self, variant: str = "rx50", blocks: Sequence[int] | None = None,
                 conv1_tap: str | None = None, tap_frame: int | None = None):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown RTNet variant '{variant}'. Valid: {', '.join(VARIANTS)}")
        r34 = variant == "r34"
        self.conv1_tap = conv1_tap or ("stem" if r34 else "conv")
        if self.conv1_tap not in ("conv", "stem"):
            raise ValueError(f"conv1_tap must be 'conv' or 'stem', got '{self.conv1_tap}'")
        arch = VARIANTS[variant]
        self.spatial_net = StreamNet(arch, 3, bridges=not r34, blocks=blocks)
        self.temporal_net = StreamNet(arch, 6, bridges=not r34, blocks=blocks)
        ch = self.spatial_net.channels[1:]
        for name, st in (("SSTransformer", False), ("STTransformer", True)):
            for k, (c, h) in enumerate(zip(ch, HEADS, strict=True), start=1):
                setattr(self, f"{name}{k}", RTModule(c, h, st, reduced=k == 1, r34=r34))
        for k, (c, h) in enumerate(zip(ch, HEADS, strict=True), start=1):
            setattr(self, f"SselfTransformer{k}", SelfModule(c, h, reduced=k == 1, r34=r34))
        for k, (c, h) in enumerate(zip(ch, HEADS, strict=True), start=1):
            setattr(self, f"TTTransformer{k}", RTModule(c, h, False, reduced=k == 1, r34=r34))
        for k, (c, h) in enumerate(zip(ch, HEADS, strict=True), start=1):
            setattr(self, f"TselfTransformer{k}", SelfModule(c, h, reduced=k == 1, r34=r34))
        for k in (3, 2, 1):
            setattr(self, f"Transformerstafm{k}", STAFM(64 * 2 ** (k - 1), STAFM_RATIOS[k - 1]))
        names = [f"{s}.layer{k}" for s in ("app", "mot") for k in range(1, 6)]
        names += [f"fusion.layer{k}" for k in range(2, 6)]
        self.taps = tap_dict(names, FrameTap, frames=FRAMES, frame=tap_frame)

    def _exchange(self, k: int, s: torch.Tensor, t: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage-k transformations: frame<->frame, RGB<->flow and self, summed with the input."""
        bt, c, h, w = s.shape
        s1, s2 = s.view(bt // FRAMES, FRAMES, c, h, w).unbind(1)
        t1, t2 = t.view(bt // FRAMES, FRAMES, c, h, w).unbind(1)
        ss1, ss2 = getattr(self, f"SSTransformer{k}")(s1, s2)
        s_self = getattr(self, f"SselfTransformer{k}")
        st = getattr(self, f"STTransformer{k}")
        s1t, t1s = st(s1, t1)
        s2t, t2s = st(s2, t2)
        tt1, tt2 = getattr(self, f"TTTransformer{k}")(t1, t2)
        t_self = getattr(self, f"TselfTransformer{k}")
        new_s = [ss1 + s_self(s1) + s1t + s1, ss2 + s_self(s2) + s2t + s2]
        new_t = [t1s + t_self(t1) + tt1 + t1, t2s + t_self(t2) + tt2 + t2]
        return torch.stack(new_s, 1).flatten(0, 1), torch.stack(new_t, 1).flatten(0, 1)

    def _stem(self, x: torch.Tensor, net: StreamNet, tap: str) -> torch.Tensor:
        """conv-BN-ReLU-maxpool, tapping the raw convolution (``conv``) or the result (``stem``)."""
        layers = list(net.inconv)
        x = layers[0](x)
        if self.conv1_tap == "conv":
            self.taps[tap](x)
        for layer in layers[1:]:
            x = layer(x)
        if self.conv1_tap == "stem":
            self.taps[tap](x)
        return x

    def forward(self, inputs: Any) -> torch.Tensor:
        rgb, flow = split_inputs(inputs)
        if rgb.ndim != 5 or rgb.shape[1] != FRAMES or flow.ndim != 5 or flow.shape[2] != 6:
            raise ValueError(
                "RTNet takes rgb (B, 2, 3, H, W) and forward+backward flow (B, 2, 6, H, W); "
                f"got {tuple(rgb.shape)} and {tuple(flow.shape)}")
        b = rgb.shape[0]
        sp, tp = self.spatial_net, self.temporal_net
        s = self._stem(rgb.flatten(0, 1), sp, "app_layer1")
        t = self._stem(flow.flatten(0, 1), tp, "mot_layer1")
        skips: list[tuple[torch.Tensor, torch.Tensor]] = []
        for k in range(1, 5):
            s, t = getattr(sp, f"encoder{k}")(s), getattr(tp, f"encoder{k}")(t)
            s, t = self._exchange(k, s, t)
            self.taps[f"app_layer{k + 1}"](s)
            self.taps[f"mot_layer{k + 1}"](t)
            skips.append((s, t))
        feature = sp.decoder4(sp.context(s))
        self.taps["fusion_layer5"](feature)
        for k in (3, 2, 1):
            fs, ft = skips[k - 1]
            fused = getattr(self, f"Transformerstafm{k}")(sp.bridge(k, fs), tp.bridge(k, ft))
            self.taps[f"fusion_layer{k + 1}"](fused)
            up = F.interpolate(feature, fs.shape[-2:], mode="bilinear", align_corners=True)
            feature = getattr(sp, f"decoder{k}")(torch.cat([up, fused], 1))
        h, w = skips[0][0].shape[-2:]
        out = torch.sigmoid(sp.out1(feature, (4 * h, 4 * w)))
        return out.view(b, FRAMES, *out.shape[1:])

    def layer_aliases(self) -> dict[str, str]:
        return {name.replace("_", "."): f"taps.{name}" for name in self.taps}


def rtnet(variant: str = "rx50", blocks: list[int] | None = None, conv1_tap: str | None = None,
          tap_frame: int | None = None) -> RTNet:
    """Zoo builder (``rtnet``: ResNeXt-50, ``rtnet_r34``: ResNet-34)."""
    return RTNet(variant, blocks, conv1_tap, tap_frame)
