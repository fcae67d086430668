"""From a composed config to the loop's arguments: model, datasets, settings, output folder.

Kept apart from the loop so that the experiments (shuffle, biases, StaticDropout, calibration)
can build several runs from one config with small overrides and call ``fit`` themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from staticdyn.config import plain
from staticdyn.data.source import VideoSource
from staticdyn.errors import DatasetError, StaticDynError
from staticdyn.models.spec import ZooModel
from staticdyn.train.data import VAL_EPOCH, ClipDataset, split_indices
from staticdyn.train.distractor import StaticCueSource
from staticdyn.train.loop import TrainResult, fit
from staticdyn.train.settings import TrainSettings


def num_classes_key(model_cfg: dict[str, Any], key: str = "auto") -> str:
    """The builder keyword that sets the number of classes.

    ``auto``: the card's ``num_classes_key`` (conf/model/*.yaml say which keyword their builder
    takes), else whichever of ``num_classes`` / ``model_num_class`` the card's builder_kwargs
    already set, else ``num_classes``.
    """
    if key != "auto":
        return key
    if model_cfg.get("num_classes_key"):
        return str(model_cfg["num_classes_key"])
    kwargs = model_cfg.get("builder_kwargs") or {}
    for k in ("num_classes", "model_num_class"):
        if k in kwargs:
            return k
    return "num_classes"


def dropout_settings(dropout: dict[str, Any], model_cfg: dict[str, Any]) -> dict[str, Any]:
    """``train.dropout`` with its layer filled in: ``layer: null`` means the card's
    ``last_layer``, so the run's identity records the layer actually used."""
    if dropout.get("layer") is not None or not model_cfg.get("last_layer"):
        return dict(dropout)
    return {**dropout, "layer": str(model_cfg["last_layer"])}


def card_last_layer(model_cfg: Any) -> str:
    """The card's ``last_layer``: the layer training tools use unless one is named."""
    card = plain(model_cfg) or {}
    if not card.get("last_layer"):
        raise StaticDynError(f"model card '{card.get('name')}' names no last_layer; set "
                             "model.last_layer=<layer alias>")
    return str(card["last_layer"])


def model_config(model_cfg: Any, num_classes: int, key: str = "auto") -> dict[str, Any]:
    """The model card with its classifier sized for the dataset."""
    cfg = plain(model_cfg)
    kwargs = dict(cfg.get("builder_kwargs") or {})
    kwargs[num_classes_key(cfg, key)] = int(num_classes)
    cfg["builder_kwargs"] = kwargs
    return cfg


def build_model(model_cfg: dict[str, Any], seed: int) -> ZooModel:
    """Build with the global torch RNG seeded first: equal seeds give equal initial weights."""
    from staticdyn.models.zoo import from_config

    torch.manual_seed(int(seed))
    return from_config(model_cfg)


def build_source(dataset_cfg: Any) -> VideoSource:
    from hydra.utils import instantiate

    source = instantiate(plain(dataset_cfg), _convert_="all")
    if not isinstance(source, VideoSource):
        raise DatasetError("the dataset config did not build a VideoSource")
    return source


def source_classes(source: VideoSource) -> int:
    n = int(getattr(source, "num_classes", 0) or 0)
    if n < 2:
        labels = {source.label(v) for v in source.videos[:1000]}
        if None in labels:
            raise DatasetError(f"dataset '{source.name}' has no labels; training needs classes "
                               "(synthetic: dataset.classes=motion or appearance)")
        n = int(max(labels)) + 1  # type: ignore[type-var]
    return n


@dataclass
class Prepared:
    """Everything one training run needs."""

    model: ZooModel
    model_cfg: dict[str, Any]
    source: VideoSource  # what training reads (with the planted cue, if any)
    probe_source: VideoSource  # what StaticDropout probes (the plain dataset)
    train_set: ClipDataset
    val_set: ClipDataset
    settings: TrainSettings
    dataset_cfg: Any = None


def prepare(model_cfg: Any, dataset_cfg: Any, train_cfg: Any,
            source: VideoSource | None = None) -> Prepared:
    s = TrainSettings.from_mapping(plain(train_cfg))
    base = source if source is not None else build_source(dataset_cfg)
    n_classes = source_classes(base)
    mcfg = model_config(model_cfg, n_classes, s.num_classes_key)
    s.dropout = dropout_settings(s.dropout, mcfg)
    model = build_model(mcfg, s.model_seed)
    train_idx, val_idx = split_indices(len(base.videos), s.val_fraction, s.split_seed)
    src = base
    if s.cue and s.cue.get("correlation") is not None:
        src = StaticCueSource(base, [base.videos[i] for i in train_idx],
                              float(s.cue["correlation"]), int(s.cue.get("seed", s.split_seed)),
                              float(s.cue.get("patch_fraction", 0.2)))
    probe_src = src if s.dropout.get("probe_on", "train") == "train" else base
    spec = model.clip_spec
    common = {"shuffle_frames": s.shuffle_frames, "start": s.clip_start}
    train_set = ClipDataset(src, train_idx, spec, s.seed, s.style, **common,
                            warmup_epochs=s.style_warmup_epochs, warmup_style=s.warmup_style)
    val_set = ClipDataset(src, val_idx, spec, s.seed, s.style, epoch=VAL_EPOCH, **common)
    return Prepared(model, mcfg, src, probe_src, train_set, val_set, s, plain(dataset_cfg))


def train_run(prep: Prepared, out_dir: Path, identity: dict[str, Any] | None = None
              ) -> TrainResult:
    """``fit`` on a prepared run; writes ``model.yaml`` (the card to probe checkpoints with)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    card = dict(prep.model_cfg, checkpoint=None)
    (out_dir / "model.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(card)))
    ident = identity if identity is not None else {
        "model": prep.model_cfg, "dataset": prep.dataset_cfg or prep.source.name,
        "train": prep.settings.identity()}
    return fit(prep.model, prep.train_set, prep.val_set, prep.settings, out_dir,
               prep.probe_source, ident, {"model_cfg": prep.model_cfg})
