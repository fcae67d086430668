"""Any folder of video files, stylized on the fly.

For users without a pre-stylized dataset: point ``root`` at mp4/avi/webm/mkv files, and every
video is decoded with PyAV (``video_decode``) and rendered in ``num_styles`` built-in (or user)
styles when read. A clip reads only the frames it uses: the frame count comes from the container
(checked against its packets; decoded when the container has none), and only the stretch from
the keyframe before the first wanted frame to the last wanted frame is decoded, without the
unwanted frames no other frame refers to (``video_decode.decode_frames``). Styles whose
pixels depend on the whole clip's statistics (the built-in ``palette``, and any user stylizer)
still get the whole decoded video, as before, so a dynamic pair never differs by anything but
style and every pixel is the same as reading the whole video. The built-in ``palette`` style
needs only a fixed sample of the video's pixels (``styles.PaletteSample``): it is gathered while
the whole video is decoded once, one frame at a time, keeping only the frames the clip wants,
so a 1080p video costs the clip's frames' memory, not the video's, and the clip's frames are not
decoded a second time. An optional on-disk cache stores the stylized frames, because decoding +
stylizing is the slow part of a probe.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from staticdyn.data.frames import load_labels_csv
from staticdyn.data.source import (
    VideoSource,
    check_indices,
    existing_folder,
    positive_setting,
    unique_indices,
)
from staticdyn.data.styles import PaletteSample, Stylizer, check_frames, load_stylizer
from staticdyn.data.video_decode import (
    VideoIndex,
    count_frames,
    decode_frames,
    decode_video,
    probe_frame_count,
    scan_video,
    stream_video,
)
from staticdyn.errors import DatasetError, VideoReadError

__all__ = ["VIDEO_EXTENSIONS", "VideoFolderSource", "decode_video", "probe_frame_count"]

VIDEO_EXTENSIONS: tuple[str, ...] = ("mp4", "avi", "webm", "mkv", "mov")


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

    #: frames decoded by this source so far (what reading only a clip's frames saves)
    frames_decoded: int = 0

    def __init__(self, root: str | Path, extensions: Sequence[str] = VIDEO_EXTENSIONS,
                 labels_csv: str | Path | None = None, num_styles: int = 4, seed: int = 0,
                 stylizer: str | Sequence[str] | Stylizer | None = None, recursive: bool = True,
                 max_frames: int | None = None, short_side: int | None = None,
                 cache_dir: str | Path | None = None, name: str = "video_folder"):
        self.name = name
        self.root = existing_folder(root, "video folder")
        self.max_frames = positive_setting("max_frames", max_frames)
        self.short_side = positive_setting("short_side", short_side)
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
        self._exact: dict[str, int] = {}  # frames a full decode gives (what clips index)
        self._indexes: OrderedDict[str, VideoIndex] = OrderedDict()
        self._partial: OrderedDict[tuple[str, bytes], np.ndarray] = OrderedDict()
        # per video: (palette pixel sample, frames a full decode gives); small, kept for a few
        self._samples: OrderedDict[str, tuple[np.ndarray, int]] = OrderedDict()
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

    def path_of(self, video: str, style: int) -> str | None:
        """Every style is computed from the one file, so the scan reads it once."""
        return str(self.path(video))

    def scan_entry(self, video: str, style: int) -> tuple[int, int, int]:
        """Frame count from the container (decoding only when it has none) and the size of
        the first decoded frame, unstyled: the file is what can be bad, whatever the style."""
        n = self._exact_count(video)
        if n < 1:
            raise VideoReadError(f"video '{video}' has no frames")
        first = self._decode_some(video, np.zeros(1, np.int64))
        return n, int(first.shape[1]), int(first.shape[2])

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
        self.frames_decoded += len(frames)
        self._exact[video] = len(frames)
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

    # -- reading only what a clip needs ------------------------------------------------------

    def frame_count(self, video: str, style: int) -> int:
        """Frames a full decode gives (capped at ``max_frames``), without decoding when the
        container's count agrees with its packets; a cached stylized clip gives it directly."""
        cached = self._cached(video, style)
        if cached is not None:
            return int(cached.shape[0])
        if self._streams_palette(style):
            if video in self._samples or self._index(video).count is None:
                return self._palette_pass(video)[1]  # counting would decode the video anyway
            # a trusted count: the pass waits for read_frames, which keeps the clip's frames
            return self._exact_count(video)
        if not self.stylizer.frame_local(style):
            return len(self.decode(video))  # the style needs the whole video anyway
        return self._exact_count(video)

    def _exact_count(self, video: str) -> int:
        if video in self._decoded:
            return len(self._decoded[video])
        if video not in self._exact:
            index = self._index(video)
            if index.count is not None:
                n = index.count
            else:  # no count in the container, or one the packets contradict: decode to count
                n = count_frames(self.path(video), self.max_frames)
                self.frames_decoded += n
            self._exact[video] = min(n, self.max_frames) if self.max_frames else n
        return self._exact[video]

    def read_frames(self, video: str, style: int, indices: Sequence[int]) -> np.ndarray:
        """Decode (and style) only the wanted frames when the style is frame-local; otherwise
        the whole video, as ``read``. The pixels equal ``read(video, style)[wanted]``."""
        wanted = unique_indices(indices)
        cached = self._cached(video, style)
        if cached is not None:
            check_indices(video, wanted, cached.shape[0])
            return np.array(cached[wanted])
        palette = self.stylizer.palette(style) if self._streams_palette(style) else None
        if palette is not None:
            sample, n = self._palette_pass(video, wanted)
            check_indices(video, wanted, n)
            frames = check_frames(self._decode_some(video, wanted))
            return palette.apply(frames, palette.matrix_from_sample(sample))
        if self.cache_dir is not None or not self.stylizer.frame_local(style):
            whole = self.read(video, style)
            check_indices(video, wanted, whole.shape[0])
            return whole[wanted]
        return self.stylizer(self._decode_some(video, wanted), style)

    # -- the palette style without holding the video -----------------------------------------

    def _streams_palette(self, style: int) -> bool:
        """A built-in palette style, read without a cache (a cache stores whole clips)."""
        return self.cache_dir is None and self.stylizer.palette(style) is not None

    def _palette_pass(self, video: str,
                      wanted: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """(the palette's pixel sample of the whole decoded video, its frame count).

        The sample's stride depends on the frame count, which the container gives before
        decoding (or, without a count, most likely the number of video packets); were it
        wrong, the pass is repeated with the count it decoded, so the sample is always that
        of ``decode_video`` (the count is also what ``decode`` would record).
        The unstyled frames ``wanted`` are kept from the pass (for ``_decode_some``), so a
        clip's frames are not decoded again.
        """
        if video in self._samples:
            self._samples.move_to_end(video)
            return self._samples[video]
        if video in self._decoded:
            frames = self._decoded[video]
            step = PaletteSample(*frames.shape[:3]).step
            found = (frames.reshape(-1, 3)[::step].copy(), len(frames))
        else:
            keep = frozenset() if wanted is None else frozenset(int(i) for i in wanted)
            kept: dict[int, np.ndarray] = {}
            sample, n = self._stream_sample(video, self._count_guess(video), keep, kept)
            if sample is None:
                sample, n = self._stream_sample(video, n)
            assert sample is not None
            found = (sample, n)
            if wanted is not None and len(kept) == len(wanted):
                self._remember_partial(video, wanted, np.stack([kept[int(i)] for i in wanted]))
        self._exact[video] = found[1]
        self._samples[video] = found
        while len(self._samples) > 16:
            self._samples.popitem(last=False)
        return found

    def _count_guess(self, video: str) -> int:
        """The count a full decode gives when known without decoding, else the number of
        video packets (a container without a count, webm/mkv): right unless some packets
        decode to no frame, so counting by decoding first would cost a pass in vain."""
        index = self._index(video)
        if video in self._exact or video in self._decoded or index.count is not None:
            return self._exact_count(video)
        n = len(index.pts) if index.pts is not None else 0
        return min(n, self.max_frames) if self.max_frames else n

    def _stream_sample(self, video: str, n_frames: int, keep: frozenset[int] = frozenset(),
                       kept: dict[int, np.ndarray] | None = None,
                       ) -> tuple[np.ndarray | None, int]:
        """Decode the whole video as ``decode_video`` does (``stream_video``: same frames,
        sizes, rotation and errors), one frame at a time, keeping only the sample of an
        ``n_frames`` clip and the frames numbered in ``keep`` (into ``kept``); the sample is
        None when the video decodes to another count (returned)."""
        sample: PaletteSample | None = None
        decoded = 0

        def visit(rgb: np.ndarray) -> None:
            nonlocal sample, decoded
            if decoded < n_frames:
                if sample is None:
                    sample = PaletteSample(n_frames, rgb.shape[0], rgb.shape[1])
                sample.add(rgb)
            if decoded in keep and kept is not None:
                kept[decoded] = rgb
            decoded += 1

        try:
            stream_video(self.path(video), visit, self.max_frames, self.short_side)
        finally:
            self.frames_decoded += decoded
        if sample is None or decoded != n_frames:
            return None, decoded
        return sample.result(), decoded

    def _cached(self, video: str, style: int) -> np.ndarray | None:
        """The stylized clip in ``cache_dir``, memory-mapped (only the rows indexed are read)."""
        path = self._cache_path(video, style)
        if path is None or not path.exists():
            return None
        try:
            return np.load(path, mmap_mode="r")
        except (OSError, ValueError):
            path.unlink(missing_ok=True)  # a broken cache entry is recomputed
            return None

    def _index(self, video: str) -> VideoIndex:
        if video not in self._indexes:
            self._indexes[video] = scan_video(self.path(video))
            while len(self._indexes) > 64:
                self._indexes.popitem(last=False)
        return self._indexes[video]

    def _decode_some(self, video: str, wanted: np.ndarray) -> np.ndarray:
        """Unstyled frames ``wanted``; the last two requests stay in memory (the two styles of
        a dynamic pair read the same frames)."""
        if video in self._decoded:
            return self._decoded[video][wanted]
        key = (video, wanted.tobytes())
        if key in self._partial:
            self._partial.move_to_end(key)
            return self._partial[key]
        check_indices(video, wanted, self._exact_count(video))
        frames, decoded = decode_frames(self.path(video), wanted, self._index(video),
                                        self.short_side)
        self.frames_decoded += decoded
        self._remember_partial(video, wanted, frames)
        return frames

    def _remember_partial(self, video: str, wanted: np.ndarray, frames: np.ndarray) -> None:
        self._partial[(video, wanted.tobytes())] = frames
        while len(self._partial) > 2:
            self._partial.popitem(last=False)
