"""From decoded frames to model input tensors (METHOD.md section 1, action recognition).

n_sample_frames consecutive frames (cycled when the video is shorter), UniformTemporalSubsample
to the model's frame count (linspace indices, truncated), /255, per-channel normalisation,
short-side bilinear resize, centre crop. Two-pathway models get the fast pathway at
frames * alpha and the slow pathway subsampled from it, as PyTorchVideo's PackPathway does.
Written with plain torch ops (the same arithmetic as pytorchvideo.transforms) because
pytorchvideo.transforms cannot be imported beside current torchvision (see README).

Which frames a clip uses depends only on the video's frame count, the window start and the
spec, so ``clip_indices`` computes them before anything is decoded and a source reads just
those (``VideoSource.read_frames``). ``build_clip`` (all frames in memory) and
``transform_clip`` (the picked frames only) give the same tensors bit for bit.

The resize stays after normalisation, in float: resizing uint8 frames right after decoding
(before stylisation and normalisation) rounds to integers and changes the pixel values, so the
clip transform cannot move into the readers without changing every feature.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from staticdyn.data.spec import ClipSpec
from staticdyn.errors import UnknownChoiceError, VideoReadError

#: ``probe.short_videos``: what a video shorter than the n_sample_frames window gives.
#: ``cycle`` (the authors' code, default) repeats it from frame 0, so the subsampled clip is
#: out of order; ``stretch`` subsamples in order over the frames there are; ``skip`` refuses it.
SHORT_VIDEOS: tuple[str, ...] = ("cycle", "stretch", "skip")


def window_indices(num_frames: int, n_sample: int, start: int = 0,
                   short_videos: str = "cycle", video: str = "") -> np.ndarray:
    """Indices of n_sample consecutive frames from ``start``; see ``SHORT_VIDEOS`` for a video
    shorter than the window (``video`` names it in the ``skip`` error)."""
    if short_videos not in SHORT_VIDEOS:
        raise UnknownChoiceError("probe.short_videos", str(short_videos), SHORT_VIDEOS)
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    if num_frames < n_sample and short_videos != "cycle":
        if short_videos == "skip":
            name = f"video '{video}'" if video else "video"
            raise VideoReadError(
                f"{name} has {num_frames} frames, fewer than the {n_sample}-frame window "
                "(probe.short_videos=skip; cycle or stretch use it)")
        return np.arange(num_frames)
    return (start + np.arange(n_sample)) % num_frames


def is_cycled(num_frames: int, spec: ClipSpec, short_videos: str = "cycle") -> bool:
    """Whether the clip of a ``num_frames`` video wraps around (its frames are out of order)."""
    return short_videos == "cycle" and num_frames < spec.n_sample_frames


def uniform_subsample_indices(n: int, t: int) -> np.ndarray:
    """pytorchvideo's UniformTemporalSubsample: linspace(0, n - 1, t), truncated to int."""
    return torch.linspace(0, n - 1, t).long().numpy()


def short_side_size(h: int, w: int, size: int) -> tuple[int, int]:
    """Target (h, w) with the short side at ``size``, as pytorchvideo's short_side_scale."""
    if w < h:
        return int(math.floor(h / w * size)), size
    return size, int(math.floor(w / h * size))


