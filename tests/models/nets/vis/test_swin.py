"""Mask2Former's Swin backbone (``D2SwinTransformer``): released key layout, detectron2 interface,
strict loading of the release formats, per-frame independence."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from staticdyn.errors import CheckpointMismatchError
from staticdyn.models.checkpoints.card import CheckpointCard
from staticdyn.models.checkpoints.loading import load_checkpoint
from staticdyn.models.nets.vis.swin import (
    build_swin_backbone,
    relative_position_index,
    shifted_window_mask,
)

FIXTURE = Path(__file__).parents[3] / "fixtures" / "checkpoint_keys" / "vis_backbone_swinl.json"
TINY = {"embed_dim": 8, "depths": (2, 2, 2, 2), "num_heads": (1, 2, 2, 4), "window_size": 3}


class _Meta(nn.Module):
    """Nests the backbone as the official meta-architecture does (keys under ``backbone.``)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__()
        self.backbone = build_swin_backbone(**kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tiny() -> _Meta:
    torch.manual_seed(0)
    return _Meta(**TINY).eval()


def test_swin_l_has_the_official_key_layout() -> None:
    fixture = json.loads(FIXTURE.read_text())
    assert fixture["source"]["repo"] == "facebookresearch/Mask2Former"
    with torch.device("meta"):
        model = _Meta()
    got = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert got == fixture["keys"]
    assert len(got) == fixture["num_keys"] == 357
    assert "backbone.layers.0.blocks.0.attn.relative_position_index" in got
    assert not any("res2" in k for k in got)  # the probe taps hold no parameters


def test_relative_position_index_known_answer() -> None:
    # window 2: tokens (0,0),(0,1),(1,0),(1,1); index = (dy + 1) * 3 + (dx + 1)
    idx = relative_position_index(2)
    assert idx[0].tolist() == [4, 3, 1, 0]
    assert idx[3].tolist() == [8, 7, 5, 4]
    assert int(relative_position_index(12).max()) == 23 * 23 - 1


def test_shifted_window_mask_separates_wrapped_regions() -> None:
    mask = shifted_window_mask(4, 4, window=2, shift=1)
    assert mask.shape == (4, 4, 4)
    assert mask[0].abs().sum() == 0  # top-left window: one region
    # bottom-right window: four tokens from four different regions after the cyclic shift
    assert (mask[3] == -100).sum() == 12 and mask[3].diagonal().abs().sum() == 0


@pytest.mark.parametrize("size", [(64, 96), (70, 90)])
def test_forward_gives_detectron2_stages(tiny: _Meta, size: tuple[int, int]) -> None:
    backbone = tiny.backbone
    with torch.no_grad():
        out = backbone(torch.randn(2, 3, *size))
    assert list(out) == ["res2", "res3", "res4", "res5"]
    shapes = backbone.output_shape()
    h, w = size
    for name, feat in out.items():
        stride = shapes[name].stride
        assert feat.shape == (2, shapes[name].channels, -(-h // stride), -(-w // stride))
    assert [shapes[n].channels for n in out] == [8, 16, 32, 64]
    assert [shapes[n].stride for n in out] == [4, 8, 16, 32]
    assert backbone.size_divisibility == 32
    assert backbone.stage_paths() == {n: n for n in out}


def test_stage_taps_see_the_returned_maps(tiny: _Meta) -> None:
    seen: dict[str, torch.Tensor] = {}
    mods = dict(tiny.named_modules())
    handles = [mods[f"backbone.{n}"].register_forward_hook(
        lambda _m, _i, o, n=n: seen.__setitem__(n, o)) for n in ("res2", "res5")]
    with torch.no_grad():
        out = tiny.backbone(torch.randn(1, 3, 64, 64))
    for h in handles:
        h.remove()
    assert torch.equal(seen["res2"], out["res2"]) and torch.equal(seen["res5"], out["res5"])


def test_frames_are_independent_so_shuffling_is_invisible_after_the_time_mean(
        tiny: _Meta) -> None:
    b, t = 2, 4
    frames = torch.randn(b, t, 3, 64, 64)
    perm = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        a = tiny.backbone(frames.flatten(0, 1))
        s = tiny.backbone(frames[:, perm].flatten(0, 1))
        alone = tiny.backbone(frames[1, 2:3])
    for name in a:
        mean_a = a[name].unflatten(0, (b, t)).mean(1)
        mean_s = s[name].unflatten(0, (b, t)).mean(1)
        torch.testing.assert_close(mean_a, mean_s, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(a[name][t + 2], alone[name][0], rtol=1e-5, atol=1e-5)


def _release_files(model: nn.Module, tmp_path: Path) -> dict[str, Path]:
    state = model.state_dict()
    pkl, pth = tmp_path / "model_final.pkl", tmp_path / "model_final.pth"
    with pkl.open("wb") as fh:  # detectron2 model zoo: numpy arrays, latin1-readable pickle
        pickle.dump({"model": {k: v.numpy() for k, v in state.items()},
                     "__author__": "Detectron2 Model Zoo", "matching_heuristics": True}, fh)
    torch.save({"model": state, "iteration": 1}, pth)
    return {"pkl": pkl, "pth": pth}


@pytest.mark.parametrize("fmt", ["pkl", "pth"])
def test_release_formats_load_strictly(tiny: _Meta, tmp_path: Path, fmt: str) -> None:
    path = _release_files(tiny, tmp_path)[fmt]
    torch.manual_seed(1)
    fresh = _Meta(**TINY)
    load_checkpoint(fresh, path, CheckpointCard(entry="swin_tiny"))
    for k, v in tiny.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k


def test_a_wrong_file_lists_missing_and_unexpected_keys(tiny: _Meta, tmp_path: Path) -> None:
    state = dict(tiny.state_dict())
    state["backbone.norm4.weight"] = state.pop("backbone.norm3.weight")
    path = tmp_path / "wrong.pth"
    torch.save({"model": state}, path)
    with pytest.raises(CheckpointMismatchError) as err:
        load_checkpoint(_Meta(**TINY), path, CheckpointCard(entry="swin_tiny"))
    assert err.value.missing == ["backbone.norm3.weight"]
    assert err.value.unexpected == ["backbone.norm4.weight"]
    assert "backbone.norm3.weight" in str(err.value)
