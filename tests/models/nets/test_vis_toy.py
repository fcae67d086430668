"""The toy VIS model keeps the VIS contract (outputs, layouts, query_order) and its known answer
at module level: per-frame parts blind to frame order after the time mean, the tracker not."""

from __future__ import annotations

import torch

from staticdyn.models.zoo import load_model
from staticdyn.probe.api import extract


def test_outputs_follow_the_contract() -> None:
    torch.manual_seed(0)
    model = load_model("toy_vis")
    assert model.io.queries == {"decoder.layer0": "raw_per_frame", "tracker.layer0": "slot"}
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.inference_mode():
        out = model.module(x)
    assert out["pred_logits"].shape == (2, 6, 7)
    assert out["pred_masks"].shape == (2, 6, 4, 8, 8)  # 1/4 of the input
    order = out["query_order"]
    assert order.dtype == torch.long and order.shape == (2, 4, 6)
    # frame t's raw queries come out rolled by t; the Hungarian linking undoes it
    q, t = torch.arange(6), torch.arange(4)[:, None]
    assert torch.equal(order, ((q - t) % 6).expand(2, 4, 6))


def test_known_answer_frame_order() -> None:
    torch.manual_seed(0)
    model = load_model("toy_vis")
    x = torch.randn(2, 3, 4, 32, 32)
    shuffled = x[:, :, [2, 0, 3, 1]]
    a, b = extract(model, x), extract(model, shuffled)
    for layer in ("backbone.res3", "pixel_decoder.mask_features", "decoder.layer0"):
        torch.testing.assert_close(a[layer], b[layer], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(a["tracker.layer0"], b["tracker.layer0"], atol=1e-3)
