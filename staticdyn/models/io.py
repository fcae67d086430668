"""A model's declared tensor layouts: what its input is, and what each hooked layer returns.

Pooling must know which axis is the batch and which the channels (METHOD.md section 2). Guessing
from the rank is wrong for channels-last maps (Swin3D: (B, T, H, W, C)), sequence-first tokens
((L, B, C)) and models that fold time into the batch ((B*T, ...)), and a wrong guess still gives
numbers. So the card declares it, from a small vocabulary, and this module parses and checks
those declarations before anything is built or run. Card keys (all optional):

    input:  {layout: NCTHW, keyword: null, frames: null}
                    # layout the module's forward takes (NCTHW, NTCHW or (NT)CHW), the
                    # keyword it takes it by (pixel_values, pixel_values_videos; null =
                    # positional) and the frame count it requires (null: any)
    layout: NTHWC   # every hooked layer's output layout, or per alias / module path:
                    # {default: NLC, head: NC}; a default applies only where the rank fits
    output: 0       # element of a tuple / list / dict / ModelOutput to pool (int or key),
                    # or per alias: {default: 0, pooled: pooler_output}
    queries: {decoder.layer8: slot}   # VIS query layers (probe.vis_pooling=matched): per
                    # alias, slot (state q is track q) or raw_per_frame (per-frame raw queries,
                    # linked by the forward's query_order); other layers have no entry
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from staticdyn.errors import StaticDynError, UnknownChoiceError


@dataclass(frozen=True)
class Layout:
    """One entry of the vocabulary: where the batch and the channels are in a layer output.

    ``folded``: the batch axis holds batch x time (``(NT)``), b-major, as ``x.flatten(0, 1)`` of
    a (B, T, ...) tensor gives; it is unfolded to one row per clip before pooling.
    ``inferable``: False for a layout that is used only where a card declares it (``L(NT)C``:
    a (L, B*T, C) reading would make existing (B, L, C) outputs with L = B*T ambiguous).
    """

    name: str
    rank: int
    batch_axis: int
    channel_axis: int
    folded: bool = False
    inferable: bool = True


OUTPUT_LAYOUTS: dict[str, Layout] = {
    lay.name: lay
    for lay in (
        Layout("NCTHW", 5, 0, 1),
        Layout("NCHW", 4, 0, 1),
        Layout("NTHWC", 5, 0, 4),
        Layout("NHWC", 4, 0, 3),
        Layout("NLC", 3, 0, 2),
        Layout("LNC", 3, 1, 2),
        Layout("NC", 2, 0, 1),
        Layout("(NT)CHW", 4, 0, 1, folded=True),
        Layout("(NT)LC", 3, 0, 2, folded=True),
        Layout("(NT)C", 2, 0, 1, folded=True),
        Layout("L(NT)C", 3, 1, 2, folded=True, inferable=False),  # per-frame queries (MinVIS)
    )
}
INPUT_LAYOUTS = ("NCTHW", "NTCHW", "(NT)CHW")
QUERY_KINDS = ("slot", "raw_per_frame")  # how a VIS query layer's states map to output slots
DEFAULT_KEY = "default"

Selector = int | str


def output_layout(name: str, where: str) -> Layout:
    """The vocabulary entry called ``name`` (UnknownChoiceError naming ``where`` otherwise)."""
    lay = OUTPUT_LAYOUTS.get(str(name))
    if lay is None:
        raise UnknownChoiceError(f"layout ({where})", str(name), OUTPUT_LAYOUTS)
    return lay


@dataclass(frozen=True)
class InputSpec:
    """How the module's forward takes a clip (the data side always builds (B, C, T, H, W))."""

    layout: str = "NCTHW"
    keyword: str | None = None
    frames: int | None = None


def to_input_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """A (B, C, T, H, W) clip batch in ``layout``: NTCHW permutes, (NT)CHW also folds time."""
    if layout == "NCTHW":
        return x
    if x.ndim != 5:
        raise StaticDynError(f"input layout {layout} needs a (B, C, T, H, W) clip batch, "
                             f"got shape {tuple(x.shape)}")
    x = x.permute(0, 2, 1, 3, 4)
    if layout == "NTCHW":
        return x
    if layout == "(NT)CHW":
        return x.flatten(0, 1)
    raise UnknownChoiceError("input layout", layout, INPUT_LAYOUTS)


def _selector(value: Any, where: str) -> Selector | None:
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value:
        return int(value) if value.lstrip("-").isdigit() else value
    raise StaticDynError(
        f"output selector ({where}) must be an index like 0 or a key like last_hidden_state, "
        f"got {value!r}"
    )


def _per_layer(value: Any) -> tuple[Any, dict[str, Any]]:
    """(model default, {alias or path: value}) of a ``layout`` / ``output`` card value."""
    if isinstance(value, Mapping):
        over = {str(k): v for k, v in value.items() if str(k) != DEFAULT_KEY}
        return value.get(DEFAULT_KEY), over
    return value, {}


