"""The real Hydra config of ``conf/``, composed with tiny models, datasets and training settings.

Probe tests swap in ``tests.helpers.fakes.FakeSource`` (``make_cfg``); training tests swap in a
32-px synthetic set and a width-4 Tiny3D (``compose_cfg``). Everything is seeded; the sizes keep
one training step near 10 ms on a CPU core.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf, open_dict

CONF = str(Path(__file__).resolve().parents[2] / "conf")

TINY_CLIP = {"frames": 8, "sampling_rate": 1, "crop": 32, "short_side": 32,
             "n_sample_frames": 8}


def make_cfg(out_dir: Path, overrides: list[str] = (), dataset: dict | None = None) -> DictConfig:
    """The probe config with the in-memory ``FakeSource`` as dataset (``dataset`` updates it)."""
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("config", overrides=["~dataset", f"out_dir={out_dir}",
                                           "probe.progress=false", *overrides])
    with open_dict(cfg):
        cfg.dataset = {"_target_": "tests.helpers.fakes.FakeSource", "name": "fake",
                       **(dataset or {})}
    return cfg


def tiny_dataset(**over: Any) -> dict[str, Any]:
    return {"_target_": "staticdyn.data.synthetic.SyntheticSource", "name": "synth_test",
            "n_videos": 40, "num_frames": 8, "size": 32, "num_styles": 4, "seed": 0,
            "classes": "motion", **over}


def tiny_model(entry: str = "toy3d", **over: Any) -> dict[str, Any]:
    from staticdyn.models.zoo import entry_config

    card = entry_config(entry)
    card["builder_kwargs"] = {**card["builder_kwargs"], "width": 4}
    card["clip"] = {**card["clip"], **TINY_CLIP}
    return {**card, **over}


def tiny_train(**over: Any) -> dict[str, Any]:
    base = OmegaConf.to_container(OmegaConf.load(Path(CONF) / "train" / "default.yaml"))
    assert isinstance(base, dict)
    base.update({"max_steps": 6, "batch_size": 8, "val_fraction": 0.2, "progress": False,
                 "log_every": 2, "threads": 1})
    for k, v in over.items():
        base[k] = {**base[k], **v} if isinstance(v, dict) and isinstance(base.get(k), dict) \
            else v
    return base


def compose_cfg(out_dir: Path, overrides: list[str] = (), *, model: dict | None = None,
                dataset: dict | None = None, train: dict | None = None) -> DictConfig:
    """The real Hydra config (``overrides`` applied) with the tiny model, dataset and train
    settings swapped in; ``model``/``dataset``/``train`` update those."""
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("config", overrides=[f"out_dir={out_dir}", "mode=train",
                                           "probe.progress=false", *overrides])
    with open_dict(cfg):
        cfg.model = tiny_model(**(model or {}))
        cfg.dataset = tiny_dataset(**(dataset or {}))
        cfg.train = tiny_train(**(train or {}))
        cfg.probe.n_pairs = 16
        cfg.probe.batch_size = 16
    return cfg
