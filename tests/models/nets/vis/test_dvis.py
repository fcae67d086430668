"""DVIS (referring tracker + temporal refiner on the MinVIS segmenter): released key layout,
strict loading of the release formats, the contract's outputs and hooks, the official matching
convention, per-clip independence, and the order dependence that makes it the VIS model with
dynamics (while every per-frame layer stays order-invariant after the mean over time)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
import yaml

import staticdyn
from staticdyn.errors import CheckpointMismatchError
from staticdyn.models.checkpoints.card import CheckpointCard
from staticdyn.models.checkpoints.loading import load_checkpoint
from staticdyn.models.nets.vis.dvis import (
    DVIS,
    ReferringTracker,
    TemporalRefiner,
    dvis,
    match_embds,
)

FIXTURES = Path(__file__).parents[3] / "fixtures" / "checkpoint_keys"
CARD = Path(__file__).parents[4] / "conf" / "model" / "dvis_r50.yaml"
TINY = dict(backbone_kwargs={"blocks": [1, 1, 1, 1], "stem_out_channels": 8,
                             "res2_out_channels": 16},
            num_classes=3, num_queries=5, hidden_dim=16, conv_dim=16, mask_dim=16, nheads=2,
            dim_feedforward=32, dec_layers=3, enc_layers=1, enc_dim_feedforward=32,
            norm_groups=4, tracker_layers=2, refiner_layers=2)
B, T, H, W = 2, 4, 32, 32


@pytest.fixture(scope="module")
def tiny() -> DVIS:
    torch.manual_seed(0)
    return dvis(**TINY).eval()


def _run(model: DVIS, clips: torch.Tensor, aliases: list[str]
         ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(outputs, {alias: hooked tensor}) of one forward."""
    paths = model.layer_paths()
    mods = dict(model.named_modules())
    seen: dict[str, torch.Tensor] = {}
    handles = [mods[paths[a]].register_forward_hook(
        lambda _m, _i, o, a=a: seen.__setitem__(a, o)) for a in aliases]
    try:
        with torch.no_grad():
            out = model(clips)
    finally:
        for h in handles:
            h.remove()
    return out, seen


@pytest.fixture(scope="module")
def clips() -> torch.Tensor:
    return torch.randn(B, 3, T, H, W, generator=torch.Generator().manual_seed(3))


def test_full_dvis_r50_has_the_official_key_layout() -> None:
    fixture = json.loads((FIXTURES / "vis_dvis_r50.json").read_text())
    assert fixture["source"]["repo"] == "zhang-tao-whu/DVIS"
    with torch.device("meta"):
        model = dvis()
    got = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert got == fixture["keys"]
    assert "tracker.transformer_cross_attention_layers.5.multihead_attn.in_proj_weight" in got
    assert "refiner.conv_short_aggregate_layers.5.2.weight" in got
    assert got["criterion.empty_weight"] == [41]


def test_online_dvis_has_no_refiner() -> None:
    with torch.device("meta"):
        keys = dvis(offline=False).state_dict()
    assert any(k.startswith("tracker.") for k in keys)
    assert not any(k.startswith("refiner.") for k in keys)


