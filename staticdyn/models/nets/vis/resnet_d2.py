"""ResNet as detectron2 builds it (``build_resnet_backbone``), named as its checkpoints are.

Mask2Former's R50 VIS configs use detectron2's ResNet with frozen BatchNorm (``stem``,
``res2``..``res5``, blocks ``conv1..conv3`` / ``shortcut``, each conv carrying its ``norm``),
stride in the 3x3 conv (``STRIDE_IN_1X1: False``) and no dilation or deformable convs. The
names differ from torchvision's (``layer1``, ``bn1``), so this module reproduces detectron2's
so that a released ``model_final_*.pkl`` loads strictly. Frozen BatchNorm keeps ``weight``,
``bias``, ``running_mean`` and ``running_var`` as buffers and has no ``num_batches_tracked``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: blocks per stage of the standard depths
DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
STAGES = ("res2", "res3", "res4", "res5")


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm with fixed statistics and affine terms, all buffers (never trained here)."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features) - eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=False, eps=self.eps)


class Conv2d(nn.Conv2d):
    """detectron2's conv: an ``nn.Conv2d`` whose optional ``norm`` (and activation) are applied
    inside it, so the norm's keys sit under the conv's name (``conv1.norm.weight``)."""

    def __init__(self, *args, norm: nn.Module | None = None, activation=None,  # noqa: ANN001,ANN002
                 **kwargs) -> None:  # noqa: ANN003
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


def _msra(conv: nn.Conv2d) -> None:
    """Caffe2's MSRA fill (kaiming normal, fan out), as detectron2 initialises its convs."""
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class BasicStem(nn.Module):
    """7x7 stride-2 conv, frozen BN, ReLU, 3x3 stride-2 max pool: stride 4."""

    def __init__(self, in_channels: int = 3, out_channels: int = 64) -> None:
        super().__init__()
        self.conv1 = Conv2d(in_channels, out_channels, kernel_size=7, stride=2, padding=3,
                            bias=False, norm=FrozenBatchNorm2d(out_channels))
        _msra(self.conv1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu_(self.conv1(x))
        return F.max_pool2d(x, kernel_size=3, stride=2, padding=1)


class BottleneckBlock(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 with a projection shortcut when the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, bottleneck: int, stride: int) -> None:
        super().__init__()
        self.shortcut = (
            Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False,
                   norm=FrozenBatchNorm2d(out_channels))
            if in_channels != out_channels else None
        )
        self.conv1 = Conv2d(in_channels, bottleneck, kernel_size=1, bias=False,
                            norm=FrozenBatchNorm2d(bottleneck))
        self.conv2 = Conv2d(bottleneck, bottleneck, kernel_size=3, stride=stride, padding=1,
                            bias=False, norm=FrozenBatchNorm2d(bottleneck))
        self.conv3 = Conv2d(bottleneck, out_channels, kernel_size=1, bias=False,
                            norm=FrozenBatchNorm2d(out_channels))
        for conv in (self.conv1, self.conv2, self.conv3, self.shortcut):
            if conv is not None:
                _msra(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu_(self.conv1(x))
        out = F.relu_(self.conv2(out))
        out = self.conv3(out)
        short = self.shortcut(x) if self.shortcut is not None else x
        return F.relu_(out + short)


class ResNetD2(nn.Module):
    """detectron2 ResNet returning ``{"res2": ..., "res5": ...}`` (strides 4, 8, 16, 32).

    ``blocks``: blocks per stage (default: ``DEPTHS[depth]``); ``stem_out_channels`` and
    ``res2_out_channels`` set the widths (64 and 256 in every released model); reduced values
    give the tiny test/smoke models.
    """

    def __init__(self, depth: int = 50, blocks: tuple[int, ...] | list[int] | None = None,
                 stem_out_channels: int = 64, res2_out_channels: int = 256) -> None:
        super().__init__()
        blocks = tuple(blocks) if blocks is not None else DEPTHS[depth]
        if len(blocks) != len(STAGES):
            raise ValueError(f"ResNet needs {len(STAGES)} stages of blocks, got {blocks}")
        self.stem = BasicStem(3, stem_out_channels)
        in_ch, out_ch, mid = stem_out_channels, res2_out_channels, res2_out_channels // 4
        self.channels: dict[str, int] = {}
        self.strides: dict[str, int] = {}
        for i, (name, count) in enumerate(zip(STAGES, blocks, strict=True)):
            first_stride = 1 if i == 0 else 2
            stage = [BottleneckBlock(in_ch if b == 0 else out_ch, out_ch, mid,
                                     first_stride if b == 0 else 1) for b in range(count)]
            self.add_module(name, nn.Sequential(*stage))
            self.channels[name], self.strides[name] = out_ch, 4 * 2 ** i
            in_ch, out_ch, mid = out_ch, out_ch * 2, mid * 2
        self.size_divisibility = 32

    def stage_paths(self) -> dict[str, str]:
        """Hook alias (relative to the segmenter's ``backbone``) -> module path inside it."""
        return {name: name for name in STAGES}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        x = self.stem(x)
        for name in STAGES:
            x = getattr(self, name)(x)
            out[name] = x
        return out
