"""FusionSeg as modified by Kowal et al.: two ResNet-101 streams, 1x1 fusion, DeepLabv3+ head.

The appearance stream sees the RGB frame, the motion stream the flow image; the streams never
exchange information (no cross connections). Their outputs are fused by a 1x1 convolution over
the concatenation at layer1 (the DeepLabv3+ low-level branch) and at layer4 (the ASPP input),
with output stride 16 (layer4 dilated) and ASPP rates 6/12/18. Two-class output.

Module names follow the released checkpoints (``latest_twostream_deeplabv3plus_resnet101_*``:
``{"model_state": ...}`` with ``backbone.app_stream.*``, ``backbone.mot_stream.*``,
``backbone.sensor_fusion.layer1..4``, ``classifier.*``), so those files load strictly. The
reference builds fusion convolutions for layer2 and layer3 too and never uses them; they are
kept for the key layout and have no alias.

Hooks (K = 1..5 is conv1, layer1..layer4): ``app.layerK``, ``mot.layerK`` (ResNet-101:
64/256/512/1024/2048 channels; conv1 is the raw convolution output, before BatchNorm, as the
authors read it) and ``fusion.layer2`` (256), ``fusion.layer5`` (2048).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import ResNet
from torchvision.models.segmentation.deeplabv3 import ASPP

from staticdyn.models.nets.vos.common import (
    ReleasedCheckpoint,
    build_resnet,
    init_like_reference,
    split_inputs,
    stage_channels,
)

STREAM_STAGES = ("conv1", "layer1", "layer2", "layer3", "layer4")


class ResNetStream(nn.Module):
    """conv1 .. layer4 of a torchvision ResNet; no avgpool/fc (the released keys have none)."""

    def __init__(self, trunk: ResNet):
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = trunk.conv1, trunk.bn1, trunk.relu, \
            trunk.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = trunk.layer1, trunk.layer2, \
            trunk.layer3, trunk.layer4

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))


class TwoStreamBackbone(nn.Module):
    """Both streams run stage by stage (so a probe that stops early stops both), fused by 1x1
    convolutions over the channel concatenation at layer1 and layer4."""

    def __init__(self, arch: str = "resnet101", output_stride: int = 16,
                 blocks: Sequence[int] | None = None):
        super().__init__()
        if output_stride not in (8, 16):
            raise ValueError(f"output_stride must be 8 or 16, got {output_stride}")
        dilate = [False, False, True] if output_stride == 16 else [False, True, True]
        app, mot = build_resnet(arch, blocks, dilate), build_resnet(arch, blocks, dilate)
        self.channels = stage_channels(app)
        self.app_stream, self.mot_stream = ResNetStream(app), ResNetStream(mot)
        self.sensor_fusion = nn.ModuleDict({
            f"layer{i}": nn.Conv2d(2 * c, c, 1) for i, c in enumerate(self.channels[1:], start=1)
        })

    def forward(self, rgb: torch.Tensor, flow: torch.Tensor) -> dict[str, torch.Tensor]:
        a, m = self.app_stream.stem(rgb), self.mot_stream.stem(flow)
        out: dict[str, torch.Tensor] = {}
        for name in ("layer1", "layer2", "layer3", "layer4"):
            a, m = getattr(self.app_stream, name)(a), getattr(self.mot_stream, name)(m)
            if name == "layer1":
                out["low_level"] = self.sensor_fusion["layer1"](torch.cat([a, m], 1))
        out["out"] = self.sensor_fusion["layer4"](torch.cat([a, m], 1))
        return out


class DeepLabV3PlusHead(nn.Module):
    """DeepLabv3+ decoder: ASPP on the deep features, a 48-channel projection of the low-level
    features, concatenation at the low-level resolution, 3x3 conv and a 1x1 classifier."""

    def __init__(self, in_channels: int, low_level_channels: int, num_classes: int,
                 rates: Sequence[int]):
        super().__init__()
        self.project = nn.Sequential(nn.Conv2d(low_level_channels, 48, 1, bias=False),
                                     nn.BatchNorm2d(48), nn.ReLU(inplace=True))
        self.aspp = ASPP(in_channels, list(rates))
        self.classifier = nn.Sequential(
            nn.Conv2d(304, 256, 3, padding=1, bias=False), nn.BatchNorm2d(256),
            nn.ReLU(inplace=True), nn.Conv2d(256, num_classes, 1))
        init_like_reference(self)

    def forward(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        low = self.project(feats["low_level"])
        deep = F.interpolate(self.aspp(feats["out"]), size=low.shape[-2:], mode="bilinear",
                             align_corners=False)
        return self.classifier(torch.cat([low, deep], 1))


class FusionSeg(ReleasedCheckpoint, nn.Module):
    """forward([rgb, flow]) -> logits (B, num_classes, H, W); rgb and flow are (B, 3, H, W)."""

    release_format = "model_state"

    def __init__(self, num_classes: int = 2, output_stride: int = 16, arch: str = "resnet101",
                 blocks: Sequence[int] | None = None):
        super().__init__()
        self.backbone = TwoStreamBackbone(arch, output_stride, blocks)
        rates = (6, 12, 18) if output_stride == 16 else (12, 24, 36)
        ch = self.backbone.channels
        self.classifier = DeepLabV3PlusHead(ch[4], ch[1], num_classes, rates)

    def forward(self, inputs: Any) -> torch.Tensor:
        rgb, flow = split_inputs(inputs)
        logits = self.classifier(self.backbone(rgb, flow))
        return F.interpolate(logits, size=rgb.shape[-2:], mode="bilinear", align_corners=False)

    def layer_aliases(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for stream, path in (("app", "app_stream"), ("mot", "mot_stream")):
            for k, name in enumerate(STREAM_STAGES, start=1):
                out[f"{stream}.layer{k}"] = f"backbone.{path}.{name}"
        out["fusion.layer2"] = "backbone.sensor_fusion.layer1"
        out["fusion.layer5"] = "backbone.sensor_fusion.layer4"
        return out


def fusionseg(num_classes: int = 2, output_stride: int = 16, arch: str = "resnet101",
              blocks: list[int] | None = None) -> FusionSeg:
    """Zoo builder (``conf/model/fusionseg.yaml``); ``blocks`` = reduced depth for tests."""
    return FusionSeg(num_classes, output_stride, arch, blocks)
