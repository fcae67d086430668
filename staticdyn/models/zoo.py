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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from staticdyn.data.spec import ClipSpec
from staticdyn.errors import StaticDynError, UnknownChoiceError
from staticdyn.models.builders import NO_DOWNLOAD_HINT, build_module, import_object
from staticdyn.models.checkpoints.card import CheckpointCard
from staticdyn.models.checkpoints.loading import load_checkpoint
from staticdyn.models.custom import builder_path
from staticdyn.models.io import io_from_card
from staticdyn.models.spec import ZooModel

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
    module = build_module(builder_path(cfg, entry), cfg.get("builder_kwargs"))
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


def load_model(name: str, checkpoint: str | Path | None = None,
               trust_checkpoint: bool | None = None, **overrides: Any) -> ZooModel:
    """Build zoo entry ``name``; ``overrides`` deep-merge into its YAML card.

    ``trust_checkpoint=True``: you vouch for the checkpoint file, which may then unpickle
    objects beyond weights data (see ``staticdyn.models.checkpoints.reader``).
    Example: ``load_model("slow_r50", checkpoint="SLOW_8x8_R50.pyth", clip={"crop": 224})``.
    """
    cfg = _merge(entry_config(name), overrides)
    if checkpoint is not None:
        cfg["checkpoint"] = str(checkpoint)
    if trust_checkpoint is not None:
        cfg["trust_checkpoint"] = trust_checkpoint
    return from_config(cfg)


def checkpoint_card(name: str, **overrides: Any) -> CheckpointCard:
    """The checkpoint facts of zoo entry ``name`` (for converting files outside a load)."""
    return CheckpointCard.from_config(_merge(entry_config(name), overrides))
