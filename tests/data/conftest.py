"""Small media the data tests create: tiny videos, frame trees, corrupt files.

Everything is generated in ``tmp_path`` so the tests need no fixtures on disk and no download.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from staticdyn.data.frames import write_frame_folder


def moving_square(n_frames: int = 12, size: int = 32, seed: int = 0) -> np.ndarray:
    """A textured square sliding right over a textured static background (uint8 THWC)."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    patch = rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
    frames = np.repeat(bg[None], n_frames, axis=0)
    for t in range(n_frames):
        x = t % (size - patch.shape[1])
        frames[t, size // 3:size // 3 + patch.shape[0], x:x + patch.shape[1]] = patch
    return frames


def write_video(path: Path, frames: np.ndarray, codec: str = "mpeg4", rate: int = 25) -> Path:
    """Encode RGB frames with PyAV (mpeg4 in .mp4/.avi/.mkv, libvpx in .webm)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_h264(path: Path, frames: np.ndarray, gop: int = 8, bframes: int = 2,
               durations_ms: Sequence[int] | None = None, rotation: int | None = None) -> Path:
    """Encode RGB frames with libx264: a keyframe every ``gop`` frames, B-frames (so decode
    order differs from display order), optional per-frame durations (variable frame rate) and
    display rotation (counter-clockwise degrees, as a phone writes it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    time_base = Fraction(1, 1000)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={
            "g": str(gop), "keyint_min": str(gop), "bf": str(bframes), "sc_threshold": "0"})
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = time_base
        if rotation is not None:
            stream.set_display_rotation(rotation)
        pts = 0
        for t, frame in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            vf.pts, vf.time_base = pts, time_base
            pts += durations_ms[t] if durations_ms is not None else 40
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_frame_tree(root: Path, videos: Sequence[str], styles: Sequence[str] = ("style_0",
                    "style_1"), n_frames: int = 6, pattern: str = "frame_%05d.jpg",
                    start_index: int = 1, size: int = 16,
                    lengths: dict[str, int] | None = None) -> Path:
    """``root/<style>/<video>/<pattern>``; frame t is a flat colour that encodes t.

    Red = 10 (t mod 25) + 5, green = 10 (t div 25) + 5: flat frames survive JPEG almost
    exactly, so ``frame_indices`` tells which frames were read.
    """
    for style in styles:
        for video in videos:
            n = (lengths or {}).get(video, n_frames)
            frames = np.zeros((n, size, size, 3), np.uint8)
            for t in range(n):
                frames[t, ..., 0] = 10 * (t % 25) + 5
                frames[t, ..., 1] = 10 * (t // 25) + 5
            write_frame_folder(root / style / video, frames, pattern, start_index)
    return root


def frame_indices(frames: np.ndarray) -> list[int]:
    """Inverse of the ``make_frame_tree`` colour code."""
    mean = frames.reshape(len(frames), -1, 3).mean(axis=1)
    return [int(round((r - 5) / 10)) + 25 * int(round((g - 5) / 10)) for r, g, _ in mean]


@pytest.fixture(scope="session")
def decode_index() -> Callable[[np.ndarray], list[int]]:
    return frame_indices


@pytest.fixture(scope="session")
def video_writer() -> Callable[..., Path]:
    """``write_video`` as a fixture, so test modules need not import this conftest."""
    return write_video


@pytest.fixture(scope="session")
def h264_writer() -> Callable[..., Path]:
    """``write_h264`` as a fixture (keyframe interval, B-frames, variable rate, rotation)."""
    return write_h264


@pytest.fixture(scope="session")
def square_clip() -> Callable[..., np.ndarray]:
    return moving_square


@pytest.fixture
def frame_tree(tmp_path: Path) -> Callable[..., Path]:
    """``make_frame_tree`` rooted at ``tmp_path / "frames"``."""
    def build(*args: object, **kwargs: object) -> Path:
        return make_frame_tree(tmp_path / "frames", *args, **kwargs)  # type: ignore[arg-type]
    return build
