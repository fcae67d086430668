"""Any folder of video files, stylized on the fly.

For users without a pre-stylized dataset: point ``root`` at mp4/avi/webm/mkv files, and every
video is decoded with PyAV and rendered in ``num_styles`` built-in (or user) styles when read.
Stylizing the whole decoded video at once keeps clip-wide statistics identical for every clip
of that video, so a dynamic pair never differs by anything but style. An optional on-disk cache
stores the stylized frames, because decoding + stylizing is the slow part of a probe.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np

from staticdyn.data.frames import load_labels_csv
from staticdyn.data.source import VideoSource, existing_folder
from staticdyn.data.styles import Stylizer, load_stylizer
from staticdyn.errors import DatasetError, VideoReadError

__all__ = ["VIDEO_EXTENSIONS", "VideoFolderSource", "decode_video", "probe_frame_count"]

VIDEO_EXTENSIONS: tuple[str, ...] = ("mp4", "avi", "webm", "mkv", "mov")

# A container's frame count can be off by a frame or two (edit lists, B-frame priming), so
# "truncated" means more than 2 % (or 2 frames) missing. Containers without a frame count
# (mkv, webm) only give duration x frame rate, an estimate (audio may outlast video, rates may
# vary), so there the decoded count must fall below 75 % of it.
_TRUNCATION_SLACK = 0.02
_ESTIMATE_SLACK = 0.25


def _target_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    if not short_side or min(width, height) <= short_side:
        return width, height
    scale = short_side / min(width, height)
    # even sizes: some swscale paths need them, and models never care about one pixel
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def probe_frame_count(path: str | Path) -> int | None:
    """Frame count from the container header (no decoding); None when unknown or unreadable."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            n = int(container.streams.video[0].frames)
            return n or None
    except (av.FFmpegError, OSError, ValueError):
        return None


def decode_video(path: str | Path, max_frames: int | None = None,
                 short_side: int | None = None) -> np.ndarray:
    """Decode a video file to RGB uint8 (T, H, W, 3), optionally downscaled and capped.

    Raises ``VideoReadError`` for a missing/corrupt file, a file without a video stream, zero
    decodable frames, a decoding error mid-stream, or fewer frames than the header promises.
    """
    path = Path(path)
    frames: list[np.ndarray] = []
    expected, slack = 0, _TRUNCATION_SLACK
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            expected, slack = int(stream.frames or 0), _TRUNCATION_SLACK
            if not expected and container.duration and stream.average_rate:
                expected = int(container.duration / 1e6 * float(stream.average_rate))
                slack = _ESTIMATE_SLACK
            size: tuple[int, int] | None = None
            for frame in container.decode(stream):
                if size is None:
                    size = _target_size(frame.width, frame.height, short_side)
                frames.append(frame.to_ndarray(format="rgb24", width=size[0], height=size[1]))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except VideoReadError:
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        raise VideoReadError(f"cannot decode {path}: {exc}") from exc
    if not frames:
        raise VideoReadError(f"{path}: no decodable frames")
    wanted = expected if max_frames is None else min(expected, max_frames)
    if wanted and wanted - len(frames) > max(2, slack * wanted):
        raise VideoReadError(f"{path}: truncated, decoded {len(frames)} of {wanted} frames")
    return np.stack(frames)


def _spec_repr(spec: object) -> object:
    """A JSON-able description of a stylizer spec, to tell caches made by different ones apart."""
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, Sequence):
        return [str(s) for s in spec]
    return type(spec).__qualname__


