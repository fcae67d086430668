"""Matched pooling (probe.vis_pooling=matched) on planted masks and states: the Hungarian picks
the right slots, each clip on its own (never the two pair members against each other),
raw_per_frame states follow query_order, non-query layers keep their layout pooling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from staticdyn.errors import StaticDynError
from staticdyn.models.io import OUTPUT_LAYOUTS
from staticdyn.probe.layouts import LayerIO
from staticdyn.probe.matched import (
    extract_matched,
    mask_iou,
    match_slots,
    pool_slots,
    slot_states,
)
from staticdyn.probe.pooling import pool_declared

T, Q, H = 3, 5, 8


def _gt(k: int = 2) -> torch.Tensor:
    gt = torch.zeros(T, k, H, H, dtype=torch.bool)
    gt[:, 0, :4, :4] = True
    if k > 1:
        gt[:, 1, 4:, 4:] = True
    return gt


def _pred_for(gt: torch.Tensor, slots: list[int]) -> torch.Tensor:
    """Mask logits (Q, T, H, W): slot slots[k] predicts instance k, the others a stray blob."""
    pred = torch.full((Q, T, H, H), -5.0)
    pred[:, :, 3:5, 3:5] = 5.0  # every slot also claims a small centre blob
    for k, s in enumerate(slots):
        pred[s] = torch.where(gt[:, k], 5.0, -5.0)
    return pred


def test_hungarian_picks_the_slots_that_cover_the_instances() -> None:
    gt = _gt()
    assert match_slots(_pred_for(gt, [3, 1]), gt).tolist() == [1, 3]
    iou = mask_iou(_pred_for(gt, [3, 1]) > 0, gt)
    assert iou.shape == (Q, 2) and iou[3, 0] == 1 and iou[1, 1] == 1 and iou[0, 0] < 1


def test_low_resolution_masks_are_resized_to_the_ground_truth() -> None:
    gt = _gt()
    small = _pred_for(gt, [2, 4])[:, :, ::2, ::2]  # (Q, T, 4, 4): the models' 1/4 masks
    assert match_slots(small, gt).tolist() == [2, 4]


def test_only_visible_instances_are_matched() -> None:
    gt = _gt()
    gt[:, 1] = False  # the second instance has no pixel in this clip
    assert match_slots(_pred_for(gt, [0]), gt).tolist() == [0]
    assert match_slots(_pred_for(gt, [0]), torch.zeros(T, 2, H, H, dtype=torch.bool)) is None
    with pytest.raises(StaticDynError, match="frames"):
        match_slots(_pred_for(gt, [0])[:, :2], gt)


def test_slot_states_by_layout() -> None:
    b, c = 2, 4
    per = torch.randn(b, T, Q, c)  # (B, T, Q, C)
    folded = per.permute(2, 0, 1, 3).flatten(1, 2)  # (Q, B*T, C), row b*T + t
    assert torch.equal(slot_states(folded, "L(NT)C", b, "l"), per)
    assert torch.equal(slot_states(per.flatten(0, 1), "(NT)LC", b, "l"), per)
    clip = per[:, 0]  # (B, Q, C)
    assert torch.equal(slot_states(clip.transpose(0, 1), "LNC", b, "l"), clip[:, None])
    assert torch.equal(slot_states(clip, "NLC", b, "l"), clip[:, None])
    with pytest.raises(StaticDynError, match="not NCHW"):
        slot_states(torch.zeros(2, 4, 1, 1), "NCHW", b, "l")


def test_slot_pooling_averages_the_matched_slots() -> None:
    states = torch.arange(2 * 1 * Q * 2, dtype=torch.float32).reshape(2, 1, Q, 2)
    out = pool_slots(states, "slot", [np.array([1, 3]), None])
    assert torch.equal(out[0], states[0, 0, [1, 3]].mean(0))
    assert torch.equal(out[1], states[1, 0].mean(0))  # no instance: every slot


def test_raw_per_frame_states_follow_query_order() -> None:
    # raw query r at frame t holds the value 10 * t + r
    states = (10 * torch.arange(T)[:, None] + torch.arange(Q)[None]).float()
    states = states[None, :, :, None].repeat(1, 1, 1, 2)  # (1, T, Q, 2)
    order = torch.stack([torch.roll(torch.arange(Q), t) for t in range(T)])[None]  # (1, T, Q)
    out = pool_slots(states, "raw_per_frame", [np.array([0, 2])], order)
    picked = [10 * t + order[0, t, s].item() for t in range(T) for s in (0, 2)]
    assert out[0, 0].item() == pytest.approx(np.mean(picked))
    naive = pool_slots(states, "slot", [np.array([0, 2])])  # raw order taken as slots: wrong
    assert out[0, 0].item() != naive[0, 0].item()
    with pytest.raises(StaticDynError, match="query_order"):
        pool_slots(states, "raw_per_frame", [np.array([0])])


class PlantedVIS(nn.Module):
    """A fixed 'model': per clip, slot states and masks planted from its input's first pixel."""

    def __init__(self, slots_per_clip: list[list[int]]):
        super().__init__()
        self.slots_per_clip = slots_per_clip
        self.queries = nn.Identity()
        self.frames = nn.Identity()
        self.feats = nn.Identity()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        b = x.shape[0]
        states = torch.arange(Q, dtype=torch.float32)[:, None, None].repeat(1, b, 2)  # (Q, B, 2)
        self.queries(states + x[:, 0, 0, 0, :1].T[..., None] * 0)
        per_frame = torch.arange(Q, dtype=torch.float32)[:, None, None].repeat(1, b * T, 2)
        self.frames(per_frame)
        self.feats(x.transpose(1, 2).flatten(0, 1))
        gt = _gt()
        pred = torch.stack([_pred_for(gt, s) for s in self.slots_per_clip])
        order = torch.arange(Q).repeat(b, T, 1)
        return {"pred_masks": pred, "query_order": order}