def test_outputs_follow_the_contract(tiny: DVIS, clips: torch.Tensor) -> None:
    aliases = ["tracker.layer0", "tracker.layer1", "refiner.layer0", "refiner.layer1"]
    out, seen = _run(tiny, clips, aliases)
    assert out["pred_logits"].shape == (B, 5, 4)
    assert out["pred_masks"].shape == (B, 5, T, H // 4, W // 4)
    order = out["query_order"]
    assert order.shape == (B, T, 5) and order.dtype == torch.long
    assert (order.sort(-1).values == torch.arange(5)).all()  # a permutation per frame
    assert (order[:, 0] == torch.arange(5)).all()  # frame 0 defines the slots
    for a in aliases:
        assert seen[a].shape == (5, B * T, 16), a  # L(NT)C, b-major


def test_match_keeps_the_official_convention() -> None:
    ref = torch.eye(3)
    cur = ref[[1, 2, 0]]  # a 3-cycle: current query c is reference query perm[c]
    # official: for each current query the reference it matched, used to index the current
    # queries (the inverse alignment for a 3-cycle, see DVIS issue #34)
    assert match_embds(ref, cur).tolist() == [1, 2, 0]
    swap = ref[[1, 0, 2]]  # an involution: the convention aligns exactly
    assert torch.equal(swap[match_embds(ref, swap)], ref)


def _toy_embeds(batch: int, frames: int, q: int = 5, c: int = 16) -> torch.Tensor:
    """Per-frame queries (Q, B*T, C): shuffled noisy copies of one set per clip."""
    g = torch.Generator().manual_seed(7)
    base = torch.randn(batch, q, c, generator=g)
    per = [base[b, torch.randperm(q, generator=g)] + 0.1 * torch.randn(q, c, generator=g)
           for b in range(batch) for _ in range(frames)]
    return torch.stack(per, 1)


def test_each_clip_is_tracked_on_its_own() -> None:
    torch.manual_seed(0)
    tracker = ReferringTracker(16, 32, 2, 2, 16, 3).eval()
    refiner = TemporalRefiner(16, 32, 2, 2, 16, 3).eval()
    emb = _toy_embeds(2, T)
    feats = torch.randn(2 * T, 16, 6, 6)
    with torch.no_grad():
        both = tracker(emb, feats, 2, T)
        one = tracker(emb[:, T:], feats[T:], 1, T)
        r_both = refiner(both["pred_embds"], tracker.frame_forward(emb), feats, 2, T)
        r_one = refiner(one["pred_embds"], tracker.frame_forward(emb[:, T:]), feats[T:], 1, T)
    assert torch.equal(both["indices"][1], one["indices"][0])
    torch.testing.assert_close(both["pred_masks"][1], one["pred_masks"][0])
    torch.testing.assert_close(r_both["pred_logits"][1], r_one["pred_logits"][0])
    torch.testing.assert_close(r_both["pred_masks"][1], r_one["pred_masks"][0])


def test_shuffled_frames_change_tracker_and_refiner_but_no_per_frame_layer(
        tiny: DVIS, clips: torch.Tensor) -> None:
    per_frame = ["backbone.res2", "backbone.res5", "pixel_decoder.encoder0",
                 "pixel_decoder.mask_features", "decoder.layer0", "decoder.layer1"]
    temporal = ["tracker.layer0", "tracker.layer1", "refiner.layer0", "refiner.layer1"]
    perm = torch.tensor([2, 0, 3, 1])
    _, a = _run(tiny, clips, per_frame + temporal)
    _, s = _run(tiny, clips[:, :, perm], per_frame + temporal)

    layouts = {"backbone": "(NT)CHW", "pixel_decoder.mask_features": "(NT)CHW",
               "pixel_decoder.encoder0": "(NT)LC"}

    def clip_mean(alias: str, x: torch.Tensor) -> torch.Tensor:
        """The default pooling: per clip, the mean over everything but the channels."""
        layout = next((v for k, v in layouts.items() if alias.startswith(k)), "L(NT)C")
        if layout == "L(NT)C":
            x = x.movedim(1, 0)
        x = x.unflatten(0, (B, T))
        if layout == "(NT)CHW":
            x = x.movedim(2, -1)
        return x.reshape(B, -1, x.shape[-1]).mean(1)

    for alias in per_frame:
        torch.testing.assert_close(clip_mean(alias, a[alias]), clip_mean(alias, s[alias]),
                                   rtol=1e-4, atol=1e-5, msg=alias)
    for alias in temporal:
        diff = (clip_mean(alias, a[alias]) - clip_mean(alias, s[alias])).abs().max()
        assert diff > 1e-3, (alias, float(diff))


def _files(model: DVIS, tmp_path: Path) -> dict[str, Path]:
    state = model.state_dict()
    pkl, pth = tmp_path / "model_final.pkl", tmp_path / "model_final.pth"
    with pkl.open("wb") as fh:
        pickle.dump({"model": {k: v.numpy() for k, v in state.items()},
                     "__author__": "Detectron2 Model Zoo"}, fh)
    torch.save({"model": state, "iteration": 40000}, pth)
    return {"pkl": pkl, "pth": pth}


@pytest.mark.parametrize("fmt", ["pkl", "pth"])
def test_release_formats_load_strictly(tiny: DVIS, tmp_path: Path, fmt: str) -> None:
    torch.manual_seed(5)
    fresh = dvis(**TINY)
    load_checkpoint(fresh, _files(tiny, tmp_path)[fmt], CheckpointCard(entry="dvis_r50"))
    for k, v in tiny.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k


def test_a_wrong_file_lists_missing_and_unexpected_keys(tmp_path: Path) -> None:
    torch.manual_seed(0)
    online = dvis(**TINY, offline=False).state_dict()
    # an online file, with an unconverted early key name (utils/convert_trained_model.py)
    online["offline_tracker.decoder_norm.weight"] = online["tracker.decoder_norm.weight"]
    path = tmp_path / "online.pth"
    torch.save({"model": online}, path)
    with pytest.raises(CheckpointMismatchError) as err:
        load_checkpoint(dvis(**TINY), path, CheckpointCard(entry="dvis_r50"))
    missing = set(err.value.missing)
    assert missing == {k for k in dvis(**TINY).state_dict() if k.startswith("refiner.")}
    assert err.value.unexpected == ["offline_tracker.decoder_norm.weight"]
    assert "missing keys [refiner." in str(err.value)


def test_card_builds_the_smoke_model_declares_every_layer_and_loads_a_release(
        tmp_path: Path) -> None:
    card = yaml.safe_load(CARD.read_text())
    smoke = {"builder_kwargs": card["smoke"]["builder_kwargs"], "clip": card["smoke"]["clip"]}
    model = staticdyn.load_model("dvis_r50", **smoke)
    aliases = set(model.module.layer_paths())
    assert {f"tracker.layer{j}" for j in range(6)} | {f"refiner.layer{i}" for i in range(6)} \
        <= aliases
    assert set(card["layout"]) == aliases  # every alias has its declared layout
    assert {a for a, k in card["queries"].items() if k == "slot"} == {
        a for a in aliases if a.startswith(("tracker.", "refiner."))}
    assert {a for a, k in card["queries"].items() if k == "raw_per_frame"} == {
        a for a in aliases if a.startswith("decoder.")}
    path = _files(model.module, tmp_path)["pth"]
    loaded = staticdyn.load_model("dvis_r50", checkpoint=path, **smoke)
    assert not loaded.untrained
    assert torch.equal(loaded.module.state_dict()["refiner.activation_proj.weight"],
                       model.module.state_dict()["refiner.activation_proj.weight"])
