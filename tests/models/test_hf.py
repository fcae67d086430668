"""Hugging Face entries (issue 12): offline random init from tiny configs, block aliases found from
the model structure, the declared input layout and keyword, one row per clip for X-CLIP's
time-folded tower, local folders and state dicts loaded strictly.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch
import transformers as hf
from safetensors.torch import load_file, save_file

from staticdyn.errors import CheckpointMismatchError, StaticDynError, UnknownChoiceError
from staticdyn.models.hf import build_hf, encoder_blocks
from staticdyn.probe.hooks import extract_pooled
from staticdyn.probe.layouts import example_inputs, resolve_layer_io
from tests.helpers.cards import build, smoke_card

ENTRIES = ["hf", "timesformer_hf", "videomae_base", "vivit_b", "vjepa2_vitl", "xclip_vision"]
# (transformers class, where its blocks live in transformers 5, tokens per clip on the smoke clip
# of 4 frames (timesformer: 2) at 32 px with 16 px patches: 4 patches per frame; X-CLIP B/32: 1)
FACTS = {
    "hf": (hf.VideoMAEModel, "encoder.layer", 2 * 4),  # tubelets of 2 frames, no class token
    "videomae_base": (hf.VideoMAEModel, "encoder.layer", 2 * 4),
    "timesformer_hf": (hf.TimesformerModel, "encoder.layer", 1 + 2 * 4),
    "vivit_b": (hf.VivitModel, "layers", 1 + 2 * 4),
    "vjepa2_vitl": (hf.VJEPA2Model, "encoder.layer", 2 * 4),
    "xclip_vision": (hf.XCLIPVisionModel, "encoder.layers", 1 + 1),  # per frame, 32 px patches
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection attempt fails the test: every entry must build offline."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name", ENTRIES)
def test_entry_builds_offline_and_blocks_pool_to_the_hidden_size(name: str) -> None:
    cls, blocks, tokens = FACTS[name]
    model, io = build(smoke_card(name))
    assert isinstance(model.module, cls) and model.untrained
    assert model.layers == {"block0": f"{blocks}.0", "block1": f"{blocks}.1"}
    assert model.default_layers == ["block0", "block1"]
    resolved = resolve_layer_io(model, model.layers, io)
    frames = model.clip_spec.frames
    rows = 2 * frames if name == "xclip_vision" else 2
    assert {r.shape for r in resolved.values()} == {((rows, tokens, 32),)}
    feats = extract_pooled(model.module, example_inputs(model.clip_spec, seed=2), model.layers,
                           io=resolved)
    assert {k: tuple(v.shape) for k, v in feats.items()} == {"block0": (2, 32), "block1": (2, 32)}
    assert all(torch.isfinite(v).all() for v in feats.values())


def test_layouts_come_from_the_card_or_are_verified() -> None:
    sources = {}
    for name in ("videomae_base", "xclip_vision", "hf"):
        model, io = build(smoke_card(name))
        [first, *_] = resolve_layer_io(model, model.layers, io).values()
        sources[name] = (first.layout.name, first.source)
    assert sources == {"videomae_base": ("NLC", "model default"),
                       "xclip_vision": ("(NT)LC", "model default"),
                       "hf": ("NLC", "inferred")}


@pytest.mark.parametrize(("name", "keyword", "fold"), [
    ("videomae_base", "pixel_values", False), ("vjepa2_vitl", "pixel_values_videos", False),
    ("xclip_vision", "pixel_values", True)])
def test_the_model_gets_its_declared_input(name: str, keyword: str, fold: bool) -> None:
    """Our (B, C, T, H, W) clip reaches the model as (B, T, C, H, W) (X-CLIP: (B*T, C, H, W))
    under its keyword: the output equals the Hugging Face way of calling it."""
    model, _ = build(smoke_card(name))
    clip = example_inputs(model.clip_spec, seed=4)
    theirs = clip.permute(0, 2, 1, 3, 4)
    if fold:
        theirs = theirs.flatten(0, 1)
    extra = {"skip_predictor": True} if name == "vjepa2_vitl" else {}
    with torch.inference_mode():
        ours = model.module(clip).last_hidden_state
        direct = model.module(**{keyword: theirs}, **extra).last_hidden_state
    assert torch.equal(ours, direct)
    assert model.module.staticdyn_input.keyword == keyword


def test_blocks_are_the_encoder_not_a_longer_predictor() -> None:
    # V-JEPA 2 with a predictor deeper than its encoder: the alias still finds the encoder
    model = build_hf("VJEPA2Model", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     mlp_ratio=2.0, crop_size=32, frames_per_clip=4, pred_hidden_size=16,
                     pred_num_hidden_layers=3, pred_num_attention_heads=2, num_pooler_layers=1)
    aliases, defaults = encoder_blocks(model)
    assert aliases == {"block0": "encoder.layer.0", "block1": "encoder.layer.1"}
    assert defaults == ["block0", "block1"]


def test_frame_count_and_size_mismatches_fail_in_one_line() -> None:
    model, io = build(smoke_card("timesformer_hf", clip={"frames": 3}))
    with pytest.raises(StaticDynError, match="takes 2 frames per clip .*got 3: set "
                                             "model.clip.frames=2") as info:
        resolve_layer_io(model, model.layers, io)
    assert "\n" not in str(info.value)
    model, io = build(smoke_card("videomae_base", clip={"crop": 48, "short_side": 48}))
    with pytest.raises(StaticDynError, match="takes 32x32 frames.*got 48x48"):
        resolve_layer_io(model, model.layers, io)


def test_config_typos_list_the_fields() -> None:
    with pytest.raises(UnknownChoiceError, match="unknown VideoMAEConfig field 'hiden_size'.*"
                                                 "hidden_size"):
        build(smoke_card("videomae_base", builder_kwargs={"hiden_size": 8}))
    with pytest.raises(StaticDynError, match="transformers has no model class 'VideoMAE'"):
        build(smoke_card("hf", builder_kwargs={"model_class": "VideoMAE"}))


def _tiny_videomae(seed: int) -> hf.VideoMAEModel:
    torch.manual_seed(seed)
    return hf.VideoMAEModel(hf.VideoMAEConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        image_size=32, num_frames=4))


def test_a_local_folder_loads_with_its_clip_and_every_key(tmp_path: Path) -> None:
    saved = _tiny_videomae(1)
    saved.save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(
        {"image_mean": [0.5, 0.4, 0.3], "image_std": [0.2, 0.2, 0.2]}))
    torch.manual_seed(2)
    card = smoke_card("hf", hf_path=str(tmp_path))
    card["clip"] = {}  # no card values: the clip is the folder's
    card["builder_kwargs"] = {k: v for k, v in card["builder_kwargs"].items()
                              if k in ("model_class", "path", "input")}
    model, _ = build(card)
    expected = saved.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in model.module.state_dict().items())
    spec = model.clip_spec  # from the folder: its config and its preprocessor
    assert (spec.frames, spec.crop, spec.mean, spec.std) == (4, 32, (0.5, 0.4, 0.3),
                                                             (0.2, 0.2, 0.2))


def test_a_folder_missing_weights_or_config_is_refused(tmp_path: Path) -> None:
    _tiny_videomae(1).save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    state = load_file(weights)
    state.pop("encoder.layer.1.output.dense.weight")
    save_file(state, weights, metadata={"format": "pt"})
    card = smoke_card("videomae_base", hf_path=str(tmp_path))
    with pytest.raises(StaticDynError, match="does not fill VideoMAEModel: 1 missing"):
        build(card)
    with pytest.raises(StaticDynError, match="is not a Hugging Face model folder"):
        build(smoke_card("videomae_base", hf_path=str(tmp_path / "nowhere")))


def test_a_full_xclip_folder_gives_its_vision_tower(tmp_path: Path) -> None:
    tiny = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": 64}
    full = hf.XCLIPModel(hf.XCLIPConfig(
        text_config={**tiny, "num_hidden_layers": 1, "vocab_size": 100},
        vision_config={**tiny, "image_size": 32, "patch_size": 16, "num_frames": 4},
        projection_dim=16, prompt_layers=1, mit_hidden_size=32, mit_intermediate_size=64,
        mit_num_hidden_layers=1, mit_num_attention_heads=2))
    full.save_pretrained(tmp_path)
    card = smoke_card("xclip_vision", hf_path=str(tmp_path))
    card["builder_kwargs"] = {k: v for k, v in card["builder_kwargs"].items()
                              if k in ("model_class", "path", "input", "tower", "num_frames")}
    model, _ = build(card)
    tower = full.vision_model.state_dict()
    loaded = model.module.state_dict()
    assert loaded.keys() == tower.keys()
    assert all(torch.equal(loaded[k], tower[k]) for k in tower)


REFERENCE = {  # the transformers model a user would have saved, same tiny config as the smoke
    "videomae_base": lambda c: hf.VideoMAEModel(hf.VideoMAEConfig(**c)),
    "timesformer_hf": lambda c: hf.TimesformerModel(hf.TimesformerConfig(**c)),
    "vivit_b": lambda c: hf.VivitModel(hf.VivitConfig(**c)),
    "vjepa2_vitl": lambda c: hf.VJEPA2Model(hf.VJEPA2Config(**c)),
    "xclip_vision": lambda c: hf.XCLIPVisionModel(hf.XCLIPVisionConfig(**c)),
    "hf": lambda c: hf.VideoMAEModel(hf.VideoMAEConfig(**c)),
}
NOT_CONFIG = {"model_class", "model_type", "path", "input", "forward_kwargs", "tower"}


@pytest.mark.parametrize("name", ENTRIES)
def test_a_saved_state_dict_round_trips_strictly(name: str, tmp_path: Path) -> None:
    card = smoke_card(name)
    config = {k: v for k, v in card["builder_kwargs"].items() if k not in NOT_CONFIG}
    torch.manual_seed(21)
    reference = REFERENCE[name](config)
    path = tmp_path / "weights.pt"
    torch.save(reference.state_dict(), path)
    torch.manual_seed(22)
    model, _ = build({**card, "checkpoint": str(path)})
    expected = reference.state_dict()
    loaded = model.module.state_dict()
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)
    expected.pop(next(iter(expected)))
    torch.save(expected, path)
    with pytest.raises(CheckpointMismatchError, match="1 missing keys"):
        build({**card, "checkpoint": str(path)})
