"""Hugging Face video transformers as zoo entries: offline, local weights only, our clip layout.

The data side builds (B, C, T, H, W) clips; HF video models take (B, T, C, H, W) (X-CLIP's
vision tower: (B*T, C, H, W)) by keyword (``pixel_values``, V-JEPA 2's
``pixel_values_videos``). Rather than wrapping the model in another module, which would prefix
every module path and state-dict key with the wrapper's attribute name, ``build_hf`` returns the
HF model itself with a forward pre-hook that turns the positional clip into the declared input
(``model.input`` of the card). Module paths stay HF's own (``encoder.layer.3``) and a state
dict saved from the HF model loads strictly through ``model.checkpoint=``.

Weights come only from a local folder (``model.hf_path``), read with
``from_pretrained(..., local_files_only=True)``; every model key must be in the files. Without a
folder the model is built at random from its config class, with the config's defaults and any
``builder_kwargs`` config fields (``hidden_size``, ``num_hidden_layers`` ...) on top.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from staticdyn.errors import StaticDynError, UnknownChoiceError
from staticdyn.models.io import InputSpec, input_spec_from, to_input_layout

log = logging.getLogger(__name__)

INSTALL_HINT = "install the Hugging Face extra: pip install -e '.[hf]' (or make install)"
# Config fields that fix the frame count (V-JEPA 2's frames_per_clip is its training length;
# its rotary embeddings take any multiple of the tubelet size, so it fixes nothing).
FRAME_FIELDS = ("num_frames",)
CROP_FIELDS = ("image_size", "crop_size")


def _transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise StaticDynError(f"Hugging Face entries need transformers: {INSTALL_HINT}") from exc
    return transformers


def _model_class(name: str) -> Any:
    transformers = _transformers()
    cls = getattr(transformers, name, None)
    if cls is None or not hasattr(cls, "from_pretrained"):
        raise StaticDynError(f"transformers has no model class '{name}' (builder_kwargs."
                             f"model_class; e.g. AutoModel, VideoMAEModel, XCLIPVisionModel)")
    return cls


def _random_init(cls: Any, model_class: str, model_type: str | None,
                 config: Mapping[str, Any]) -> nn.Module:
    """A randomly initialised model from its config class (defaults + ``config`` fields)."""
    transformers = _transformers()
    if model_class == "AutoModel":
        if not model_type:
            raise StaticDynError("builder_kwargs.model_type (e.g. videomae) is needed to build "
                                 "AutoModel without model.hf_path")
        try:
            defaults = transformers.AutoConfig.for_model(model_type)
        except ValueError as exc:
            raise StaticDynError(f"unknown Hugging Face model_type '{model_type}': "
                                 f"{str(exc).splitlines()[0]}") from exc
    else:
        defaults = cls.config_class()
    _check_fields(defaults, config)
    if model_class == "AutoModel":
        return transformers.AutoModel.from_config(
            transformers.AutoConfig.for_model(model_type, **config))
    return cls(cls.config_class(**config))


def _check_fields(defaults: Any, config: Mapping[str, Any]) -> None:
    unknown = sorted(k for k in config if not hasattr(defaults, k))
    if unknown:
        fields = sorted(k for k in defaults.to_dict() if not k.startswith("_"))
        raise UnknownChoiceError(f"{type(defaults).__name__} field", unknown[0], fields)


def _loaded(cls: Any, path: str, **kwargs: Any) -> nn.Module:
    """``cls.from_pretrained`` on a local folder, refusing any model key the files leave at
    random (missing or shape-mismatched); keys the model does not use are only logged."""
    model, info = cls.from_pretrained(path, local_files_only=True, output_loading_info=True,
                                      **kwargs)
    missing, mismatched = info.get("missing_keys") or [], info.get("mismatched_keys") or []
    if missing or mismatched:
        shown = ", ".join(map(str, [*missing, *mismatched][:5]))
        raise StaticDynError(f"'{path}' does not fill {cls.__name__}: {len(missing)} missing "
                             f"and {len(mismatched)} shape-mismatched keys [{shown}]")
    unexpected = info.get("unexpected_keys") or []
    if unexpected:  # a classification head or text tower the probed model does not have
        log.info("%s: %d keys not used by %s (e.g. %s)", path, len(unexpected), cls.__name__,
                 unexpected[0])
    return model


def _from_folder(cls: Any, path: str, config: Mapping[str, Any], tower: str | None) -> nn.Module:
    """The model of a local folder, every key filled from its files (see ``_loaded``).

    ``config`` fields are set on the folder's config first (a card's ``num_frames`` equal to
    the folder's is a no-op; a different one changes the position embeddings, and the weights
    then no longer fit, which is refused). ``tower``: the folder may hold a larger model whose
    attribute ``tower`` is this model (or its attribute of that name): X-CLIP's
    ``vision_model`` is an ``XCLIPVisionModel``. The folder's model is then loaded whole and
    that tower's weights are copied strictly; a folder of this model itself loads directly.
    """
    transformers = _transformers()
    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        raise StaticDynError(f"model.hf_path '{path}' is not a Hugging Face model folder "
                             "(no config.json); staticdyn never downloads: save_pretrained() "
                             "or copy the folder there")
    config_class = getattr(cls, "config_class", None) or transformers.AutoConfig
    folder_config = config_class.from_pretrained(str(folder), local_files_only=True)
    _check_fields(folder_config, config)
    for key, value in config.items():
        setattr(folder_config, key, value)
    folder_type = json.loads((folder / "config.json").read_text()).get("model_type")
    if not tower or folder_type == getattr(folder_config, "model_type", None):
        return _loaded(cls, str(folder), config=folder_config)
    whole = _loaded(transformers.AutoModel, str(folder))
    model = cls(folder_config)
    source, target = getattr(whole, tower, None), getattr(model, tower, model)
    if not isinstance(source, nn.Module) or not isinstance(target, nn.Module):
        raise StaticDynError(f"builder_kwargs.tower '{tower}' is not a module of both "
                             f"{type(whole).__name__} ('{path}') and {cls.__name__}")
    try:
        target.load_state_dict(source.state_dict(), strict=True)
    except RuntimeError as exc:
        raise StaticDynError(f"'{path}': the {tower} of {type(whole).__name__} does not fit "
                             f"{cls.__name__}: {str(exc).splitlines()[0]}") from exc
    return model


def required_frames(config: Any) -> int | None:
    """The frame count the model's position embeddings fix, if any."""
    for key in FRAME_FIELDS:
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    return None


