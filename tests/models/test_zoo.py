"""Every zoo entry builds offline, runs a tiny clip, and exposes the documented layer widths."""

from __future__ import annotations

import time

import pytest
import torch
from omegaconf import OmegaConf

from staticdyn.errors import StaticDynError, UnknownChoiceError, UnknownLayerError
from staticdyn.models import zoo
from staticdyn.probe.api import extract

STABLE_ENTRIES = {
    "c2d_r50", "i3d_r50", "slow_r50", "slowfast_r50", "slowfast_r101", "fast_r50", "x3d_xs",
    "x3d_s", "x3d_m", "x3d_l", "mvit_base_16x4", "mvit_base_32x3", "csn_r101", "r2plus1d_r50",
    "timesformer", "mmaction", "custom",
}
R50 = [64, 256, 512, 1024, 2048]
FAST = [8, 32, 64, 128, 256]
X3D = [24, 24, 48, 96, 192]
# PyTorchVideo's MViT widens inside the last block of a scale: block0 already outputs 192.
MVIT = [192] * 2 + [384] * 11 + [768] * 3


def _stages(widths: list[int], prefix: str = "") -> dict[str, int]:
    return {f"{prefix}stage{i + 1}": w for i, w in enumerate(widths)}


WIDTHS: dict[str, dict[str, int]] = {
    **{n: _stages(R50) for n in ("c2d_r50", "i3d_r50", "slow_r50", "csn_r101", "r2plus1d_r50")},
    **{n: _stages(X3D) for n in ("x3d_xs", "x3d_s", "x3d_m", "x3d_l")},
    "fast_r50": _stages(FAST),
    # SlowFast: pathways before fusion; fused stageK = slow + fast->slow lateral (2x fast) + fast,
    # except stage5, which has no lateral connection.
    **{
        n: {**_stages(R50, "slow."), **_stages(FAST, "fast."),
            **_stages([s + 3 * f for s, f in zip(R50[:4], FAST[:4], strict=True)] + [2048 + 256])}
        for n in ("slowfast_r50", "slowfast_r101")
    },
    **{n: {**{f"block{i}": w for i, w in enumerate(MVIT)}, "norm": 768}
       for n in ("mvit_base_16x4", "mvit_base_32x3")},
    "timesformer": {**{f"block{i}": 768 for i in range(12)}, "norm": 768},
}
CROP = 32


def tiny_overrides(name: str) -> dict:
    """Smallest clip each architecture accepts; the heads never run (hooks stop early)."""
    if name.startswith("mvit"):
        return {"clip": {"crop": CROP, "frames": 4},
                "builder_kwargs": {"spatial_size": CROP, "temporal_size": 4}}
    if name == "timesformer":
        return {"clip": {"crop": CROP, "frames": 2},
                "builder_kwargs": {"img_size": CROP, "num_frames": 2}}
    return {"clip": {"crop": CROP, "frames": 2}}


def tiny_input(model: zoo.ZooModel) -> torch.Tensor | list[torch.Tensor]:
    spec = model.clip_spec
    clips = [torch.randn(1, 3, t, spec.crop, spec.crop) for t in spec.pathway_frames]
    return clips[0] if len(clips) == 1 else clips


def test_every_stable_entry_has_a_card() -> None:
    assert STABLE_ENTRIES <= set(zoo.list_entries())


@pytest.mark.parametrize("name", sorted(WIDTHS))
def test_entry_builds_and_extracts(name: str) -> None:
    t0 = time.perf_counter()
    model = zoo.load_model(name, **tiny_overrides(name))
    t1 = time.perf_counter()
    assert model.untrained and model.checkpoint is None
    assert not model.module.training
    paths = set(model.module_paths())
    assert all(p in paths for p in model.layers.values())
    assert set(model.default_layers) <= set(model.layers)
    feats = extract(model, tiny_input(model), list(model.layers))
    t2 = time.perf_counter()
    print(f"{name}: build {t1 - t0:.2f}s, forward {t2 - t1:.2f}s")
    assert {k: v.shape[1] for k, v in feats.items()} == WIDTHS[name]
    assert all(v.shape[0] == 1 and torch.isfinite(v).all() for v in feats.values())


