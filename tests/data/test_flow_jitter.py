"""Flow-image jitter: the authors' parameter ranges, and what it does to hue and saturation."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
import torch

from staticdyn.data.flow_jitter import FlowJitter, draw_pair_jitter


def test_draws_stay_within_the_authors_ranges() -> None:
    for seed in range(300):
        pj = draw_pair_jitter(seed, n_images=4)
        assert 0.1 <= pj.h <= 0.5 and 0.1 <= pj.s <= 1.0
        for j in pj.images:
            assert -pj.h <= j.hue_shift <= pj.h
            assert max(0.0, 1.0 - pj.s) <= j.saturation <= 1.0 + pj.s


def test_draws_are_deterministic_per_seed_and_differ_across_seeds() -> None:
    assert draw_pair_jitter(11, 2) == draw_pair_jitter(11, 2)
    assert draw_pair_jitter(11, 2) != draw_pair_jitter(12, 2)
    assert draw_pair_jitter(11, 1).images[0] == draw_pair_jitter(11, 4).images[0]


def test_custom_ranges_are_checked() -> None:
    pj = draw_pair_jitter(0, 1, h_range=(0.2, 0.2), s_range=(0.0, 0.0))
    assert pj.h == pytest.approx(0.2) and pj.images[0].saturation == pytest.approx(1.0)
    with pytest.raises(ValueError, match="h_range"):
        draw_pair_jitter(0, 1, h_range=(0.1, 0.7))


def _hsv(img: torch.Tensor) -> np.ndarray:
    rgb = img.permute(1, 2, 0).reshape(-1, 3).numpy()
    return np.array([colorsys.rgb_to_hsv(*p) for p in rgb])


def _flow_like() -> torch.Tensor:
    """hue = direction, saturation = magnitude in (0, 1), value = 1, as a flow image."""
    hsv = np.stack(np.meshgrid(np.linspace(0, 0.9, 8), np.linspace(0.2, 0.6, 8)), -1)
    rgb = np.array([colorsys.hsv_to_rgb(h, s, 1.0) for h, s in hsv.reshape(-1, 2)])
    return torch.tensor(rgb, dtype=torch.float32).T.reshape(3, 8, 8)


def test_hue_shift_rotates_every_direction() -> None:
    img = _flow_like()
    before = _hsv(img)
    after = _hsv(FlowJitter(hue_shift=0.25, saturation=1.0, hue_first=True)(img))
    off = (after[:, 0] - before[:, 0] - 0.25 + 0.5) % 1.0 - 0.5  # circular error of the shift
    np.testing.assert_allclose(off, 0.0, atol=5e-3)
    np.testing.assert_allclose(after[:, 1], before[:, 1], atol=5e-3)


def test_saturation_factor_rescales_magnitude() -> None:
    img = _flow_like()
    before = _hsv(img)
    weaker = _hsv(FlowJitter(hue_shift=0.0, saturation=0.5, hue_first=False)(img))
    assert (weaker[:, 1] < before[:, 1]).all()
    grey = FlowJitter(hue_shift=0.3, saturation=0.0, hue_first=False)(img)
    assert torch.allclose(grey[0], grey[1], atol=1e-6) and torch.allclose(grey[1], grey[2],
                                                                          atol=1e-6)