def required_size(config: Any) -> int | None:
    """The square frame size fixed position embeddings need (``image_size``), if any."""
    value = getattr(config, "image_size", None)
    return value if isinstance(value, int) else None


def _suggested_clip(model: nn.Module, frames: int | None, path: str | None) -> dict[str, Any]:
    """Clip fields read from the model (frames, crop) and its folder's preprocessor (mean,
    std); the card's ``clip`` values win over these (see ``zoo.from_config``)."""
    config = model.config
    clip: dict[str, Any] = {}
    if frames:
        clip["frames"] = frames
    for key in CROP_FIELDS:
        value = getattr(config, key, None)
        if isinstance(value, int):
            clip["crop"] = clip["short_side"] = value
            break
    pre = Path(path).expanduser() / "preprocessor_config.json" if path else None
    if pre is not None and pre.is_file():
        data = json.loads(pre.read_text())
        for ours, theirs in (("mean", "image_mean"), ("std", "image_std")):
            if isinstance(data.get(theirs), list) and len(data[theirs]) == 3:
                clip[ours] = [float(v) for v in data[theirs]]
    return clip


class ClipToInput:
    """Forward pre-hook: a positional (B, C, T, H, W) clip batch becomes the model's input
    (layout and keyword), with the frame count checked first for a one-line error."""

    def __init__(self, spec: InputSpec, forward_kwargs: Mapping[str, Any],
                 size: int | None = None):
        self.spec = spec
        self.forward_kwargs = dict(forward_kwargs)
        self.size = size

    def __call__(self, module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        if not args or not isinstance(args[0], torch.Tensor):
            return args, kwargs  # already called the Hugging Face way
        x = args[0]
        if self.spec.frames is not None and x.ndim == 5 and x.shape[2] != self.spec.frames:
            raise StaticDynError(
                f"{type(module).__name__} takes {self.spec.frames} frames per clip "
                f"(config.num_frames / input.frames), got {x.shape[2]}: set "
                f"model.clip.frames={self.spec.frames}"
            )
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            raise StaticDynError(
                f"{type(module).__name__} takes {self.size}x{self.size} frames "
                f"(config.image_size), got {x.shape[-2]}x{x.shape[-1]}: set "
                f"model.clip.crop={self.size}"
            )
        keyword = self.spec.keyword or module.main_input_name
        return args[1:], {**self.forward_kwargs, **kwargs,
                          keyword: to_input_layout(x, self.spec.layout)}


def build_hf(
    model_class: str = "AutoModel",
    path: str | None = None,
    model_type: str | None = None,
    input: Mapping[str, Any] | None = None,  # noqa: A002 - the card's key
    forward_kwargs: Mapping[str, Any] | None = None,
    tower: str | None = None,
    **config: Any,
) -> nn.Module:
    """A Hugging Face model that takes our (B, C, T, H, W) clip (see the module docstring).

    ``path``: local folder (``model.hf_path``); ``model_type``: for ``AutoModel`` without a
    folder; ``input``: the card's input block (layout default NTCHW, keyword default the
    model's ``main_input_name``, frames default ``config.num_frames``); ``forward_kwargs``:
    extra forward arguments (V-JEPA 2: ``skip_predictor: true``); ``tower``: take this
    attribute's weights from a larger model in the folder (X-CLIP: ``vision_model``);
    ``config``: config fields (``hidden_size``, ``num_frames`` ...) over the defaults, or over
    the folder's config.json.
    """
    cls = _model_class(model_class)
    if path:
        model = _from_folder(cls, str(path), config, tower)
    else:
        model = _random_init(cls, model_class, model_type, config)
    declared = input_spec_from({"layout": "NTCHW", **(input or {})}, type(model).__name__)
    frames = declared.frames or required_frames(model.config)
    if declared.frames and required_frames(model.config) not in (None, declared.frames):
        raise StaticDynError(
            f"input.frames={declared.frames} but the model's config.num_frames is "
            f"{required_frames(model.config)}; its position embeddings fix the frame count"
        )
    spec = InputSpec(declared.layout, declared.keyword or model.main_input_name, frames)
    size = required_size(model.config) if spec.layout != "NCTHW" else None
    model.register_forward_pre_hook(ClipToInput(spec, forward_kwargs or {}, size),
                                    with_kwargs=True)
    model.staticdyn_input = spec
    model.staticdyn_clip = _suggested_clip(model, frames, path)
    return model


def _homogeneous_lists(module: nn.Module) -> list[tuple[str, nn.ModuleList]]:
    return [
        (name, sub) for name, sub in module.named_modules()
        if isinstance(sub, nn.ModuleList) and len(sub) > 0
        and len({type(m) for m in sub}) == 1
    ]


def encoder_blocks(module: nn.Module) -> tuple[dict[str, str], list[str]]:
    """``block0..blockN`` on the encoder's layer list, found from the structure (transformers 5
    moved ViViT's ``encoder.layer.N`` to ``layers.N``): the ModuleList of same-class blocks whose
    length is ``config.num_hidden_layers``, else the longest; the first such in module order
    (an encoder is built before a predictor or decoder). Default layers: every block."""
    lists = _homogeneous_lists(module)
    if not lists:
        raise StaticDynError(f"{type(module).__name__} has no list of blocks to alias; name "
                             "layers by module path (model.default_layers=[...])")
    depth = getattr(getattr(module, "config", None), "num_hidden_layers", None)
    exact = [(n, m) for n, m in lists if len(m) == depth]
    name, blocks = exact[0] if exact else max(lists, key=lambda item: len(item[1]))
    aliases = {f"block{i}": f"{name}.{i}" if name else str(i) for i in range(len(blocks))}
    return aliases, list(aliases)
