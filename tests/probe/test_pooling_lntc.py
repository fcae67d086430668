"""The ``L(NT)C`` layout (issue 13): per-frame query states (Q, B*T, C), b-major, pooled to one
row per clip; used only where a card declares it, so no existing inferred layer changes."""

from __future__ import annotations

import torch

from staticdyn.models.io import OUTPUT_LAYOUTS, io_from_card
from staticdyn.probe.layouts import candidate_layouts
from staticdyn.probe.pooling import fits, pool_declared

LNTC = OUTPUT_LAYOUTS["L(NT)C"]


def test_per_frame_queries_pool_to_one_row_per_clip() -> None:
    b, t, q, c = 2, 3, 5, 4
    per_clip = torch.randn(b, t, q, c)  # what each frame of each clip produced
    folded = per_clip.permute(2, 0, 1, 3).flatten(1, 2)  # (Q, B*T, C), row b*T + t
    out = pool_declared(folded, LNTC, None, b, "dec")
    assert out.shape == (b, c)
    assert torch.allclose(out, per_clip.mean(dim=(1, 2)), atol=1e-6)
    # b-major: clip 1's rows are rows T..2T-1; moving clip 1's frames changes only row 1
    changed = folded.clone()
    changed[:, t:] += 10.0
    moved = pool_declared(changed, LNTC, None, b, "dec")
    assert torch.equal(moved[0], out[0]) and torch.allclose(moved[1], out[1] + 10.0)


def test_fits_needs_a_whole_number_of_frames_per_clip() -> None:
    assert fits(LNTC, (5, 6, 4), 2) and fits(LNTC, (5, 6, 4), 3)
    assert not fits(LNTC, (5, 7, 4), 2) and not fits(LNTC, (5, 6), 2)


def test_declared_only_never_inferred() -> None:
    # (B=2, L=16, C) tokens with 8-frame clips: 16 = B*T would also read as (L, B*T, C)
    assert [lay.name for lay in candidate_layouts((2, 16, 3), 2, 3, {8})] == ["NLC"]
    card = {"name": "m", "layout": {"default": "NLC", "decoder.layer0": "L(NT)C"}}
    assert io_from_card(card).layouts == {"decoder.layer0": "L(NT)C"}


def test_query_facts_are_parsed_and_checked() -> None:
    import pytest

    from staticdyn.errors import UnknownChoiceError

    card = {"name": "m", "queries": {"decoder.layer0": "raw_per_frame", "decoder.layer8": "slot"}}
    assert io_from_card(card).queries == {"decoder.layer0": "raw_per_frame",
                                          "decoder.layer8": "slot"}
    with pytest.raises(UnknownChoiceError, match="tracks.*Valid choices: raw_per_frame, slot"):
        io_from_card({"name": "m", "queries": {"decoder.layer0": "tracks"}})
