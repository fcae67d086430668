"""Every hooked layer gets a layout that is declared or verified, never guessed (issue 12).

Before any data is processed, one dry run on random clips records each requested layer's
output. A layer whose card declares a layout is checked against it (rank, batch axis). A layer
without one gets the layouts of the vocabulary that fit its output: the batch axis must hold the
dry run's batch, and where the module declares a channel count (its last ``Conv*``, ``Linear``
or ``*Norm``) the pooled width must equal it. Exactly one reading must remain; otherwise the run
stops with one line naming the layer, its output shape and the layout choices.

The result, one ``LayerIO`` per alias, is what the hooks pool by (``PooledHooks(io=...)``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from staticdyn.data.spec import ClipSpec
from staticdyn.data.tasks import get_task
from staticdyn.errors import StaticDynError
from staticdyn.models.io import OUTPUT_LAYOUTS, Layout, ModelIO, Selector, check_input
from staticdyn.probe.pooling import fits, pool_declared, pooled_width, select_output

DRY_RUN_BATCH = 2  # two clips: a batch axis of 2 cannot be confused with a singleton axis
DRY_RUN_SEED = 0

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)


@dataclass(frozen=True)
class LayerIO:
    """How one requested layer is pooled, and why: ``source`` is ``declared`` (the card's
    per-layer entry), ``model default`` (the card's model-wide layout) or ``inferred``."""

    alias: str
    path: str
    layout: Layout
    selector: Selector | None
    source: str
    shape: tuple[tuple[int, ...], ...]  # dry-run output shape(s) of the pooled element(s)
    channels: int  # pooled width

    def pool(self, out: object, batch: int) -> torch.Tensor:
        return pool_declared(out, self.layout, self.selector, batch, self.where)

    @property
    def where(self) -> str:
        return self.alias if self.alias == self.path else f"{self.alias} ({self.path})"


class LayoutError(StaticDynError):
    """A layer's layout is wrong, unverifiable or ambiguous: one line, before any data runs."""


def _module_channels(module: nn.Module) -> int | None:
    if isinstance(module, nn.modules.conv._ConvNd):
        return int(module.out_channels)
    if isinstance(module, nn.Linear):
        return int(module.out_features)
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return int(module.num_features)
    if isinstance(module, nn.GroupNorm):
        return int(module.num_channels)
    if isinstance(module, nn.LayerNorm | nn.RMSNorm):
        return int(module.normalized_shape[-1]) if module.normalized_shape else None
    weight = getattr(module, "weight", None)
    if type(module).__name__.endswith("Norm") and isinstance(weight, torch.Tensor) \
            and weight.ndim == 1:
        return int(weight.numel())  # library norms that are not torch's (HF, timm)
    return None


def declared_channels(module: nn.Module) -> tuple[int, str] | None:
    """(channel count, description) the module declares: that of the last ``Conv*``, ``Linear``
    or ``*Norm`` inside it (registration order), or None when it holds none."""
    found: tuple[int, str] | None = None
    for name, sub in module.named_modules():
        channels = _module_channels(sub)
        if channels is not None:
            found = (channels, f"{type(sub).__name__} '{name}'" if name else type(sub).__name__)
    return found


def _choices() -> str:
    return ", ".join(OUTPUT_LAYOUTS)


def candidate_layouts(
    shape: Sequence[int], batch: int, channels: int | None, frames: Collection[int]
) -> list[Layout]:
    """Every layout of the vocabulary that fits the shape, the batch and the declared channels.
    A time-folded reading needs exactly batch x T rows for a clip length T (> 1) of the input,
    so a sequence-first (L, B, C) output is not mistaken for (B*T, L, C)."""
    folded_rows = {batch * t for t in frames if t > 1}
    return [
        lay for lay in OUTPUT_LAYOUTS.values()
        if lay.inferable and fits(lay, shape, batch)
        and (not lay.folded or shape[lay.batch_axis] in folded_rows)
        and (channels is None or pooled_width(lay, shape) == channels)
    ]


def infer_layout(
    where: str, shapes: Sequence[tuple[int, ...]], batch: int, declared: tuple[int, str] | None,
    frames: Collection[int] = (),
) -> Layout:
    """The one layout that fits every pooled element (pathway) of a layer; LayoutError if none
    or several do. The channel check applies to single-tensor outputs, where the module's last
    channel-declaring submodule describes that tensor."""
    channels = declared[0] if declared and len(shapes) == 1 else None
    per_element = [set(candidate_layouts(s, batch, channels, frames)) for s in shapes]
    common = set.intersection(*per_element) if per_element else set()
    shown = " + ".join(str(s) for s in shapes)
    decl = f", channels {declared[0]} declared by its {declared[1]}" if declared else ""
    if len(common) == 1:
        return common.pop()
    if not common:
        raise LayoutError(
            f"cannot verify the layout of layer {where}: output {shown} with a batch of {batch}"
            f"{decl} fits no layout; declare it in the model card (layout: per layer). "
            f"Valid choices: {_choices()}"
        )
    names = sorted(lay.name for lay in common)
    raise LayoutError(
        f"layout of layer {where} is ambiguous: output {shown} with a batch of {batch}{decl} "
        f"fits {', '.join(names)}; declare it in the model card (layout: per layer). "
        f"Valid choices: {_choices()}"
    )


def _element_shapes(x: object, where: str) -> tuple[tuple[int, ...], ...]:
    items = x if isinstance(x, list) else [x]
    shapes = []
    for item in items:
        if not isinstance(item, torch.Tensor):
            raise LayoutError(f"layer {where} returns a {type(item).__name__}, not a tensor; "
                              "choose the element to pool with output: (an index or a key)")
        shapes.append(tuple(int(n) for n in item.shape))
    return tuple(shapes)


def resolve_one(
    alias: str, path: str, module: nn.Module, out: object, batch: int, io: ModelIO,
    frames: Collection[int] = (),
) -> LayerIO:
    """The LayerIO of one layer from its dry-run output (see the module docstring)."""
    declared, explicit, selector = io.declared(alias, path)
    where = alias if alias == path else f"{alias} ({path})"
    shapes = _element_shapes(select_output(out, selector, where), where)
    if declared is not None and all(fits(declared, s, batch) for s in shapes):
        layout, source = declared, "declared" if explicit else "model default"
    elif declared is not None and explicit:
        raise LayoutError(
            f"layer {where}: output {' + '.join(map(str, shapes))} with a batch of {batch} "
            f"does not fit its declared layout {declared.name}. Valid choices: {_choices()}"
        )
    else:  # undeclared, or the model default does not fit this layer's rank: verify
        declared_by = declared_channels(module)
        layout, source = infer_layout(where, shapes, batch, declared_by, frames), "inferred"
    channels = sum(pooled_width(layout, s) for s in shapes)
    return LayerIO(alias, path, layout, selector, source, shapes, channels)


def takes_clips(spec: ClipSpec) -> bool:
    """Whether the task of a clip spec (``clip.task``) feeds its models (B, C, T, H, W) clips:
    the task's own ``clip_task`` fact, the one place that decides whether layouts are
    declared-or-verified (run, listing, Python API) and whether a dry run can be built."""
    return get_task(spec.task).clip_task


def example_inputs(
    spec: ClipSpec, batch: int = DRY_RUN_BATCH, seed: int = DRY_RUN_SEED
) -> torch.Tensor | list[torch.Tensor]:
    """Random clips of the model's clip spec (one tensor per pathway), from a private
    generator so the dry run never moves the global RNG a later step may depend on."""
    if not takes_clips(spec) or not (spec.crop or spec.short_side):
        raise StaticDynError(
            f"the layout dry run builds (B, C, T, H, W) clips; task '{spec.task}' with crop "
            f"{spec.crop} needs its own example inputs (resolve_layer_io(..., example=...))"
        )
    size = int(spec.crop or spec.short_side)
    gen = torch.Generator().manual_seed(seed)
    clips = [torch.randn(batch, 3, t, size, size, generator=gen) for t in spec.pathway_frames]
    return clips[0] if len(clips) == 1 else clips


def clip_lengths(example: torch.Tensor | Sequence[torch.Tensor]) -> set[int]:
    """The clip lengths T of (B, C, T, H, W) example inputs (one per pathway)."""
    tensors = [example] if isinstance(example, torch.Tensor) else list(example)
    return {int(x.shape[2]) for x in tensors if isinstance(x, torch.Tensor) and x.ndim == 5}


class _Captured(Exception):  # noqa: N818 - control flow, not an error
    """Raised once every requested layer has fired, to skip the rest of the dry run."""


def batch_size_of(inputs: object) -> int:
    """Rows of the first tensor in a forward's inputs (a tensor, a list of pathways, or
    keyword arguments)."""
    if isinstance(inputs, torch.Tensor):
        return int(inputs.shape[0])
    if isinstance(inputs, Mapping):
        inputs = list(inputs.values())
    if isinstance(inputs, list | tuple):
        for item in inputs:
            try:
                return batch_size_of(item)
            except StaticDynError:
                continue
    raise StaticDynError(f"cannot find the batch size of a forward input {type(inputs).__name__}")


def dry_run(
    model: Any,
    layers: Mapping[str, str],
    io: ModelIO | None = None,
    example: torch.Tensor | Sequence[torch.Tensor] | None = None,
) -> dict[str, LayerIO | LayoutError]:
    """One forward on example clips; per requested layer its LayerIO, or the LayoutError that
    says why its layout cannot be settled (collected, not raised, so a listing shows all).

    ``model`` is a ``ZooModel``; ``io`` defaults to its ``io`` (the card's declarations), else
    none (every layer inferred and verified). ``example`` defaults to random clips of its spec.
    """
    io = io if io is not None else (getattr(model, "io", None) or ModelIO())
    module: nn.Module = model.module
    check_input(io.input, module, model.name)
    paths = dict(module.named_modules())
    known = set(layers) | set(paths) | set(getattr(model, "layers", {}))
    unknown = sorted(n for n in io.overridden() if n not in known)
    if unknown:
        raise StaticDynError(f"model '{model.name}': layout/output given for '{unknown[0]}', "
                             "which is neither a layer alias nor a module path")
    if example is None:
        example = example_inputs(model.clip_spec)
    device = getattr(model, "device", torch.device("cpu"))
    if isinstance(example, torch.Tensor):
        inputs: Any = example.to(device)
        batch = int(example.shape[0])
    else:
        inputs = [x.to(device) for x in example]
        batch = int(inputs[0].shape[0])
    frames = clip_lengths(example)
    found: dict[str, LayerIO | LayoutError] = {}

    def make_hook(alias: str, path: str):  # noqa: ANN202
        def hook(mod: nn.Module, _inp: object, out: object) -> None:
            if alias not in found:
                try:
                    found[alias] = resolve_one(alias, path, mod, out, batch, io, frames)
                except LayoutError as exc:
                    found[alias] = exc
            if len(found) == len(layers):
                raise _Captured

        return hook

    handles = [paths[path].register_forward_hook(make_hook(alias, path))
               for alias, path in layers.items()]
    try:
        with torch.inference_mode():
            module(inputs)
    except _Captured:
        pass
    finally:
        for handle in handles:
            handle.remove()
    missing = [a for a in layers if a not in found]
    if missing:
        raise StaticDynError(f"model '{model.name}': layers {missing} did not run in the "
                             "layout dry run")
    return {alias: found[alias] for alias in layers}


def resolve_layer_io(
    model: Any,
    layers: Mapping[str, str],
    io: ModelIO | None = None,
    example: torch.Tensor | Sequence[torch.Tensor] | None = None,
) -> dict[str, LayerIO]:
    """The LayerIO of every requested layer (alias -> path), in request order, from one dry
    run (see ``dry_run``); the first layer that cannot be settled raises its LayoutError, so a
    run stops before any data is processed."""
    resolved = dry_run(model, layers, io, example)
    for result in resolved.values():
        if isinstance(result, LayoutError):
            raise result
    return {alias: result for alias, result in resolved.items()
            if isinstance(result, LayerIO)}