def normalize_resize_crop(frames: np.ndarray | torch.Tensor, spec: ClipSpec) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (3, T, crop, crop), normalised.

    One frame at a time where that gives the same values bit for bit, so only one full-size
    float frame is alive (a 1080p clip at once held several float copies of it). Every step
    acts on each frame alone, but torch picks its bilinear kernel from the tensor's shape: the
    clip, (3, T, H, W), goes through its generic kernel unless the output is small (height +
    width <= 128) or, on one thread, T is 3; those cases take another kernel that rounds
    differently and keep the whole clip at once (small frames cost little memory anyway).
    A frame goes through as (3, 1, H, W), which takes the generic kernel too.
    """
    frames = torch.as_tensor(np.ascontiguousarray(frames))
    t, h, w = frames.shape[:3]
    nh, nw = short_side_size(h, w, spec.short_side)
    resized = (nh, nw) != (h, w)
    if t <= 1 or (resized and _other_kernel(t, nh, nw)):
        return _normalize_resize_crop(frames, spec)
    top, left = (nh - spec.crop) // 2, (nw - spec.crop) // 2
    if top < 0 or left < 0:
        raise ValueError(f"crop {spec.crop} larger than resized frame {nh}x{nw}")
    mean = torch.tensor(spec.mean, dtype=torch.float32).view(3, 1, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32).view(3, 1, 1, 1)
    work = torch.empty((3, 1, h, w), dtype=torch.float32)  # the one full-size float frame
    out = torch.empty((3, t, spec.crop, spec.crop), dtype=torch.float32)
    for i in range(t):
        work.copy_(frames[i : i + 1].permute(3, 0, 1, 2))  # the same ops, in place
        work.div_(255.0).sub_(mean).div_(std)
        x = F.interpolate(work, size=(nh, nw), mode="bilinear", align_corners=False) \
            if resized else work
        out[:, i : i + 1] = x[:, :, top : top + spec.crop, left : left + spec.crop]
    return out


def _other_kernel(channels: int, nh: int, nw: int) -> bool:
    """Whether torch's CPU bilinear resize of float (N, ``channels``, H, W) to (nh, nw) takes
    its channels-last kernel (``upsample_bilinear2d_kernel_impl_float``), not the generic one
    whose values do not depend on N or channels."""
    return nh + nw <= 128 or (torch.get_num_threads() == 1 and channels == 3)


def _normalize_resize_crop(frames: torch.Tensor, spec: ClipSpec) -> torch.Tensor:
    """The clip transform on (T, H, W, 3) frames, all at once."""
    x = frames.permute(3, 0, 1, 2).float() / 255.0
    mean = torch.tensor(spec.mean, dtype=x.dtype).view(3, 1, 1, 1)
    std = torch.tensor(spec.std, dtype=x.dtype).view(3, 1, 1, 1)
    x = (x - mean) / std
    _, _, h, w = x.shape
    nh, nw = short_side_size(h, w, spec.short_side)
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False)
    top = (nh - spec.crop) // 2
    left = (nw - spec.crop) // 2
    if top < 0 or left < 0:
        raise ValueError(f"crop {spec.crop} larger than resized frame {nh}x{nw}")
    return x[:, :, top : top + spec.crop, left : left + spec.crop].contiguous()


def clip_indices(num_frames: int, spec: ClipSpec, start: int = 0, short_videos: str = "cycle",
                 video: str = "") -> np.ndarray:
    """Video frame index of each frame of the clip's (fast or only) pathway, in clip order.

    Needs only the frame count: the window from ``start`` (cycled, stretched or refused when
    the video is shorter, see ``SHORT_VIDEOS``), then UniformTemporalSubsample to the largest
    pathway's frame count. The slow pathway is a subsample of these (``pathway_indices``).
    """
    window = window_indices(num_frames, spec.n_sample_frames, start, short_videos, video)
    return window[uniform_subsample_indices(len(window), spec.pathway_frames[-1])]


def _slow_from_fast(t_fast: int, alpha: int) -> torch.Tensor:
    """PackPathway's slow-pathway positions within the fast pathway."""
    return torch.linspace(0, t_fast - 1, t_fast // alpha).long()


def pathway_indices(num_frames: int, spec: ClipSpec, start: int = 0,
                    short_videos: str = "cycle", video: str = "") -> list[np.ndarray]:
    """Video frame indices per pathway, in the order the model takes them (slow first)."""
    fast = clip_indices(num_frames, spec, start, short_videos, video)
    if spec.alpha is None:
        return [fast]
    return [fast[_slow_from_fast(len(fast), spec.alpha).numpy()], fast]


def transform_clip(picked: np.ndarray, spec: ClipSpec) -> list[torch.Tensor]:
    """Model input from the clip's frames already picked (``frames[clip_indices(...)]``)."""
    x = normalize_resize_crop(picked, spec)
    if spec.alpha is None:
        return [x]
    return [x.index_select(1, _slow_from_fast(x.shape[1], spec.alpha)), x]


def build_clip(frames: np.ndarray, spec: ClipSpec, start: int = 0,
               short_videos: str = "cycle") -> list[torch.Tensor]:
    """Model input for one clip: a list with one (3, T_p, crop, crop) tensor per pathway."""
    return transform_clip(frames[clip_indices(frames.shape[0], spec, start, short_videos)], spec)


def permute_clip(clip: list[torch.Tensor], perms: list[np.ndarray]) -> list[torch.Tensor]:
    """Each pathway's time axis permuted with its own permutation (static pairs)."""
    return [x.index_select(1, torch.as_tensor(p, dtype=torch.long)) for x, p in zip(clip, perms,
                                                                                    strict=True)]
