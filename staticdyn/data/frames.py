"""Stylized frame folders: ``<root>/<style folder>/<video>/<pattern>``.

This is the on-disk layout of the authors' stylized datasets (Stylized ActivityNet, SSv2,
Diving48: one folder per style, one folder of JPEGs per video), and what
``SyntheticSource.write_layout`` and ``scripts/stylize.py`` write. Numbering conventions differ
between datasets (ActivityNet and SSv2 ``%06d.jpg`` from 1, Diving48 ``image_%05d.jpg`` from 0,
staticdyn ``frame_%05d.jpg`` from 1), so the pattern is a parameter and the first index is read
from disk.

Reading is strict on purpose: a missing frame, a frame that does not follow the naming, a
truncated JPEG or a style whose frame count differs from the others would silently break the
"same frames, different style" promise of a dynamic pair, so each raises ``VideoReadError``
with the reason, and the extraction loop skips and counts that video.
"""

from __future__ import annotations

import csv
import os
import re
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from staticdyn.data.source import (
    VideoSource,
    check_indices,
    existing_folder,
    unique_indices,
)
from staticdyn.errors import DatasetError, VideoReadError

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_PATTERN",
    "FrameFolderSource",
    "frame_name",
    "list_frames",
    "load_labels_csv",
    "pattern_regex",
    "decode_image",
    "read_image",
    "write_frame_folder",
    "write_labels_csv",
]

#: staticdyn's own layout: ``frame_00001.jpg`` is the first frame (1-based, like ffmpeg).
DEFAULT_PATTERN = "frame_%05d.jpg"
DEFAULT_START_INDEX = 1

_PRINTF_INT = re.compile(r"%(0?)(\d*)d")
_JPEG_SUFFIXES = (".jpg", ".jpeg")


@lru_cache(maxsize=64)
def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Regex for a printf frame pattern: ``frame_%05d.jpg`` -> ``^frame_(\\d{5})\\.jpg$``.

    A zero-padded width is matched exactly, so ``frame_000001.jpg`` does *not* match
    ``frame_%05d.jpg``: a wrong naming is reported instead of read in a surprising order.
    """
    matches = list(_PRINTF_INT.finditer(pattern))
    if len(matches) != 1:
        raise ValueError(f"frame pattern must contain exactly one %d field, got '{pattern}'")
    m = matches[0]
    zero, width = m.group(1), m.group(2)
    digits = rf"(\d{{{int(width)}}})" if zero and width else r"(\d+)"
    return re.compile(
        "^" + re.escape(pattern[:m.start()]) + digits + re.escape(pattern[m.end():]) + "$"
    )


def frame_name(pattern: str, index: int) -> str:
    """File name of frame ``index`` under ``pattern``."""
    return pattern % index


def list_frames(directory: Path, pattern: str) -> list[tuple[int, Path]]:
    """(index, path) of every file in ``directory`` that follows ``pattern``, in index order.

    Raises ``VideoReadError`` when the folder is missing, when no file follows the pattern (with
    an example of what is there) or when the indices have a gap.
    """
    if not directory.is_dir():
        raise VideoReadError(f"missing folder {directory}")
    regex = pattern_regex(pattern)
    found: list[tuple[int, Path]] = []
    others: list[str] = []
    with os.scandir(directory) as it:
        for entry in it:
            m = regex.match(entry.name)
            if m:
                found.append((int(m.group(1)), Path(entry.path)))
            elif len(others) < 3:
                others.append(entry.name)
    if not found:
        hint = f" (found e.g. {', '.join(sorted(others))})" if others else " (folder is empty)"
        raise VideoReadError(f"no frames named like '{pattern}' in {directory}{hint}")
    found.sort()
    first, last = found[0][0], found[-1][0]
    if last - first + 1 != len(found):
        present = {i for i, _ in found}
        missing = next(i for i in range(first, last + 1) if i not in present)
        raise VideoReadError(
            f"missing frame {frame_name(pattern, missing)} in {directory} "
            f"({last - first + 1 - len(found)} missing between {first} and {last})"
        )
    return found


def _jpeg_is_complete(data: bytes) -> bool:
    """A complete JPEG starts with SOI and ends with EOI (possibly followed by padding).

    OpenCV decodes a truncated JPEG with only a warning and grey-fills the rest, which would
    put a fake static/dynamic edge into the features; checking the markers catches it cheaply.
    """
    if not data.startswith(b"\xff\xd8"):
        return False
    tail = data[-64:].rstrip(b"\x00\r\n \t")
    return tail.endswith(b"\xff\xd9")


def read_image(path: Path) -> np.ndarray:
    """One image as RGB uint8 (H, W, 3); ``VideoReadError`` if it cannot be read completely."""
    return decode_image(Path(path), _read_bytes(path))


def _read_bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise VideoReadError(f"cannot read {path}: {exc}") from exc


def decode_image(path: Path, data: bytes) -> np.ndarray:
    """``read_image`` of bytes already read (OpenCV's libjpeg-turbo for JPEGs)."""
    if Path(path).suffix.lower() in _JPEG_SUFFIXES and not _jpeg_is_complete(data):
        raise VideoReadError(f"corrupt or truncated JPEG {path}")
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise VideoReadError(f"cannot decode image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def write_frame_folder(directory: Path, frames: np.ndarray, pattern: str = DEFAULT_PATTERN,
                       start_index: int = DEFAULT_START_INDEX, jpeg_quality: int = 95) -> None:
    """Write (T, H, W, 3) RGB uint8 frames as ``directory/<pattern % (start_index + t)>``.

    JPEGs are written with full-resolution chroma (4:4:4): styles are mostly colour, and 4:2:0
    subsampling would blur exactly the static content a style changes (about 20 % larger files).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality),
              cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    for t, frame in enumerate(frames):
        path = directory / frame_name(pattern, start_index + t)
        bgr = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR)
        ok = cv2.imwrite(str(path), bgr, params if path.suffix.lower() in _JPEG_SUFFIXES else [])
        if not ok:
            raise OSError(f"cannot write {path}")


def load_labels_csv(path: str | Path) -> tuple[dict[str, int], list[str]]:
    """``video,label`` CSV (header required) -> ({video: class index}, class names).

    Labels may be integers (used as they are) or class names (indexed in sorted order, so the
    mapping does not depend on row order).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"labels file {path} does not exist")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"video", "label"} <= set(rows[0]):
        raise DatasetError(f"labels file {path} needs columns 'video,label', has {list(rows[0])}")
    raw = {r["video"]: r["label"].strip() for r in rows}
    if all(v.lstrip("-").isdigit() for v in raw.values()):
        labels = {k: int(v) for k, v in raw.items()}
        names = [str(i) for i in range(max(labels.values(), default=-1) + 1)]
        return labels, names
    names = sorted(set(raw.values()))
    index = {n: i for i, n in enumerate(names)}
    return {k: index[v] for k, v in raw.items()}, names