@dataclass(frozen=True)
class ModelIO:
    """The parsed ``input`` / ``layout`` / ``output`` declarations of one model card."""

    input: InputSpec = field(default_factory=InputSpec)
    layout: str | None = None
    layouts: dict[str, str] = field(default_factory=dict)
    output: Selector | None = None
    outputs: dict[str, Selector] = field(default_factory=dict)
    queries: dict[str, str] = field(default_factory=dict)  # alias -> one of QUERY_KINDS

    def declared(self, alias: str, path: str) -> tuple[Layout | None, bool, Selector | None]:
        """(layout, explicit, selector) for a layer; ``explicit`` is False for the model default.

        An override may be keyed by alias or by module path; the alias wins.
        """
        name = self.layouts.get(alias, self.layouts.get(path))
        explicit = name is not None
        name = name if explicit else self.layout
        lay = output_layout(name, f"layer {alias}") if name is not None else None
        sel = self.outputs.get(alias, self.outputs.get(path, self.output))
        return lay, explicit, sel

    def overridden(self) -> set[str]:
        """Every alias or module path the card names in a per-layer override."""
        return set(self.layouts) | set(self.outputs) | set(self.queries)


def input_spec_from(value: Any, entry: str) -> InputSpec:
    """Parse and check a card's ``input`` block."""
    value = dict(value or {})
    unknown = sorted(set(value) - {"layout", "keyword", "frames"})
    if unknown:
        raise UnknownChoiceError(f"input key (model '{entry}')", unknown[0],
                                 ["layout", "keyword", "frames"])
    layout = str(value.get("layout") or "NCTHW")
    if layout not in INPUT_LAYOUTS:
        raise UnknownChoiceError(f"input layout (model '{entry}')", layout, INPUT_LAYOUTS)
    frames = value.get("frames")
    if frames is not None and (not str(frames).isdigit() or int(frames) < 1):
        raise StaticDynError(f"model '{entry}': input.frames must be a positive integer or "
                             f"null, got {frames!r}")
    keyword = value.get("keyword")
    return InputSpec(layout, str(keyword) if keyword else None,
                     int(frames) if frames is not None else None)


def io_from_card(cfg: Mapping[str, Any]) -> ModelIO:
    """Parse a model card's ``input`` / ``layout`` / ``output`` keys, failing on the first
    unknown layout name, bad selector, or a clip whose frame count the model cannot take."""
    entry = str(cfg.get("name") or "custom")
    spec = input_spec_from(cfg.get("input"), entry)
    clip_frames = (cfg.get("clip") or {}).get("frames")
    if spec.frames is not None and clip_frames is not None and int(clip_frames) != spec.frames:
        raise StaticDynError(
            f"model '{entry}' takes clips of {spec.frames} frames (input.frames), but "
            f"clip.frames={clip_frames}: set model.clip.frames={spec.frames} or change both"
        )
    default, layouts = _per_layer(cfg.get("layout"))
    if default is not None:
        output_layout(default, f"model '{entry}'")
    for name, lay in layouts.items():
        output_layout(lay, f"model '{entry}', layer {name}")
    out_default, outputs = _per_layer(cfg.get("output"))
    queries = {str(k): str(v) for k, v in (cfg.get("queries") or {}).items()}
    for name, kind in queries.items():
        if kind not in QUERY_KINDS:
            raise UnknownChoiceError(f"queries (model '{entry}', layer {name})", kind,
                                     QUERY_KINDS)
    return ModelIO(
        input=spec,
        layout=str(default) if default is not None else None,
        layouts={k: str(v) for k, v in layouts.items()},
        output=_selector(out_default, f"model '{entry}'"),
        outputs={k: _selector(v, f"model '{entry}', layer {k}") for k, v in outputs.items()},
        queries=queries,
    )


def check_input(declared: InputSpec, module: Any, entry: str) -> None:
    """The card's ``input`` must describe what the module does: builders that convert our
    (B, C, T, H, W) clip (Hugging Face, frame-wise) record the input they feed their network in
    ``module.staticdyn_input``; any other module takes the clip as it is (NCTHW, positional)."""
    actual = getattr(module, "staticdyn_input", None) or InputSpec()
    problems = []
    if declared.layout != actual.layout:
        problems.append(f"layout {declared.layout} vs {actual.layout}")
    if declared.keyword and declared.keyword != actual.keyword:
        problems.append(f"keyword {declared.keyword} vs {actual.keyword or 'positional'}")
    if declared.frames and actual.frames and declared.frames != actual.frames:
        problems.append(f"frames {declared.frames} vs {actual.frames}")
    if problems:
        raise StaticDynError(
            f"model '{entry}': the card's input does not match what the built module takes "
            f"({'; '.join(problems)}); fix model.input"
        )
