"""Procedural videos: textured objects moving over a textured background.

Why a synthetic set: it needs no download, it is cheap enough to generate on the fly in tests and
CI, and it has *known* static and dynamic content (appearance is drawn independently of motion),
so a probe on it has an expected answer. Classes can be tied to motion or to appearance, to
train models that are dynamic- or static-biased by construction.

Every video is a pure function of ``(seed, index)``: nothing is generated until it is read,
so ``n_videos`` is free and two runs see identical pixels. The renderer also returns exact
object masks and exact forward optical flow (the motion is an analytic similarity transform),
which the synthetic segmentation set (``segmentation.py``) writes as ground truth.
"""

from __future__ import annotations

import colorsys
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from staticdyn.data.frames import (
    DEFAULT_PATTERN,
    DEFAULT_START_INDEX,
    write_frame_folder,
    write_labels_csv,
)
from staticdyn.data.source import VideoSource, check_indices, unique_indices
from staticdyn.data.styles import (
    TEXTURE_KINDS,
    Stylizer,
    load_stylizer,
    make_texture,
    style_frames,
)
from staticdyn.errors import UnknownChoiceError, VideoReadError

__all__ = [
    "APPEARANCE_CLASSES",
    "CLASS_MODES",
    "MOTION_CLASSES",
    "SHAPES",
    "RenderedVideo",
    "SyntheticSource",
    "render_video",
]

MOTION_CLASSES: tuple[str, ...] = (
    "translate_right", "translate_left", "translate_down", "translate_up",
    "rotate_cw", "rotate_ccw", "oscillate_h", "oscillate_v", "grow", "shrink",
)
COLOR_FAMILIES: tuple[str, ...] = ("warm", "cool")
APPEARANCE_CLASSES: tuple[str, ...] = tuple(
    f"{kind}_{fam}" for kind in TEXTURE_KINDS for fam in COLOR_FAMILIES
)
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "ellipse", "star", "diamond")
CLASS_MODES: tuple[str, ...] = ("motion", "appearance")

_DIRECTIONS = {
    "translate_right": (1.0, 0.0), "translate_left": (-1.0, 0.0),
    "translate_down": (0.0, 1.0), "translate_up": (0.0, -1.0),
}


@dataclass
class RenderedVideo:
    """Unstyled frames plus exact ground truth from the renderer.

    ``masks``: (T, H, W) bool, union of all objects (alpha > 0.5).
    ``flow``: (T-1, H, W, 2) float32 forward flow (dx, dy) from frame t to t+1, or None when
    not requested; background is static, so its flow is exactly 0.
    """

    frames: np.ndarray
    masks: np.ndarray
    flow: np.ndarray | None
    label: int | None


@dataclass
class _Trajectory:
    cx: np.ndarray
    cy: np.ndarray
    angle: np.ndarray
    scale: np.ndarray


# --------------------------------------------------------------------------------------------
# shapes and motions
# --------------------------------------------------------------------------------------------


def _sdf(shape: str, u: np.ndarray, v: np.ndarray, r: float) -> np.ndarray:
    """Signed distance (object units, negative inside) of a shape of radius ``r``.

    Signed distances give anti-aliased edges (alpha = 0.5 - distance), which keeps the
    rendering sub-pixel smooth, so slow motion is still motion and flow stays well defined.
    """
    if shape == "circle":
        return np.sqrt(u * u + v * v) - r
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) - 0.8 * r
    if shape == "diamond":
        return (np.abs(u) + np.abs(v) - r) * np.float32(0.7071)
    if shape == "ellipse":
        a, b = r, 0.6 * r
        return (np.sqrt((u / a) ** 2 + (v / b) ** 2) - 1.0) * b
    if shape == "triangle":
        d = None
        for k in range(3):
            ang = np.pi / 2 + k * 2 * np.pi / 3
            dk = u * np.float32(np.cos(ang)) + v * np.float32(np.sin(ang)) - 0.5 * r
            d = dk if d is None else np.maximum(d, dk)
        return d
    if shape == "star":
        rho = np.sqrt(u * u + v * v)
        phi = np.arctan2(v, u)
        return rho - r * (0.72 + 0.28 * np.cos(5 * phi))
    raise UnknownChoiceError("shape", shape, SHAPES)