def _io(alias: str, layout: str) -> LayerIO:
    return LayerIO(alias, alias, OUTPUT_LAYOUTS[layout], None, "declared", ((1,),), 2)


def test_each_clip_is_matched_on_its_own() -> None:
    # the two members of a pair: their instances sit in different slots; each row must hold
    # its own clip's matched slots, not the slots where the two members agree
    model = PlantedVIS([[0, 1], [3, 4]])
    x = torch.randn(2, 3, T, H, H)
    layers = {"dec": "queries", "raw": "frames", "res": "feats"}
    io = {"dec": _io("dec", "LNC"), "raw": _io("raw", "L(NT)C"), "res": _io("res", "(NT)CHW")}
    out = extract_matched(model, x, layers, io, {"dec": "slot", "raw": "raw_per_frame"},
                          [_gt(), _gt()])
    assert out["dec"][:, 0].tolist() == [0.5, 3.5]
    assert out["raw"][:, 0].tolist() == [0.5, 3.5]
    # a non-query layer keeps its layout pooling
    expected = pool_declared(x.transpose(1, 2).flatten(0, 1), OUTPUT_LAYOUTS["(NT)CHW"], None,
                             2, "res")
    assert torch.allclose(out["res"], expected)


def test_a_model_without_masks_is_refused() -> None:
    class NoMasks(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q = nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.q(x.mean(dim=(2, 3, 4))[None])

    with pytest.raises(StaticDynError, match="pred_masks"):
        extract_matched(NoMasks(), torch.randn(2, 3, T, H, H), {"q": "q"},
                        {"q": _io("q", "LNC")}, {"q": "slot"}, [_gt(), _gt()])
    with pytest.raises(StaticDynError, match="masks for 1 clips"):
        extract_matched(NoMasks(), torch.randn(2, 3, T, H, H), {"q": "q"},
                        {"q": _io("q", "LNC")}, {"q": "slot"}, [_gt()])
