"""A synthetic video-object-segmentation set with exact ground truth, in a DAVIS-like layout.

The VOS experiments (METHOD.md section 1) need frames, object masks and optical flow. DAVIS
cannot be downloaded here, so this set renders sequences whose masks and forward flow are exact
(from the renderer's analytic motion, not estimated), and writes them in the DAVIS 2016 layout
so the same readers that read DAVIS read this:

    <root>/JPEGImages/480p/<seq>/00000.jpg       original frames (0-based, like DAVIS)
    <root>/JPEGImages/style_<k>/<seq>/00000.jpg  stylized frames (the authors' stylized DAVIS
                                                 keeps one JPEGImages/<style> folder per style)
    <root>/Annotations/480p/<seq>/00000.png      binary masks, 0/255
    <root>/FlowImages_gap1/<seq>/00000.png       flow t -> t+1 as HSV-encoded RGB (no last frame)
    <root>/Flow_gap1/<seq>/00000.flo             the exact flow (Middlebury .flo)
    <root>/Flow_gap1/<seq>/max_magnitude.json    per-frame normalisation of the flow images
    <root>/ImageSets/480p/val.txt                "/JPEGImages/480p/<seq>/00000.jpg /Annotations/..."

``camouflage=True`` gives objects the background's texture: they can be found only by motion,
a sequence where a static-biased model must fail.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from staticdyn.data.flow import flow_to_rgb, write_flo
from staticdyn.data.frames import write_frame_folder
from staticdyn.data.source import VideoSource
from staticdyn.data.styles import Stylizer, load_stylizer
from staticdyn.data.synthetic import RenderedVideo, render_video
from staticdyn.errors import DatasetError, VideoReadError

__all__ = ["SyntheticSegmentation", "read_image_set", "read_mask"]

DAVIS_PATTERN = "%05d.jpg"
_SEED_SALT = 7_919  # keeps segmentation sequences distinct from SyntheticSource videos


def read_image_set(root: str | Path, split: str = "val",
                   resolution: str = "480p") -> dict[str, list[str]]:
    """DAVIS ``ImageSets/<resolution>/<split>.txt`` -> {sequence: [frame stems in order]}."""
    path = Path(root) / "ImageSets" / resolution / f"{split}.txt"
    if not path.is_file():
        raise DatasetError(f"image set {path} does not exist")
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        image = Path(line.split()[0])
        out.setdefault(image.parent.name, []).append(image.stem)
    return out


def read_mask(path: str | Path) -> np.ndarray:
    """A DAVIS annotation PNG as a bool (H, W) mask (any non-zero label is foreground)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise VideoReadError(f"cannot read mask {path}")
    if img.ndim == 3:
        img = img.max(axis=2)
    return img > 0


class SyntheticSegmentation(VideoSource):
    """``n_sequences`` rendered sequences with exact masks and flow; also a ``VideoSource``.

    Sequence ``seq_<i:03d>`` is a pure function of ``(seed, i)`` and the options, like the
    synthetic action set.
    """

    def __init__(self, n_sequences: int = 8, num_frames: int = 16, size: int = 128,
                 num_styles: int = 4, seed: int = 0, camouflage: bool = False,
                 n_objects: int = 1, stylizer: str | Sequence[str] | Stylizer | None = None,
                 name: str = "synthetic_segmentation"):
        self.name = name
        self.n_sequences, self.frames_per_sequence = int(n_sequences), int(num_frames)
        self.size, self.seed = int(size), int(seed)
        self.camouflage, self.n_objects = bool(camouflage), int(n_objects)
        self.stylizer = load_stylizer(stylizer, num_styles=num_styles, seed=self.seed)
        self._sequences = [f"seq_{i:03d}" for i in range(self.n_sequences)]
        self._cache: OrderedDict[str, RenderedVideo] = OrderedDict()

    @property
    def videos(self) -> list[str]:
        return list(self._sequences)

    @property
    def num_styles(self) -> int:
        return self.stylizer.num_styles

    def num_frames(self, video: str) -> int | None:
        self._index(video)
        return self.frames_per_sequence

    def _index(self, seq: str) -> int:
        try:
            return self._sequences.index(seq)
        except ValueError:
            raise VideoReadError(f"unknown sequence '{seq}'") from None

    def render(self, seq: str) -> RenderedVideo:
        """Unstyled frames, exact masks and exact forward flow (last two kept in memory)."""
        if seq not in self._cache:
            self._cache[seq] = render_video(
                self.seed + _SEED_SALT, self._index(seq), self.frames_per_sequence, self.size,
                with_flow=True, camouflage=self.camouflage, n_objects=self.n_objects)
            while len(self._cache) > 2:
                self._cache.popitem(last=False)
        return self._cache[seq]

    def read(self, video: str, style: int) -> np.ndarray:
        return self.stylizer(self.render(video).frames, style)

    def masks(self, seq: str) -> np.ndarray:
        return self.render(seq).masks

    def flow(self, seq: str) -> np.ndarray:
        flow = self.render(seq).flow
        assert flow is not None
        return flow

    def write_davis_layout(self, root: str | Path, split: str = "val") -> Path:
        """Write every sequence in the DAVIS-like layout of the module docstring."""
        root = Path(root)
        lines: list[str] = []
        for seq in self._sequences:
            video = self.render(seq)
            write_frame_folder(root / "JPEGImages" / "480p" / seq, video.frames, DAVIS_PATTERN,
                               start_index=0)
            for k in range(self.num_styles):
                write_frame_folder(root / "JPEGImages" / f"style_{k}" / seq,
                                   self.stylizer(video.frames, k), DAVIS_PATTERN, start_index=0)
            ann_dir = root / "Annotations" / "480p" / seq
            ann_dir.mkdir(parents=True, exist_ok=True)
            for t, mask in enumerate(video.masks):
                cv2.imwrite(str(ann_dir / f"{t:05d}.png"), mask.astype(np.uint8) * 255)
                lines.append(f"/JPEGImages/480p/{seq}/{t:05d}.jpg "
                             f"/Annotations/480p/{seq}/{t:05d}.png")
            self._write_flow(root, seq, video)
        image_sets = root / "ImageSets" / "480p"
        image_sets.mkdir(parents=True, exist_ok=True)
        (image_sets / f"{split}.txt").write_text("\n".join(lines) + "\n")
        return root

    @staticmethod
    def _write_flow(root: Path, seq: str, video: RenderedVideo) -> None:
        img_dir = root / "FlowImages_gap1" / seq
        flo_dir = root / "Flow_gap1" / seq
        img_dir.mkdir(parents=True, exist_ok=True)
        flo_dir.mkdir(parents=True, exist_ok=True)
        peaks: dict[str, float] = {}
        assert video.flow is not None
        for t, flow in enumerate(video.flow):
            rgb, peak = flow_to_rgb(flow)
            cv2.imwrite(str(img_dir / f"{t:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            write_flo(flo_dir / f"{t:05d}.flo", flow)
            peaks[f"{t:05d}"] = peak
        (flo_dir / "max_magnitude.json").write_text(json.dumps(peaks, indent=0))
