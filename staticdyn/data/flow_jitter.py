"""Colour jitter of flow images: the "static" perturbation of the VOS pairs (METHOD.md sec. 1).

A flow image encodes direction as hue and magnitude as saturation. Shifting the hue rotates
every motion direction and scaling the saturation rescales every speed, so the second member
of a static pair shows the same frame with different motion. The authors use torchvision's
``ColorJitter(0, 0, s, h)`` with h ~ U(0.1, 0.5) and s ~ U(0.1, 1.0) drawn per pair; the jitter
then draws a hue shift U(-h, h) (fraction of a full turn) and a saturation factor
U(max(0, 1 - s), 1 + s), applied in a random order, separately for every flow image it is
called on. Here every draw comes from a seed, so a pair is reproducible bit for bit. The
operations are torchvision's own (``adjust_hue``; ``adjust_saturation``, a blend with the grey
image), applied to float images after resizing, where the authors jittered the uint8 PIL image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms import functional as TF

H_RANGE: tuple[float, float] = (0.1, 0.5)
S_RANGE: tuple[float, float] = (0.1, 1.0)


@dataclass(frozen=True)
class FlowJitter:
    """One flow image's jitter: hue shift (turns, in [-0.5, 0.5]), saturation factor, order."""

    hue_shift: float
    saturation: float
    hue_first: bool

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """(3, H, W) or (N, 3, H, W) float RGB in [0, 1] -> jittered copy, same shape."""
        if self.hue_first:
            return TF.adjust_saturation(TF.adjust_hue(image, self.hue_shift), self.saturation)
        return TF.adjust_hue(TF.adjust_saturation(image, self.saturation), self.hue_shift)


@dataclass(frozen=True)
class PairJitter:
    """The per-pair strengths (h, s) and the jitter of each of the pair's flow images."""

    h: float
    s: float
    images: tuple[FlowJitter, ...]


def _check_range(name: str, rng: Sequence[float], upper: float) -> tuple[float, float]:
    lo, hi = float(rng[0]), float(rng[1])
    if not 0.0 <= lo <= hi <= upper:
        raise ValueError(f"{name} must satisfy 0 <= low <= high <= {upper}, got {list(rng)}")
    return lo, hi


def draw_pair_jitter(seed: int, n_images: int = 1, h_range: Sequence[float] = H_RANGE,
                     s_range: Sequence[float] = S_RANGE) -> PairJitter:
    """Strengths h ~ U(h_range), s ~ U(s_range) once per pair; then per flow image a hue shift
    U(-h, h), a saturation factor U(max(0, 1 - s), 1 + s) and which of the two goes first."""
    h_lo, h_hi = _check_range("h_range", h_range, 0.5)
    s_lo, s_hi = _check_range("s_range", s_range, float("inf"))
    rng = np.random.default_rng([int(seed), 3])
    h = float(rng.uniform(h_lo, h_hi))
    s = float(rng.uniform(s_lo, s_hi))
    images = tuple(
        FlowJitter(hue_shift=float(rng.uniform(-h, h)),
                   saturation=float(rng.uniform(max(0.0, 1.0 - s), 1.0 + s)),
                   hue_first=bool(rng.integers(2)))
        for _ in range(n_images)
    )
    return PairJitter(h, s, images)
