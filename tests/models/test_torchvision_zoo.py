"""torchvision video entries (issue 12): each builds offline, every alias pools to its documented
channel count by the card's layout, Swin3D's channels-last stages give their widths (not T), and
a state dict saved from torchvision's own builder loads strictly through ``model.checkpoint=``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision.models.video as tv

from staticdyn.errors import CheckpointMismatchError, StaticDynError
from staticdyn.models import zoo
from staticdyn.probe.hooks import extract_pooled
from staticdyn.probe.layouts import example_inputs, resolve_layer_io
from tests.helpers.cards import build, smoke_card

RESNET = {"stage1": 64, "stage2": 64, "stage3": 128, "stage4": 256, "stage5": 512}
S3D = {"features.0": 64, "features.2": 64, "features.3": 192, "features.5": 256,
       "features.6": 480, "features.8": 512, "features.9": 512, "features.10": 512,
       "features.11": 528, "features.12": 832, "features.14": 832, "features.15": 1024}


def _swin(embed: int) -> dict[str, int]:
    widths = {f"stage{i + 1}": embed * 2**i for i in range(4)}
    return {**widths, "norm": embed * 8, "pool": embed * 8}


def _blocks(widths: list[int]) -> dict[str, int]:
    return {**{f"block{i}": w for i, w in enumerate(widths)}, "norm": 768}


# Channel counts from the papers / torchvision's block settings (MViT widens at the block that
# pools: v1_b in blocks 1, 3, 14; v2_s in blocks 1, 3, 14 too, starting from 96).
WIDTHS: dict[str, dict[str, int]] = {
    "r3d_18": RESNET, "mc3_18": RESNET, "r2plus1d_18": RESNET, "s3d": S3D,
    "mvit_v1_b": _blocks([192] * 2 + [384] * 11 + [768] * 3),
    "mvit_v2_s": _blocks([96] + [192] * 2 + [384] * 11 + [768] * 2),
    "swin3d_t": _swin(96), "swin3d_s": _swin(96), "swin3d_b": _swin(128),
}
ENTRIES = sorted(WIDTHS)


@pytest.mark.parametrize("name", ENTRIES)
def test_every_alias_pools_to_its_channel_count(name: str) -> None:
    model, io = build(smoke_card(name))
    assert model.untrained and not model.module.training
    layers = model.resolve_layers(list(model.layers))
    resolved = resolve_layer_io(model, layers, io)
    assert all(r.source in ("declared", "model default") for r in resolved.values())
    feats = extract_pooled(model.module, example_inputs(model.clip_spec, seed=3), layers,
                           io=resolved)
    assert {k: v.shape[1] for k, v in feats.items()} == WIDTHS[name]
    assert {k: r.channels for k, r in resolved.items()} == WIDTHS[name]
    assert all(v.shape[0] == 2 and torch.isfinite(v).all() for v in feats.values())


def test_swin3d_stages_are_192_and_768_wide_not_their_time_length() -> None:
    """The issue's run: swin3d_t by import path, features.2 and features.6, no layout given."""
    card = smoke_card("custom", builder="torchvision.models.video.swin3d_t",
                      default_layers=["features.2", "features.6"],
                      clip={"crop": 32, "short_side": 32, "frames": 4})
    model, io = build(card)
    layers = model.resolve_layers(None)
    resolved = resolve_layer_io(model, layers, io)
    assert {k: (r.layout.name, r.source) for k, r in resolved.items()} == {
        "features.2": ("NTHWC", "inferred"), "features.6": ("NTHWC", "inferred")}
    clips = example_inputs(model.clip_spec)
    feats = extract_pooled(model.module, clips, layers, io=resolved)
    assert {k: v.shape[1] for k, v in feats.items()} == {"features.2": 192, "features.6": 768}
    legacy = extract_pooled(model.module, clips, layers)  # the rank rule: dim 1 is T' = 2
    assert {k: v.shape[1] for k, v in legacy.items()} == {"features.2": 2, "features.6": 2}
    # and the card's aliases for the same modules
    card_model, card_io = build(smoke_card("swin3d_t"))
    stages = card_model.resolve_layers(["stage2", "stage4"])
    assert {k: r.channels for k, r in resolve_layer_io(card_model, stages, card_io).items()} == {
        "stage2": 192, "stage4": 768}


