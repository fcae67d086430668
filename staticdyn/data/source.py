"""The one interface every dataset implements: a list of videos, each readable in S styles.

Pair samplers only ever talk to this interface, so a synthetic set, the authors' stylized frame
folders and a folder of mp4 files are interchangeable.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from numbers import Integral
from pathlib import Path

import numpy as np

from staticdyn.errors import DatasetError, VideoReadError


def existing_folder(path: str | Path, what: str) -> Path:
    """``path`` (``~`` expanded) if it is a folder; else one line saying what it is instead.

    Every source checks its root here, so a root that is a file says so, instead of the
    misleading "does not exist".
    """
    root = Path(path).expanduser()
    if root.is_dir():
        return root
    if root.exists():
        raise DatasetError(f"{what} {root} is a file, not a folder: point it at the folder")
    raise DatasetError(f"{what} {root} does not exist")


class VideoSource(ABC):
    """A collection of videos, each available in ``num_styles`` static styles.

    ``read`` returns uint8 frames shaped (T, H, W, 3), RGB. It raises
    ``staticdyn.errors.VideoReadError`` when a video or one of its frames cannot be read; the
    extraction loop skips that item, logs it and counts it.
    """

    name: str = "source"

    @property
    @abstractmethod
    def videos(self) -> list[str]:
        """Stable, ordered video ids."""

    @property
    @abstractmethod
    def num_styles(self) -> int:
        """S >= 2."""

    @property
    def style_names(self) -> list[str]:
        return [f"style_{k}" for k in range(self.num_styles)]

    @abstractmethod
    def read(self, video: str, style: int) -> np.ndarray:
        """Frames of ``video`` in style ``style`` as uint8 (T, H, W, 3)."""

    def num_frames(self, video: str) -> int | None:
        """Frame count if cheaply known (used for clip start sampling); None otherwise."""
        return None

    def label(self, video: str) -> int | None:
        """Class label when the source has one (training experiments); None otherwise."""
        return None

    # -- scanning before pairs are drawn (``data.scan``) -------------------------------------

    def path_of(self, video: str, style: int) -> str | None:
        """The file or folder ``video`` is read from in ``style``, or None when the source
        generates its videos (nothing on disk can go bad, so the scan skips them).

        Styles that share one file (styles computed on the fly) return the same path, and the
        scan reads that file once."""
        return None

    def scan_entry(self, video: str, style: int) -> tuple[int, int, int]:
        """(frame count, height, width) of ``video`` in ``style``, reading as little as the
        source allows (one frame here); raises what ``read`` raises for a bad file."""
        n = int(self.frame_count(video, style))
        if n < 1:
            raise VideoReadError(f"video '{video}' has no frames")
        first = self.read_frames(video, style, [0])
        if first.ndim != 4 or first.shape[-1] != 3:
            raise VideoReadError(f"expected (T, H, W, 3) frames, got shape {first.shape}")
        return n, int(first.shape[1]), int(first.shape[2])

    # -- reading only what a clip needs ------------------------------------------------------
    #
    # ``frame_count`` then ``read_frames`` is how clips are read (``data.tasks.action``): the
    # clip's frame indices need only the count, and the source then reads just those frames.
    # The defaults below read the whole video once (``read``) and index it, so a source that
    # overrides neither still works and gives the same pixels; sources that can do better
    # (frame folders, video files, generated videos) override both.

    def frame_count(self, video: str, style: int) -> int:
        """Exact number of frames ``read(video, style)`` returns (clip indices depend on it).

        Raises ``VideoReadError`` like ``read`` when the video cannot be read.
        """
        return int(self._whole(video, style).shape[0])

    def read_frames(self, video: str, style: int, indices: Sequence[int]) -> np.ndarray:
        """The frames at ``unique_indices(indices)`` (sorted, without repeats) of ``video`` in
        style ``style``: uint8 (len(unique), H, W, 3), pixel for pixel what ``read`` gives."""
        wanted = unique_indices(indices)
        frames = self._whole(video, style)
        self.__dict__.pop("_whole_read", None)  # one clip per read: do not hold the video
        check_indices(video, wanted, frames.shape[0])
        return frames[wanted]

    def _whole(self, video: str, style: int) -> np.ndarray:
        """``read`` with a one-entry memo, so ``frame_count`` then ``read_frames`` decode once."""
        memo = self.__dict__.get("_whole_read")
        if memo is not None and memo[0] == (video, style):
            return memo[1]
        frames = self.read(video, style)
        if frames.ndim != 4 or frames.shape[0] < 1 or frames.shape[-1] != 3:
            raise VideoReadError(f"expected (T>=1, H, W, 3) frames, got shape {frames.shape}")
        self.__dict__["_whole_read"] = ((video, style), frames)
        return frames


def positive_setting(key: str, value: int | None, optional: bool = True) -> int | None:
    """``value`` when it is an integer >= 1 (or null, when ``optional``); else one line naming
    ``dataset.<key>`` and the valid range.

    Sources check such settings when built: a 0, -1 or -5 would otherwise give empty videos,
    identical static pairs or 2x2-pixel decodes without a word.
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        valid = "null or an integer >= 1" if optional else "an integer >= 1"
        raise DatasetError(f"dataset.{key} must be {valid}, got {value!r}")
    return int(value)


def unique_indices(indices: Sequence[int] | np.ndarray) -> np.ndarray:
    """Sorted distinct frame indices (int64): what ``read_frames`` returns frames for."""
    return np.unique(np.asarray(indices, dtype=np.int64).reshape(-1))


def check_indices(video: str, wanted: np.ndarray, num_frames: int) -> None:
    """``VideoReadError`` when a requested frame index is outside 0..num_frames-1."""
    if len(wanted) and (wanted[0] < 0 or wanted[-1] >= num_frames):
        bad = int(wanted[0] if wanted[0] < 0 else wanted[-1])
        raise VideoReadError(
            f"video '{video}': frame index {bad} out of range 0..{num_frames - 1}")
