"""Probe mmaction2 recognizers from a config file or dict (optional extra ``staticdyn[mmaction]``).

mmaction2 hosts many Kinetics models staticdyn does not rebuild natively. The adapter builds the
recognizer from the config, refuses every download the config asks for, and exposes the parts
that hold weights (``backbone``, ``neck``, ``cls_head``) under their own names, so an mmaction2
checkpoint (``{"state_dict": ...}``) loads strictly through ``staticdyn.models.checkpoints``
and layers are named ``backbone.layer3`` etc., or by the usual aliases for known backbones.

Recognizer3D models take the (B, C, T, H, W) clip as it is. Recognizer2D models (TSN, TSM) run
a 2-D backbone on every frame: the adapter folds time into the batch, (B*T, C, H, W) b-major
(its input layout ``(NT)CHW``), so their layers output time-folded maps, which pooling unfolds
to one row per clip, and the head gets ``num_segs = T`` as mmaction2's own forward gives it.

Packaging facts (mmaction2 1.2.0 from PyPI, checked here):
- ``mmcv-lite`` (2.x, < 2.2 as mmaction2 asserts) provides ``import mmcv``; full mmcv needs
  a compiler toolchain and fails to build on CPU-only machines.
- The wheel lacks ``mmaction.models.localizers.drn`` although ``mmaction.models`` imports it;
  :func:`import_mmaction` inserts a stub for it (the DRN localizer is then unusable, nothing
  else is affected).
- ``importlib_metadata`` is imported but not declared as a dependency.
- ``init_weights()`` logs one line per parameter; it runs with mmengine's logger silenced.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import sys
import types
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from staticdyn.errors import StaticDynError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'staticdyn[mmaction]'  (mmaction2, mmengine, mmcv-lite)"
_DRN = "mmaction.models.localizers.drn"


def _install_drn_stub() -> None:
    """Register empty ``...localizers.drn(.drn)`` modules when the wheel lacks the package.

    Checked on disk rather than with ``find_spec``, which would import the parent package and
    hit the very ImportError this avoids.
    """
    spec = importlib.util.find_spec("mmaction")
    if spec is None or spec.origin is None:
        raise StaticDynError(f"mmaction2 is not installed: {INSTALL_HINT}")
    if (Path(spec.origin).parent / "models" / "localizers" / "drn").is_dir():
        return
    if _DRN in sys.modules:
        return

    class DRN(nn.Module):
        """Placeholder: the DRN localizer is missing from the mmaction2 1.2.0 wheel."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise StaticDynError("mmaction2's DRN localizer is not in the installed wheel")

    package = types.ModuleType(_DRN)
    package.__path__ = []  # a package, so that ``.drn.drn`` can be imported from it
    inner = types.ModuleType(f"{_DRN}.drn")
    inner.DRN = DRN  # type: ignore[attr-defined]
    package.drn = inner  # type: ignore[attr-defined]
    sys.modules[_DRN] = package
    sys.modules[f"{_DRN}.drn"] = inner


def import_mmaction() -> Any:
    """Import mmaction2 with its registries filled; the ``MODELS`` registry is returned."""
    try:
        import mmaction  # noqa: F401
    except ImportError as exc:
        raise StaticDynError(f"mmaction2 is not importable ({exc}): {INSTALL_HINT}") from exc
    _install_drn_stub()
    from mmaction.registry import MODELS
    from mmaction.utils import dependency, register_all_modules

    # mmaction2 1.2.0 imports its VindLU multimodal models whenever transformers >= 4.28 is
    # installed, and they need transformers 4 internals; with the hf extra (transformers 5)
    # that import fails and takes every recognizer with it. staticdyn never builds them.
    dependency.WITH_MULTIMODAL = False

    with warnings.catch_warnings():
        # mmcv-lite has no compiled ops; only detection-style deformable attention needs them.
        warnings.filterwarnings("ignore", message=".*MultiScaleDeformableAttention.*")
        register_all_modules(init_default_scope=True)
    return MODELS


def strip_downloads(cfg: Any, where: str = "model") -> list[str]:
    """Remove every weight download from a model config in place; return what was removed.

    mmaction2 configs fetch ImageNet or Kinetics weights at build time (``pretrained=URL``,
    ``init_cfg=dict(type='Pretrained', ...)``). staticdyn works offline and loads exactly the
    checkpoint the user names, so these are dropped (and reported) rather than attempted.
    """
    removed: list[str] = []
    if isinstance(cfg, Mapping):
        for key in list(cfg.keys()):
            value = cfg[key]
            if key == "pretrained" and isinstance(value, str) and value:
                removed.append(f"{where}.pretrained={value}")
                cfg[key] = None
            elif key == "init_cfg" and _is_pretrained_init(value):
                removed.append(f"{where}.init_cfg={value}")
                cfg[key] = None
            else:
                removed += strip_downloads(value, f"{where}.{key}")
    elif isinstance(cfg, list | tuple):
        for i, value in enumerate(cfg):
            removed += strip_downloads(value, f"{where}[{i}]")
    return removed


