"""Video object segmentation sources in the DAVIS layout, and the centre bias of their masks.

Layout (DAVIS 2016 and the authors' Stylized DAVIS; the synthetic set writes the same):

    <root>/JPEGImages/480p/<seq>/00000.jpg          original frames (not read by the probe)
    <stylized_root>/<style dir>/<seq>/00000.jpg     one folder per style (the authors':
                                                    JPEGImages/{Lynx,Maruska640,Zuzka1,Zuzka2})
    <root>/FlowImages_gap1/<seq>/00000.png          forward flow t -> t+1 as an RGB image
    <root>/FlowImages_gap-1/<seq>/00001.png         backward flow t -> t-1 (RTNet only)
    <root>/Annotations/480p/<seq>/00000.png         masks
    <root>/ImageSets/480p/<split>.txt               frame list of the split

The probe works on frames, not videos: every item of ``videos`` is ``"<seq>/<frame>"`` and
``read`` returns that one frame as (1, H, W, 3). A style is a folder of pre-stylised frames
because the authors' stylisation (AdaIN with four paintings) is not reproducible offline.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from staticdyn.data.flow import compute_flow, flow_to_rgb, read_flow_image
from staticdyn.data.frames import read_image
from staticdyn.data.segmentation import SyntheticSegmentation, read_image_set, read_mask
from staticdyn.data.source import VideoSource, existing_folder
from staticdyn.errors import DatasetError, VideoReadError

__all__ = ["CENTER_BIAS_SIZE", "DavisSource", "SyntheticDavisSource", "center_bias", "mask_paths"]

log = logging.getLogger(__name__)

#: (height, width) the authors resize every mask to before averaging (Fig. 7).
CENTER_BIAS_SIZE: tuple[int, int] = (480, 854)
_RESOLUTION_DIR = re.compile(r"^(\d+p|Full-Resolution)$")


class DavisSource(VideoSource):
    """Frames of a DAVIS-like set, each readable in every style, with flow and masks.

    ``styles``: style folders relative to ``stylized_root`` (default ``root``), or absolute;
    ``None`` takes every folder under ``<stylized_root>/JPEGImages`` except resolution folders
    (``480p``, ``Full-Resolution``), in name order. ``split=None`` lists the sequences and frames
    from the first style folder instead of ``ImageSets/<resolution>/<split>.txt``.
    """

    def __init__(self, root: str | Path, styles: Sequence[str] | None = None,
                 style_names: Sequence[str] | None = None,
                 stylized_root: str | Path | None = None, split: str | None = "val",
                 resolution: str = "480p", flow_dir: str = "FlowImages_gap1",
                 backward_flow_dir: str = "FlowImages_gap-1",
                 mask_dir: str = "Annotations/480p", image_ext: str = ".jpg",
                 name: str = "davis16"):
        self.name = name
        self.root = existing_folder(root, f"{name}: dataset root")
        self.stylized_root = Path(stylized_root).expanduser() if stylized_root else self.root
        self.flow_dir, self.backward_flow_dir = flow_dir, backward_flow_dir
        self.mask_dir, self.image_ext = mask_dir, image_ext
        self._style_dirs = self._find_styles(styles)
        if style_names is not None and len(style_names) != len(self._style_dirs):
            raise DatasetError(f"{name}: {len(style_names)} style names for "
                               f"{len(self._style_dirs)} style folders")
        self._style_names = [str(s) for s in style_names] if style_names is not None \
            else [d.name for d in self._style_dirs]
        self._frames = self._index(split, resolution)
        if not self._frames:
            raise DatasetError(f"{name}: no sequences found under {self.root}")

    def _find_styles(self, styles: Sequence[str] | None) -> list[Path]:
        if styles is None:
            base = self.stylized_root / "JPEGImages"
            found = sorted(p for p in base.iterdir() if p.is_dir()
                           and not _RESOLUTION_DIR.match(p.name)) if base.is_dir() else []
        else:
            found = [p if (p := Path(s)).is_absolute() else self.stylized_root / p
                     for s in styles]
        missing = [str(p) for p in found if not p.is_dir()]
        if missing:
            raise DatasetError(f"{self.name}: style folders missing: {', '.join(missing)}")
        if len(found) < 2:
            raise DatasetError(f"{self.name}: needs at least 2 style folders, found "
                               f"{[str(p) for p in found]} (set dataset.styles)")
        return found

    def _index(self, split: str | None, resolution: str) -> dict[str, list[str]]:
        if split is not None:
            return read_image_set(self.root, split, resolution)
        first = self._style_dirs[0]
        return {seq.name: sorted(p.stem for p in seq.iterdir() if p.suffix == self.image_ext)
                for seq in sorted(first.iterdir()) if seq.is_dir()}

    # -- VideoSource -----------------------------------------------------------------------
    @property
    def videos(self) -> list[str]:
        return [f"{seq}/{f}" for seq, frames in self._frames.items() for f in frames]

    @property
    def num_styles(self) -> int:
        return len(self._style_dirs)

    @property
    def style_names(self) -> list[str]:
        return list(self._style_names)

    def num_frames(self, video: str) -> int | None:
        return 1

    def read(self, video: str, style: int) -> np.ndarray:
        """Frame ``video`` ("<seq>/<frame>") in style ``style`` as uint8 (1, H, W, 3)."""
        seq, frame = self.split_item(video)
        return read_image(self._style_dirs[style] / seq / f"{frame}{self.image_ext}")[None]

    # -- VOS extras --------------------------------------------------------------------------
    @property
    def sequences(self) -> list[str]:
        return list(self._frames)

    def frames(self, seq: str) -> list[str]:
        if seq not in self._frames:
            raise VideoReadError(f"unknown sequence '{seq}'")
        return list(self._frames[seq])

    @staticmethod
    def split_item(video: str) -> tuple[str, str]:
        seq, sep, frame = video.rpartition("/")
        if not sep:
            raise VideoReadError(f"'{video}' is not a '<sequence>/<frame>' item")
        return seq, frame

    def read_flow(self, video: str, backward: bool = False) -> np.ndarray:
        """The precomputed flow image of a frame as uint8 (H, W, 3) (backward: t -> t-1)."""
        seq, frame = self.split_item(video)
        folder = self.backward_flow_dir if backward else self.flow_dir
        return read_flow_image(self.root / folder / seq / f"{frame}.png")

    def read_mask(self, video: str) -> np.ndarray:
        seq, frame = self.split_item(video)
        return read_mask(self.root / self.mask_dir / seq / f"{frame}.png")


# -- synthetic set, generated on first use ------------------------------------------------------
def _write_backward_flow(seg: SyntheticSegmentation, root: Path) -> None:
    """FlowImages_gap-1 (t -> t-1) for RTNet. The renderer gives exact forward flow only; the
    backward flow is estimated with OpenCV on the unstyled frames, which is what a real dataset
    provides too."""
    for seq in seg.videos:
        frames = seg.render(seq).frames
        out = root / "FlowImages_gap-1" / seq
        out.mkdir(parents=True, exist_ok=True)
        for t in range(1, len(frames)):
            rgb, _ = flow_to_rgb(compute_flow(frames[t], frames[t - 1]))
            cv2.imwrite(str(out / f"{t:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def write_once(root: Path, write: Callable[[Path], None], what: str) -> None:
    """Build a generated data set folder at ``root`` once (the synthetic VOS and VIS sets).

    ``write`` fills a private temporary folder, which is marked ``.complete`` and renamed into
    place: concurrent writers each build their own copy, the first complete one wins, and a
    reader never sees a half-written set.
    """
    if (root / ".complete").is_file():
        return
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    write(tmp)
    (tmp / ".complete").write_text("ok\n")
    try:
        tmp.rename(root)
        log.info("wrote %s to %s", what, root)
    except OSError:  # another process finished first, or a stale partial copy is in the way
        if (root / ".complete").is_file():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
            tmp.rename(root)


def write_synthetic_davis(root: Path, n_sequences: int, num_frames: int, size: int,
                          num_styles: int, seed: int, camouflage: bool, n_objects: int) -> None:
    """Write the synthetic set to ``root`` once (``write_once``)."""

    def write(tmp: Path) -> None:
        seg = SyntheticSegmentation(n_sequences=n_sequences, num_frames=num_frames, size=size,
                                    num_styles=num_styles, seed=seed, camouflage=camouflage,
                                    n_objects=n_objects)
        seg.write_davis_layout(tmp)
        _write_backward_flow(seg, tmp)

    write_once(root, write, "synthetic VOS set")


class SyntheticDavisSource(DavisSource):
    """The synthetic segmentation set, written once in the DAVIS layout (under ``cache_dir``,
    keyed by its parameters) and read back as a ``DavisSource``: synthetic runs exercise
    exactly the reader used for Stylized DAVIS."""

    def __init__(self, cache_dir: str | Path = "outputs/cache/synthetic_vos",
                 n_sequences: int = 6, num_frames: int = 8, size: int = 96, num_styles: int = 4,
                 seed: int = 0, camouflage: bool = False, n_objects: int = 1,
                 name: str = "synthetic_vos"):
        key = (f"n{n_sequences}_t{num_frames}_s{size}_k{num_styles}_seed{seed}"
               f"_c{int(camouflage)}_o{n_objects}")
        root = Path(cache_dir).expanduser() / key
        root.parent.mkdir(parents=True, exist_ok=True)
        write_synthetic_davis(root, n_sequences, num_frames, size, num_styles, seed,
                              bool(camouflage), n_objects)
        super().__init__(root, styles=[f"JPEGImages/style_{k}" for k in range(num_styles)],
                         split="val", name=name)


# -- centre bias (Table 1 / Fig. 7) -------------------------------------------------------------
MASK_LAYOUTS: dict[str, str] = {
    "davis": "Annotations/480p/*/*.png",   # DAVIS, Stylized DAVIS, the synthetic set
    "tao_vos": "*/*/*.png",                # TAO-VOS annotations_vos/<split>/Annotations
    "imagenet_vid": "*/*.png",             # ImageNet-VID segmentation masks, one folder/video
}


def mask_paths(root: str | Path, layout: str = "auto") -> list[Path]:
    """Every mask file of a dataset, sorted. ``auto``: the DAVIS layout if ``root`` has
    ``Annotations/480p``, else every PNG below ``root``."""
    root = existing_folder(root, "mask root")
    if layout == "auto":
        pattern = MASK_LAYOUTS["davis"] if (root / "Annotations" / "480p").is_dir() else "**/*.png"
    elif layout in MASK_LAYOUTS:
        pattern = MASK_LAYOUTS[layout]
    else:
        raise DatasetError(f"unknown mask layout '{layout}'. Valid choices: auto, "
                           f"{', '.join(MASK_LAYOUTS)}")
    paths = sorted(root.glob(pattern))
    if not paths:
        raise DatasetError(f"no mask files matching {pattern} under {root}")
    return paths


def center_bias(masks: Iterable[str | Path | np.ndarray],
                size: tuple[int, int] = CENTER_BIAS_SIZE) -> np.ndarray:
    """Mean of the binarised masks, each resized (nearest neighbour) to ``size`` = (H, W).

    Value at a pixel = fraction of annotated frames in which that pixel is foreground. Any
    non-zero label counts as foreground (the authors read only the first channel of a BGR
    decode, which is the same for DAVIS's grey masks but drops some palette colours).
    """
    total = np.zeros(size, np.float64)
    n = 0
    for m in masks:
        mask = m if isinstance(m, np.ndarray) else read_mask(m)
        mask = (mask.max(axis=2) if mask.ndim == 3 else mask) > 0
        if mask.shape != size:
            mask = cv2.resize(mask.astype(np.uint8), (size[1], size[0]),
                              interpolation=cv2.INTER_NEAREST) > 0
        total += mask
        n += 1
    if n == 0:
        raise DatasetError("centre bias of an empty mask set")
    return total / n