def write_labels_csv(path: str | Path, labels: dict[str, int | None]) -> None:
    """Inverse of ``load_labels_csv`` for integer labels (videos without a label are omitted)."""
    with Path(path).open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["video", "label"])
        for video, lab in labels.items():
            if lab is not None:
                writer.writerow([video, lab])


def _is_scratch(name: str) -> bool:
    """Hidden folders and unfinished output (``*.partial``, ``*.tmp``) are not videos."""
    return name.startswith(".") or name.endswith((".partial", ".tmp"))


def _style_sort_key(name: str) -> tuple[int, str]:
    m = re.search(r"(\d+)$", name)
    return (int(m.group(1)) if m else 1 << 30, name)


class FrameFolderSource(VideoSource):
    """Videos stored as frame folders, one top-level folder per style.

    ``styles`` names the style folders in style order: folder names, or integers k meaning
    ``style_<k>`` (the authors number theirs from 1: ``[1, 2, 3, 4]``). By default every
    ``style_*`` folder under ``root`` is used, in numeric order. The video list is the sorted
    sub-folders of the first style; ``labels_csv`` (``video,label``) adds labels.
    """

    #: images decoded by this source so far (what reading only a clip's frames saves)
    frames_decoded: int = 0

    def __init__(self, root: str | Path, pattern: str = DEFAULT_PATTERN,
                 styles: Sequence[str | int] | None = None, labels_csv: str | Path | None = None,
                 name: str = "frames"):
        self.name = name
        self.pattern = pattern
        pattern_regex(pattern)  # validate early
        self.root = existing_folder(root, "dataset root")
        self._labels: dict[str, int] = {}
        self.class_names: list[str] = []
        self._count_cache: dict[str, int] = {}
        self._style_dirs = self._resolve_styles(styles)
        self._videos = self._discover_videos()
        if labels_csv is not None:
            csv_path = Path(labels_csv)
            if not csv_path.is_absolute() and not csv_path.exists():
                csv_path = self.root / csv_path
            self._labels, self.class_names = load_labels_csv(csv_path)

    # -- discovery ---------------------------------------------------------------------------

    def _resolve_styles(self, styles: Sequence[str | int] | None) -> list[Path]:
        if styles is None:
            names = sorted((p.name for p in self.root.iterdir() if p.is_dir()
                            and p.name.startswith("style_") and not _is_scratch(p.name)),
                           key=_style_sort_key)
        else:
            names = [f"style_{s}" if isinstance(s, int) else str(s) for s in styles]
            missing = [n for n in names if not (self.root / n).is_dir()]
            if missing:
                raise DatasetError(f"style folders {missing} missing under {self.root}")
        if len(names) < 2:
            raise DatasetError(
                f"need at least 2 style folders under {self.root}, found {names or 'none'} "
                "(expected style_0, style_1, ... or set 'styles')"
            )
        return [self.root / n for n in names]

    def _discover_videos(self) -> list[str]:
        videos = sorted(p.name for p in self._style_dirs[0].iterdir()
                        if p.is_dir() and not _is_scratch(p.name))
        if not videos:
            raise DatasetError(f"no video folders in {self._style_dirs[0]}")
        return videos

    # -- VideoSource -------------------------------------------------------------------------

    @property
    def videos(self) -> list[str]:
        return list(self._videos)

    @property
    def num_styles(self) -> int:
        return len(self._style_dirs)

    @property
    def style_names(self) -> list[str]:
        return [p.name for p in self._style_dirs]

    def label(self, video: str) -> int | None:
        return self._labels.get(video)

    def video_dir(self, video: str, style: int) -> Path:
        if not 0 <= style < self.num_styles:
            raise ValueError(f"style {style} out of range 0..{self.num_styles - 1}")
        return self._style_dirs[style] / self.folder_name(video)

    def path_of(self, video: str, style: int) -> str | None:
        """The video's frame folder in ``style`` (the scan keys its cache on its files)."""
        return str(self.video_dir(video, style))

    def folder_name(self, video: str) -> str:
        """Folder of ``video`` inside a style folder (subclasses map ids, e.g. ``v_`` prefix)."""
        return video

    def frame_range(self, video: str, available: int) -> tuple[int, int]:
        """[start, stop) positions of the video's frames among the files on disk.

        The whole folder by default; annotated datasets restrict it to a segment.
        """
        return 0, available

    def _frames(self, video: str, style: int) -> list[Path]:
        directory = self.video_dir(video, style)
        if not directory.is_dir():
            raise VideoReadError(
                f"video '{video}' has no folder in style '{self.style_names[style]}' "
                f"(expected {directory})"
            )
        files = [p for _, p in list_frames(directory, self.pattern)]
        start, stop = self.frame_range(video, len(files))
        if stop > len(files) or start >= stop:
            raise VideoReadError(
                f"video '{video}' style '{self.style_names[style]}': frames [{start}, {stop}) "
                f"requested but {len(files)} on disk"
            )
        return files[start:stop]

    def num_frames(self, video: str) -> int | None:
        if video not in self._count_cache:
            try:
                self._count_cache[video] = len(self._frames(video, 0))
            except VideoReadError:
                return None
        return self._count_cache[video]

    def _checked_files(self, video: str, style: int) -> list[Path]:
        """The video's frame files in this style; a style whose frame count differs from the
        first style's breaks "same frames, other style" and is refused."""
        files = self._frames(video, style)
        if style == 0:
            self._count_cache.setdefault(video, len(files))
            return files
        expected = self.num_frames(video)
        if expected is not None and len(files) != expected:
            raise VideoReadError(
                f"video '{video}': style '{self.style_names[style]}' has {len(files)} frames, "
                f"style '{self.style_names[0]}' has {expected}"
            )
        return files

    def _listing(self, video: str, style: int) -> list[Path]:
        """``_checked_files``, remembered for the last few (video, style): ``frame_count`` and
        ``read_frames`` of one clip list the folder once."""
        listings: OrderedDict[tuple[str, int], list[Path]] = self.__dict__.setdefault(
            "_listings", OrderedDict())
        key = (video, int(style))
        if key not in listings:
            listings[key] = self._checked_files(video, style)
            while len(listings) > 8:
                listings.popitem(last=False)
        return listings[key]

    def _decode(self, path: Path) -> np.ndarray:
        self.frames_decoded += 1
        return read_image(path)

    def use_gpu_decode(self, device: torch.device) -> None:
        """``probe.gpu_decode``: ``read_frames`` decodes a clip's JPEGs in one nvjpeg batch on
        ``device`` (``data.jpeg_gpu``); without CUDA the CPU reader stays (said once)."""
        from staticdyn.data.jpeg_gpu import GpuJpegDecoder

        if GpuJpegDecoder.available(device):
            self.__dict__["_gpu"] = GpuJpegDecoder(device, decode_image)

    def _decode_files(self, files: list[Path]) -> list[np.ndarray]:
        gpu = self.__dict__.get("_gpu")
        if gpu is None:
            return [self._decode(p) for p in files]
        self.frames_decoded += len(files)
        return gpu.decode(files, [_read_bytes(p) for p in files])

    def read(self, video: str, style: int) -> np.ndarray:
        return self._stack(video, [self._decode(p) for p in self._checked_files(video, style)])

    def frame_count(self, video: str, style: int) -> int:
        """Files in the video's folder (its segment, for annotated sets): no image is decoded."""
        return len(self._listing(video, style))

    def read_frames(self, video: str, style: int, indices: Sequence[int]) -> np.ndarray:
        """Only the frame files at ``unique_indices(indices)`` are read and decoded.

        A bad frame outside those is not noticed here (``read`` reads every frame).
        """
        files = self._listing(video, style)
        wanted = unique_indices(indices)
        check_indices(video, wanted, len(files))
        return self._stack(video, self._decode_files([files[i] for i in wanted]))

    @staticmethod
    def _stack(video: str, images: list[np.ndarray]) -> np.ndarray:
        shapes = {im.shape for im in images}
        if len(shapes) > 1:
            raise VideoReadError(f"video '{video}': frames have different sizes {sorted(shapes)}")
        return np.stack(images)
