"""From decoded frames to model input tensors (METHOD.md section 1, action recognition).

n_sample_frames consecutive frames (cycled when the video is shorter), UniformTemporalSubsample
to the model's frame count (linspace indices, truncated), /255, per-channel normalisation,
short-side bilinear resize, centre crop. Two-pathway models get the fast pathway at
frames * alpha and the slow pathway subsampled from it, as PyTorchVideo's PackPathway does.
Written with plain torch ops (the same arithmetic as pytorchvideo.transforms) because
pytorchvideo.transforms cannot be imported beside current torchvision (see README).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from staticdyn.data.spec import ClipSpec


def window_indices(num_frames: int, n_sample: int, start: int = 0) -> np.ndarray:
    """Indices of n_sample consecutive frames from ``start``, cycling when the video is short."""
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    return (start + np.arange(n_sample)) % num_frames


def uniform_subsample_indices(n: int, t: int) -> np.ndarray:
    """pytorchvideo's UniformTemporalSubsample: linspace(0, n - 1, t), truncated to int."""
    return torch.linspace(0, n - 1, t).long().numpy()


def short_side_size(h: int, w: int, size: int) -> tuple[int, int]:
    """Target (h, w) with the short side at ``size``, as pytorchvideo's short_side_scale."""
    if w < h:
        return int(math.floor(h / w * size)), size
    return size, int(math.floor(w / h * size))


def normalize_resize_crop(frames: np.ndarray | torch.Tensor, spec: ClipSpec) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (3, T, crop, crop), normalised."""
    x = torch.as_tensor(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float() / 255.0
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


def build_clip(frames: np.ndarray, spec: ClipSpec, start: int = 0) -> list[torch.Tensor]:
    """Model input for one clip: a list with one (3, T_p, crop, crop) tensor per pathway."""
    window = window_indices(frames.shape[0], spec.n_sample_frames, start)
    t_max = spec.pathway_frames[-1]
    picked = frames[window[uniform_subsample_indices(len(window), t_max)]]
    x = normalize_resize_crop(picked, spec)
    if spec.alpha is None:
        return [x]
    slow_idx = torch.linspace(0, x.shape[1] - 1, x.shape[1] // spec.alpha).long()
    return [x.index_select(1, slow_idx), x]


def permute_clip(clip: list[torch.Tensor], perms: list[np.ndarray]) -> list[torch.Tensor]:
    """Each pathway's time axis permuted with its own permutation (static pairs)."""
    return [x.index_select(1, torch.as_tensor(p, dtype=torch.long)) for x, p in zip(clip, perms,
                                                                                    strict=True)]