def _trajectory(rng: np.random.Generator, motion: str, t: int, size: int,
                radius: float) -> _Trajectory:
    """Centre, angle and scale per frame for one object under one motion type."""
    steps = np.arange(t, dtype=np.float32)
    mid = (t - 1) / 2.0
    c0 = size / 2.0 + rng.uniform(-0.15, 0.15, size=2) * size
    cx = np.full(t, c0[0], np.float32)
    cy = np.full(t, c0[1], np.float32)
    angle = np.full(t, rng.uniform(0, 2 * np.pi), np.float32)
    scale = np.ones(t, np.float32)
    if motion in _DIRECTIONS:
        dx, dy = _DIRECTIONS[motion]
        speed = rng.uniform(0.5, 1.0) * 0.5 * size / max(t - 1, 1)
        cx = cx + (steps - mid) * speed * dx
        cy = cy + (steps - mid) * speed * dy
    elif motion in ("rotate_cw", "rotate_ccw"):
        omega = np.deg2rad(rng.uniform(4.0, 10.0)) * (1 if motion == "rotate_cw" else -1)
        angle = angle + omega * steps
    elif motion in ("oscillate_h", "oscillate_v"):
        amp = rng.uniform(0.12, 0.22) * size
        period = rng.uniform(6.0, 14.0)
        offset = amp * np.sin(2 * np.pi * steps / period + rng.uniform(0, 2 * np.pi))
        if motion == "oscillate_h":
            cx = cx + offset
        else:
            cy = cy + offset
    elif motion in ("grow", "shrink"):
        factor = rng.uniform(1.6, 2.4)
        sign = 1.0 if motion == "grow" else -1.0
        scale = factor ** (sign * (steps / max(t - 1, 1) - 0.5))
    else:
        raise UnknownChoiceError("motion", motion, MOTION_CLASSES)
    return _Trajectory(cx.astype(np.float32), cy.astype(np.float32), angle.astype(np.float32),
                       scale.astype(np.float32))


def _family_colors(rng: np.random.Generator, family: str | None) -> np.ndarray:
    """Two saturated colours from a hue family (warm: red-yellow-magenta, cool: green-blue)."""
    if family is None:
        return rng.uniform(0, 255, size=(2, 3))
    out = []
    for value in (rng.uniform(0.35, 0.6), rng.uniform(0.8, 1.0)):
        if family == "warm":
            hue = rng.uniform(-0.12, 0.15) % 1.0
        else:
            hue = rng.uniform(0.35, 0.7)
        out.append(np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.6, 1.0), value)) * 255)
    return np.stack(out)


# --------------------------------------------------------------------------------------------
# renderer
# --------------------------------------------------------------------------------------------


def render_video(seed: int, index: int, num_frames: int = 32, size: int = 112,
                 classes: str | None = None, with_flow: bool = False,
                 camouflage: bool = False, n_objects: int | None = None) -> RenderedVideo:
    """Render video ``index`` of the set seeded ``seed``.

    ``classes``: "motion" (class = ``MOTION_CLASSES[index % 10]``, shared by all objects,
    appearance random), "appearance" (class = ``APPEARANCE_CLASSES[index % 10]``: texture kind
    and colour family of all objects, motion random), or None (all random, no label).
    ``camouflage``: objects carry the background's texture (in object coordinates), so they are
    visible only through motion.
    """
    if classes is not None and classes not in CLASS_MODES:
        raise UnknownChoiceError("synthetic class mode", str(classes), CLASS_MODES)
    rng = np.random.default_rng([int(seed), int(index)])
    t, h, w = int(num_frames), int(size), int(size)
    label: int | None = None
    motion_class: str | None = None
    kind_class: str | None = None
    family_class: str | None = None
    if classes == "motion":
        label = index % len(MOTION_CLASSES)
        motion_class = MOTION_CLASSES[label]
    elif classes == "appearance":
        label = index % len(APPEARANCE_CLASSES)
        kind_class, family_class = APPEARANCE_CLASSES[label].split("_")

    background = make_texture(rng, h, w)
    canvas = np.broadcast_to(background.astype(np.float32), (t, h, w, 3)).copy()
    masks = np.zeros((t, h, w), bool)
    flow = np.zeros((max(t - 1, 0), h, w, 2), np.float32) if with_flow else None
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)

    count = n_objects if n_objects is not None else int(rng.integers(1, 3))
    for _ in range(count):
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        motion = motion_class or MOTION_CLASSES[int(rng.integers(len(MOTION_CLASSES)))]
        radius = float(rng.uniform(0.12, 0.2)) * size
        if camouflage:
            tile = background
        else:
            kind = kind_class or TEXTURE_KINDS[int(rng.integers(len(TEXTURE_KINDS)))]
            tile = make_texture(rng, h, w, kind=kind, colors=_family_colors(rng, family_class))
        traj = _trajectory(rng, motion, t, size, radius)
        _draw_object(canvas, masks, flow, tile, shape, radius, traj, xs, ys)

    frames = np.rint(canvas, out=canvas).astype(np.uint8)  # a convex blend: already 0..255
    return RenderedVideo(frames=frames, masks=masks, flow=flow, label=label)


