"""Video instance segmentation sets in the official YouTube-VIS layout (2019, 2021, OVIS).

Layout (the official releases; the synthetic set writes the same, ``synthetic_vis.py``):

    <root>/<annotations>.json                 {"videos", "annotations", "categories"}
    <root>/JPEGImages/<video>/<frame>.jpg     the frames the JSON lists (``file_names``)
    <stylized_root>/<style>/<video>/<frame>   optional pre-stylised copies, same file names

Each video of the JSON lists its annotated frames (``file_names``, e.g. ``0043f083b5/00000.jpg``;
OVIS ``<video>/img_0000001.jpg``): those are the video's frames for the probe, so a clip of T
consecutive frames is T consecutive annotated frames. An annotation is one instance track:
``segmentations`` holds one RLE (compressed or uncompressed, decoded with
``pycocotools.mask``) per listed frame, or ``None`` where the instance is absent.

Styles: the official sets have no stylised copies, so by default every video is stylised on the
fly by the built-in styles (``dataset.stylizer``, as ``video_folder``); ``dataset.styles`` names
pre-stylised folders instead (relative to ``stylized_root``, default ``root``). A frame that
cannot be read, or whose size is not the JSON's ``height`` x ``width`` (its masks would not
align), raises ``VideoReadError``: the scan and the extraction loop skip and name it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_util

from staticdyn.data.annotations import load_json
from staticdyn.data.frames import read_image
from staticdyn.data.source import (
    VideoSource,
    check_indices,
    existing_folder,
    positive_setting,
    unique_indices,
)
from staticdyn.data.styles import Stylizer, load_stylizer
from staticdyn.errors import DatasetError, VideoReadError

__all__ = ["Instance", "VisVideo", "YouTubeVISSource", "decode_segmentation", "encode_mask"]

log = logging.getLogger(__name__)

REQUIRED_VIDEO_KEYS = ("id", "file_names", "height", "width")


@dataclass(frozen=True)
class Instance:
    """One annotated instance track: its id, category and one segmentation per listed frame."""

    id: int
    category_id: int
    segmentations: tuple[Any, ...]


@dataclass
class VisVideo:
    """One video of the JSON: its folder name, frame files, size and instance tracks."""

    id: int
    name: str
    file_names: list[str]
    height: int
    width: int
    instances: list[Instance] = field(default_factory=list)


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """A bool (H, W) mask as compressed RLE with text counts (JSON-ready), as the
    official sets store it."""
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode_segmentation(seg: Any, height: int, width: int) -> np.ndarray:
    """bool (H, W) of one frame's segmentation: compressed or uncompressed RLE, polygons, or
    None (the instance is absent: an empty mask)."""
    if seg is None:
        return np.zeros((height, width), bool)
    if isinstance(seg, list):  # polygons
        rle = mask_util.merge(mask_util.frPyObjects(seg, height, width))
    elif isinstance(seg, dict) and isinstance(seg.get("counts"), list):  # uncompressed RLE
        rle = mask_util.frPyObjects(seg, *seg["size"])
    elif isinstance(seg, dict) and "counts" in seg:
        counts = seg["counts"]
        rle = {"size": list(seg["size"]),
               "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    else:
        raise VideoReadError(f"segmentation is neither RLE, polygons nor null: {str(seg)[:60]}")
    mask = mask_util.decode(rle).astype(bool)
    if mask.shape != (height, width):
        raise VideoReadError(f"segmentation of size {mask.shape} in a {height}x{width} video")
    return mask


def parse_vis_json(data: Any, where: str) -> tuple[list[VisVideo], dict[int, str]]:
    """Videos (JSON order) with their instances, and category id -> name; a file that is not
    in the layout gets one line naming what is missing."""
    if not isinstance(data, dict) or not isinstance(data.get("videos"), list):
        raise DatasetError(f"{where}: not a YouTube-VIS annotation file (needs a 'videos' list, "
                           "with 'annotations' and 'categories')")
    videos: dict[int, VisVideo] = {}
    names: set[str] = set()
    for entry in data["videos"]:
        missing = [k for k in REQUIRED_VIDEO_KEYS if k not in entry]
        if missing or not entry["file_names"]:
            raise DatasetError(f"{where}: video {entry.get('id', '?')} lacks "
                               f"{', '.join(missing) or 'file_names'}")
        files = [str(f) for f in entry["file_names"]]
        name = Path(files[0]).parent.as_posix() or str(entry["id"])
        if name in names:
            name = f"{name}#{entry['id']}"
        names.add(name)
        videos[int(entry["id"])] = VisVideo(int(entry["id"]), name, files, int(entry["height"]),
                                            int(entry["width"]))
    for ann in data.get("annotations") or []:
        video = videos.get(int(ann.get("video_id", -1)))
        if video is None:
            raise DatasetError(f"{where}: annotation {ann.get('id')} names unknown video "
                               f"{ann.get('video_id')}")
        segs = ann.get("segmentations")
        if not isinstance(segs, list) or len(segs) != len(video.file_names):
            raise DatasetError(f"{where}: annotation {ann.get('id')} has "
                               f"{len(segs) if isinstance(segs, list) else 'no'} segmentations "
                               f"for the {len(video.file_names)} frames of video {video.id}")
        video.instances.append(Instance(int(ann.get("id", len(video.instances))),
                                        int(ann.get("category_id", 0)), tuple(segs)))
    categories = {int(c["id"]): str(c.get("name", c["id"]))
                  for c in data.get("categories") or []}
    return list(videos.values()), categories


class YouTubeVISSource(VideoSource):
    """A YouTube-VIS / OVIS set: videos of annotated frames, styles, and instance masks.

    ``styles=None`` stylises on the fly (``stylizer``, ``num_styles``, ``seed``: built-in
    styles by default); a list names pre-stylised folders. ``max_videos`` keeps the first
    videos of the JSON (quick runs).
    """

    def __init__(self, root: str | Path, annotations: str | Path = "train.json",
                 image_dir: str = "JPEGImages", styles: Sequence[str] | None = None,
                 stylized_root: str | Path | None = None, num_styles: int = 4, seed: int = 0,
                 stylizer: str | Sequence[str] | Stylizer | None = None,
                 max_videos: int | None = None, name: str = "youtube_vis"):
        self.name = name
        self.root = existing_folder(root, f"{name}: dataset root")
        self.image_root = existing_folder(self.root / image_dir, f"{name}: frame folder")
        data = load_json(self.root, annotations)
        videos, self.categories = parse_vis_json(data, f"{name} ({annotations})")
        limit = positive_setting("max_videos", max_videos)
        videos = videos[:limit] if limit else videos
        if not videos:
            raise DatasetError(f"{name}: {annotations} lists no videos")
        self._videos = {v.name: v for v in videos}
        if styles is None:
            self.stylizer: Stylizer | None = load_stylizer(stylizer, num_styles=num_styles,
                                                           seed=seed)
            self._style_dirs: list[Path] = []
            self._style_names = self.stylizer.style_names
        else:
            self.stylizer = None
            base = Path(stylized_root).expanduser() if stylized_root else self.root
            self._style_dirs = [p if (p := Path(s)).is_absolute() else base / p for s in styles]
            missing = [str(p) for p in self._style_dirs if not p.is_dir()]
            if missing:
                raise DatasetError(f"{name}: style folders missing: {', '.join(missing)}")
            if len(self._style_dirs) < 2:
                raise DatasetError(f"{name}: needs at least 2 style folders, got "
                                   f"{[str(p) for p in self._style_dirs]} (dataset.styles)")
            self._style_names = [p.name for p in self._style_dirs]

    # -- VideoSource -----------------------------------------------------------------------
    @property
    def videos(self) -> list[str]:
        return list(self._videos)

    @property
    def num_styles(self) -> int:
        return len(self._style_names)

    @property
    def style_names(self) -> list[str]:
        return list(self._style_names)

    def video(self, video: str) -> VisVideo:
        if video not in self._videos:
            raise VideoReadError(f"unknown video '{video}' in {self.name}")
        return self._videos[video]

    def num_frames(self, video: str) -> int | None:
        return len(self.video(video).file_names)

    def frame_count(self, video: str, style: int) -> int:
        self._check_style(style)
        return len(self.video(video).file_names)

    def path_of(self, video: str, style: int) -> str | None:
        """The video's frame folder in ``style`` (on-the-fly styles share the original)."""
        first = Path(self.video(video).file_names[0])
        return str(self._folder(style) / first.parent)

    def read(self, video: str, style: int) -> np.ndarray:
        return self.read_frames(video, style, range(self.frame_count(video, style)))

    def read_frames(self, video: str, style: int, indices: Sequence[int]) -> np.ndarray:
        """Only the wanted frames are read (all of them for a style that is not frame-local);
        a frame whose size is not the JSON's raises ``VideoReadError`` naming the file."""
        info = self.video(video)
        wanted = unique_indices(indices)
        check_indices(video, wanted, len(info.file_names))
        stylizer = self.stylizer
        whole = stylizer is not None and not stylizer.frame_local(self._check_style(style))
        read_at = np.arange(len(info.file_names)) if whole else wanted
        folder = self._folder(style)
        frames = np.stack([self._read_one(folder / info.file_names[i], info) for i in read_at])
        if stylizer is None:
            return frames
        styled = stylizer(frames, style)
        return styled[wanted] if whole else styled

    # -- VIS extras --------------------------------------------------------------------------
    def instance_masks(self, video: str, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """bool (len(indices), n_instances, H, W): each instance's mask at each frame of
        ``indices`` (clip order, repeats kept), empty where its segmentation is None."""
        info = self.video(video)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        check_indices(video, np.unique(idx), len(info.file_names))
        out = np.zeros((len(idx), len(info.instances), info.height, info.width), bool)
        for k, inst in enumerate(info.instances):
            for j, t in enumerate(idx):
                out[j, k] = decode_segmentation(inst.segmentations[t], info.height, info.width)
        return out

    def category_names(self, video: str) -> list[str]:
        return [self.categories.get(i.category_id, str(i.category_id))
                for i in self.video(video).instances]

    # -- helpers -----------------------------------------------------------------------------
    def _check_style(self, style: int) -> int:
        if not 0 <= int(style) < self.num_styles:
            raise ValueError(f"style {style} out of range 0..{self.num_styles - 1}")
        return int(style)

    def _folder(self, style: int) -> Path:
        self._check_style(style)
        return self._style_dirs[style] if self._style_dirs else self.image_root

    @staticmethod
    def _read_one(path: Path, info: VisVideo) -> np.ndarray:
        image = read_image(path)
        if image.shape[:2] != (info.height, info.width):
            raise VideoReadError(f"frame {path} is {image.shape[1]}x{image.shape[0]}, the "
                                 f"annotations say {info.width}x{info.height}")
        return image
