"""Appearance-free renders: random noise that moves with a clip's optical flow, nothing else.

Why: a dynamic pair of two styles still shares the clip's layout (shapes, edges, where things
are), so "dynamic" units can score on static structure the styles keep. An appearance-free
render keeps only the motion: a noise texture advected by the clip's optical flow, as in the
appearance-free data set of Ilic et al. (ECCV 2022) and in random-dot cinematograms. A pair
(clip, its render) then shares motion and nothing else (``probe.dynamic_pairs``).

How (weight-free, deterministic by seed):
- Flow between consecutive frames is computed with ``flow.compute_flow`` (DIS by default),
  forward and backward.
- The texture is smooth value noise on a lattice (``cell`` px): every pixel holds the
  continuous coordinate it shows in a noise field, plus a "layer" id. Advection moves the
  coordinate map with ``cv2.remap`` along the backward flow, so sub-pixel motion accumulates
  exactly (re-sampling the texture itself would blur it step after step, or, with nearest
  sampling, freeze motion slower than one pixel per frame).
- Noise is re-seeded (a fresh layer, independent values) where the advected texture is
  undefined or has drifted: where the backward flow leaves the frame, where forward and
  backward flow disagree (occlusion / disocclusion, Sundaram et al. 2010), and where the
  accumulated warp has stretched or compressed the texture by more than ``max_stretch`` in
  area. So no structure builds up from repeated warping, and nothing of the source's pixels
  is ever copied: the render depends on the source only through its flow.
- Values come from a hash of (lattice point, layer, channel, seed), so the noise field is
  unbounded (a panning camera never runs off a table) and every frame is a pure function of
  the flow and the seed.
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
_MIX = (0x8DA6B343, 0xD8163841, 0xCB1AB31F, 0x165667B1)


def _fmix(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser: every input bit flips about half the output bits."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _lattice(ix: np.ndarray, iy: np.ndarray, layer: np.ndarray, channel: int,
             key: np.uint32) -> np.ndarray:
    """Uniform [0, 1) values of the noise lattice at integer points, float32."""
    h = (ix.astype(np.int64).astype(np.uint32) * np.uint32(_MIX[0])) ^ \
        (iy.astype(np.int64).astype(np.uint32) * np.uint32(_MIX[1])) ^ \
        (layer.astype(np.uint32) * np.uint32(_MIX[2])) ^ \
        np.uint32(((channel + 1) * _MIX[3]) & 0xFFFFFFFF) ^ key
    return (_fmix(_fmix(h)) >> np.uint32(8)).astype(np.float32) / np.float32(1 << 24)


def _value_noise(coords: np.ndarray, layer: np.ndarray, cell: float, channel: int,
                 key: np.uint32) -> np.ndarray:
    """One octave of smooth value noise (bilinear with a smoothstep), about uniform 0..1."""
    u, v = coords[..., 0] / cell, coords[..., 1] / cell
    i0, j0 = np.floor(u), np.floor(v)
    fu, fv = u - i0, v - j0
    fu, fv = fu * fu * (3 - 2 * fu), fv * fv * (3 - 2 * fv)
    v00 = _lattice(i0, j0, layer, channel, key)
    v10 = _lattice(i0 + 1, j0, layer, channel, key)
    v01 = _lattice(i0, j0 + 1, layer, channel, key)
    v11 = _lattice(i0 + 1, j0 + 1, layer, channel, key)
    top = v00 + fu * (v10 - v00)
    bottom = v01 + fu * (v11 - v01)
    return top + fv * (bottom - top)


def _texture(coords: np.ndarray, layer: np.ndarray, cell: float, key: np.uint32) -> np.ndarray:
    """Multi-scale value noise at ``coords`` (H, W, 2): (H, W, 3) uint8.

    Octaves of grain ``cell``, 2 ``cell``, 4 ``cell`` ... with equal weight (about the 1/f
    spectrum of natural images): the fine grain carries small motions, the coarse one gives
    pyramid flow methods (and strided networks) something to match at large displacements,
    where a single fine grain averages to flat grey.
    """
    out = np.zeros((*coords.shape[:2], 3), np.float32)
    for c in range(3):
        for octave in range(_OCTAVES):
            # each octave its own field (a channel id per octave), so octaves are independent
            out[..., c] += _value_noise(coords, layer, cell * 2 ** octave,
                                        c * _OCTAVES + octave, key)
    out = (out / _OCTAVES - 0.5) * _CONTRAST
    return np.clip(np.rint(out * 255 + 127.5), 0, 255).astype(np.uint8)


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
    key = _fmix(np.array([seed & 0xFFFFFFFF], np.uint32) ^
                _fmix(np.array([(seed >> 32) & 0xFFFFFFFF], np.uint32)))[0]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    grid = np.stack([xs, ys], axis=-1)
    coords = grid.copy()  # where in the noise field each pixel looks
    layer = np.zeros((h, w), np.float32)  # which noise field (re-seeding starts a new one)
    area = np.zeros((h, w), np.float32)  # accumulated log area change since seeding
    out = np.empty_like(frames)
    if t_len:
        out[0] = _texture(coords, layer, cell, key)
    limit = float(np.log(max_stretch))
    for t in range(t_len - 1):
        fwd = compute_flow(frames[t], frames[t + 1], method)
        bwd = compute_flow(frames[t + 1], frames[t], method)
        map_x, map_y = xs + bwd[..., 0], ys + bwd[..., 1]
        coords = _remap(coords, map_x, map_y, cv2.INTER_LINEAR)
        layer = _remap(layer, map_x, map_y, cv2.INTER_NEAREST)
        area = _remap(area, map_x, map_y, cv2.INTER_LINEAR) + _log_area(bwd)
        fwd_at = _remap(fwd, map_x, map_y, cv2.INTER_LINEAR)
        mismatch = np.sum((fwd_at + bwd) ** 2, axis=-1)
        bound = _FB_REL * (np.sum(fwd_at ** 2, axis=-1) + np.sum(bwd ** 2, axis=-1)) + _FB_ABS
        outside = (map_x < -0.5) | (map_x > w - 0.5) | (map_y < -0.5) | (map_y > h - 0.5)
        drifted = ((mismatch > bound) | (np.abs(area) > limit)).astype(np.uint8)
        reseed = outside | cv2.morphologyEx(drifted, cv2.MORPH_OPEN, _OPEN).astype(bool)
        coords[reseed] = grid[reseed]
        layer[reseed] = float(t + 1)
        area[reseed] = 0.0
        out[t + 1] = _texture(coords, layer, cell, key)
    return out
