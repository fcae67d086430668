"""Training inputs: labelled clips from any VideoSource, split by video, seeded per sample.

Why these choices:
- Clips go through ``staticdyn.data.clips.build_clip``, the exact transform the probe uses, so
  a model is trained on the inputs it will later be probed on (no train/probe mismatch).
- Each training sample is drawn in a random style. Styles change colour and texture, never
  motion, so for motion-defined classes appearance becomes a nuisance the model must ignore;
  for appearance-defined classes the style is part of what it must see through.
- Everything random about sample ``i`` in epoch ``e`` (style, clip start, time permutation)
  comes from ``default_rng([seed, e, i])``: the batch composition, the number of DataLoader
  workers and the point at which a run resumed cannot change a single pixel.
- Validation samples use the epoch-independent ``[seed, VAL_EPOCH, i]`` stream, so every
  evaluation of a run (and the ordered and shuffled twins of the shuffle experiment) sees the
  same validation clips.
- The shuffled variant permutes the time axis of the transformed clip (every pathway with its
  own permutation), as the probe's static pairs do.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from staticdyn.data.clips import build_clip, permute_clip
from staticdyn.data.pairs import clip_start
from staticdyn.data.source import VideoSource
from staticdyn.data.spec import ClipSpec
from staticdyn.errors import DatasetError, UnknownChoiceError

VAL_EPOCH = -1  # the rng stream of validation samples (never a real epoch)
START_MODES = ("first", "random")


def split_indices(n_videos: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, val) video indices: a seeded permutation cut at ``val_fraction``.

    Split by video, never by clip, so no validation video is ever seen in training.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1); got {val_fraction}")
    order = np.random.default_rng([seed, 0x5917]).permutation(n_videos)
    n_val = int(round(n_videos * val_fraction))
    if val_fraction > 0 and n_val == 0:
        n_val = 1
    return sorted(int(i) for i in order[n_val:]), sorted(int(i) for i in order[:n_val])


class ClipDataset(torch.utils.data.Dataset):
    """Map-style dataset of ``(pathway tensors, label)`` over chosen videos of a source.

    ``style``: "random" (uniform per sample) or an int (always that style). With
    ``warmup_epochs`` > 0, training epochs before it use ``warmup_style`` instead: a curriculum
    that lets a small network find the motion signal in one style first, then become style
    invariant (see docs/training.md; validation always uses the final regime).
    ``shuffle_frames``: permute each clip's time axis (the shuffled-frame experiment).
    ``epoch`` selects the rng stream; ``set_epoch`` moves a training set to the next epoch,
    ``VAL_EPOCH`` freezes a validation set.
    """

    def __init__(self, source: VideoSource, indices: Sequence[int], spec: ClipSpec,
                 seed: int = 0, style: str | int = "random", shuffle_frames: bool = False,
                 start: str = "first", epoch: int = 0, warmup_epochs: int = 0,
                 warmup_style: int = 0):
        if start not in START_MODES:
            raise UnknownChoiceError("train.clip_start", start, START_MODES)
        if style != "random" and not 0 <= int(style) < source.num_styles:
            raise ValueError(f"style {style} outside 0..{source.num_styles - 1}")
        self.source, self.spec = source, spec
        self.videos = [source.videos[i] for i in indices]
        self.labels = [source.label(v) for v in self.videos]
        missing = [v for v, y in zip(self.videos, self.labels, strict=True) if y is None]
        if missing:
            raise DatasetError(
                f"dataset '{source.name}' has no label for {len(missing)} videos (first: "
                f"{missing[0]}); training needs classes (synthetic: dataset.classes=motion)")
        self.seed, self.style, self.shuffle_frames = int(seed), style, bool(shuffle_frames)
        self.start, self.epoch = start, int(epoch)
        self.warmup_epochs, self.warmup_style = int(warmup_epochs), int(warmup_style)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.videos)

    def style_of(self, rng: np.random.Generator) -> int:
        draw = int(rng.integers(self.source.num_styles))  # always drawn: same stream either way
        if 0 <= self.epoch < self.warmup_epochs:
            return self.warmup_style
        return draw if self.style == "random" else int(self.style)

    def sample(self, i: int) -> tuple[list[torch.Tensor], int]:
        rng = np.random.default_rng([self.seed, self.epoch + 1, i])  # +1: VAL_EPOCH stays >= 0
        video = self.videos[i]
        style = self.style_of(rng)
        frames = self.source.read(video, style)
        start = clip_start(int(rng.integers(2**31)), frames.shape[0], self.spec.n_sample_frames,
                           self.start)
        clip = build_clip(frames, self.spec, start)
        if self.shuffle_frames:
            clip = permute_clip(clip, [rng.permutation(x.shape[1]) for x in clip])
        return clip, int(self.labels[i])

    def __getitem__(self, i: int) -> tuple[list[torch.Tensor], int]:
        return self.sample(i)


def collate(batch: list[tuple[list[torch.Tensor], int]]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Stack per pathway; labels as a long tensor."""
    clips, labels = zip(*batch, strict=True)
    paths = [torch.stack([c[p] for c in clips]) for p in range(len(clips[0]))]
    return paths, torch.tensor(labels, dtype=torch.long)


class EpochSampler(torch.utils.data.Sampler[int]):
    """A seeded permutation per epoch, optionally starting ``skip`` samples in.

    ``skip`` is what makes a mid-epoch resume exact and cheap: the batches already trained on
    are neither loaded nor re-drawn.
    """

    def __init__(self, n: int, seed: int, epoch: int, skip: int = 0, shuffle: bool = True):
        self.n, self.seed, self.epoch, self.skip, self.shuffle = n, seed, epoch, skip, shuffle

    def order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng([self.seed, 0x0DE5, self.epoch]).permutation(self.n)

    def __iter__(self) -> Iterator[int]:
        return iter(int(i) for i in self.order()[self.skip:])

    def __len__(self) -> int:
        return max(self.n - self.skip, 0)


def model_inputs(paths: list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
    """A single-pathway model takes a tensor, a multi-pathway one a list (PyTorchVideo)."""
    return paths[0] if len(paths) == 1 else list(paths)