def _is_pretrained_init(value: Any) -> bool:
    items = value if isinstance(value, list | tuple) else [value]
    return any(isinstance(v, Mapping) and v.get("type") == "Pretrained" for v in items)


@contextlib.contextmanager
def _quiet_mmengine() -> Iterator[None]:
    """Silence mmengine's logger (init_weights prints every parameter's initialiser)."""
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class MMActionRecognizer(nn.Module):
    """A recognizer's backbone, neck and head, taking one (B, C, T, H, W) clip.

    mmaction2 recognizers expect (B, views, C, T, H, W) uint8-range inputs and normalise them in
    a data preprocessor; staticdyn's clips are already normalised (``clip.mean/std`` are the
    preprocessor's values / 255), so the preprocessor is left out. The children keep the
    recognizer's names, hence its checkpoints' keys. ``per_frame``: a Recognizer2D, whose
    backbone sees (B*T, C, H, W) frames; ``segments``: the frame count its backbone is built
    for (TSM's ``num_segments``; None: any).
    """

    def __init__(self, recognizer: nn.Module, clip: dict[str, Any] | None = None,
                 per_frame: bool = False) -> None:
        super().__init__()
        self.backbone = recognizer.backbone
        self.neck = getattr(recognizer, "neck", None)
        self.cls_head = getattr(recognizer, "cls_head", None)
        self.backbone_type = type(self.backbone).__name__
        self.staticdyn_clip = dict(clip or {})
        self.per_frame = per_frame
        self.segments = getattr(self.backbone, "num_segments", None) if per_frame else None
        if per_frame:
            from staticdyn.models.io import InputSpec

            self.staticdyn_input = InputSpec("(NT)CHW", None, self.segments)

    def forward(self, x: torch.Tensor) -> Any:
        head_kwargs: dict[str, Any] = {}
        if self.per_frame:
            if x.ndim != 5:
                raise StaticDynError(f"{self.backbone_type} takes a (B, C, T, H, W) clip batch, "
                                     f"got shape {tuple(x.shape)}")
            b, c, t, h, w = x.shape
            if self.segments is not None and t != self.segments:
                raise StaticDynError(
                    f"{self.backbone_type} is built for {self.segments} frames "
                    f"(num_segments), got {t}: set model.clip.frames={self.segments} or the "
                    "backbone's num_segments to match")
            x = x.transpose(1, 2).reshape(b * t, c, h, w)
            head_kwargs["num_segs"] = t
        feats = self.backbone(x)
        if self.neck is not None:
            feats = self.neck(feats)
            feats = feats[0] if isinstance(feats, tuple) else feats
        return self.cls_head(feats, **head_kwargs) if self.cls_head is not None else feats


def _find(pipeline: Any, *types_: str) -> Mapping[str, Any] | None:
    for step in pipeline or []:
        if isinstance(step, Mapping) and step.get("type") in types_:
            return step
    return None


def clip_from_config(cfg: Any) -> dict[str, Any]:
    """ClipSpec fields read from the config's test pipeline and data preprocessor.

    Frames/sampling rate from ``SampleFrames``, short side from ``Resize(scale=(-1, S))``, crop
    from ``CenterCrop``/``ThreeCrop``/``TenCrop``, mean/std from the data preprocessor
    (0-255 scale there, 0-1 here). What is absent stays at the YAML/ClipSpec default.
    """
    out: dict[str, Any] = {}
    pipeline = cfg.get("test_pipeline")
    if pipeline is None:
        with contextlib.suppress(AttributeError, KeyError, TypeError):
            pipeline = cfg["test_dataloader"]["dataset"]["pipeline"]
    if step := _find(pipeline, "SampleFrames", "UniformSample", "UniformSampleFrames"):
        if step.get("clip_len"):
            out["frames"] = int(step["clip_len"])
        if step.get("frame_interval"):
            out["sampling_rate"] = int(step["frame_interval"])
    if (step := _find(pipeline, "Resize")) and isinstance(step.get("scale"), list | tuple):
        scale = [int(s) for s in step["scale"]]
        if len(scale) == 2 and -1 in scale:
            out["short_side"] = max(scale)
    if step := _find(pipeline, "CenterCrop", "ThreeCrop", "TenCrop"):
        size = step.get("crop_size")
        out["crop"] = int(size[0] if isinstance(size, list | tuple) else size)
    pre = cfg.get("model", {}).get("data_preprocessor") or {}
    for key in ("mean", "std"):
        if pre.get(key) is not None and len(pre[key]) == 3:
            out[key] = [round(float(v) / 255.0, 6) for v in pre[key]]
    return out


RECOGNIZERS = ("Recognizer3D", "Recognizer2D")


