"""Appearance-free renders: random noise that moves with a clip's optical flow, nothing else.

Why: a dynamic pair of two styles still shares the clip's layout (shapes, edges, where things
are), so "dynamic" units can score on static structure the styles keep. An appearance-free
render keeps only the motion: a noise texture advected by the clip's optical flow, as in the
appearance-free data set of Ilic et al. (ECCV 2022) and in random-dot cinematograms. A pair
(clip, its render) then shares motion and nothing else (``probe.dynamic_pairs``).

How (weight-free, deterministic by seed):
- Flow between consecutive frames is computed with ``flow.compute_flow`` (DIS by default),
  forward and backward.
- The texture is multi-scale noise (octaves of ``cell``, 2 ``cell``, ... px, equal weight, so
  flow stays measurable at small and large displacements). Every pixel holds the continuous
  coordinate it shows in one noise image three frames wide; advection moves that coordinate
  map with ``cv2.remap`` along the backward flow, so sub-pixel motion accumulates exactly
  (re-sampling the texture itself would blur it step after step, or, with nearest sampling,
  freeze motion slower than one pixel per frame).
- Noise is re-seeded (moved to a fresh random place in the noise image) where the advected
  texture is undefined or has drifted: where the backward flow leaves the frame, where
  forward and backward flow disagree (occlusion / disocclusion, Sundaram et al. 2010), and
  where the accumulated warp has stretched or compressed the texture by more than
  ``max_stretch`` in area; single pixels are not re-seeded (a 3x3 opening), which would
  flicker. So no structure builds up from repeated warping, and nothing of the source's
  pixels is ever copied: the render depends on the source only through its flow.
- Everything random comes from ``seed``: same frames and seed, same render.
- Cost: two DIS flows per frame pair and a few remaps, about 20 ms per 320x240 frame on one
  CPU core.
"""

from __future__ import annotations

import cv2
import numpy as np

from staticdyn.data.flow import FLOW_METHODS, compute_flow
from staticdyn.errors import UnknownChoiceError, VideoReadError

__all__ = ["render_appearance_free"]

# Forward-backward check (Sundaram, Brox & Keutzer 2010): occluded where
# |f(x + b(x)) + b(x)|^2 > _FB_REL * (|f|^2 + |b|^2) + _FB_ABS (pixels^2).
_FB_REL, _FB_ABS = 0.01, 0.5
_AREA_SIGMA = 2.0  # px: smoothing of the flow before its area change is taken
_OPEN = np.ones((3, 3), np.uint8)  # re-seed regions, not single pixels (no salt flicker)
_OCTAVES = 4
_CONTRAST = 3.0  # averaging octaves narrows the values around 0.5: stretch back (clipped)


