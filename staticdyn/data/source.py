"""The one interface every dataset implements: a list of videos, each readable in S styles.

Pair samplers only ever talk to this interface, so a synthetic set, the authors' stylized frame
folders and a folder of mp4 files are interchangeable.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from staticdyn.errors import DatasetError


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
