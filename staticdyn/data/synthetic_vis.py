"""The embedded VIS set: textured objects with instance ids and exact masks, written to disk in
the official YouTube-VIS layout and read back by the real reader (``YouTubeVISSource``).

Why on disk: a synthetic run then exercises exactly the code path of YouTube-VIS and OVIS (JSON
parsing, RLE decoding with pycocotools, frame files, the scan), not a shortcut beside it.

Each video is a pure function of ``(seed, index)``: a textured background and ``n_objects``
textured shapes, each with its own motion (``synthetic.MOTION_CLASSES``), drawn in order (a
later object occludes an earlier one). An instance's mask at a frame is where its own shape
covers the pixel (alpha > 0.5) and no later object does; objects after the first may enter
late (``absent_frames``), so their first segmentations are ``None``, as in the official sets.
Category = the object's shape (``synthetic.SHAPES``).

Frames are written as JPEG (``<video>/<00000>.jpg``), as the official layout: the masks live in
the JSON as RLE, so they stay exact whatever the frame codec (the tests decode the RLE and
compare with the generator's masks), and the JPEG decode path the real sets need is the one
tested. Written once per parameter set under ``cache_dir``, atomically (a private copy renamed
into place; the first complete one wins).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from staticdyn.data.davis import write_once
from staticdyn.data.frames import write_frame_folder
from staticdyn.data.styles import TEXTURE_KINDS, make_texture
from staticdyn.data.synthetic import (
    MOTION_CLASSES,
    SHAPES,
    _draw_object,
    _Trajectory,
    _trajectory,
)
from staticdyn.data.youtube_vis import YouTubeVISSource, encode_mask
from staticdyn.errors import DatasetError

__all__ = ["ANNOTATIONS", "SyntheticVISSource", "VisRender", "render_vis_video",
           "write_synthetic_vis"]

ANNOTATIONS = "train.json"
FRAME_PATTERN = "%05d.jpg"  # YouTube-VIS names frames 00000.jpg, 00005.jpg, ...


@dataclass
class VisRender:
    """One rendered video: uint8 (T, H, W, 3) frames, bool (T, K, H, W) visible instance masks
    and the category index (into SHAPES) of each of the K instances."""

    frames: np.ndarray
    masks: np.ndarray
    categories: list[int]


def _slice(traj: _Trajectory, start: int) -> _Trajectory:
    return _Trajectory(traj.cx[start:], traj.cy[start:], traj.angle[start:], traj.scale[start:])


def render_vis_video(seed: int, index: int, num_frames: int = 12, size: int = 64,
                     n_objects: int = 3, absent_frames: int = 2) -> VisRender:
    """Render video ``index`` of the set seeded ``seed`` (see the module docstring)."""
    rng = np.random.default_rng([int(seed), int(index), 13])
    t, h, w = int(num_frames), int(size), int(size)
    canvas = np.broadcast_to(make_texture(rng, h, w).astype(np.float32), (t, h, w, 3)).copy()
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    own = np.zeros((n_objects, t, h, w), bool)
    categories = []
    for k in range(n_objects):
        shape_id = int(rng.integers(len(SHAPES)))
        motion = MOTION_CLASSES[int(rng.integers(len(MOTION_CLASSES)))]
        radius = float(rng.uniform(0.12, 0.18)) * size
        tile = make_texture(rng, h, w, kind=TEXTURE_KINDS[int(rng.integers(len(TEXTURE_KINDS)))])
        traj = _trajectory(rng, motion, t, size, radius)
        start = int(rng.integers(0, absent_frames + 1)) if k and absent_frames else 0
        start = min(start, t - 1)
        _draw_object(canvas[start:], own[k, start:], None, tile, SHAPES[shape_id], radius,
                     _slice(traj, start), xs, ys)
        categories.append(shape_id)
    visible = own.copy()
    for k in range(n_objects - 1):
        visible[k] &= ~own[k + 1:].any(axis=0)
    frames = np.rint(canvas, out=canvas).astype(np.uint8)
    return VisRender(frames, np.ascontiguousarray(visible.transpose(1, 0, 2, 3)), categories)


def vis_json(renders: Sequence[VisRender], names: Sequence[str]) -> dict:
    """The YouTube-VIS annotation JSON of rendered videos (RLE masks, None where absent)."""
    videos, annotations = [], []
    for vid, (render, name) in enumerate(zip(renders, names, strict=True), start=1):
        t, k, h, w = render.masks.shape
        videos.append({"id": vid, "file_names": [f"{name}/{FRAME_PATTERN % i}" for i in range(t)],
                       "height": h, "width": w, "length": t})
        for j in range(k):
            segs, areas, boxes = [], [], []
            for i in range(t):
                m = render.masks[i, j]
                if not m.any():
                    segs.append(None)
                    areas.append(None)
                    boxes.append(None)
                    continue
                rows, cols = np.nonzero(m)
                segs.append(encode_mask(m))
                areas.append(int(m.sum()))
                boxes.append([int(cols.min()), int(rows.min()), int(cols.max() - cols.min() + 1),
                              int(rows.max() - rows.min() + 1)])
            annotations.append({"id": len(annotations) + 1, "video_id": vid,
                                "category_id": render.categories[j] + 1, "segmentations": segs,
                                "areas": areas, "bboxes": boxes, "iscrowd": 0})
    categories = [{"id": i + 1, "name": s} for i, s in enumerate(SHAPES)]
    return {"videos": videos, "annotations": annotations, "categories": categories}


def write_synthetic_vis(root: Path, n_videos: int, num_frames: int, size: int, seed: int,
                        n_objects: int, absent_frames: int) -> None:
    """Write the set to ``root`` once (see the module docstring; ``write_once``)."""

    def write(tmp: Path) -> None:
        names = [f"synvis_{i:04d}" for i in range(n_videos)]
        renders = []
        for i, name in enumerate(names):
            render = render_vis_video(seed, i, num_frames, size, n_objects, absent_frames)
            write_frame_folder(tmp / "JPEGImages" / name, render.frames, FRAME_PATTERN, 0)
            renders.append(render)
        (tmp / ANNOTATIONS).write_text(json.dumps(vis_json(renders, names)))

    write_once(root, write, "synthetic VIS set")


class SyntheticVISSource(YouTubeVISSource):
    """The synthetic set, written once in the YouTube-VIS layout under ``cache_dir`` (keyed by
    its parameters) and read back as a ``YouTubeVISSource`` with on-the-fly built-in styles."""

    def __init__(self, cache_dir: str | Path = "outputs/cache/synthetic_vis", n_videos: int = 8,
                 num_frames: int = 12, size: int = 64, n_objects: int = 3,
                 absent_frames: int = 2, num_styles: int = 4, seed: int = 0,
                 stylizer: str | Sequence[str] | None = None, name: str = "synthetic_vis"):
        if n_videos < 1 or num_frames < 2 or size < 16 or n_objects < 1 or absent_frames < 0:
            raise DatasetError("synthetic_vis needs n_videos >= 1, num_frames >= 2, size >= 16, "
                               "n_objects >= 1 and absent_frames >= 0")
        key = f"n{n_videos}_t{num_frames}_s{size}_o{n_objects}_a{absent_frames}_seed{seed}"
        root = Path(cache_dir).expanduser() / key
        root.parent.mkdir(parents=True, exist_ok=True)
        write_synthetic_vis(root, int(n_videos), int(num_frames), int(size), int(seed),
                            int(n_objects), int(absent_frames))
        super().__init__(root, annotations=ANNOTATIONS, num_styles=num_styles, seed=seed,
                         stylizer=stylizer, name=name)
