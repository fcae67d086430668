"""mmaction2 Recognizer2D through the adapter (issue 12): the tsn_r50 and tsm_r50 cards build
offline from their config dicts, their layers are time-folded (B*T, C, H, W) maps pooled to one
row per clip, and the known answers hold: TSN (per-frame backbone, averaged segments) is blind to
frame order, so on the synthetic set every live unit has r_static = 1 and none is dynamic;
TSM shifts channels across frames, so frame order changes its features after the stem.
"""

from __future__ import annotations

from pathlib import Path

import mmaction  # noqa: F401  (make install provides the extra; see requirements/mmaction.txt)
import pytest
import torch

import staticdyn
from staticdyn.errors import StaticDynError
from staticdyn.probe.hooks import extract_pooled
from staticdyn.probe.layouts import resolve_layer_io
from tests.helpers.cards import build, smoke_card
from tests.helpers.known import assert_frame_order_blind

R18 = [64, 64, 128, 256, 512]  # stem (after max pool), layer1..layer4 of the smoke ResNet-18
R50 = [64, 256, 512, 1024, 2048]
STAGES = [f"stage{i}" for i in range(1, 6)]


@pytest.fixture(scope="module")
def small() -> dict:
    """Both cards at their smoke size (ResNet-18, 32 px, 4 frames), with resolved layouts."""
    out = {}
    for name in ("tsn_r50", "tsm_r50"):
        torch.manual_seed(0)
        model, io = build(smoke_card(name))
        layers = model.resolve_layers(None)
        out[name] = (model, layers, resolve_layer_io(model, layers, io))
    return out


def _clips(frames: int, n: int = 3, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, frames, 32, 32, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", ["tsn_r50", "tsm_r50"])
def test_stages_are_time_folded_and_pool_to_one_row_per_clip(small: dict, name: str) -> None:
    model, layers, resolved = small[name]
    assert model.untrained and model.default_layers == STAGES
    assert layers == {"stage1": "backbone.maxpool", "stage2": "backbone.layer1",
                      "stage3": "backbone.layer2", "stage4": "backbone.layer3",
                      "stage5": "backbone.layer4"}
    assert {r.layout.name for r in resolved.values()} == {"(NT)CHW"}
    assert [r.shape[0][0] for r in resolved.values()] == [2 * 4] * 5  # dry run: 2 clips x 4
    feats = extract_pooled(model.module, _clips(4), layers, io=resolved)
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        s: (3, w) for s, w in zip(STAGES, R18, strict=True)}
    with torch.inference_mode():
        assert model.module(_clips(4)).shape == (3, 10)  # the head gets num_segs = T


@pytest.mark.parametrize("name", ["tsn_r50", "tsm_r50"])
def test_full_cards_build_offline_with_resnet50_widths(name: str) -> None:
    model = staticdyn.load_model(name, clip={"crop": 32, "short_side": 32})
    frames = model.clip_spec.frames
    assert frames == 8 and model.clip_spec.mean == pytest.approx((0.485, 0.456, 0.406))
    feats = model.extract(_clips(frames, n=2))
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        s: (2, w) for s, w in zip(STAGES, R50, strict=True)}


def test_tsn_is_blind_to_frame_order_on_the_synthetic_set(tmp_path: Path) -> None:
    """The known answer, through the whole run (staticdyn.probe = run.py's path): static pairs
    (a clip and its frames permuted) give identical features, so r_static = 1 for every live
    unit and no unit is dynamic."""
    model = staticdyn.load_model(
        "tsn_r50", clip={"crop": 32, "short_side": 32, "frames": 4, "sampling_rate": 2,
                         "n_sample_frames": 16},
        builder_kwargs={"model": {"backbone": {"depth": 18},
                                  "cls_head": {"in_channels": 512, "num_classes": 10}}})
    tables = staticdyn.probe(model, "synthetic_tiny", n_pairs=16, out_dir=tmp_path / "run",
                             bootstrap=0, progress=False)
    assert list(tables.unitwise["layer"]) == STAGES
    assert_frame_order_blind(tables)


def test_tsm_is_not_blind_to_frame_order(small: dict) -> None:
    """Before the first shift (the stem) frame order cannot matter; after it, it does."""
    model, layers, resolved = small["tsm_r50"]
    clips = _clips(4, seed=2)
    shuffled = clips[:, :, [2, 0, 3, 1]]
    a = extract_pooled(model.module, clips, layers, io=resolved)
    b = extract_pooled(model.module, shuffled, layers, io=resolved)
    assert torch.allclose(a["stage1"], b["stage1"], atol=1e-5)
    for stage in STAGES[1:]:
        assert (a[stage] - b[stage]).abs().max() > 1e-3, stage
    tsn, tsn_layers, tsn_io = small["tsn_r50"]  # TSN: the same permutation changes nothing
    c = extract_pooled(tsn.module, clips, tsn_layers, io=tsn_io)
    d = extract_pooled(tsn.module, shuffled, tsn_layers, io=tsn_io)
    assert all(torch.allclose(c[s], d[s], atol=1e-5) for s in STAGES)


def test_tsm_takes_only_its_segment_count(small: dict) -> None:
    model = small["tsm_r50"][0]
    with pytest.raises(StaticDynError, match="built for 4 frames"):
        model.module(_clips(8))
    with pytest.raises(StaticDynError, match=r"clip.frames=5"):  # card: input.frames follows
        build(smoke_card("tsm_r50", clip={"frames": 5}))


def test_a_2d_checkpoint_round_trips_strictly(small: dict, tmp_path: Path) -> None:
    model = small["tsn_r50"][0]
    gen = torch.Generator().manual_seed(3)
    state = {k: torch.rand(v.shape, generator=gen) if v.is_floating_point() else v
             for k, v in model.module.state_dict().items()}
    path = tmp_path / "tsn.pth"
    torch.save({"state_dict": state}, path)
    loaded, _ = build(smoke_card("tsn_r50", checkpoint=str(path)))
    assert not loaded.untrained
    for key, value in loaded.module.state_dict().items():
        assert torch.equal(value, state[key]), key
