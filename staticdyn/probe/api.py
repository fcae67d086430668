"""The Python API's probing side: pooled features of named layers from one forward pass.

``extract`` is a plain function over a ``ZooModel`` so models never import the probe (imports
point down); ``ProbeModel`` is the object ``staticdyn.load_model`` returns, a zoo model with
``extract`` and ``show_layers`` attached, and the same code path ``run.py`` uses. It also
remembers where it came from (a zoo entry and its overrides, or the card of a module the user
built), so ``staticdyn.probe`` can compose the same run ``python run.py`` would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from staticdyn.errors import StaticDynError
from staticdyn.models.spec import ZooModel
from staticdyn.probe.hooks import extract_pooled
from staticdyn.probe.layouts import LayerIO, resolve_layer_io, takes_clips

_CACHE = "_layer_io_cache"


def verifies_layouts(model: ZooModel) -> bool:
    """Whether ``model``'s layer layouts are declared or verified on a dry run (run, listing,
    Python API): its card's task (``clip.task``) feeds it clips, the task's ``clip_task`` fact
    (``takes_clips``). Other tasks (vos: a frame and a flow image) pool by the rank rule."""
    return takes_clips(model.clip_spec)


def layer_io(
    model: ZooModel, layers: dict[str, str],
    example: torch.Tensor | Sequence[torch.Tensor] | None = None,
) -> dict[str, LayerIO] | None:
    """Each layer's layout (declared, or verified on one dry run), cached on the model so
    repeated ``extract`` calls pay for the dry run once. The dry run uses ``example`` (the
    caller's own clips) when given, else random clips of the model's clip spec. Only models
    fed clips are checked (``verifies_layouts``); other tasks pool by the rank rule."""
    if not verifies_layouts(model):
        return None
    cache: dict[tuple[tuple[str, str], ...], dict[str, LayerIO]]
    cache = model.__dict__.setdefault(_CACHE, {})
    key = tuple(layers.items())
    if key not in cache:
        cache[key] = resolve_layer_io(model, layers, model.io, example)
    return cache[key]


def extract(
    model: ZooModel,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    layers: Sequence[str] | None = None,
) -> dict[str, torch.Tensor]:
    """Pooled (batch, channels) features of every requested layer, from one forward pass.

    ``layers`` are aliases or module paths (default: the model's default layers).
    """
    resolved = model.resolve_layers(layers)
    if not resolved:
        raise StaticDynError(
            f"model '{model.name}' names no default layers: pass layers=[...] (aliases "
            f"{', '.join(model.layers) or 'none'}; or module paths, e.g. "
            f"{', '.join(model.module_paths()[:4])})")
    io = layer_io(model, resolved, inputs)
    return extract_pooled(model.module, inputs, resolved, io=io)


def show_layers(model: ZooModel, layers: Sequence[str] | None = None) -> str:
    """The layer table of ``probe.list_layers`` for ``model``: alias, module path, output shape
    on a dry run, layout and channels for clip models; alias -> path for the others."""
    if not verifies_layouts(model):
        named = model.resolve_layers(list(layers)) if layers else model.layers
        return "\n".join(f"  {a:<16} -> {p}" for a, p in named.items())
    from staticdyn.probe.layers_table import layer_table

    return layer_table(model, layers, io=model.io)


class ProbeModel:
    """A ``ZooModel`` with ``extract`` and ``show_layers``; every other attribute is the zoo
    model's. ``entry`` / ``overrides``: the zoo entry it was built from and the card overrides
    (``staticdyn.probe`` rebuilds it from them, as ``run.py`` would); ``card``: for a module
    the user built, its card (``staticdyn.probe`` then probes this very module)."""

    def __init__(self, model: ZooModel, entry: str | None = None,
                 overrides: Mapping[str, Any] | None = None,
                 card: Mapping[str, Any] | None = None):
        self.model = model
        self.entry = entry
        self.overrides = dict(overrides or {})
        self.card = dict(card) if card is not None else None

    @property
    def prebuilt(self) -> bool:
        """True for a module the user built (no zoo entry to rebuild it from)."""
        return self.entry is None

    def extract(
        self, inputs: torch.Tensor | Sequence[torch.Tensor], layers: Sequence[str] | None = None
    ) -> dict[str, torch.Tensor]:
        return extract(self.model, inputs, layers)

    def show_layers(self, layers: Sequence[str] | None = None) -> str:
        """The layer table of ``probe.list_layers`` (alias, module path, output shape on a
        dry run, layout, channels), printed and returned."""
        text = show_layers(self.model, layers)
        print(text)
        return text

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["model"], name)


def load_model(
    name_or_module: str | nn.Module,
    checkpoint: str | Path | None = None,
    layers: Sequence[str] | Mapping[str, str] | None = None,
    input_layout: str | None = None,
    layouts: str | Mapping[str, str] | None = None,
    clip: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> ProbeModel:
    """A model ready to ``extract`` and ``show_layers``: a zoo entry by name, or any
    ``torch.nn.Module`` with no YAML card.

    - ``checkpoint``: a local weights file, loaded strictly (never downloaded).
    - ``layers``: module paths, or {alias: module path}; for a zoo entry they are added to its
      aliases and become the default layers.
    - ``input_layout``: what the module's forward takes, ``NCTHW`` (default; PyTorchVideo,
      torchvision), ``NTCHW`` (Hugging Face) or ``(NT)CHW`` (time folded into the batch); a
      module's clips are converted by a forward pre-hook. ``keyword=`` names the argument
      (``pixel_values``) for modules that take it by keyword.
    - ``layouts``: the layers' output layout (one name, or {alias or path: name}); a layer
      without one is inferred and verified on a dry run, as for the zoo.
    - ``clip``: ClipSpec fields; a module's defaults are the ``custom`` card's (8 frames every
      8th, 224 crop of a 256 short side, Kinetics mean/std).
    - ``overrides``: card keys (zoo entries: merged into the card before its interpolations
      resolve, so ``hf_path=`` reaches the builder; modules: ``name``, ``keyword``,
      ``output``, ``trust_checkpoint``).
    """
    from staticdyn.models import zoo

    if isinstance(name_or_module, str):
        over = dict(overrides)
        if checkpoint is not None:
            over["checkpoint"] = str(checkpoint)
        if layers is not None:
            named = dict(layers) if isinstance(layers, Mapping) else {}
            over["layers"] = named
            over["default_layers"] = list(named) if named else [str(p) for p in layers]
        if input_layout is not None:
            over["input"] = {"layout": input_layout}
        if layouts is not None:
            over["layout"] = dict(layouts) if isinstance(layouts, Mapping) else layouts
        if clip is not None:
            over["clip"] = dict(clip)
        model = zoo.load_model(name_or_module, **over)
        return ProbeModel(model, entry=name_or_module, overrides=over)
    extra = dict(overrides)
    trust = extra.pop("trust_checkpoint", None)
    unknown = sorted(set(extra) - {"name", "keyword", "output"})
    if unknown:
        raise StaticDynError(
            f"load_model(module, ...) got unknown keyword '{unknown[0]}'. Valid: checkpoint, "
            "layers, input_layout, layouts, clip, name, keyword, output, trust_checkpoint")
    card = zoo.module_card(name_or_module, checkpoint=checkpoint, layers=layers,
                           input_layout=input_layout, layouts=layouts, clip=clip, **extra)
    if trust is not None:
        card["trust_checkpoint"] = trust
    return ProbeModel(zoo.from_module(name_or_module, card), card=card)
