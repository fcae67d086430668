"""Frame-wise image models: any timm 2-D network run on every frame, averaged over time.

A static baseline with a known answer: each frame is processed alone and the clip feature is the
mean over frames, so shuffling the frames changes nothing. A probe must find r_static = 1 for
every live unit and no dynamic unit (METHOD.md); a pipeline that does not is broken.

The timm model is returned itself, not wrapped, with two hooks: a forward pre-hook folds the
(B, C, T, H, W) clip into (B*T, C, H, W) frames and a forward hook averages the per-frame output
over time. Module paths and state-dict keys stay timm's (``layer3``, ``stages.2``), so a timm
checkpoint (e.g. an ImageNet ResNet-18 state dict) loads strictly through ``model.checkpoint=``.
Its layers output time-folded tensors: (B*T, C, H, W) is layout ``(NT)CHW``, (B*T, L, C) of a
ViT ``(NT)LC``; pooling unfolds them to one row per clip.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from staticdyn.errors import StaticDynError
from staticdyn.models.io import InputSpec

INSTALL_HINT = "install the Hugging Face extra: pip install -e '.[hf]' (or make install)"


class FoldTime:
    """Forward pre-hook: (B, C, T, H, W) -> (B*T, C, H, W), b-major; remembers (B, T)."""

    def __init__(self) -> None:
        self.shape: tuple[int, int] | None = None

    def __call__(self, _module: nn.Module, args: tuple) -> tuple:
        x = args[0]
        if not isinstance(x, torch.Tensor) or x.ndim != 5:
            raise StaticDynError("a frame-wise model takes a (B, C, T, H, W) clip batch, got "
                                 f"{getattr(x, 'shape', type(x).__name__)}")
        b, c, t, h, w = x.shape
        self.shape = (b, t)
        return (x.transpose(1, 2).reshape(b * t, c, h, w), *args[1:])


class MeanOverTime:
    """Forward hook: the per-frame output (B*T, ...) -> (B, ...), the mean over the T frames."""

    def __init__(self, fold: FoldTime):
        self.fold = fold

    def __call__(self, _module: nn.Module, _args: tuple, out: torch.Tensor) -> torch.Tensor:
        assert self.fold.shape is not None, "the fold pre-hook runs first"
        b, t = self.fold.shape
        return out.reshape(b, t, *out.shape[1:]).mean(dim=1)


def build_framewise(arch: str = "resnet18", **timm_kwargs: Any) -> nn.Module:
    """timm model ``arch`` (random init; ``timm_kwargs`` go to ``timm.create_model``) taking
    clips: per-frame forward, features averaged over time. The classifier is removed
    (``num_classes=0``) unless ``num_classes`` is given."""
    try:
        import timm
    except ImportError as exc:
        raise StaticDynError(f"timm2d needs timm: {INSTALL_HINT}") from exc
    if timm_kwargs.pop("pretrained", False):
        raise StaticDynError("timm2d never downloads weights: pass model.checkpoint=/path "
                             "(a timm state dict) instead of pretrained=true")
    timm_kwargs.setdefault("num_classes", 0)
    try:
        model = timm.create_model(arch, pretrained=False, **timm_kwargs)
    except RuntimeError as exc:  # timm's "Unknown model (...)"
        raise StaticDynError(f"timm has no model '{arch}' (model.arch): {exc}") from exc
    fold = FoldTime()
    model.register_forward_pre_hook(fold)
    model.register_forward_hook(MeanOverTime(fold))
    model.staticdyn_input = InputSpec("(NT)CHW")
    return model


def _pooled_feature_path(module: nn.Module) -> str | None:
    """Module path whose output is the per-frame pooled feature (pre-logits): the classifier
    while it is an Identity (``num_classes=0``), else a global pool that is a module."""
    get_classifier = getattr(module, "get_classifier", None)
    head = get_classifier() if callable(get_classifier) else None
    candidates = [head] if isinstance(head, nn.Identity) else []
    pool = getattr(module, "global_pool", None)
    candidates += [pool] if isinstance(pool, nn.Module) else []
    paths = {id(sub): name for name, sub in module.named_modules() if name}
    return next((paths[id(c)] for c in candidates if id(c) in paths), None)


def timm_stages(module: nn.Module) -> tuple[dict[str, str], list[str]]:
    """``stage1..stageK`` on the modules timm lists in ``feature_info`` (stem first), plus
    ``pool`` on the per-frame pooled feature (see ``_pooled_feature_path``); default layers:
    the stages."""
    info = getattr(module, "feature_info", None)
    if not info:
        raise StaticDynError(f"timm model {type(module).__name__} lists no feature_info stages; "
                             "name layers by module path (model.default_layers=[...])")
    entries = info.get_dicts() if hasattr(info, "get_dicts") else list(info)
    stages = {f"stage{i + 1}": str(e["module"]) for i, e in enumerate(entries)}
    pooled = _pooled_feature_path(module)
    return {**stages, **({"pool": pooled} if pooled else {})}, list(stages)
