"""Pair samplers for action recognition (METHOD.md section 1).

A pair list is pure metadata, drawn up front from one seed: which video, which factor, which
two styles, and a per-pair seed for the time permutations. Everything random that happens later
(permutations, clip start) is derived from that per-pair seed, so the same ``probe.seed`` gives
the same pairs bit for bit whatever the batch size, the number of workers, the shard, or where
a resumed run restarts.

Two schemes:
- ``authors``: one factor per video, drawn uniformly. Every pair costs two forward passes. This
  is the authors' code, kept for exact replication.
- ``shared``: each video gives a dynamic pair (A, B) and a static pair (A, A permuted). Clip A
  is computed once, so a pair costs 1.5 forwards. The pairs are valid; the two factors now
  share videos, and the file records which scheme a run used.
Pairs that share clip A form a *group*; a group is never split across batches or shards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from staticdyn.errors import UnknownChoiceError

SCHEMES: tuple[str, ...] = ("authors", "shared")
DYNAMIC, STATIC = 0, 1


@dataclass(frozen=True)
class Pair:
    index: int  # position in the full pair list
    group: int  # pairs of one group share their first clip (same video, style_a, no shuffle)
    factor: int  # 0 = dynamic, 1 = static
    video: str
    style_a: int
    style_b: int
    seed: int  # per-pair seed for permutations and clip start


def _other_style(rng: np.random.Generator, style_a: int, num_styles: int) -> int:
    """Uniform over the S - 1 styles other than style_a."""
    k = int(rng.integers(num_styles - 1))
    return k if k < style_a else k + 1


def sample_pairs(
    videos: list[str], num_styles: int, n_pairs: int, seed: int, scheme: str = "shared"
) -> list[Pair]:
    """The deterministic pair list of a run.

    Videos are taken in a seeded random order; when the set is smaller than ``n_pairs`` needs,
    the whole set is used (the paper's rule), so the list may be shorter than ``n_pairs``.
    """
    if scheme not in SCHEMES:
        raise UnknownChoiceError("pair sampler", scheme, SCHEMES)
    if num_styles < 2:
        raise ValueError(f"a dataset needs at least 2 styles for pairs; it has {num_styles}")
    if n_pairs < 1:
        raise ValueError(f"probe.n_pairs must be >= 1; got {n_pairs}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(videos))
    seq = np.random.SeedSequence([seed, 0x5EED])
    pair_seeds = seq.generate_state(2 * len(videos) + 2, np.uint64)
    pairs: list[Pair] = []
    for g, vi in enumerate(order):
        if len(pairs) >= n_pairs:
            break
        video = videos[int(vi)]
        style_a = int(rng.integers(num_styles))
        if scheme == "authors":
            factor = int(rng.integers(2))
            style_b = _other_style(rng, style_a, num_styles) if factor == DYNAMIC else style_a
            pairs.append(Pair(len(pairs), g, factor, video, style_a, style_b,
                              int(pair_seeds[len(pairs)])))
        else:
            style_b = _other_style(rng, style_a, num_styles)
            pairs.append(Pair(len(pairs), g, DYNAMIC, video, style_a, style_b,
                              int(pair_seeds[len(pairs)])))
            if len(pairs) < n_pairs:
                pairs.append(Pair(len(pairs), g, STATIC, video, style_a, style_a,
                                  int(pair_seeds[len(pairs)])))
    return pairs


def group_pairs(pairs: list[Pair]) -> list[list[Pair]]:
    """Consecutive pairs sharing a group id, in order."""
    groups: list[list[Pair]] = []
    for p in pairs:
        if groups and groups[-1][0].group == p.group:
            groups[-1].append(p)
        else:
            groups.append([p])
    return groups


def permutations_for(pair_seed: int, frames_per_pathway: list[int]) -> list[np.ndarray]:
    """One independent uniform permutation of the time axis per pathway, from the pair seed."""
    rng = np.random.default_rng([pair_seed, 1])
    return [rng.permutation(t) for t in frames_per_pathway]


def clip_start(pair_seed: int, num_frames: int, n_sample_frames: int, mode: str = "first") -> int:
    """First frame of the sampled window: 0 (``first``) or uniform over valid starts."""
    if mode == "first" or num_frames <= n_sample_frames:
        return 0
    if mode != "random":
        raise UnknownChoiceError("clip start mode", mode, ("first", "random"))
    rng = np.random.default_rng([pair_seed, 2])
    return int(rng.integers(num_frames - n_sample_frames + 1))


def replacement_pairs(
    videos: list[str], num_styles: int, n_pairs: int, seed: int, scheme: str,
    first_index: int, first_group: int,
) -> list[Pair]:
    """Pairs replacing those of groups that could not be read during a run.

    Drawn like ``sample_pairs`` over ``videos`` (readable videos the run has not used yet),
    from a stream of their own derived from the run's seed and ``first_group`` (so each round
    of replacements differs, and the same run always draws the same ones), and numbered after
    the run's pairs and groups.
    """
    stream = int(np.random.SeedSequence([seed, 0xBAD, first_group]).generate_state(1)[0])
    return [Pair(first_index + p.index, first_group + p.group, p.factor, p.video, p.style_a,
                 p.style_b, p.seed)
            for p in sample_pairs(videos, num_styles, n_pairs, stream, scheme)]
