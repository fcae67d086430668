"""Pieces every two-stream VOS model shares: input unpacking, ResNet trunks, probe taps.

The probe reads a layer by a forward hook on a module. In these models the value that defines a
stream's layer K is often not any module's output: MATNet adds its cross connection after
``res3``, RTNet sums four attention branches after each stage, and RTNet runs both frames of a
clip through the trunk as one batch. ``Tap`` modules (parameter-free, so the state dict keeps the
released layout) mark those values, so that "app.layer3" means "after the cross connection"
everywhere and the hook code stays the generic one the action models use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torchvision.models import resnet as tv_resnet

_ARCHS: dict[str, tuple[type[nn.Module], list[int], dict[str, int]]] = {
    "resnet101": (tv_resnet.Bottleneck, [3, 4, 23, 3], {}),
    "resnext50_32x4d": (tv_resnet.Bottleneck, [3, 4, 6, 3], {"groups": 32, "width_per_group": 4}),
    "resnet34": (tv_resnet.BasicBlock, [3, 4, 6, 3], {}),
}


def split_inputs(inputs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``[rgb, flow]`` (what the probe pipeline passes) or ``{"Image", "Flow"}`` (the authors'
    dict) -> (rgb, flow). Anything else is a usage error worth a clear message."""
    if isinstance(inputs, Mapping) and "Image" in inputs and "Flow" in inputs:
        return inputs["Image"], inputs["Flow"]
    if isinstance(inputs, (list, tuple)) and len(inputs) == 2:
        return inputs[0], inputs[1]
    raise TypeError(
        "two-stream VOS models take [rgb, flow] (or {'Image': rgb, 'Flow': flow}); got "
        f"{type(inputs).__name__}"
    )


def build_resnet(arch: str, blocks: Sequence[int] | None = None,
                 dilate: Sequence[bool] | None = None) -> tv_resnet.ResNet:
    """A torchvision ResNet/ResNeXt without weights.

    ``blocks`` overrides the residual blocks per stage (a reduced-depth build for fast tests;
    channel widths and key names stay those of the real network). ``dilate`` is torchvision's
    ``replace_stride_with_dilation``.
    """
    if arch not in _ARCHS:
        raise ValueError(f"unknown trunk '{arch}'. Valid choices: {', '.join(_ARCHS)}")
    block, _, extra = _ARCHS[arch]
    kwargs: dict[str, Any] = dict(extra)
    if dilate is not None and any(dilate):
        kwargs["replace_stride_with_dilation"] = list(dilate)
    if blocks is None:
        return getattr(tv_resnet, arch)(weights=None, **kwargs)
    if len(blocks) != 4 or min(blocks) < 1:
        raise ValueError(f"blocks must be 4 positive stage depths, got {list(blocks)}")
    return tv_resnet.ResNet(block, [int(b) for b in blocks], **kwargs)


def stage_channels(trunk: tv_resnet.ResNet) -> list[int]:
    """Output channels of conv1 and of layer1..layer4."""
    out = [trunk.conv1.out_channels]
    for name in ("layer1", "layer2", "layer3", "layer4"):
        last = getattr(trunk, name)[-1]
        conv = last.conv3 if hasattr(last, "conv3") else last.conv2
        out.append(conv.out_channels)
    return out


class Tap(nn.Identity):
    """Marks a probed value; the forward hook on this module sees exactly that tensor."""


class FrameTap(nn.Module):
    """Probe tap for a trunk that runs a clip's T frames as one (B*T, C, H, W) batch.

    Returns (B, C, T, H, W), so the probe's pooling averages over frames as well as space
    (METHOD.md section 2: the mean over every non-channel axis); ``frame`` picks one frame
    instead. The output feeds nothing but the hook.
    """

    def __init__(self, frames: int, frame: int | None = None):
        super().__init__()
        self.frames, self.frame = int(frames), frame

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bt, c, h, w = x.shape
        y = x.view(bt // self.frames, self.frames, c, h, w)
        if self.frame is not None:
            return y[:, self.frame]
        return y.transpose(1, 2)

    def extra_repr(self) -> str:
        return f"frames={self.frames}, frame={self.frame}"


def tap_dict(names: Sequence[str], factory: type[nn.Module] = Tap, **kwargs: Any) -> nn.ModuleDict:
    """One tap per alias; aliases ``app.layer3`` become keys ``app_layer3`` (no dots allowed)."""
    return nn.ModuleDict({n.replace(".", "_"): factory(**kwargs) for n in names})


def layers_of(module: nn.Module) -> tuple[dict[str, str], list[str]]:
    """``layers_fn`` of the VOS zoo entries: the model's own alias map, every alias by default.

    Each model knows its hook points (they depend on its variant), so the YAML card only names
    this function instead of repeating module paths.
    """
    aliases = dict(module.layer_aliases())  # type: ignore[operator]
    defaults = getattr(module, "default_layers", None)
    return aliases, list(defaults()) if callable(defaults) else list(aliases)


def init_like_reference(module: nn.Module, conv_std: float | None = None) -> None:
    """Head/decoder initialisation of the reference code (matters only for untrained probes):
    Kaiming-normal convs (or N(0, conv_std) with zero bias), BatchNorm weight 1 and bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            if conv_std is None:
                nn.init.kaiming_normal_(m.weight)
            else:
                nn.init.normal_(m.weight, 0.0, conv_std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ReleasedCheckpoint:
    """Mixin: the model knows its released checkpoint format and how to load it strictly.

    Cards with ``checkpoint_format: vos_release`` load through
    ``staticdyn.models.checkpoints.vos_release`` (MATNet's release is a directory of two files,
    which the generic one-file loader cannot read); this method is the same for direct use.
    Files are read as data only; ``trust`` is ``model.trust_checkpoint``.
    """

    release_format: str = ""

    def load_release_checkpoint(self, path: Any, entry: str = "", trust: bool = False) -> None:
        from staticdyn.models.checkpoints.vos_release import load_vos_checkpoint

        load_vos_checkpoint(self, path, entry, trust=trust)  # type: ignore[arg-type]
