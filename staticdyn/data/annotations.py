"""The authors' stylized datasets: frame folders plus each dataset's own split/annotation file.

The frames are ``<root>/style_<k>/<video folder>/<pattern>`` as for ``FrameFolderSource``; the
annotation file decides which videos are in the set, which frames of each video form the clip,
and the labels. The selection rules follow the authors' loaders, so the same videos are probed:

- Stylized ActivityNet v1.3: subset "validation"; frames extracted at 5 fps, named ``%06d.jpg``
  from 1, folders ``v_<id>``; the clip is the first annotated segment,
  frames [floor(start * fps), floor(end * fps)) clamped to the video; a video is skipped when it
  has fewer than 32 frames or (as in the authors' code) *any* segment is shorter than 16 frames.
- Something-Something v2 validation: 5,000 videos drawn with Python's ``random`` seeded 10 from
  the validation JSON (the authors' ``random.sample``), then videos under 8 frames dropped;
  frames ``%06d.jpg`` from 1; label = template without brackets, looked up in the labels JSON.
- Diving48 V2 test: every entry of ``Diving48_V2_test.json``; frames ``image_%05d.jpg`` from 0;
  the clip is the first ``end_frame - start_frame`` frames of the folder.

Videos listed in the annotation file but missing from the first style folder are skipped (and
listed in ``skipped`` with the reason), because a partially stylized download is common.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from staticdyn.data.frames import FrameFolderSource, list_frames
from staticdyn.errors import DatasetError, UnknownChoiceError, VideoReadError

__all__ = ["ActivityNetSource", "Diving48Source", "SSv2Source", "load_json"]

log = logging.getLogger(__name__)


def load_json(root: Path, name: str | Path) -> Any:
    """Read an annotation file given relative to ``root`` (or absolute)."""
    path = Path(name)
    if not path.is_absolute():
        path = root / path
    if not path.is_file():
        raise DatasetError(f"annotation file {path} does not exist")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"annotation file {path} is not valid JSON: {exc}") from exc


class _AnnotatedFrames(FrameFolderSource):
    """Frame folders whose video list, clip ranges and labels come from an annotation file.

    Subclasses fill ``_entries`` (video id -> folder name, (start, stop) or None, label) in
    ``_parse``; everything else (reading, error checks) is ``FrameFolderSource``.
    """

    def __init__(self, root: str | Path, pattern: str, styles: Sequence[str | int] | None,
                 name: str):
        self._entries: dict[str, tuple[str, tuple[int, int] | None, int | None]] = {}
        self.skipped: dict[str, str] = {}
        super().__init__(root=root, pattern=pattern, styles=styles, name=name)

    def _parse(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def _discover_videos(self) -> list[str]:
        self._parse()
        if self.skipped:
            log.info("%s: skipped %d videos (e.g. %s)", self.name, len(self.skipped),
                     next(iter(self.skipped.items())))
        if not self._entries:
            raise DatasetError(
                f"{self.name}: no usable video under {self._style_dirs[0]} "
                f"({len(self.skipped)} skipped, e.g. {list(self.skipped.items())[:3]})"
            )
        return list(self._entries)

    def _disk_count(self, folder: str) -> int | None:
        try:
            return len(list_frames(self._style_dirs[0] / folder, self.pattern))
        except VideoReadError:
            return None

    def folder_name(self, video: str) -> str:
        return self._entries[video][0] if video in self._entries else video

    def frame_range(self, video: str, available: int) -> tuple[int, int]:
        rng = self._entries[video][1] if video in self._entries else None
        if rng is None:
            return 0, available
        return rng[0], min(rng[1], available)

    def label(self, video: str) -> int | None:
        return self._entries[video][2] if video in self._entries else None


class ActivityNetSource(_AnnotatedFrames):
    """Stylized ActivityNet v1.3 (see module docstring for the selection rules).

    ``segment_rule``: "any" (authors' code: skip if any segment is too short) or "first"
    (only the probed, first segment must be long enough).
    """

    def __init__(self, root: str | Path, annotation_file: str = "activitynet_v13.json",
                 subset: str = "validation", fps: float = 5.0, min_frames: int = 32,
                 min_segment_frames: int = 16, segment_rule: str = "any",
                 pattern: str = "%06d.jpg", video_prefix: str = "v_",
                 styles: Sequence[str | int] | None = None, name: str = "stylized_activitynet"):
        if segment_rule not in ("any", "first"):
            raise UnknownChoiceError("segment_rule", segment_rule, ["any", "first"])
        self.annotation_file, self.subset, self.fps = annotation_file, subset, float(fps)
        self.min_frames, self.min_segment_frames = int(min_frames), int(min_segment_frames)
        self.segment_rule, self.video_prefix = segment_rule, video_prefix
        super().__init__(root, pattern, styles, name)

    def _parse(self) -> None:
        data = load_json(self.root, self.annotation_file)
        database = data.get("database", data) if isinstance(data, dict) else None
        if not isinstance(database, dict):
            raise DatasetError(f"{self.annotation_file}: expected a 'database' object")
        labels = sorted({e["annotations"][0]["label"] for e in database.values()
                         if e.get("annotations")})
        self.class_names = labels
        index = {n: i for i, n in enumerate(labels)}
        for vid, entry in database.items():
            if entry.get("subset") != self.subset:
                continue
            reason = self._add(vid, entry, index)
            if reason:
                self.skipped[vid] = reason

    def _add(self, vid: str, entry: dict[str, Any], index: dict[str, int]) -> str | None:
        anns = entry.get("annotations") or []
        if not anns:
            return "no annotated segment"
        folder = next((f for f in (self.video_prefix + vid, vid)
                       if (self._style_dirs[0] / f).is_dir()), None)
        if folder is None:
            return "no frame folder"
        n = int(entry["num_frames"]) if "num_frames" in entry else self._disk_count(folder)
        if not n:
            return "no readable frames"
        if n < self.min_frames:
            return f"{n} frames < {self.min_frames}"
        segments = []
        for ann in anns:
            start = math.floor(ann["segment"][0] * self.fps)
            stop = min(math.floor(ann["segment"][1] * self.fps), n)
            segments.append((start, stop))
        checked = segments if self.segment_rule == "any" else segments[:1]
        if any(b - a < self.min_segment_frames for a, b in checked):
            return f"segment shorter than {self.min_segment_frames} frames"
        self._entries[vid] = (folder, segments[0], index[anns[0]["label"]])
        return None


class SSv2Source(_AnnotatedFrames):
    """Something-Something v2 validation subset (see module docstring).

    ``subset_size: null`` keeps every video; ``labels_file: null`` gives no labels.
    """

    def __init__(self, root: str | Path,
                 annotation_file: str = "something-something-v2-validation.json",
                 labels_file: str | None = "something-something-v2-labels.json",
                 subset_size: int | None = 5000, subset_seed: int = 10, min_frames: int = 8,
                 pattern: str = "%06d.jpg", styles: Sequence[str | int] | None = None,
                 name: str = "ssv2"):
        self.annotation_file, self.labels_file = annotation_file, labels_file
        self.subset_size, self.subset_seed = subset_size, int(subset_seed)
        self.min_frames = int(min_frames)
        super().__init__(root, pattern, styles, name)

    def _parse(self) -> None:
        entries = load_json(self.root, self.annotation_file)
        if not isinstance(entries, list):
            raise DatasetError(f"{self.annotation_file}: expected a list of videos")
        label_index: dict[str, int] | None = None
        if self.labels_file is not None:
            raw = load_json(self.root, self.labels_file)
            label_index = {k: int(v) for k, v in raw.items()}
            self.class_names = [k for k, _ in sorted(label_index.items(), key=lambda kv: kv[1])]
        if self.subset_size is not None and len(entries) > self.subset_size:
            # the authors' draw: random.seed(10); random.sample(validation_json, 5000)
            chosen = {e["id"] for e in random.Random(self.subset_seed).sample(
                entries, self.subset_size)}
            entries = [e for e in entries if e["id"] in chosen]
        for e in entries:
            vid = str(e["id"])
            n = self._disk_count(vid)
            if n is None:
                self.skipped[vid] = "no frame folder or no frames"
                continue
            if n < self.min_frames:
                self.skipped[vid] = f"{n} frames < {self.min_frames}"
                continue
            label = None
            if label_index is not None:
                template = str(e.get("template", "")).replace("[", "").replace("]", "")
                if template not in label_index:
                    self.skipped[vid] = f"template '{template}' not in labels file"
                    continue
                label = label_index[template]
            self._entries[vid] = (vid, None, label)


class Diving48Source(_AnnotatedFrames):
    """Diving48 V2 test split (see module docstring)."""

    def __init__(self, root: str | Path, annotation_file: str = "Diving48_V2_test.json",
                 pattern: str = "image_%05d.jpg", min_frames: int = 1,
                 styles: Sequence[str | int] | None = None, name: str = "diving48"):
        self.annotation_file, self.min_frames = annotation_file, int(min_frames)
        super().__init__(root, pattern, styles, name)

    def _parse(self) -> None:
        entries = load_json(self.root, self.annotation_file)
        if not isinstance(entries, list):
            raise DatasetError(f"{self.annotation_file}: expected a list of videos")
        self.class_names = [str(i) for i in range(max((int(e["label"]) for e in entries),
                                                       default=-1) + 1)]
        for e in entries:
            vid = str(e["vid_name"])
            n = self._disk_count(vid)
            if n is None:
                self.skipped[vid] = "no frame folder or no frames"
                continue
            length = int(e.get("end_frame", n)) - int(e.get("start_frame", 0))
            length = min(length, n) if length > 0 else n
            if length < self.min_frames:
                self.skipped[vid] = f"{length} frames < {self.min_frames}"
                continue
            self._entries[vid] = (vid, (0, length), int(e["label"]))
