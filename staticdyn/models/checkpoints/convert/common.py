"""Shared pieces of the checkpoint converters: families, unwrapping, strict verification.

Every converter works the same way: it turns a source state dict into a *plan* (target key ->
how to compute its tensor from named source tensors) and then :func:`finish` executes the plan
and checks it against the model's own keys. Keeping the bookkeeping in one place is what makes
the promise "every source tensor consumed, every target key produced, shapes equal" hold for all
layouts alike, instead of each converter checking (or forgetting to check) on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from staticdyn.errors import StaticDynError
from staticdyn.models.checkpoints.card import CheckpointCard

Shape = tuple[int, ...]

#: BatchNorm epsilon of every SlowFast-code-base model here (fixtures record 1e-5 everywhere);
#: needed only where a BatchNorm is folded into a neighbouring layer.
BN_EPS = 1e-5

#: Names of the source layouts, as reported by :func:`detect_layout` and in error messages.
LAYOUTS = ("pytorchvideo", "slowfast", "caffe2", "timesformer")


class CheckpointLayoutError(StaticDynError, ValueError):
    """A state dict cannot be converted exactly: the message names the layout problem.

    Subclasses ValueError (the converter contract) and StaticDynError (so the CLI prints the
    one-line message instead of a traceback).
    """


#: Converter family -> the source layouts it reads. This is what the converters can do; which
#: family a model belongs to is its card's ``family`` (conf/model/<entry>.yaml).
FAMILY_LAYOUTS: dict[str, tuple[str, ...]] = {
    "resnet": ("pytorchvideo", "slowfast", "caffe2"),
    "slowfast": ("pytorchvideo", "slowfast", "caffe2"),
    "x3d": ("pytorchvideo", "slowfast"),
    "mvit": ("pytorchvideo", "slowfast"),
    "timesformer": ("pytorchvideo", "timesformer"),
}


def family_of(card: CheckpointCard) -> str:
    """The card's converter family, refused by name when no converter reads it."""
    if card.family not in FAMILY_LAYOUTS:
        raise CheckpointLayoutError(
            f"model '{card.entry}' has checkpoint_format '{card.format}' but family "
            f"'{card.family}', which no layout converter reads. Valid families: "
            f"{', '.join(FAMILY_LAYOUTS)} (or checkpoint_format: native)"
        )
    return card.family


def as_tensor(value: Any, key: str) -> torch.Tensor:
    """Torch view of a checkpoint value (Caffe2 pickles hold numpy arrays)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray | np.generic):
        # np.require keeps a 0-d array 0-d (np.ascontiguousarray would make it shape (1,))
        return torch.from_numpy(np.require(value, requirements=["C", "W"]))
    raise CheckpointLayoutError(
        f"checkpoint entry '{key}' is a {type(value).__name__}, not a tensor or array"
    )


def unwrap(state: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Strip the file-level container (``model_state``, ``blobs``, ``state_dict``, ``model``).

    Returns the inner dict and the container key (``'blobs'`` marks a Caffe2 pickle). Code bases
    wrap the weights differently (SlowFast/PyTorchVideo/TimeSformer .pyth: model_state; Caffe2:
    blobs; DDP-era files: state_dict), and callers should be able to pass the loaded file as is.
    """
    if not isinstance(state, Mapping):
        raise CheckpointLayoutError(f"expected a dict of tensors, got {type(state).__name__}")
    for container in ("model_state", "blobs", "state_dict", "model"):
        inner = state.get(container)
        if isinstance(inner, Mapping):
            return dict(inner), container
    return dict(state), None