class VideoFolderSource(VideoSource):
    """Every video file under ``root`` (ids: relative path without extension).

    ``labels_csv`` (``video,label``, relative to root or absolute) gives labels. ``max_frames``
    caps decoding (long videos: the first ``max_frames``), ``short_side`` downscales while
    decoding. ``cache_dir`` stores stylized frames as ``<cache_dir>/style_<k>/<video>.npy``
    together with the settings that made them; a cache made with other settings is refused.
    """

    def __init__(self, root: str | Path, extensions: Sequence[str] = VIDEO_EXTENSIONS,
                 labels_csv: str | Path | None = None, num_styles: int = 4, seed: int = 0,
                 stylizer: str | Sequence[str] | Stylizer | None = None, recursive: bool = True,
                 max_frames: int | None = None, short_side: int | None = None,
                 cache_dir: str | Path | None = None, name: str = "video_folder"):
        self.name = name
        self.root = existing_folder(root, "video folder")
        self.max_frames, self.short_side = max_frames, short_side
        self.stylizer = load_stylizer(stylizer, num_styles=num_styles, seed=seed)
        self._paths = self._discover(extensions, recursive)
        self._labels: dict[str, int] = {}
        self.class_names: list[str] = []
        if labels_csv is not None:
            csv_path = Path(labels_csv)
            if not csv_path.is_absolute() and not csv_path.exists():
                csv_path = self.root / csv_path
            self._labels, self.class_names = load_labels_csv(csv_path)
        self._decoded: OrderedDict[str, np.ndarray] = OrderedDict()
        self._counts: dict[str, int | None] = {}
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        if self.cache_dir is not None:
            self._check_cache_meta(seed, stylizer)

    def _discover(self, extensions: Sequence[str], recursive: bool) -> dict[str, Path]:
        exts = {"." + e.lower().lstrip(".") for e in extensions}
        walker = self.root.rglob("*") if recursive else self.root.glob("*")
        paths: dict[str, Path] = {}
        for p in sorted(walker):
            if p.is_file() and p.suffix.lower() in exts:
                vid = p.relative_to(self.root).with_suffix("").as_posix()
                if vid in paths:
                    raise DatasetError(f"two videos map to id '{vid}': {paths[vid]} and {p}")
                paths[vid] = p
        if not paths:
            raise DatasetError(f"no video files ({', '.join(sorted(exts))}) under {self.root}")
        return paths

    def _check_cache_meta(self, seed: int, stylizer: object) -> None:
        assert self.cache_dir is not None
        meta = {"style_names": list(self.stylizer.style_names), "seed": seed,
                "stylizer": _spec_repr(stylizer), "max_frames": self.max_frames,
                "short_side": self.short_side}
        meta_path = self.cache_dir / "cache_meta.json"
        if meta_path.exists():
            old = json.loads(meta_path.read_text())
            if old != meta:
                raise DatasetError(
                    f"cache {self.cache_dir} was made with other settings ({old}); "
                    "use another cache_dir or delete it"
                )
        else:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            meta_path.write_text(json.dumps(meta, indent=1))

    # -- VideoSource -------------------------------------------------------------------------

    @property
    def videos(self) -> list[str]:
        return list(self._paths)

    @property
    def num_styles(self) -> int:
        return self.stylizer.num_styles

    def path(self, video: str) -> Path:
        try:
            return self._paths[video]
        except KeyError:
            raise VideoReadError(f"unknown video '{video}'") from None

    def label(self, video: str) -> int | None:
        if video in self._labels:
            return self._labels[video]
        return self._labels.get(self.path(video).name)

    def num_frames(self, video: str) -> int | None:
        if video in self._decoded:
            return len(self._decoded[video])
        if video not in self._counts:
            n = probe_frame_count(self.path(video))
            self._counts[video] = min(n, self.max_frames) if n and self.max_frames else n
        return self._counts[video]

    def decode(self, video: str) -> np.ndarray:
        """Unstyled frames; the last two videos stay in memory (a pair reads one video twice)."""
        if video in self._decoded:
            self._decoded.move_to_end(video)
            return self._decoded[video]
        frames = decode_video(self.path(video), self.max_frames, self.short_side)
        self._decoded[video] = frames
        while len(self._decoded) > 2:
            self._decoded.popitem(last=False)
        return frames

    def read(self, video: str, style: int) -> np.ndarray:
        cached = self._cache_path(video, style)
        if cached is not None and cached.exists():
            try:
                return np.load(cached)
            except (OSError, ValueError):
                cached.unlink(missing_ok=True)  # a broken cache entry is recomputed
        out = self.stylizer(self.decode(video), style)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(cached.name + f".{os.getpid()}.tmp")
            with tmp.open("wb") as f:
                np.save(f, out)
            os.replace(tmp, cached)
        return out

    def _cache_path(self, video: str, style: int) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"style_{int(style)}" / f"{video}.npy"
