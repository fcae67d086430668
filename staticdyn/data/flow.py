"""Optical flow for the segmentation (two-stream) models: compute, encode as RGB, decode, read.

Two-stream VOS models take flow as an RGB image (METHOD.md section 1, VOS): hue = direction,
saturation = magnitude (normalised per frame), value = 1. The encoding here keeps the per-frame
maximum magnitude next to the image, so ``rgb_to_flow`` inverts it: direction exactly (float
images) or to quantisation (uint8 images), magnitude up to that normalisation.

Flow is computed with OpenCV (DIS by default: fast and accurate on textured frames; Farneback
as a dependency-light alternative). Precomputed DAVIS ``FlowImages_gap1`` PNGs are read as they
are, since the models were trained on those exact images.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from staticdyn.errors import UnknownChoiceError, VideoReadError

__all__ = [
    "FLOW_METHODS",
    "compute_flow",
    "davis_flow_path",
    "flow_images",
    "median_flow",
    "flow_to_rgb",
    "read_flo",
    "read_flow_image",
    "rgb_to_flow",
    "video_flow",
    "write_flo",
]

FLOW_METHODS: tuple[str, ...] = ("dis", "farneback")
_FLO_MAGIC = 202021.25


def _grey(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return frame
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def compute_flow(prev: np.ndarray, nxt: np.ndarray, method: str = "dis") -> np.ndarray:
    """Forward flow (H, W, 2) float32, (dx, dy) in pixels, from ``prev`` to ``nxt`` (RGB uint8).

    ``prev[y, x]`` moves to ``nxt[y + dy, x + dx]``.
    """
    a, b = _grey(prev), _grey(nxt)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        flow = dis.calc(a, b, None)
    elif method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(a, b, None, pyr_scale=0.5, levels=4, winsize=15,
                                            iterations=5, poly_n=5, poly_sigma=1.1, flags=0)
    else:
        raise UnknownChoiceError("flow method", method, FLOW_METHODS)
    return flow.astype(np.float32)


def video_flow(frames: np.ndarray, method: str = "dis") -> np.ndarray:
    """Forward flow between consecutive frames: (T-1, H, W, 2) for (T, H, W, 3) input."""
    return np.stack([compute_flow(frames[i], frames[i + 1], method)
                     for i in range(len(frames) - 1)]) if len(frames) > 1 else \
        np.zeros((0, *frames.shape[1:3], 2), np.float32)


def flow_to_rgb(flow: np.ndarray, max_magnitude: float | None = None,
                as_uint8: bool = True) -> tuple[np.ndarray, float]:
    """Encode (H, W, 2) flow as an RGB image; returns (image, max_magnitude used).

    Hue = direction (atan2(dy, dx), 0..360 degrees), saturation = magnitude / max_magnitude
    (the frame's own maximum unless given), value = 1. ``as_uint8=False`` returns float32 RGB
    in [0, 1], which round-trips without quantisation.
    """
    fx, fy = flow[..., 0].astype(np.float32), flow[..., 1].astype(np.float32)
    mag, ang = cv2.cartToPolar(fx, fy, angleInDegrees=True)
    peak = float(mag.max()) if max_magnitude is None else float(max_magnitude)
    sat = np.clip(mag / peak, 0.0, 1.0) if peak > 0 else np.zeros_like(mag)
    hsv = np.stack([np.mod(ang, 360.0), sat, np.ones_like(sat)], axis=-1).astype(np.float32)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if as_uint8:
        rgb = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    return rgb, peak


def rgb_to_flow(rgb: np.ndarray, max_magnitude: float) -> np.ndarray:
    """Inverse of ``flow_to_rgb`` given the max magnitude it returned: (H, W, 2) float32."""
    img = rgb.astype(np.float32) / 255.0 if rgb.dtype == np.uint8 else rgb.astype(np.float32)
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    ang = np.deg2rad(hsv[..., 0])
    mag = hsv[..., 1] * float(max_magnitude)
    return np.stack([mag * np.cos(ang), mag * np.sin(ang)], axis=-1).astype(np.float32)


def davis_flow_path(root: str | Path, sequence: str, frame: str | int,
                    folder: str = "FlowImages_gap1") -> Path:
    """``<root>/FlowImages_gap1/<seq>/<frame>.png``: the DAVIS layout the VOS models used.

    ``frame`` is the image stem (``"00012"``) or an index (formatted ``%05d``).
    """
    stem = f"{frame:05d}" if isinstance(frame, int) else str(frame)
    return Path(root) / folder / sequence / f"{stem}.png"


def read_flow_image(path: str | Path) -> np.ndarray:
    """A precomputed flow image (PNG/JPG) as RGB uint8; ``VideoReadError`` if unreadable."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise VideoReadError(f"cannot read flow image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_flo(path: str | Path) -> np.ndarray:
    """Middlebury ``.flo`` file -> (H, W, 2) float32 (the format most flow tools write)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise VideoReadError(f"cannot read {path}: {exc}") from exc
    if len(data) < 12 or np.frombuffer(data[:4], "<f4")[0] != _FLO_MAGIC:
        raise VideoReadError(f"{path} is not a .flo file")
    w, h = (int(x) for x in np.frombuffer(data[4:12], "<i4"))
    values = np.frombuffer(data[12:], "<f4")
    if values.size != w * h * 2:
        raise VideoReadError(f"{path}: truncated .flo ({values.size} of {w * h * 2} values)")
    return values.reshape(h, w, 2).copy()


def write_flo(path: str | Path, flow: np.ndarray) -> None:
    """Write (H, W, 2) flow as a Middlebury ``.flo`` file (exact, float32)."""
    h, w = flow.shape[:2]
    header = np.array([_FLO_MAGIC], "<f4").tobytes() + np.array([w, h], "<i4").tobytes()
    Path(path).write_bytes(header + np.ascontiguousarray(flow, "<f4").tobytes())


def flow_images(frames: np.ndarray, method: str = "dis") -> tuple[np.ndarray, list[float]]:
    """RGB flow images for every frame but the last, and each one's max magnitude."""
    out: list[np.ndarray] = []
    peaks: list[float] = []
    for flow in video_flow(frames, method):
        rgb, peak = flow_to_rgb(flow)
        out.append(rgb)
        peaks.append(peak)
    return (np.stack(out) if out else np.zeros((0, *frames.shape[1:3], 3), np.uint8)), peaks


def median_flow(flow: np.ndarray, margin: int = 0,
                mask: np.ndarray | None = None) -> np.ndarray:
    """Median (dx, dy) over the frame (minus a border of ``margin`` px, or inside ``mask``)."""
    f = flow[margin:flow.shape[0] - margin, margin:flow.shape[1] - margin] if margin else flow
    vals = f.reshape(-1, 2) if mask is None else f[np.asarray(mask, bool)]
    return np.median(vals, axis=0)