def _draw_object(canvas: np.ndarray, masks: np.ndarray, flow: np.ndarray | None,
                 tile: np.ndarray, shape: str, radius: float, traj: _Trajectory,
                 xs: np.ndarray, ys: np.ndarray) -> None:
    """Composite one object over ``canvas`` (in place) inside its trajectory's bounding box.

    Working only inside the box the object ever covers keeps rendering well under the 50 ms
    budget; the object texture is looked up in object coordinates, so it moves with the object.
    """
    t, h, w, _ = canvas.shape
    reach = radius * float(traj.scale.max()) + 2.0
    x0 = max(int(np.floor(traj.cx.min() - reach)), 0)
    x1 = min(int(np.ceil(traj.cx.max() + reach)) + 1, w)
    y0 = max(int(np.floor(traj.cy.min() - reach)), 0)
    y1 = min(int(np.ceil(traj.cy.max() + reach)) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return
    bx, by = xs[y0:y1, x0:x1][None], ys[y0:y1, x0:x1][None]
    cos = np.cos(traj.angle)[:, None, None]
    sin = np.sin(traj.angle)[:, None, None]
    inv = (1.0 / traj.scale)[:, None, None]
    dx = bx - traj.cx[:, None, None]
    dy = by - traj.cy[:, None, None]
    u = (cos * dx + sin * dy) * inv
    v = (cos * dy - sin * dx) * inv
    alpha = np.float32(0.5) - _sdf(shape, u, v, radius) * traj.scale[:, None, None]
    np.minimum(alpha, 1.0, out=alpha)
    touched = alpha > 0
    # composite only where the object has coverage: a small fraction of the bounding box
    ti, yi, xi = np.nonzero(touched)
    a = alpha[touched][:, None]
    k = tile.shape[0]
    iu = np.clip(np.rint(u[touched] + k / 2.0).astype(np.intp), 0, tile.shape[1] - 1)
    iv = np.clip(np.rint(v[touched] + k / 2.0).astype(np.intp), 0, k - 1)
    flat = canvas.reshape(-1, 3)
    idx = (ti * h + yi + y0) * w + xi + x0
    base = flat[idx]
    flat[idx] = base + a * (tile[iv, iu].astype(np.float32) - base)

    inside = alpha > 0.5
    masks[:, y0:y1, x0:x1] |= inside
    if flow is not None and t > 1:
        # position at t+1 of the object point under each pixel at t: p' = c' + s' R(a') (u, v)
        c1, s1 = np.cos(traj.angle[1:])[:, None, None], np.sin(traj.angle[1:])[:, None, None]
        sc1 = traj.scale[1:, None, None]
        un, vn = u[:-1], v[:-1]
        nx = traj.cx[1:, None, None] + sc1 * (c1 * un - s1 * vn)
        ny = traj.cy[1:, None, None] + sc1 * (s1 * un + c1 * vn)
        fx, fy = nx - bx, ny - by
        sel = inside[:-1]
        fregion = flow[:, y0:y1, x0:x1]
        fregion[..., 0] = np.where(sel, fx, fregion[..., 0])
        fregion[..., 1] = np.where(sel, fy, fregion[..., 1])


# --------------------------------------------------------------------------------------------
# the source
# --------------------------------------------------------------------------------------------


class SyntheticSource(VideoSource):
    """``n_videos`` procedural videos, each readable in ``num_styles`` styles.

    Video ids are ``synth_<index:05d>``. ``stylizer`` is a ``load_stylizer`` spec (None: the
    built-in styles, seeded by ``seed``). The last few unstyled renders are cached because a
    dynamic pair reads one video in two styles back to back.
    """

    def __init__(self, n_videos: int = 400, num_frames: int = 32, size: int = 112,
                 num_styles: int = 4, seed: int = 0, classes: str | None = None,
                 stylizer: str | Sequence[str] | Stylizer | None = None,
                 name: str = "synthetic", cache_size: int = 4):
        if classes is not None and classes not in CLASS_MODES:
            raise UnknownChoiceError("synthetic class mode", str(classes), CLASS_MODES)
        if n_videos < 1 or num_frames < 1 or size < 8:
            raise ValueError("need n_videos >= 1, num_frames >= 1 and size >= 8")
        self.name = name
        self.n_videos, self.frames_per_video, self.size = int(n_videos), int(num_frames), int(size)
        self.seed, self.classes = int(seed), classes
        self.stylizer = load_stylizer(stylizer, num_styles=num_styles, seed=self.seed)
        self._videos: list[str] | None = None  # built on first use: n_videos may be huge
        self._cache: OrderedDict[str, RenderedVideo] = OrderedDict()
        self._cache_size = int(cache_size)

    @property
    def videos(self) -> list[str]:
        if self._videos is None:
            self._videos = [f"synth_{i:05d}" for i in range(self.n_videos)]
        return list(self._videos)

    @property
    def num_styles(self) -> int:
        return self.stylizer.num_styles

    @property
    def style_names(self) -> list[str]:
        return [f"style_{k}" for k in range(self.num_styles)]

    @property
    def class_names(self) -> list[str]:
        if self.classes == "motion":
            return list(MOTION_CLASSES)
        if self.classes == "appearance":
            return list(APPEARANCE_CLASSES)
        return []

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def index_of(self, video: str) -> int:
        prefix, _, digits = video.partition("_")
        if prefix == "synth" and len(digits) >= 5 and digits.isdigit():
            i = int(digits)
            if i < self.n_videos and video == f"synth_{i:05d}":
                return i
        raise VideoReadError(f"unknown synthetic video '{video}' (ids synth_00000 .. "
                             f"synth_{self.n_videos - 1:05d})")

    def render(self, video: str, with_flow: bool = False) -> RenderedVideo:
        """The unstyled video with ground truth (cached unless flow is asked for)."""
        if not with_flow and video in self._cache:
            self._cache.move_to_end(video)
            return self._cache[video]
        out = render_video(self.seed, self.index_of(video), self.frames_per_video, self.size,
                           self.classes, with_flow=with_flow)
        if not with_flow and self._cache_size > 0:
            self._cache[video] = out
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return out

    def read(self, video: str, style: int) -> np.ndarray:
        return self.stylizer(self.render(video).frames, style)

    def frame_count(self, video: str, style: int) -> int:
        self.index_of(video)
        return self.frames_per_video

    def read_frames(self, video: str, style: int, indices: Sequence[int]) -> np.ndarray:
        """The whole video is rendered (motion is a function of the whole trajectory), but
        only the wanted frames are styled when the style allows it (``style_frames``)."""
        frames = self.render(video).frames
        wanted = unique_indices(indices)
        check_indices(video, wanted, len(frames))
        return style_frames(self.stylizer, frames, style, wanted)

    def num_frames(self, video: str) -> int | None:
        self.index_of(video)
        return self.frames_per_video

    def label(self, video: str) -> int | None:
        i = self.index_of(video)
        if self.classes is None:
            return None
        return i % self.num_classes

    def write_layout(self, root: str | Path, videos: Sequence[str] | None = None,
                     pattern: str = DEFAULT_PATTERN, start_index: int = DEFAULT_START_INDEX,
                     jpeg_quality: int = 95) -> Path:
        """Write ``<root>/style_<k>/<video>/frame_<nnnnn>.jpg`` (k from 0, frames from 1).

        Also writes ``<root>/labels.csv`` when the set has classes, so
        ``FrameFolderSource(root, labels_csv="labels.csv")`` reads back the same dataset.
        """
        root = Path(root)
        chosen = list(videos) if videos is not None else self.videos
        for video in chosen:
            raw = self.render(video).frames
            for k in range(self.num_styles):
                write_frame_folder(root / f"style_{k}" / video, self.stylizer(raw, k), pattern,
                                   start_index, jpeg_quality)
        if self.classes is not None:
            write_labels_csv(root / "labels.csv", {v: self.label(v) for v in chosen})
        return root
