"""MATNet: two ResNet-101 streams with motion-attentive transition, as probed by Kowal et al.

Appearance (RGB) and motion (flow image) streams are ResNet-101s. After res3, res4 and res5 a
MAT block (``matnet_attention.CoAttention``) passes motion information into the appearance
stream; the reciprocal variant passes information both ways. At res2..res5 the two streams are
fused (``gated`` or ``convex_gated``) and a boundary-aware decoder turns the fused features into
a mask.

Variants (``cross`` x ``fusion``), named as in the authors' configs:
- ``mat`` (``coatt``): the original MATNet, motion -> appearance. Entry ``matnet``.
- ``mat_gated`` (``coatt_gated``), ``recip`` (``coatt_recip``), ``recip_gated``
  (``coatt_gated_recip``: bidirectional gated cross connections, the journal's improved design,
  entry ``matnet_recip_gated``). As in the reference, ``recip_gated`` always normalises the
  co-attention with tanh.
- fusion ``gated`` (default) or ``convex_gated``.

Module names follow the released checkpoints: ``encoder_<epoch>.pt`` and ``decoder_<epoch>.pt``
hold ``encoder.state_dict()`` / ``decoder.state_dict()`` (``module.`` prefix when trained with
DataParallel); see ``staticdyn.models.checkpoints.vos_release``.

Hooks: ``app.layerK`` / ``mot.layerK`` (64/256/512/1024/2048; conv1 is the raw convolution
output; layers 3-5 are taken after the cross connection) and ``fusion.layer2..5`` (the fused
res2..res5, 512/1024/2048/4096). ``fusion.decoder`` (the last refinement output, the authors'
``layerf``) is available but not hooked by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from staticdyn.models.nets.vos.common import (
    ReleasedCheckpoint,
    build_resnet,
    split_inputs,
    stage_channels,
    tap_dict,
)
from staticdyn.models.nets.vos.matnet_attention import CoAttention, ConvexGatedFusion, GatedFusion
from staticdyn.models.nets.vos.matnet_decoder import Decoder

# name -> (gated, reciprocal); the reference's cc_type names are accepted as synonyms
CROSS: dict[str, tuple[bool, bool]] = {
    "mat": (False, False), "mat_gated": (True, False),
    "recip": (False, True), "recip_gated": (True, True),
}
CROSS_SYNONYMS = {"coatt": "mat", "coatt_gated": "mat_gated", "coatt_recip": "recip",
                  "coatt_gated_recip": "recip_gated"}
FUSIONS = ("gated", "convex_gated")
TAPPED = [f"{s}.layer{k}" for s in ("app", "mot") for k in (3, 4, 5)]


class Encoder(nn.Module):
    """Both streams stage by stage; cross connection after res3..res5, fusion at res2..res5.

    Each fusion runs as soon as its scale is ready (the reference fuses at the end; the result
    is the same), so a probe that stops early does not pay for the deeper stages.
    """

    def __init__(self, cross: str = "mat", fusion: str = "gated", norm: str = "tanh",
                 blocks: Sequence[int] | None = None, use_global: bool = True):
        super().__init__()
        cross = CROSS_SYNONYMS.get(cross, cross)
        if cross not in CROSS:
            raise ValueError(f"unknown MATNet cross connection '{cross}'. "
                             f"Valid choices: {', '.join([*CROSS, *CROSS_SYNONYMS])}")
        if fusion not in FUSIONS:
            raise ValueError(f"unknown MATNet fusion '{fusion}'. Valid: {', '.join(FUSIONS)}")
        gated, self.reciprocal = CROSS[cross]
        if cross == "recip_gated":
            norm = "tanh"  # the reference's gated reciprocal block ignores norm_fn
        for i, trunk in ((1, build_resnet("resnet101", blocks)),
                         (2, build_resnet("resnet101", blocks))):
            setattr(self, f"conv1_{i}", trunk.conv1)
            setattr(self, f"bn1_{i}", trunk.bn1)
            setattr(self, f"relu_{i}", trunk.relu)
            setattr(self, f"maxpool_{i}", trunk.maxpool)
            for k, layer in enumerate((trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4),
                                      start=2):
                setattr(self, f"res{k}_{i}", layer)
            channels = stage_channels(trunk)
        self.channels = channels
        for k, c in zip((2, 3, 4, 5), channels[1:], strict=True):
            fuse = GatedFusion(2 * c, use_global=use_global) if fusion == "gated" \
                else ConvexGatedFusion(2 * c)
            setattr(self, f"gated_res{k}", fuse)
        for k, c in zip((3, 4, 5), channels[2:], strict=True):
            setattr(self, f"coa_res{k}", CoAttention(c, norm, gated, self.reciprocal))
        self.taps = tap_dict(TAPPED)

    def _stem(self, x: torch.Tensor, i: int) -> torch.Tensor:
        x = getattr(self, f"conv1_{i}")(x)
        x = getattr(self, f"relu_{i}")(getattr(self, f"bn1_{i}")(x))
        return getattr(self, f"maxpool_{i}")(x)

    def forward(self, rgb: torch.Tensor, flow: torch.Tensor) -> list[torch.Tensor]:
        """Fused features [res5, res4, res3, res2]."""
        a, m = self.res2_1(self._stem(rgb, 1)), self.res2_2(self._stem(flow, 2))
        fused = [self.gated_res2(a, m)]
        for k in (3, 4, 5):
            a, m = getattr(self, f"res{k}_1")(a), getattr(self, f"res{k}_2")(m)
            za, zb, _, qb = getattr(self, f"coa_res{k}")(a, m)
            a, m = F.relu(zb + a), F.relu((za if self.reciprocal else qb) + m)
            a, m = self.taps[f"app_layer{k}"](a), self.taps[f"mot_layer{k}"](m)
            fused.append(getattr(self, f"gated_res{k}")(a, m))
        return fused[::-1]


class MATNet(ReleasedCheckpoint, nn.Module):
    """forward([rgb, flow]) -> mask probability (B, 1, H, W); inputs are (B, 3, H, W)."""

    release_format = "encoder_decoder"

    def __init__(self, cross: str = "mat", fusion: str = "gated", norm: str = "tanh",
                 blocks: Sequence[int] | None = None, use_global: bool = True):
        super().__init__()
        self.encoder = Encoder(cross, fusion, norm, blocks, use_global)
        w = [2 * c for c in self.encoder.channels[1:]][::-1]
        self.decoder = Decoder((w[0], w[1], w[2], w[3]))

    def forward(self, inputs: Any) -> torch.Tensor:
        rgb, flow = split_inputs(inputs)
        r5, r4, r3, r2 = self.encoder(rgb, flow)
        return self.decoder(r5, r4, r3, r2, size=tuple(rgb.shape[-2:]))

    def layer_aliases(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for stream, i in (("app", 1), ("mot", 2)):
            out[f"{stream}.layer1"] = f"encoder.conv1_{i}"
            out[f"{stream}.layer2"] = f"encoder.res2_{i}"
            for k in (3, 4, 5):
                out[f"{stream}.layer{k}"] = f"encoder.taps.{stream}_layer{k}"
        for k in (2, 3, 4, 5):
            out[f"fusion.layer{k}"] = f"encoder.gated_res{k}"
        out["fusion.decoder"] = "decoder.RF2"
        return out

    def default_layers(self) -> list[str]:
        return [a for a in self.layer_aliases() if a != "fusion.decoder"]


def matnet(cross: str = "mat", fusion: str = "gated", norm: str = "tanh",
           blocks: list[int] | None = None, use_global: bool = True) -> MATNet:
    """Zoo builder (``matnet``, ``matnet_recip_gated``); ``blocks`` = reduced depth for tests."""
    return MATNet(cross, fusion, norm, blocks, use_global)
