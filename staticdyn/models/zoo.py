"""The action-recognition model zoo: one YAML design card per model, one function to build it.

``conf/model/<entry>.yaml`` says everything about a model (constructor, clip spec, named
layers, checkpoint), so the Hydra pipeline (``from_config(cfg.model)``) and the Python API
(``load_model(name)``) build byte-identical models from the same file, and adding a model is a
YAML change. Schema (keys other than these are rejected, to catch typos early):

    name: slow_r50                      # entry name, used in errors and outputs
    builder: pytorchvideo.models.hub.slow_r50   # import path of a callable -> nn.Module
                                        # (``_target_`` is accepted as a synonym)
    builder_kwargs: {}                  # passed to the builder; pretrained is forced False
    pretrained: false                   # true is refused: staticdyn never downloads weights
    checkpoint: null                    # local checkpoint file; null -> untrained model
    trust_checkpoint: false             # true: the user vouches for the file, which may then
                                        # unpickle objects beyond weights (with a warning)
    family / checkpoint_format / checkpoint_pathway / pathways
                                        # how a file in another code base's layout is read
                                        # (staticdyn.models.checkpoints.card)
    clip: {frames, sampling_rate, crop, short_side, mean, std, alpha, ...}  # ClipSpec fields;
                                        # over the module's ``staticdyn_clip`` suggestion, if any
    layers: {alias: module.path}        # named layers (stageK, slow.stageK, blockK, ...)
    layers_fn: null                     # optional import path: fn(module) -> {alias: path}
                                        # or ({alias: path}, [default aliases]), for models
                                        # whose layers depend on the build (mmaction)
    default_layers: [alias, ...]        # what a probe run hooks when it names no layers
                                        # (empty: layers_fn's suggestion, else every alias)
    description: "..."                  # free text, for listings
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from staticdyn.data.spec import ClipSpec
from staticdyn.errors import StaticDynError, UnknownChoiceError
from staticdyn.models.builders import NO_DOWNLOAD_HINT, build_module, import_object
from staticdyn.models.checkpoints.card import CheckpointCard
from staticdyn.models.checkpoints.loading import load_checkpoint
from staticdyn.models.custom import builder_path
from staticdyn.models.io import io_from_card
from staticdyn.models.spec import ZooModel
from staticdyn.models.torchvision_video import refuse_downloads

CONFIG_KEYS = frozenset({
    "name", "builder", "_target_", "builder_kwargs", "pretrained", "checkpoint", "clip",
    "layers", "layers_fn", "default_layers", "description",
    "checkpoint_tag",  # what the checkpoint was trained on (read by the report, e.g. Fig. 5/6)
    # card facts (README, "Models"): read by checkpoint conversion, the report and the smoke run
    "family", "arch_group", "pathways", "pathway_kind", "task", "checkpoint_format",
    "checkpoint_pathway", "smoke", "trust_checkpoint",
    "num_classes_key", "last_layer",  # read by training (train/build.py)
    # tensor layouts (models/io.py) and the sources of interpolated builder_kwargs (hf, timm2d)
    "input", "layout", "output", "hf_path", "arch",
    "queries",  # VIS query layers: alias -> slot | raw_per_frame (models/io.py)
})


def conf_dir() -> Path:
    """The repository's ``conf/`` folder (Hydra's config root), next to the package."""
    return Path(__file__).resolve().parents[2] / "conf"


def list_entries() -> list[str]:
    """Names of every zoo entry, i.e. of every ``conf/model/*.yaml``."""
    return sorted(p.stem for p in (conf_dir() / "model").glob("*.yaml"))


def entry_config(name: str) -> dict[str, Any]:
    """The design card of entry ``name`` as a plain dict (raises UnknownChoiceError)."""
    from omegaconf import OmegaConf

    entries = list_entries()
    if name not in entries:
        raise UnknownChoiceError("model", name, entries)
    cfg = OmegaConf.to_container(OmegaConf.load(conf_dir() / "model" / f"{name}.yaml"),
                                 resolve=True)
    assert isinstance(cfg, dict)
    cfg.setdefault("name", name)
    return cfg


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``over`` into a copy of ``base``. Plain dicts, not OmegaConf, so that
    Python-API overrides may carry objects YAML cannot (e.g. a norm layer class)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _plain(cfg: Any) -> dict[str, Any]:
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    if not isinstance(cfg, Mapping):
        raise StaticDynError(f"model config must be a mapping, got {type(cfg).__name__}")
    return dict(cfg)


def clip_spec_from(clip: Mapping[str, Any] | None, entry: str) -> ClipSpec:
    """Build the ClipSpec, rejecting unknown fields by name (a typo would silently be ignored
    otherwise and the model would be probed on the wrong clips)."""
    clip = dict(clip or {})
    fields = {f.name for f in dataclasses.fields(ClipSpec)}
    for key in clip:
        if key not in fields:
            raise UnknownChoiceError(f"clip field (model '{entry}')", key, fields)
    for key in ("mean", "std"):
        if key in clip:
            clip[key] = tuple(float(v) for v in clip[key])
    return ClipSpec(**clip)


def _layers(
    module: nn.Module, cfg: Mapping[str, Any], entry: str
) -> tuple[dict[str, str], list[str]]:
    """Aliases from ``layers_fn`` (if any) overlaid by the YAML ``layers``, each checked to
    exist, and the default layers (YAML first, else what ``layers_fn`` suggests)."""
    layers: dict[str, str] = {}
    suggested: list[str] = []
    if cfg.get("layers_fn"):
        found = import_object(str(cfg["layers_fn"]))(module)
        if isinstance(found, tuple):
            found, suggested = found
        layers.update(found)
    layers.update({str(k): str(v) for k, v in (cfg.get("layers") or {}).items()})
    paths = {n for n, _ in module.named_modules() if n}
    bad = [f"{a} -> {p}" for a, p in layers.items() if p not in paths]
    if bad:
        raise StaticDynError(
            f"model '{entry}': layer aliases point to no module: {', '.join(bad)}"
        )
    defaults = [str(x) for x in cfg.get("default_layers") or []] or list(suggested)
    return layers, defaults


def from_config(cfg: Mapping[str, Any] | Any) -> ZooModel:
    """Build a ZooModel from one model config (``cfg.model`` of the Hydra pipeline)."""
    cfg = _plain(cfg)
    entry = str(cfg.get("name") or "custom")
    unknown = sorted(set(cfg) - CONFIG_KEYS)
    if unknown:
        raise UnknownChoiceError(f"model config key (model '{entry}')", unknown[0], CONFIG_KEYS)
    if cfg.get("pretrained"):
        raise StaticDynError(f"model '{entry}' has pretrained=true: {NO_DOWNLOAD_HINT}")
    card = CheckpointCard.from_config(cfg)  # checked before anything is built
    builder = builder_path(cfg, entry)
    refuse_downloads(builder, cfg.get("builder_kwargs"), entry)
    module = build_module(builder, cfg.get("builder_kwargs"))
    layers, default_layers = _layers(module, cfg, entry)
    # A module may suggest its own clip (the mmaction adapter reads the config's test
    # pipeline); the card's ``clip`` values win over the suggestion.
    suggested = dict(getattr(module, "staticdyn_clip", None) or {})
    clip = clip_spec_from({**suggested, **(cfg.get("clip") or {})}, entry)
    checkpoint = cfg.get("checkpoint")
    if checkpoint:
        load_checkpoint(module, checkpoint, card)
    model = ZooModel(
        name=entry,
        module=module,
        clip_spec=clip,
        layers=layers,
        untrained=not checkpoint,
        checkpoint=str(checkpoint) if checkpoint else None,
        default_layers=default_layers,
        io=io_from_card(cfg),
    )
    model.resolve_layers(model.default_layers)  # fail now, not after the data is loaded
    return model


def split_overrides(over: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what OmegaConf can hold, the rest) of Python-API overrides, leaf by leaf: the first
    part is merged before interpolations are resolved (so ``hf_path=`` reaches
    ``builder_kwargs.path: ${..hf_path}``, as a Hydra override does), the rest (objects YAML
    cannot hold, e.g. a norm layer class) after."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    plain: dict[str, Any] = {}
    objects: dict[str, Any] = {}
    for key, value in over.items():
        if isinstance(value, Mapping) and value:
            sub_plain, sub_objects = split_overrides(value)
            if sub_plain:
                plain[key] = sub_plain
            if sub_objects:
                objects[key] = sub_objects
            continue
        try:
            OmegaConf.create({"v": value})
        except (OmegaConfBaseException, ValueError):
            objects[key] = value
        else:
            plain[key] = value
    return plain, objects


def merge_into_card(node: Any, over: Mapping[str, Any]) -> None:
    """``_merge`` into an unresolved OmegaConf card, in place: mappings merge key by key,
    anything else (an interpolation included) is replaced, as ``_merge`` does on plain dicts."""
    from omegaconf import DictConfig, OmegaConf

    for key, value in over.items():
        if isinstance(value, Mapping) and key in node and not OmegaConf.is_interpolation(
                node, key) and isinstance(node[key], DictConfig):
            merge_into_card(node[key], value)
        else:
            node[key] = value


def entry_card(name: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The card of entry ``name`` with ``overrides``, merged the way Hydra composes a run:
    overrides first, interpolations resolved after, so ``load_model(name, **overrides)`` and
    ``python run.py model=name model.key=value`` build the same model."""
    from omegaconf import OmegaConf

    entries = list_entries()
    if name not in entries:
        raise UnknownChoiceError("model", name, entries)
    plain, objects = split_overrides(overrides or {})
    raw = OmegaConf.load(conf_dir() / "model" / f"{name}.yaml")
    merge_into_card(raw, plain)
    cfg = OmegaConf.to_container(raw, resolve=True)
    assert isinstance(cfg, dict)
    cfg.setdefault("name", name)
    return _merge(cfg, objects)


def load_model(name: str, checkpoint: str | Path | None = None,
               trust_checkpoint: bool | None = None, **overrides: Any) -> ZooModel:
    """Build zoo entry ``name``; ``overrides`` deep-merge into its YAML card before its
    interpolations are resolved (``hf_path=`` reaches the builder, as on the command line).

    ``trust_checkpoint=True``: you vouch for the checkpoint file, which may then unpickle
    objects beyond weights data (see ``staticdyn.models.checkpoints.reader``).
    Example: ``load_model("slow_r50", checkpoint="SLOW_8x8_R50.pyth", clip={"crop": 224})``.
    """
    cfg = entry_card(name, overrides)
    if checkpoint is not None:
        cfg["checkpoint"] = str(checkpoint)
    if trust_checkpoint is not None:
        cfg["trust_checkpoint"] = trust_checkpoint
    return from_config(cfg)


def checkpoint_card(name: str, **overrides: Any) -> CheckpointCard:
    """The checkpoint facts of zoo entry ``name`` (for converting files outside a load)."""
    return CheckpointCard.from_config(_merge(entry_config(name), overrides))


def _input_adapter(layout: str, keyword: str | None):  # noqa: ANN202
    """Forward pre-hook giving a module the clip the way its forward takes it: staticdyn's
    (B, C, T, H, W) batch in ``layout`` (``to_input_layout``), by ``keyword`` if it has one."""
    from staticdyn.models.io import to_input_layout

    def hook(_module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        if not args:
            return args, kwargs
        x = args[0]
        if isinstance(x, torch.Tensor):
            x = to_input_layout(x, layout)
        if keyword:
            return args[1:], {**kwargs, keyword: x}
        return (x, *args[1:]), kwargs

    return hook


def adapt_input(module: nn.Module, layout: str, keyword: str | None, entry: str) -> None:
    """Make a user's module take staticdyn's (B, C, T, H, W) clips (``input_layout``): a
    forward pre-hook converts them, replaced, not stacked, when the module is wrapped again,
    and ``staticdyn_input`` records what the module now takes (checked before every dry run).
    A module that already converts its input (built by a staticdyn builder) is left alone."""
    from staticdyn.models.io import InputSpec, input_spec_from

    spec = input_spec_from({"layout": layout, "keyword": keyword}, entry)
    hooked = module.__dict__.get("_staticdyn_input_hook")
    if hooked is not None:
        hooked.remove()
    elif getattr(module, "staticdyn_input", None) is not None:
        return  # converts its input itself; check_input compares it with the declaration
    if spec.layout == "NCTHW" and not spec.keyword:
        module.__dict__.pop("_staticdyn_input_hook", None)
        module.staticdyn_input = InputSpec()
        return
    handle = module.register_forward_pre_hook(_input_adapter(spec.layout, spec.keyword),
                                              with_kwargs=True)
    module.__dict__["_staticdyn_input_hook"] = handle
    module.staticdyn_input = InputSpec(spec.layout, spec.keyword)


def module_card(
    module: nn.Module,
    name: str | None = None,
    checkpoint: str | Path | None = None,
    layers: Sequence[str] | Mapping[str, str] | None = None,
    input_layout: str | None = None,
    layouts: str | Mapping[str, str] | None = None,
    clip: Mapping[str, Any] | None = None,
    keyword: str | None = None,
    output: Any = None,
) -> dict[str, Any]:
    """The card of a module the user built, as the ``custom`` entry would hold it: its clip
    is the ``custom`` card's (8 frames every 8th, 224 crop of a 256 short side, Kinetics
    mean/std) under the module's ``staticdyn_clip`` suggestion under ``clip``; ``layers`` is
    a list of module paths or {alias: path}; ``layouts`` the model's layout or {alias: layout}
    (undeclared layers are inferred and verified on a dry run)."""
    base = entry_config("custom")
    entry = name or type(module).__name__
    suggested = dict(getattr(module, "staticdyn_clip", None) or {})
    if isinstance(layers, Mapping):
        aliases = {str(k): str(v) for k, v in layers.items()}
        defaults = list(aliases)
    else:
        aliases, defaults = {}, [str(p) for p in layers or ()]
    card = {
        **{k: base[k] for k in ("family", "arch_group", "pathways", "pathway_kind", "task",
                                "checkpoint_format", "trust_checkpoint") if k in base},
        "name": entry,
        "builder": f"{type(module).__module__}.{type(module).__qualname__}",
        "pretrained": False,
        "checkpoint": str(checkpoint) if checkpoint else None,
        "clip": {**(base.get("clip") or {}), **suggested, **dict(clip or {})},
        "layers": aliases,
        "default_layers": defaults,
        "input": {"layout": input_layout or "NCTHW", "keyword": keyword, "frames": None},
        "layout": dict(layouts) if isinstance(layouts, Mapping) else layouts,
        "output": dict(output) if isinstance(output, Mapping) else output,
        "description": f"prebuilt module {type(module).__module__}.{type(module).__qualname__}",
    }
    return card


def from_module(module: nn.Module, card: Mapping[str, Any]) -> ZooModel:
    """A ZooModel of a module the user built, described by ``module_card``: the input adapted,
    the checkpoint (if any) loaded strictly, every layer checked to exist. It is marked
    trained: staticdyn cannot tell what the user's module holds."""
    if not isinstance(module, nn.Module):
        raise StaticDynError(f"load_model takes a zoo entry name or a torch.nn.Module, got "
                             f"{type(module).__name__}. Zoo entries: {', '.join(list_entries())}")
    cfg = dict(card)
    entry = str(cfg["name"])
    unknown = sorted(set(cfg) - CONFIG_KEYS)
    if unknown:
        raise UnknownChoiceError(f"model config key (model '{entry}')", unknown[0], CONFIG_KEYS)
    ckpt_card = CheckpointCard.from_config(cfg)
    io = io_from_card(cfg)
    clip = clip_spec_from(cfg.get("clip"), entry)
    layers, defaults = _layers(module, cfg, entry)
    adapt_input(module, io.input.layout, io.input.keyword, entry)
    if cfg.get("checkpoint"):
        load_checkpoint(module, cfg["checkpoint"], ckpt_card)
    model = ZooModel(name=entry, module=module, clip_spec=clip, layers=layers, untrained=False,
                     checkpoint=cfg.get("checkpoint"), default_layers=defaults, io=io)
    model.resolve_layers(model.default_layers)  # every named layer exists, before any run
    return model
