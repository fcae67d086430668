"""Styles: functions that change a video's static content without adding dynamic content.

A dynamic pair (METHOD.md section 1) is one video rendered in two styles. For the pair to share
*all* of its dynamic information, a style must be a function of pixel value and pixel position
that is the same on every frame: any per-frame statistic (a frame's own mean colour, a random
texture re-drawn per frame) would change pixels that do not move, i.e. add flicker, which is
dynamic information the two members would then *not* share. Every built-in style here is built
so that a pixel that is constant over time stays constant over time:

- statistics are taken over the whole clip, never per frame;
- textures are fixed per style and blended at the same position on every frame;
- spatial filters are deterministic functions of the frame alone (no temporal state).

The built-in styles also keep their per-channel slope near 1 (colour-transfer gain is capped,
lookup tables are gentle), so that they cannot amplify sensor noise into visible flicker either.

User stylizers (neural style transfer, etc.) plug in through the same ``Stylizer`` interface:
an import path ``"pkg.mod:fn"`` or a TorchScript file. Their temporal consistency is the user's
responsibility; ``mean_temporal_difference`` is there to check it.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from staticdyn.errors import UnknownChoiceError

__all__ = [
    "BUILTIN_STYLE_NAMES",
    "MAX_GAIN",
    "PaletteSample",
    "PaletteTransfer",
    "TEXTURE_KINDS",
    "BuiltinStyles",
    "CallableStylizer",
    "Stylizer",
    "TorchScriptStylizer",
    "check_frames",
    "load_stylizer",
    "make_texture",
    "mean_temporal_difference",
    "style_frames",
    "texture_pattern",
]


# --------------------------------------------------------------------------------------------
# helpers shared with the synthetic renderer
# --------------------------------------------------------------------------------------------

TEXTURE_KINDS: tuple[str, ...] = ("stripes", "checker", "dots", "noise", "rings")


def check_frames(frames: np.ndarray) -> np.ndarray:
    """Validate (T, H, W, 3) uint8 input once, so every style can assume it."""
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3:
        shape = getattr(frames, "shape", None)
        raise ValueError(f"frames must be a (T, H, W, 3) array, got shape {shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    return frames


def mean_temporal_difference(frames: np.ndarray) -> float:
    """Mean absolute frame-to-frame difference, in grey levels.

    The simplest flicker measure: a style that adds flicker raises it; a style that only changes
    static content leaves it about where it was (scaled by the style's contrast gain).
    """
    if frames.shape[0] < 2:
        return 0.0
    f = frames.astype(np.int16)
    return float(np.abs(np.diff(f, axis=0)).mean())


def texture_pattern(kind: str, u: np.ndarray, v: np.ndarray, rng: np.random.Generator,
                    scale: float) -> np.ndarray:
    """A procedural pattern in [0, 1] evaluated at coordinates (u, v) (pixels).

    Evaluated on coordinates rather than a pixel grid so the same code textures the background
    (screen coordinates) and objects (object coordinates, which move with the object).
    ``scale`` is the pattern's characteristic period in pixels.
    """
    if kind == "stripes":
        theta = rng.uniform(0, np.pi)
        phase = rng.uniform(0, 2 * np.pi)
        w = 2 * np.pi / scale
        p = 0.5 + 0.5 * np.sin(w * (u * np.cos(theta) + v * np.sin(theta)) + phase)
    elif kind == "checker":
        theta = rng.uniform(0, np.pi / 2)
        w = np.pi / (scale * 0.6)
        a = u * np.cos(theta) + v * np.sin(theta)
        b = -u * np.sin(theta) + v * np.cos(theta)
        p = 0.5 + 0.5 * np.tanh(4.0 * np.sin(w * a) * np.sin(w * b))
    elif kind == "dots":
        period = scale
        fu = (u / period) % 1.0 - 0.5
        fv = (v / period) % 1.0 - 0.5
        p = np.exp(-(fu * fu + fv * fv) / 0.05)
    elif kind == "rings":
        cx, cy = rng.uniform(-scale, scale, size=2)
        r = np.sqrt((u - cx) ** 2 + (v - cy) ** 2)
        p = 0.5 + 0.5 * np.cos(2 * np.pi * r / scale)
    elif kind == "noise":
        # band-limited noise: a coarse random grid upsampled smoothly, sampled at (u, v)
        n = 16
        grid = rng.random((n, n)).astype(np.float32)
        grid = cv2.resize(grid, (n * 8, n * 8), interpolation=cv2.INTER_CUBIC)
        iu = np.mod(np.round(u * 8 / scale).astype(np.int64), n * 8)
        iv = np.mod(np.round(v * 8 / scale).astype(np.int64), n * 8)
        p = grid[iv, iu]
        lo, hi = float(p.min()), float(p.max())
        p = (p - lo) / max(hi - lo, 1e-6)
    else:
        raise UnknownChoiceError("texture kind", kind, TEXTURE_KINDS)
    return np.asarray(p, dtype=np.float32)


def make_texture(rng: np.random.Generator, height: int, width: int, kind: str | None = None,
                 colors: np.ndarray | None = None, scale: float | None = None) -> np.ndarray:
    """A (H, W, 3) uint8 colour texture: a pattern mixed between two colours, plus fine grain.

    The grain gives every texture some high-frequency content, which keeps optical flow and
    the models' early filters informative even on flat-coloured patterns.
    """
    kind = kind if kind is not None else TEXTURE_KINDS[int(rng.integers(len(TEXTURE_KINDS)))]
    scale = scale if scale is not None else float(rng.uniform(6, 18)) * max(height, width) / 112
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    p = texture_pattern(kind, u, v, rng, scale)
    if colors is None:
        colors = rng.uniform(0, 255, size=(2, 3))
    c0, c1 = np.asarray(colors, dtype=np.float32)
    grain = rng.normal(0, 10, size=(height, width, 1)).astype(np.float32)
    tex = c0 + p[..., None] * (c1 - c0) + grain
    return np.clip(tex, 0, 255).astype(np.uint8)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# the interface
# --------------------------------------------------------------------------------------------


class Stylizer(ABC):
    """Renders a clip in one of ``num_styles`` styles: ``(frames uint8 THWC, style) -> THWC``.

    Implementations must apply the same per-pixel-position function to every frame (see the
    module docstring); sources call a stylizer once per (video, style) on the whole clip.
    """

    @property
    @abstractmethod
    def num_styles(self) -> int:
        """Number of styles; style indices are 0 .. num_styles-1."""

    @property
    def style_names(self) -> list[str]:
        return [f"style_{k}" for k in range(self.num_styles)]

    @abstractmethod
    def __call__(self, frames: np.ndarray, style: int) -> np.ndarray:
        """``frames`` in style ``style``, same shape, uint8."""

    def _check_style(self, style: int) -> int:
        if not 0 <= int(style) < self.num_styles:
            raise ValueError(f"style {style} out of range 0..{self.num_styles - 1}")
        return int(style)

    def frame_local(self, style: int) -> bool:
        """True when a frame's styled pixels depend on that frame alone (not on the rest of
        the clip), so styling only the frames a clip uses gives the same pixels.

        False by default: a user stylizer may use clip statistics, or batch frames in a way
        that changes its arithmetic, so it gets the whole clip as it always did.
        """
        del style
        return False

    def palette(self, style: int) -> PaletteTransfer | None:
        """The style's ``PaletteTransfer`` when it is one, else None (the default).

        A palette style depends on the whole clip only through a fixed pixel sample, which a
        source that decodes frame by frame can gather without holding the clip
        (``PaletteSample``), then style just the frames a clip uses with ``apply``.
        """
        del style
        return None


# --------------------------------------------------------------------------------------------
# built-in styles: each a callable frames -> frames
# --------------------------------------------------------------------------------------------

# Fixed target palettes in YCbCr (Y, Cb, Cr means, then their spreads), 0..255 scale:
# warm, teal, magenta, olive.
_PALETTES: tuple[tuple[float, ...], ...] = (
    (150.0, 95.0, 165.0, 50.0, 10.0, 12.0),
    (125.0, 155.0, 95.0, 55.0, 12.0, 10.0),
    (110.0, 165.0, 180.0, 50.0, 12.0, 12.0),
    (140.0, 80.0, 125.0, 55.0, 10.0, 10.0),
)

# Per-channel gain cap of the colour transfer: it may reduce contrast freely (that removes
# temporal change as well) but may raise it only by 20 %, so it cannot amplify noise/flicker.
MAX_GAIN = 1.2

# RGB -> YCbCr (BT.601, full range) without the +128 offset on Cb/Cr.
_YCC = np.array([[0.299, 0.587, 0.114],
                 [-0.168736, -0.331264, 0.5],
                 [0.5, -0.418688, -0.081312]], dtype=np.float64)
_YCC_OFFSET = np.array([0.0, 128.0, 128.0])


class _Style:
    """A single deterministic, temporally consistent transform of a whole clip."""

    name: str = "style"
    #: a frame's output depends on that frame alone (see ``Stylizer.frame_local``)
    frame_local: bool = True

    def __call__(self, frames: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class Original(_Style):
    """Identity: offered for experiments that want the unstyled video as one of the styles."""

    name = "original"

    def __init__(self, variant: int = 0, seed: int = 0):
        del variant, seed

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return frames.copy()


class PaletteTransfer(_Style):
    """Colour-statistics transfer (Reinhard-style) to a fixed target palette, in YCbCr.

    Mean and spread of each YCbCr channel come from the *whole clip*, so every frame gets the
    same affine colour map; in RGB that is one 3x4 matrix, applied with ``cv2.transform``.
    Gains are capped at ``MAX_GAIN``. A linear opponent space (rather than Lab) keeps the style
    an exact affine map, which is fast and has a bounded slope.
    """

    name = "palette"
    frame_local = False  # the colour map comes from the whole clip's statistics

    def __init__(self, variant: int = 0, seed: int = 0):
        base = np.asarray(_PALETTES[variant % len(_PALETTES)], dtype=np.float64)
        if variant >= len(_PALETTES):  # further variants: a seeded perturbation of a base one
            rng = np.random.default_rng([seed, 101, variant])
            base = base + rng.uniform(-25, 25, size=6) * np.array([1, 1, 1, 0.3, 0.3, 0.3])
        self.target_mean = base[:3]
        self.target_std = np.maximum(base[3:], 2.0)

    #: pixels the statistics come from, at most about (a fixed, evenly spread subsample)
    SAMPLE_PIXELS = 65_536

    @classmethod
    def sample_step(cls, n_pixels: int) -> int:
        """Every ``sample_step``-th pixel of the clip (in T, H, W order) is in the sample."""
        return max(1, n_pixels // cls.SAMPLE_PIXELS)

    @staticmethod
    def frame_sample(frame: np.ndarray, index: int, step: int) -> np.ndarray:
        """Frame ``index``'s (H, W, 3) part of the sample, in order: concatenated over the
        frames it is ``clip.reshape(-1, 3)[::step]``, so a decoder can gather the sample one
        frame at a time and keep no frames (``PaletteSample``)."""
        pixels = frame.reshape(-1, 3)
        offset = -(index * pixels.shape[0]) % step  # to the next multiple of step in the clip
        return pixels[offset::step].copy()  # a copy: a view would keep the whole frame alive

    def matrix(self, frames: np.ndarray) -> np.ndarray:
        """The clip's 3x4 RGB -> RGB affine map (depends on the clip's statistics only)."""
        pixels = frames.reshape(-1, 3)
        return self.matrix_from_sample(pixels[::self.sample_step(pixels.shape[0])])

    def matrix_from_sample(self, sample: np.ndarray) -> np.ndarray:
        """The 3x4 map from the clip's pixel sample ((n, 3) uint8, see ``sample_step``)."""
        sample = sample.astype(np.float64)
        mean_rgb = sample.mean(axis=0)
        cov_rgb = np.cov(sample, rowvar=False, bias=True)
        std = np.sqrt(np.maximum(np.diag(_YCC @ cov_rgb @ _YCC.T), 0.0))
        gain = np.minimum(self.target_std / np.maximum(std, 1e-3), MAX_GAIN)
        # ycc' = gain * (ycc - mean) + target, then back to RGB: rgb' = lin @ rgb + const
        inv = np.linalg.inv(_YCC)
        lin = inv @ np.diag(gain) @ _YCC
        # bound the RGB slope too (mean |change| over channels grows by at most MAX_GAIN):
        # per-channel YCbCr gains alone do not bound it because YCbCr is not orthogonal
        norm = np.abs(lin).sum(axis=0).max()
        if norm > MAX_GAIN:
            lin = lin * (MAX_GAIN / norm)
        target_rgb = inv @ (self.target_mean - _YCC_OFFSET)
        const = target_rgb - lin @ mean_rgb
        return np.hstack([lin, const[:, None]])

    @staticmethod
    def apply(frames: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """The map on (T, H, W, 3) frames: per pixel, so any subset of a clip's frames gets
        the pixels the whole clip would."""
        t, h, w, _ = frames.shape
        out = cv2.transform(frames.reshape(t * h, w, 3), matrix)
        return out.reshape(t, h, w, 3)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return self.apply(frames, self.matrix(frames))


class PaletteSample:
    """``PaletteTransfer``'s pixel sample of a clip of ``n_frames`` (height, width) frames,
    gathered one frame at a time in clip order: a full-size clip need not be held to style it.
    """

    def __init__(self, n_frames: int, height: int, width: int):
        self.n_frames, self.height, self.width = int(n_frames), int(height), int(width)
        self.step = PaletteTransfer.sample_step(self.n_frames * self.height * self.width)
        self._parts: list[np.ndarray] = []

    def add(self, frame: np.ndarray) -> None:
        """The next frame (H, W, 3) of the clip."""
        if frame.shape[:2] != (self.height, self.width) or len(self._parts) >= self.n_frames:
            raise ValueError(f"frame {len(self._parts)} of shape {frame.shape} does not fit "
                             f"a {self.n_frames}x{self.height}x{self.width} clip")
        self._parts.append(PaletteTransfer.frame_sample(frame, len(self._parts), self.step))

    def result(self) -> np.ndarray:
        """The sample, (n, 3) uint8: ``clip.reshape(-1, 3)[::step]`` of the whole clip."""
        if len(self._parts) != self.n_frames:
            raise ValueError(f"{len(self._parts)} of {self.n_frames} frames added")
        return np.concatenate(self._parts)


class TextureBlend(_Style):
    """A fixed procedural texture per style, alpha-blended at the same place on every frame.

    The texture is generated lazily for each frame size (seeded by style and size), so the same
    style gives the same texture for every video of that size.
    """

    name = "texture"
    alpha = 0.45

    def __init__(self, variant: int = 0, seed: int = 0):
        self.variant, self.seed = variant, seed
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._weighted: dict[tuple[int, int], np.ndarray] = {}

    def texture(self, height: int, width: int) -> np.ndarray:
        key = (height, width)
        if key not in self._cache:
            rng = np.random.default_rng([self.seed, 202, self.variant])
            kind = TEXTURE_KINDS[self.variant % len(TEXTURE_KINDS)]
            tex = make_texture(rng, height, width, kind=kind)
            self._cache[key] = tex.astype(np.float32)
        return self._cache[key]

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Blended one frame at a time, in place in one float frame: the float32 operations of
        ``_to_uint8(frames * (1 - alpha) + texture * alpha)`` on the whole clip, in the same
        order, so the same values, without float copies of the clip."""
        key = (frames.shape[1], frames.shape[2])
        if key not in self._weighted:
            self._weighted[key] = self.texture(*key) * self.alpha
        weighted = self._weighted[key]
        out = np.empty(frames.shape, dtype=np.uint8)
        work = np.empty(frames.shape[1:], dtype=np.float32)
        for i, frame in enumerate(frames):
            work[...] = frame
            work *= 1.0 - self.alpha
            work += weighted
            np.rint(work, out=work)
            np.clip(work, 0, 255, out=work)
            out[i] = work
        return out


class Cartoon(_Style):
    """Edge-preserving smoothing, soft posterisation, a colour tint and a channel permutation.

    The bilateral filter acts on each frame alone (no temporal state); posterisation uses a
    smoothstep staircase (slope at most 1.5 at a step, 0 on a plateau, 1 on average) rather than
    hard quantisation, so a one-level change of input cannot jump a whole level in the output.
    The tint (per-channel gain <= 1 plus offset) makes the style change grey scenes too, where a
    channel permutation alone would do nothing.
    """

    name = "cartoon"
    _PERMS = ((2, 0, 1), (1, 2, 0), (2, 1, 0), (0, 2, 1))
    _TINTS = (((0.7, 75.0), (0.85, 0.0), (0.6, 25.0)),
              ((0.6, 10.0), (0.7, 70.0), (0.85, 35.0)),
              ((0.85, 30.0), (0.6, 15.0), (0.7, 75.0)),
              ((0.65, 60.0), (0.75, 55.0), (0.6, 0.0)))

    def __init__(self, variant: int = 0, seed: int = 0):
        del seed
        self.levels = 4 + variant % 3
        self.perm = self._PERMS[variant % len(self._PERMS)]
        x = np.arange(256, dtype=np.float32) / 255.0 * (self.levels - 1)
        k = np.floor(x)
        f = x - k
        stair = (k + f * f * (3 - 2 * f)) / (self.levels - 1) * 255.0
        tint = self._TINTS[variant % len(self._TINTS)]
        self.lut = np.stack([_to_uint8(gain * stair + offset) for gain, offset in tint], axis=1)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """One frame at a time (filter, permutation and lookup are each per frame), so no
        intermediate copy of the clip is made."""
        out = np.empty(frames.shape, dtype=np.uint8)
        lut = self.lut.reshape(1, 256, 3).astype(np.uint8)
        for i, frame in enumerate(frames):
            smoothed = cv2.bilateralFilter(frame, d=5, sigmaColor=40, sigmaSpace=3)
            out[i] = cv2.LUT(np.ascontiguousarray(smoothed[..., list(self.perm)]), lut)
        return out


class ChannelRemap(_Style):
    """Channel permutation with some channels inverted: slope exactly 1, colours all change."""

    name = "remap"
    _RECIPES = (
        ((1, 2, 0), (True, False, False)),
        ((2, 0, 1), (False, True, False)),
        ((0, 2, 1), (False, False, True)),
        ((2, 1, 0), (True, True, False)),
    )

    def __init__(self, variant: int = 0, seed: int = 0):
        del seed
        self.perm, invert = self._RECIPES[variant % len(self._RECIPES)]
        ramp = np.arange(256, dtype=np.uint8)
        self.lut = np.stack([255 - ramp if inv else ramp for inv in invert], axis=1)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """One frame at a time (a lookup per pixel), so no intermediate copy of the clip."""
        out = np.empty(frames.shape, dtype=np.uint8)
        lut = self.lut.reshape(1, 256, 3).astype(np.uint8)
        for i, frame in enumerate(frames):
            out[i] = cv2.LUT(np.ascontiguousarray(frame[..., list(self.perm)]), lut)
        return out


class GradientMap(_Style):
    """False colour: luminance mapped through a fixed three-colour ramp.

    Anchor colours are chosen so no channel moves more than one level per luminance level.
    """

    name = "gradient"
    _RAMPS = (
        ((30, 20, 90), (150, 80, 140), (250, 200, 120)),
        ((10, 60, 40), (110, 150, 60), (230, 240, 170)),
        ((70, 20, 20), (170, 110, 40), (240, 220, 160)),
        ((20, 30, 70), (90, 140, 160), (200, 250, 240)),
    )

    def __init__(self, variant: int = 0, seed: int = 0):
        del seed
        anchors = np.asarray(self._RAMPS[variant % len(self._RAMPS)], dtype=np.float32)
        x = np.arange(256, dtype=np.float32)
        self.lut = _to_uint8(np.stack(
            [np.interp(x, [0, 127.5, 255], anchors[:, c]) for c in range(3)], axis=1))

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """One frame at a time (OpenCV's grey conversion is integer arithmetic per pixel), so
        no intermediate copy of the clip."""
        out = np.empty(frames.shape, dtype=np.uint8)
        lut = self.lut.reshape(1, 256, 3)
        for i, frame in enumerate(frames):
            grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
            out[i] = cv2.LUT(cv2.merge([grey, grey, grey]), lut)
        return out


_STYLE_CLASSES: dict[str, type[_Style]] = {
    cls.name: cls
    for cls in (PaletteTransfer, TextureBlend, Cartoon, ChannelRemap, GradientMap, Original)
}

#: Default order of built-in styles: style k uses the (k mod 5)-th, variant k // 5.
BUILTIN_STYLE_NAMES: tuple[str, ...] = ("palette", "texture", "cartoon", "remap", "gradient")


def _parse_style(spec: str, default_variant: int) -> tuple[str, int]:
    name, _, var = spec.partition(":")
    if name not in _STYLE_CLASSES:
        raise UnknownChoiceError("built-in style", name, _STYLE_CLASSES)
    return name, int(var) if var else default_variant


class BuiltinStyles(Stylizer):
    """Weight-free styles: colour transfer, texture blend, cartoon, channel remap, false colour.

    ``styles`` picks them explicitly as ``"name"`` or ``"name:variant"`` (e.g.
    ``["palette:0", "palette:1", "texture"]``); by default style k is the
    ``BUILTIN_STYLE_NAMES[k % 5]`` style with variant ``k // 5``, so any number of distinct
    styles is available. ``"original"`` (identity) exists but is never chosen by default,
    because every default style must change static content.
    """

    def __init__(self, num_styles: int = 4, seed: int = 0, styles: Sequence[str] | None = None):
        if styles is not None:
            specs = [_parse_style(str(s), 0) for s in styles]
            if len(specs) < 2:
                raise ValueError(f"need at least 2 styles, got {list(styles)}")
        else:
            if num_styles < 2:
                raise ValueError(f"num_styles must be >= 2, got {num_styles}")
            n = len(BUILTIN_STYLE_NAMES)
            specs = [(BUILTIN_STYLE_NAMES[k % n], k // n) for k in range(num_styles)]
        self._styles = [_STYLE_CLASSES[name](variant=var, seed=seed) for name, var in specs]
        self._names = [f"{name}:{var}" for name, var in specs]

    @property
    def num_styles(self) -> int:
        return len(self._styles)

    @property
    def style_names(self) -> list[str]:
        return list(self._names)

    def __call__(self, frames: np.ndarray, style: int) -> np.ndarray:
        check_frames(frames)
        return self._styles[self._check_style(style)](frames)

    def frame_local(self, style: int) -> bool:
        return self._styles[self._check_style(style)].frame_local

    def palette(self, style: int) -> PaletteTransfer | None:
        chosen = self._styles[self._check_style(style)]
        return chosen if isinstance(chosen, PaletteTransfer) else None


# --------------------------------------------------------------------------------------------
# user stylizers
# --------------------------------------------------------------------------------------------


class CallableStylizer(Stylizer):
    """Wraps a Python function ``fn(frames uint8 THWC, style int) -> uint8 THWC``."""

    def __init__(self, fn: Callable[[np.ndarray, int], np.ndarray], num_styles: int):
        self.fn, self._num_styles = fn, int(num_styles)

    @property
    def num_styles(self) -> int:
        return self._num_styles

    def __call__(self, frames: np.ndarray, style: int) -> np.ndarray:
        check_frames(frames)
        out = np.asarray(self.fn(frames, self._check_style(style)))
        if out.shape != frames.shape:
            raise ValueError(f"stylizer returned shape {out.shape}, expected {frames.shape}")
        if out.dtype != np.uint8:
            out = _to_uint8(out)
        return out


class TorchScriptStylizer(Stylizer):
    """A TorchScript stylizer: input float (T, 3, H, W) in [0, 1], output the same.

    Either one file per style (``paths`` a list) whose ``forward(x)`` takes only the frames, or
    one file whose ``forward(x, style: int)`` also takes the style index (``num_styles`` then
    required). Frames go through in chunks of ``batch_size`` to bound memory.
    """

    def __init__(self, paths: str | Sequence[str], num_styles: int | None = None,
                 batch_size: int = 16, device: str = "cpu"):
        import torch

        self._torch = torch
        path_list = [str(paths)] if isinstance(paths, (str, Path)) else [str(p) for p in paths]
        self.device, self.batch_size = device, int(batch_size)
        self.modules = [torch.jit.load(p, map_location=device).eval() for p in path_list]
        if len(self.modules) == 1 and self._takes_style(self.modules[0]):
            if num_styles is None:
                raise ValueError("a single TorchScript stylizer with a style argument needs "
                                 "num_styles")
            self._num_styles, self.with_style = int(num_styles), True
        else:
            if len(self.modules) < 2:
                raise ValueError("give one TorchScript file per style (at least 2), or one "
                                 "file whose forward takes (x, style)")
            self._num_styles, self.with_style = len(self.modules), False

    @staticmethod
    def _takes_style(module: Any) -> bool:
        try:
            args = module.forward.schema.arguments  # (self, x[, style])
        except AttributeError:  # pragma: no cover - very old torch
            return False
        return len(args) >= 3

    @property
    def num_styles(self) -> int:
        return self._num_styles

    def __call__(self, frames: np.ndarray, style: int) -> np.ndarray:
        check_frames(frames)
        torch = self._torch
        style = self._check_style(style)
        module = self.modules[0] if self.with_style else self.modules[style]
        outs = []
        with torch.no_grad():
            for i in range(0, frames.shape[0], self.batch_size):
                x = torch.from_numpy(frames[i:i + self.batch_size]).to(self.device)
                x = x.permute(0, 3, 1, 2).float() / 255.0
                y = module(x, style) if self.with_style else module(x)
                outs.append((y.clamp(0, 1) * 255.0).round().byte().permute(0, 2, 3, 1).cpu())
        out = torch.cat(outs).numpy()
        if out.shape != frames.shape:
            raise ValueError(f"TorchScript stylizer returned {out.shape}, expected {frames.shape}")
        return out


_TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript", ".jit")


def style_frames(stylizer: Stylizer, frames: np.ndarray, style: int,
                 wanted: np.ndarray) -> np.ndarray:
    """``stylizer(frames, style)[wanted]``, styling only ``frames[wanted]`` when the style is
    frame-local: the same pixels, without styling frames the clip does not use."""
    if stylizer.frame_local(style):
        return stylizer(np.ascontiguousarray(frames[wanted]), style)
    return stylizer(frames, style)[wanted]


def load_stylizer(spec: str | Sequence[str] | Stylizer | None = None, num_styles: int = 4,
                  seed: int = 0) -> Stylizer:
    """Build a stylizer from a config value.

    - ``None`` or ``"builtin"``: ``BuiltinStyles(num_styles, seed)``;
    - a list of built-in names (``["palette", "texture:1"]``): those built-in styles;
    - a TorchScript path, or a list of them (one per style);
    - ``"pkg.mod:fn"``: a function ``(frames, style) -> frames``, a ``Stylizer`` subclass
      (instantiated with no arguments) or a ``Stylizer`` instance.
    """
    if isinstance(spec, Stylizer):
        return spec
    if spec is None or spec == "builtin":
        return BuiltinStyles(num_styles=num_styles, seed=seed)
    if not isinstance(spec, str):
        items = [str(s) for s in spec]
        if all(Path(s).suffix in _TORCHSCRIPT_SUFFIXES for s in items):
            return TorchScriptStylizer(items)
        return BuiltinStyles(seed=seed, styles=items)
    if Path(spec).suffix in _TORCHSCRIPT_SUFFIXES or Path(spec).is_file():
        return TorchScriptStylizer(spec, num_styles=num_styles)
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            obj: Any = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"cannot import stylizer '{spec}': {exc}") from exc
        if isinstance(obj, type) and issubclass(obj, Stylizer):
            obj = obj()
        if isinstance(obj, Stylizer):
            return obj
        if callable(obj):
            return CallableStylizer(obj, num_styles=getattr(obj, "num_styles", num_styles))
        raise ValueError(f"stylizer '{spec}' is not callable")
    raise UnknownChoiceError("stylizer", spec, ["builtin", "pkg.mod:fn", "<file>.pt",
                                                "[list of built-in style names]"])
