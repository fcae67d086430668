"""models.nets.toy: the calibration models have the behaviour their names promise.

``FrameOrderInvariant`` gives the same features at every stage for any frame order (a probe must
find r_static = 1 everywhere); ``Tiny3D``'s temporal kernels make its features depend on order.
"""

from __future__ import annotations

import pytest
import torch

from staticdyn.models.nets.toy import FrameOrderInvariant, Tiny3D
from staticdyn.probe.hooks import extract_pooled

STAGES = {f"stage{k + 1}": f"blocks.{k}" for k in range(4)}


def _clip_and_shuffled() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 32, 32, generator=gen)
    return x, x[:, :, torch.tensor([3, 0, 5, 1, 4, 2])]


def _features(net: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    return extract_pooled(net.eval(), x, STAGES)


def test_frame_order_invariant_is_blind_to_order_at_every_stage() -> None:
    torch.manual_seed(0)
    net = FrameOrderInvariant(width=4)
    x, shuffled = _clip_and_shuffled()
    a, b = _features(net, x), _features(net, shuffled)
    for stage in STAGES:
        torch.testing.assert_close(a[stage], b[stage], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(a["stage4"], _features(net, x.flip(-1))["stage4"])  # sees images


def test_tiny3d_sees_frame_order() -> None:
    torch.manual_seed(0)
    net = Tiny3D(width=4)
    x, shuffled = _clip_and_shuffled()
    a, b = _features(net, x), _features(net, shuffled)
    assert not torch.allclose(a["stage2"], b["stage2"], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("cls", [FrameOrderInvariant, Tiny3D])
def test_stage_widths_and_logits(cls: type[torch.nn.Module]) -> None:
    torch.manual_seed(0)
    net = cls(width=4, num_classes=7).eval()
    x, _ = _clip_and_shuffled()
    feats = _features(net, x)
    assert {k: v.shape for k, v in feats.items()} == {
        "stage1": (2, 4), "stage2": (2, 8), "stage3": (2, 16), "stage4": (2, 32)}
    with torch.no_grad():
        assert net(x).shape == (2, 7)
