"""An in-memory probe of one layer: unit classes of the model *as it is now*.

StaticDropout re-estimates which units are static while the model trains, every few hundred
steps. Going through the full pipeline (HDF5 store, reports) for that would cost more than the
probe itself and litter the run directory, so this runs the same steps in memory: the same pair
sampler, the same group loader (clips, styles, time permutations), the same pooled hooks and the
same unit-wise metric. Only the storage is skipped; the classes are therefore exactly what
``python run.py`` would report for the same pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from staticdyn.data.pairs import group_pairs, sample_pairs
from staticdyn.data.source import VideoSource
from staticdyn.data.tasks.action import load_group
from staticdyn.metrics.unitwise import classify_units, unit_scores
from staticdyn.models.spec import ZooModel
from staticdyn.probe.hooks import extract_pooled


@dataclass(frozen=True)
class UnitProbe:
    """Per-unit scores and classes of one layer (arrays shaped (C,))."""

    layer: str
    r_dynamic: np.ndarray
    r_static: np.ndarray
    classes: np.ndarray  # object array of class names (metrics.unitwise.UNIT_CLASSES)

    def mask(self, classes: list[str] | tuple[str, ...]) -> np.ndarray:
        """Boolean (C,): units whose class is one of ``classes``."""
        return np.isin(self.classes, list(classes))


def probe_units(model: ZooModel, source: VideoSource, layer: str, n_pairs: int = 128,
                seed: int = 0, lam: float = 0.5, batch_clips: int = 32,
                sampler: str = "shared") -> UnitProbe:
    """Unit classes of ``layer`` on ``n_pairs`` pairs of ``source`` (model left as it was).

    The model is switched to eval mode for the probe (BatchNorm running statistics, no dropout:
    the probe must see the network the way ``run.py`` would) and switched back afterwards.
    """
    path = model.resolve_layers([layer])
    was_training = model.module.training
    model.module.eval()
    za, zb, factor = [], [], []
    try:
        groups = group_pairs(sample_pairs(source.videos, source.num_styles, n_pairs, seed,
                                          sampler))
        items = [load_group(source, g, pairs, model.clip_spec) for g, pairs in enumerate(groups)]
        items = [it for it in items if it.skip_reason is None]
        clips = [c for it in items for c in it.clips]
        feats = []
        for lo in range(0, len(clips), batch_clips):
            chunk = clips[lo:lo + batch_clips]
            paths = [torch.stack([c[p] for c in chunk]).to(model.device)
                     for p in range(len(chunk[0]))]
            inputs = paths[0] if len(paths) == 1 else paths
            feats.append(extract_pooled(model.module, inputs, path)[layer].double().cpu())
        z = torch.cat(feats).numpy()
        offset = 0
        for it in items:
            for (a, b), pair in zip(it.rows, it.pairs, strict=True):
                za.append(z[offset + a])
                zb.append(z[offset + b])
                factor.append(pair.factor)
            offset += len(it.clips)
    finally:
        model.module.train(was_training)
    r_d, r_s, dead = unit_scores(np.stack(za), np.stack(zb), np.asarray(factor))
    return UnitProbe(layer, r_d, r_s, classify_units(r_d, r_s, dead, lam))
