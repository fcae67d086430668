"""A static shortcut planted in a dataset: a coloured patch that predicts the class in training.

Why: StaticDropout is meant to push a model from static toward dynamic information. That only
pays off in accuracy when static information is *misleading*, i.e. when appearance is a
distractor. On motion-defined synthetic classes appearance is merely random; this wrapper makes
it misleading. Every frame of a training video carries a small patch whose colour equals the
class with probability ``correlation`` (otherwise a random class); validation videos carry a
patch of a random class. A model that reads the patch scores well in training and at chance on
validation; only motion generalises.

The patch is painted on the *unstyled* render, before the stylizer, so a style changes its
colour like any other appearance: the patch is static information (identical under frame
shuffling, altered by restyling), exactly what the probe calls static.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable

import numpy as np

from staticdyn.data.source import VideoSource
from staticdyn.errors import DatasetError


def cue_palette(n: int) -> np.ndarray:
    """``n`` RGB colours spread in hue *and* brightness (a luminance-only style keeps them
    apart by brightness)."""
    out = []
    for k in range(n):
        value = 0.45 + 0.55 * ((k * 7) % n) / max(n - 1, 1)
        out.append(np.array(colorsys.hsv_to_rgb(k / n, 0.9, value)) * 255.0)
    return np.rint(np.stack(out)).astype(np.uint8)


class StaticCueSource(VideoSource):
    """Wraps a source that renders unstyled frames (``render(video).frames`` + ``stylizer``).

    ``train_videos`` get the class-correlated cue; every other video an independent random one.
    """

    def __init__(self, base: VideoSource, train_videos: Iterable[str], correlation: float = 0.9,
                 seed: int = 0, patch_fraction: float = 0.2):
        if not (hasattr(base, "render") and hasattr(base, "stylizer")):
            raise DatasetError(f"dataset '{base.name}' cannot render unstyled frames; the "
                               "static cue needs a synthetic source")
        if not 0.0 <= correlation <= 1.0:
            raise ValueError(f"correlation must be in [0, 1]; got {correlation}")
        self.base, self.name = base, f"{base.name}+cue{correlation:g}"
        self.correlation, self.seed, self.patch_fraction = correlation, seed, patch_fraction
        self.num_classes = int(getattr(base, "num_classes", 0))
        if self.num_classes < 2:
            raise DatasetError(f"dataset '{base.name}' has no classes to plant a cue for")
        self.palette = cue_palette(self.num_classes)
        self.train_videos = set(train_videos)
        self._index = {v: i for i, v in enumerate(base.videos)}

    @property
    def videos(self) -> list[str]:
        return self.base.videos

    @property
    def num_styles(self) -> int:
        return self.base.num_styles

    def label(self, video: str) -> int | None:
        return self.base.label(video)

    def cue(self, video: str) -> int:
        """The patch's class: the label with probability ``correlation`` on training videos."""
        rng = np.random.default_rng([self.seed, 0xC0E, self._index[video]])
        random_class = int(rng.integers(self.num_classes))
        if video in self.train_videos and rng.random() < self.correlation:
            return int(self.base.label(video))
        return random_class

    def read(self, video: str, style: int) -> np.ndarray:
        frames = self.base.render(video).frames.copy()  # type: ignore[attr-defined]
        k = max(2, int(round(frames.shape[1] * self.patch_fraction)))
        frames[:, 1:1 + k, 1:1 + k] = self.palette[self.cue(video)]
        return self.base.stylizer(frames, style)  # type: ignore[attr-defined]