def test_clip_specs_follow_the_recipes() -> None:
    specs = {n: zoo.clip_spec_from(zoo.entry_config(n)["clip"], n) for n in WIDTHS}
    assert (specs["slow_r50"].frames, specs["slow_r50"].sampling_rate, specs["slow_r50"].crop) == (
        8, 8, 256)
    assert specs["slowfast_r50"].pathway_frames == [8, 32]
    assert specs["fast_r50"].frames == 32 and specs["fast_r50"].sampling_rate == 2
    assert (specs["x3d_xs"].frames, specs["x3d_xs"].sampling_rate, specs["x3d_xs"].crop) == (
        4, 12, 182)
    assert (specs["x3d_l"].crop, specs["x3d_l"].short_side) == (312, 356)
    assert (specs["mvit_base_16x4"].frames, specs["mvit_base_16x4"].crop) == (16, 224)
    assert specs["mvit_base_32x3"].frames == 32
    assert all(s.mean == (0.45,) * 3 and s.std == (0.225,) * 3 for s in specs.values())


@pytest.mark.parametrize("name", sorted(STABLE_ENTRIES))
def test_cards_are_offline_and_consistent(name: str) -> None:
    cfg = zoo.entry_config(name)
    assert set(cfg) <= zoo.CONFIG_KEYS
    assert cfg["name"] == name and cfg["pretrained"] is False and cfg["checkpoint"] is None
    assert set(cfg.get("default_layers") or []) <= set(cfg.get("layers") or {})
    zoo.clip_spec_from(cfg["clip"], name)


def test_unknown_entry_lists_the_entries() -> None:
    with pytest.raises(UnknownChoiceError, match="slow_r50"):
        zoo.load_model("no_such_model")


def test_unknown_layer_lists_aliases() -> None:
    model = zoo.load_model("x3d_xs", clip={"crop": CROP})
    with pytest.raises(UnknownLayerError, match="stage5"):
        extract(model, torch.randn(1, 3, 2, CROP, CROP), ["stage9"])


def test_pretrained_is_refused_with_a_hint() -> None:
    with pytest.raises(StaticDynError, match="never downloads.*checkpoint"):
        zoo.load_model("x3d_xs", pretrained=True)
    with pytest.raises(StaticDynError, match="never downloads"):
        zoo.load_model("x3d_xs", builder_kwargs={"pretrained": True})


def test_typos_are_rejected() -> None:
    with pytest.raises(UnknownChoiceError, match="checkpiont"):
        zoo.load_model("x3d_xs", checkpiont="x.pyth")
    with pytest.raises(UnknownChoiceError, match="crops"):
        zoo.load_model("x3d_xs", clip={"crops": 64})
    with pytest.raises(StaticDynError, match="does not accept builder_kwargs"):
        zoo.load_model("x3d_xs", builder_kwargs={"no_such_arg": 1})
    with pytest.raises(StaticDynError, match="point to no module"):
        zoo.load_model("x3d_xs", layers={"stage6": "blocks.9"})


def test_from_config_accepts_hydra_dictconfig() -> None:
    cfg = OmegaConf.create(zoo.entry_config("fast_r50"))
    cfg.clip.crop = CROP
    model = zoo.from_config(cfg)
    assert model.name == "fast_r50" and model.clip_spec.crop == CROP
    assert model.default_layers == [f"stage{i}" for i in range(1, 6)]


def test_custom_builds_any_module_by_import_path() -> None:
    model = zoo.load_model(
        "custom",
        builder="torchvision.models.video.r3d_18",
        layers={"res5": "layer4"},
        default_layers=["layer3", "res5"],
        clip={"crop": CROP, "frames": 2},
    )
    feats = extract(model, tiny_input(model))
    assert {k: v.shape[1] for k, v in feats.items()} == {"layer3": 256, "res5": 512}
    same = zoo.load_model("custom", _target_="torchvision.models.video.r3d_18",
                          default_layers=["layer1"])
    assert same.default_layers == ["layer1"]


def test_custom_without_builder_says_what_to_set() -> None:
    with pytest.raises(StaticDynError, match="model.builder="):
        zoo.load_model("custom")
    with pytest.raises(StaticDynError, match="cannot import"):
        zoo.load_model("custom", builder="no_such_pkg.build")


def test_package_level_load_model() -> None:
    import staticdyn

    model = staticdyn.load_model("fast_r50", clip={"crop": CROP})
    assert model.name == "fast_r50" and model.untrained