@pytest.mark.parametrize("name", ENTRIES)
def test_a_torchvision_state_dict_round_trips_strictly(name: str, tmp_path: Path) -> None:
    """The file a user has (torchvision's own model, state_dict() saved) loads into the card's
    model at its default size, every tensor equal."""
    torch.manual_seed(11)
    reference = getattr(tv, name)(weights=None)
    path = tmp_path / f"{name}.pth"
    torch.save(reference.state_dict(), path)
    torch.manual_seed(12)  # a different random init, so equality proves the load
    model, _ = build({**zoo.entry_config(name), "checkpoint": str(path)})  # default size
    assert model.checkpoint == str(path) and not model.untrained
    loaded = model.module.state_dict()
    expected = reference.state_dict()
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)


def test_a_state_dict_with_a_missing_key_is_refused(tmp_path: Path) -> None:
    state = tv.r3d_18(weights=None).state_dict()
    state.pop("layer4.1.conv2.0.weight")
    path = tmp_path / "r3d_18_cut.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError, match=r"1 missing keys \[layer4.1.conv2.0.weight"):
        build(smoke_card("r3d_18", checkpoint=str(path)))


def test_mvit_refuses_downloads_and_says_which_size_it_was_built_for() -> None:
    with pytest.raises(StaticDynError, match="never downloads"):
        build(smoke_card("mvit_v1_b", builder_kwargs={"weights": "DEFAULT"}))
    model, _ = build(smoke_card("mvit_v2_s"))
    with pytest.raises(StaticDynError, match=r"mvit_v2_s is built for 4x32x32 clips, got "
                                             r"8x32x32: set model.clip.frames/crop") as info:
        model.module(torch.zeros(1, 3, 8, 32, 32))
    assert "\n" not in str(info.value)


def test_rank_rule_and_card_layout_agree_where_the_rank_rule_was_right() -> None:
    """For channels-first maps the declared layout changes nothing (bit for bit)."""
    model, io = build(smoke_card("r2plus1d_18"))
    layers = model.resolve_layers(None)
    resolved = resolve_layer_io(model, layers, io)
    clips = example_inputs(model.clip_spec, seed=5)
    by_layout = extract_pooled(model.module, clips, layers, io=resolved)
    by_rank = extract_pooled(model.module, clips, layers)
    assert all(torch.equal(by_layout[k], by_rank[k]) for k in layers)


@pytest.mark.parametrize("name", ENTRIES)
def test_every_entry_refuses_downloads_in_one_line(name: str) -> None:
    """weights="DEFAULT" / a weights enum would make torchvision's builder download; refused
    before anything is built, saying to pass the file as model.checkpoint."""
    enum = tv.R3D_18_Weights.KINETICS400_V1
    for over in ({"builder_kwargs": {"weights": "DEFAULT"}},
                 {"builder_kwargs": {"weights": enum}},
                 {"builder_kwargs": {"pretrained": True}},
                 {"pretrained": True}):
        with pytest.raises(StaticDynError, match="never downloads") as info:
            zoo.load_model(name, **over)
        message = str(info.value)
        assert "\n" not in message and "checkpoint" in message, (over, message)


def test_weights_hint_names_the_checkpoint_and_torch_home() -> None:
    with pytest.raises(StaticDynError, match=r"model 'r3d_18': builder_kwargs.weights=DEFAULT "
                                             r"would download weights; .*model\.checkpoint="
                                             r".*TORCH_HOME"):
        zoo.load_model("r3d_18", builder_kwargs={"weights": "DEFAULT"})
