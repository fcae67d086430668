"""The clip specification of a model: what the data side must build for it (METHOD.md 1).

It lives in ``data`` because clips, pairs and loaders are built from it; model cards only fill
it in, so the data layer never needs to import the models.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClipSpec:
    """How a clip is built for this model (METHOD.md section 1).

    ``frames`` is the frame count of the (single or slow) pathway. For two-pathway models
    ``alpha`` is the fast/slow frame ratio: the fast pathway gets ``frames * alpha`` frames and
    the slow pathway is subsampled from it, as PyTorchVideo's PackPathway does.
    """

    frames: int = 8
    sampling_rate: int = 8
    crop: int = 256
    short_side: int = 256
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45)
    std: tuple[float, float, float] = (0.225, 0.225, 0.225)
    alpha: int | None = None
    n_sample_frames: int = 64
    task: str = "action"  # "action" (clip input) or "vos" (frame + flow)

    @property
    def num_pathways(self) -> int:
        return 1 if self.alpha is None else 2

    @property
    def pathway_frames(self) -> list[int]:
        """Frame count per pathway, in the order the model takes them (slow first)."""
        if self.alpha is None:
            return [self.frames]
        return [self.frames, self.frames * self.alpha]