class _NoiseField:
    """One noise image, three frames wide and high, that every pixel samples at its coordinate.

    Frame 0 looks at the field's centre; a re-seeded region is moved to a fresh random place
    in the field (``reseed``), so its new noise is independent of the noise it replaces.
    Coordinates that drift off the field are mirrored (still noise). One ``cv2.remap`` per
    frame samples it: a few ms, where evaluating the noise per pixel would cost a hundred.
    """

    def __init__(self, height: int, width: int, seed: int, cell: float):
        self.size = np.array([width, height], np.float32)
        self.rng = np.random.default_rng([int(seed) % 2**64, 0xAF])
        h, w = 3 * height, 3 * width
        acc = np.zeros((h, w, 3), np.float32)
        for octave in range(_OCTAVES):
            # octaves of grain cell, 2 cell, 4 cell ... with equal weight (about the 1/f
            # spectrum of natural images): the fine grain carries small motions, the coarse one
            # gives pyramid flow methods (and strided networks) something to match at large
            # displacements, where a single fine grain averages to flat grey
            grain = cell * 2 ** octave
            lattice = self.rng.random((int(np.ceil(h / grain)) + 1,
                                       int(np.ceil(w / grain)) + 1, 3), np.float32)
            acc += cv2.resize(lattice, (w, h), interpolation=cv2.INTER_CUBIC)
        acc = (acc / _OCTAVES - 0.5) * _CONTRAST
        self.field = np.clip(np.rint(acc * 255 + 127.5), 0, 255).astype(np.uint8)

    def start(self, grid: np.ndarray) -> np.ndarray:
        """Frame 0's coordinates: the pixel grid placed at the field's centre."""
        return grid + self.size

    def reseed(self, grid: np.ndarray, where: np.ndarray) -> np.ndarray:
        """New coordinates for the pixels ``where``: their grid moved to a random place."""
        offset = self.rng.random(2, np.float32) * 2 * self.size
        return grid[where] + offset

    def texture(self, coords: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8: the field sampled at each pixel's coordinates (bilinear)."""
        return cv2.remap(self.field, coords[..., 0], coords[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT_101)


def _remap(field: np.ndarray, map_x: np.ndarray, map_y: np.ndarray,
           interpolation: int) -> np.ndarray:
    return cv2.remap(field, map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)


def _log_area(flow: np.ndarray) -> np.ndarray:
    """log |det(I + grad flow)|: how much source area one target pixel covers (log).

    The flow is smoothed first: raw flow gradients are noisy, and their noise would add up
    frame after frame into a drift that is not there.
    """
    smooth = cv2.GaussianBlur(flow, (0, 0), _AREA_SIGMA)
    dfx_dy, dfx_dx = np.gradient(smooth[..., 0])
    dfy_dy, dfy_dx = np.gradient(smooth[..., 1])
    det = (1.0 + dfx_dx) * (1.0 + dfy_dy) - dfx_dy * dfy_dx
    return np.log(np.maximum(np.abs(det), 1e-3)).astype(np.float32)


def render_appearance_free(frames: np.ndarray, seed: int, *, method: str = "dis",
                           cell: float = 2.0, max_stretch: float = 2.0) -> np.ndarray:
    """Noise advected by the optical flow of ``frames`` ((T, H, W, 3) uint8 RGB).

    Returns (T, H, W, 3) uint8: frame 0 is fresh noise; frame t+1 is frame t's noise moved
    along the flow from t to t+1, re-seeded where it is undefined (left the frame,
    occluded/disoccluded) or has drifted (area stretched or compressed by more than
    ``max_stretch``). ``method``: the flow estimator (``flow.FLOW_METHODS``); ``cell``: the
    noise grain in pixels. Same frames and seed, same render.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise VideoReadError(f"expected (T, H, W, 3) uint8 frames, got {frames.dtype} array "
                             f"of shape {frames.shape}")
    if method not in FLOW_METHODS:
        raise UnknownChoiceError("flow method", method, FLOW_METHODS)
    t_len, h, w, _ = frames.shape
    noise = _NoiseField(h, w, seed, cell)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    grid = np.stack([xs, ys], axis=-1)
    coords = noise.start(grid)  # where in the noise field each pixel looks
    area = np.zeros((h, w), np.float32)  # accumulated log area change since seeding
    out = np.empty_like(frames)
    if t_len:
        out[0] = noise.texture(coords)
    limit = float(np.log(max_stretch))
    for t in range(t_len - 1):
        fwd = compute_flow(frames[t], frames[t + 1], method)
        bwd = compute_flow(frames[t + 1], frames[t], method)
        map_x, map_y = xs + bwd[..., 0], ys + bwd[..., 1]
        coords = _remap(coords, map_x, map_y, cv2.INTER_LINEAR)
        area = _remap(area, map_x, map_y, cv2.INTER_LINEAR) + _log_area(bwd)
        fwd_at = _remap(fwd, map_x, map_y, cv2.INTER_LINEAR)
        mismatch = np.sum((fwd_at + bwd) ** 2, axis=-1)
        bound = _FB_REL * (np.sum(fwd_at ** 2, axis=-1) + np.sum(bwd ** 2, axis=-1)) + _FB_ABS
        outside = (map_x < -0.5) | (map_x > w - 0.5) | (map_y < -0.5) | (map_y > h - 0.5)
        drifted = ((mismatch > bound) | (np.abs(area) > limit)).astype(np.uint8)
        reseed = outside | cv2.morphologyEx(drifted, cv2.MORPH_OPEN, _OPEN).astype(bool)
        if reseed.any():
            coords[reseed] = noise.reseed(grid, reseed)
            area[reseed] = 0.0
        out[t + 1] = noise.texture(coords)
    return out
