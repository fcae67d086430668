"""A tiny in-memory VideoSource for probe tests: fast, deterministic, with planted bad items."""

from __future__ import annotations

import numpy as np

from staticdyn.data.source import VideoSource
from staticdyn.errors import VideoReadError


class FakeSource(VideoSource):
    """Moving random blobs; style k is a fixed per-channel gain and offset (no flicker)."""

    def __init__(self, name: str = "fake", n_videos: int = 12, num_frames: int = 12,
                 size: int = 40, num_styles: int = 3, bad: list[str] | None = None,
                 seed: int = 0):
        self.name, self.n, self.t, self.size, self.s = name, n_videos, num_frames, size, num_styles
        self.bad = set(bad or [])
        self.seed = seed
        self.reads = 0

    @property
    def videos(self) -> list[str]:
        return [f"v{i:03d}" for i in range(self.n)]

    @property
    def num_styles(self) -> int:
        return self.s

    def read(self, video: str, style: int) -> np.ndarray:
        self.reads += 1
        if video in self.bad:
            raise VideoReadError(f"{video}: planted unreadable video")
        i = int(video[1:])
        rng = np.random.default_rng([self.seed, i])
        base = rng.uniform(0, 255, size=(self.size, self.size, 3))
        dx = int(rng.integers(1, 4))
        frames = np.stack([np.roll(base, dx * t, axis=1) for t in range(self.t)])
        gain = np.random.default_rng([99, style]).uniform(0.3, 1.0, size=3)
        offset = np.random.default_rng([98, style]).uniform(0, 80, size=3)
        return np.clip(frames * gain + offset, 0, 255).astype(np.uint8)