def strip_prefix(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Drop ``prefix`` when *every* key has it (DataParallel's ``module.``)."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


@dataclass
class Plan:
    """Target key -> (source keys, function of their tensors). Built by a converter, run by finish.

    ``ignored`` lists source keys dropped on purpose (optimizer state in Caffe2 pickles, alias
    keys of the same tensor); each carries the reason so the report stays honest.
    """

    rules: dict[str, tuple[tuple[str, ...], Callable[..., torch.Tensor]]] = field(
        default_factory=dict
    )
    ignored: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)

    def replace(self, target: str, sources: Iterable[str],
                fn: Callable[..., torch.Tensor]) -> None:
        self.rules[target] = (tuple(sources), fn)

    def copy(self, target: str, source: str) -> None:
        self.add(target, (source,), lambda t: t)

    def add(self, target: str, sources: Iterable[str],
            fn: Callable[..., torch.Tensor]) -> None:
        if target in self.rules:
            raise CheckpointLayoutError(
                f"two source tensors map to '{target}': {self.rules[target][0]} and "
                f"{tuple(sources)}; the checkpoint layout is ambiguous"
            )
        self.rules[target] = (tuple(sources), fn)


def _fit_shape(t: torch.Tensor, shape: Shape, allow_trailing_ones: bool) -> torch.Tensor:
    """Caffe2 stores an FC weight as 2-D where the model may hold a 1x1x1 conv: append 1s."""
    if tuple(t.shape) == shape or not allow_trailing_ones:
        return t
    if t.dim() < len(shape) and tuple(t.shape) == shape[: t.dim()] and all(
        s == 1 for s in shape[t.dim():]
    ):
        return t.reshape(shape)
    return t


def finish(
    plan: Plan,
    source: Mapping[str, torch.Tensor],
    target_keys: Mapping[str, Shape],
    layout: str,
    entry: str,
    *,
    allow_trailing_ones: bool = False,
) -> dict[str, torch.Tensor]:
    """Run a plan and refuse anything short of an exact, complete, one-to-one conversion.

    A ``num_batches_tracked`` target whose BatchNorm got its running stats but whose counter is
    absent from the source (Caffe2 pickles never store it) is filled with 0: it only steers the
    momentum schedule in training and has no effect in eval, and PyTorch's strict loading needs
    the key.
    """
    target_keys = {k: tuple(int(d) for d in s) for k, s in target_keys.items()}
    out: dict[str, torch.Tensor] = {}
    consumed: set[str] = set()
    missing: list[str] = []
    mismatched: list[str] = []
    for key, shape in target_keys.items():
        rule = plan.rules.get(key)
        if rule is None:
            bn = key[: -len("num_batches_tracked")]
            if key.endswith(".num_batches_tracked") and bn + "running_mean" in plan.rules:
                out[key] = torch.zeros((), dtype=torch.long)
                continue
            missing.append(key)
            continue
        srcs, fn = rule
        value = _fit_shape(fn(*(source[s] for s in srcs)), shape, allow_trailing_ones)
        consumed.update(srcs)
        if tuple(value.shape) != shape:
            mismatched.append(f"{key}: checkpoint {tuple(value.shape)} vs model {shape} "
                              f"(from {', '.join(srcs)})")
        out[key] = value
    unexpected = sorted(set(plan.rules) - set(target_keys))
    unconsumed = sorted(set(source) - consumed - set(plan.ignored))
    if missing or mismatched or unexpected or unconsumed or plan.unmapped:
        raise CheckpointLayoutError(
            describe_failure(entry, layout, missing, mismatched, unexpected, unconsumed,
                             plan.unmapped)
        )
    return out


def _short(items: list[str], n: int = 6) -> str:
    more = f", ... (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


_KV_POOL = re.compile(r"^blocks\.(\d+)\.attn\.(pool|norm)_[kv]\.")


def describe_failure(entry: str, layout: str, missing: list[str], mismatched: list[str],
                     unexpected: list[str], unconsumed: list[str], unmapped: list[str]) -> str:
    """One message naming what does not line up, with a hint for the known layout variants."""
    parts = [f"cannot convert a {layout}-layout checkpoint to the pytorchvideo model '{entry}':"]
    if unmapped:
        parts.append(f"{len(unmapped)} checkpoint keys have no counterpart in this layout "
                     f"[{_short(unmapped)}];")
    if missing:
        parts.append(f"{len(missing)} model keys not produced [{_short(missing)}];")
    if unexpected:
        parts.append(f"{len(unexpected)} converted keys the model does not have "
                     f"[{_short(unexpected)}];")
    if mismatched:
        parts.append(f"{len(mismatched)} shape mismatches [{_short(mismatched, 4)}];")
    if unconsumed:
        parts.append(f"{len(unconsumed)} checkpoint tensors left unused [{_short(unconsumed)}];")
    kv_missing = sorted({int(m.group(1)) for k in missing if (m := _KV_POOL.match(k))})
    kv_extra = sorted({int(m.group(1)) for k in unexpected if (m := _KV_POOL.match(k))})
    if kv_missing:
        parts.append(
            f"the checkpoint has no key/value pooling in blocks {kv_missing} (the SlowFast "
            "model-zoo / Kowal et al. MViT-B layout) but the model does: use "
            "model=mvit_base_16x4_slowfast, which is built that way;"
        )
    if kv_extra:
        parts.append(
            f"the checkpoint pools keys/values in blocks {kv_extra} (upstream SlowFast "
            "POOL_KV_STRIDE_ADAPTIVE layout) but the model does not: build it with "
            "pool_kv_stride_adaptive=[1, 8, 8];"
        )
    return " ".join(parts).rstrip(";") + "."