def build_recognizer(config: str | None = None, cfg_options: Mapping[str, Any] | None = None,
                     model: Mapping[str, Any] | None = None) -> MMActionRecognizer:
    """Build the recognizer of an mmaction2 config file, or of a ``model`` config dict (what
    such a file's ``model = dict(...)`` holds: a card can carry it), randomly initialised,
    offline.

    ``cfg_options`` are merged into the config first (mmengine ``merge_from_dict`` syntax,
    e.g. ``{"model.backbone.depth": 101}``).
    """
    if config and model:
        raise StaticDynError("mmaction: give builder_kwargs.config (a file) or "
                             "builder_kwargs.model (a config dict), not both")
    if not config and not model:
        raise StaticDynError(
            "model=mmaction needs model.builder_kwargs.config=/path/to/mmaction2_config.py"
        )
    if config and not Path(config).is_file():
        raise StaticDynError(f"mmaction2 config not found: {config}")
    models = import_mmaction()
    from mmengine.config import Config

    cfg = Config.fromfile(config) if config else Config({"model": _plain(model)})
    if cfg_options:
        cfg.merge_from_dict(dict(cfg_options))
    model_cfg = cfg.model
    for item in strip_downloads(model_cfg):
        log.info("mmaction: ignored download %s (staticdyn loads only model.checkpoint)", item)
    kind = model_cfg.get("type")
    if kind not in RECOGNIZERS:
        raise StaticDynError(f"mmaction adapter supports {' and '.join(RECOGNIZERS)} models, "
                             f"not {kind}")
    with _quiet_mmengine():
        recognizer = models.build(model_cfg)
        _no_2d_inflation_without_weights(recognizer)
        # a structure-only build (torch.device("meta")) has no values to initialise, and
        # mmengine's init bookkeeping reads them
        if not any(p.is_meta for p in recognizer.parameters()):
            recognizer.init_weights()
    return MMActionRecognizer(recognizer, clip_from_config(cfg),
                              per_frame=kind == "Recognizer2D")


def _no_2d_inflation_without_weights(recognizer: nn.Module) -> None:
    """``pretrained2d`` off where no weights are named: ResNetTSM's ``init_weights`` loads
    ImageNet weights whenever ``pretrained2d`` is true (its default), even with the
    ``pretrained`` download stripped, and fails on the missing path instead of initialising."""
    for sub in recognizer.modules():
        if getattr(sub, "pretrained2d", False) and not getattr(sub, "pretrained", None):
            sub.pretrained2d = False


def _plain(value: Any) -> Any:
    """A card's config dict as plain dicts and lists, which mmengine's Config takes."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _resnet3d_stages(backbone: nn.Module, prefix: str) -> dict[str, str]:
    stem = "maxpool" if getattr(backbone, "with_pool1", True) else "conv1"
    layers = {"stage1": f"{prefix}.{stem}"}
    for i, name in enumerate(backbone.res_layers):
        layers[f"stage{i + 2}"] = f"{prefix}.{name}"
    return layers


def recognizer_layers(module: nn.Module) -> tuple[dict[str, str], list[str]]:
    """Aliases and default layers for the backbone types whose structure is known.

    Stage aliases follow the rest of the zoo: ``stage1`` is the stem output (after its max
    pool), ``stage2..5`` are res2..res5 (also for the 2-D ResNets of TSN and TSM). SlowFast
    pathways are taken before the lateral fusion. Unknown backbones get no aliases; their
    module paths still work as layer names.
    """
    backbone = getattr(module, "backbone", None)
    kind = type(backbone).__name__
    if kind == "ResNet3dSlowFast":
        layers: dict[str, str] = {}
        for path in ("slow", "fast"):
            stages = _resnet3d_stages(getattr(backbone, f"{path}_path"), f"backbone.{path}_path")
            layers.update({f"{path}.{k}": v for k, v in stages.items()})
        return layers, list(layers)
    if kind in ("ResNet3d", "ResNet3dSlowOnly", "ResNet3dCSN", "ResNet2Plus1d",
                "ResNet3dPathway", "TANet", "ResNet", "ResNetTSM"):
        layers = _resnet3d_stages(backbone, "backbone")
        if kind == "ResNet2Plus1d":
            layers["stage1"] = "backbone.maxpool"  # always applied there
        return layers, list(layers)
    if kind == "X3D":
        layers = {"stage1": "backbone.conv1_t"}
        layers.update({f"stage{i + 2}": f"backbone.{n}" for i, n in enumerate(backbone.res_layers)})
        defaults = list(layers)
        layers["conv5"] = "backbone.conv5"
        return layers, defaults
    if kind == "MViT":
        layers = {f"block{i}": f"backbone.blocks.{i}" for i in range(len(backbone.blocks))}
        return layers, list(layers)
    if kind == "TimeSformer":
        blocks = backbone.transformer_layers.layers
        layers = {f"block{i}": f"backbone.transformer_layers.layers.{i}"
                  for i in range(len(blocks))}
        return layers, list(layers)
    log.info("mmaction: no layer aliases for backbone %s; name layers by module path", kind)
    return {}, []
