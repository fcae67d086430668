"""The video object segmentation task: pairs of (frame, flow image) inputs (METHOD.md sec. 1).

Pairs follow the authors' loader. An *item* is one pass over a sequence (each sequence is an
item ``probe.nreps`` times, items in a seeded random order); factors alternate static, dynamic,
static, ... over items, and every frame of the item gives one pair with the item's factor and
styles:

- dynamic: the same frame in two different styles, with the identical flow image;
- static: the same stylised frame twice; the second copy's flow image is colour-jittered
  (``staticdyn.data.flow_jitter``), the RGB frame is untouched.

The last frame of a sequence has no forward flow and is not used (two-frame models also skip the
first, which has no backward flow). When the set gives more than ``probe.n_pairs`` pairs, a
seeded uniform subset is kept, so both factors stay represented; each pair keeps the seed it has
in the full list, so a pair's inputs do not depend on ``n_pairs``.

Inputs: both images are scaled to [0, 1], resized (short side ``clip.short_side``), optionally
centre-cropped (``clip.crop``), jittered (flow of static pairs), then normalised with the
model's mean/std. ``clip.frames == 1``: [rgb (3, H, W), flow (3, H, W)]. ``clip.frames == 2``
(RTNet): the frame and a partner frame at a seeded offset in [-frame_offset, frame_offset)
(the authors draw it per item, here per pair), [rgb (2, 3, H, W), flow (2, 6, H, W)] with
forward then backward flow; a static pair jitters all four flow images (one (h, s) per pair).
Each pair is its own group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from staticdyn.data.clips import short_side_size
from staticdyn.data.flow_jitter import H_RANGE, S_RANGE, FlowJitter, draw_pair_jitter
from staticdyn.data.pairs import DYNAMIC, STATIC, Pair
from staticdyn.data.source import VideoSource
from staticdyn.data.spec import ClipSpec
from staticdyn.data.tasks.base import READ_ERRORS, GroupItem, Task
from staticdyn.errors import UnknownChoiceError, VideoReadError

SAMPLERS: tuple[str, ...] = ("authors",)
DEFAULT_FRAME_OFFSET = 10


def sequences_of(source: VideoSource) -> dict[str, list[str]]:
    """``"<seq>/<frame>"`` items grouped by sequence, in the source's order."""
    out: dict[str, list[str]] = {}
    for item in source.videos:
        seq, sep, frame = item.rpartition("/")
        if not sep:
            raise VideoReadError(f"VOS items must be '<sequence>/<frame>', got '{item}'")
        out.setdefault(seq, []).append(frame)
    return out


def usable_frames(frames: Sequence[str], two_frame: bool) -> list[str]:
    """Frames with the flow a model needs: all but the last (no forward flow), and for
    two-frame models not the first either (no backward flow)."""
    return list(frames[1:-1] if two_frame else frames[:-1])


def _other_style(rng: np.random.Generator, style: int, num_styles: int) -> int:
    k = int(rng.integers(num_styles - 1))
    return k if k < style else k + 1


def sample(source: VideoSource, probe: Mapping[str, Any]) -> list[Pair]:
    """The deterministic pair list of a VOS run (see module docstring)."""
    scheme = str(probe.get("sampler", "authors"))
    if scheme not in SAMPLERS:
        raise UnknownChoiceError("VOS pair sampler", scheme, SAMPLERS)
    if source.num_styles < 2:
        raise ValueError(f"a dataset needs at least 2 styles for pairs; it has "
                         f"{source.num_styles}")
    n_pairs, seed = int(probe["n_pairs"]), int(probe["seed"])
    nreps = int(probe.get("nreps", 1))
    if n_pairs < 1 or nreps < 1:
        raise ValueError(f"probe.n_pairs and probe.nreps must be >= 1; got {n_pairs}, {nreps}")
    two_frame = int(probe.get("clip_frames", 1)) == 2
    seqs = sequences_of(source)
    names = list(seqs)
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, str, int, int]] = []
    for k, item in enumerate(rng.permutation(len(names) * nreps)):
        seq = names[int(item) % len(names)]
        factor = STATIC if k % 2 == 0 else DYNAMIC
        style_a = int(rng.integers(source.num_styles))
        style_b = _other_style(rng, style_a, source.num_styles) if factor == DYNAMIC \
            else style_a
        rows += [(factor, f"{seq}/{f}", style_a, style_b)
                 for f in usable_frames(seqs[seq], two_frame)]
    seeds = np.random.SeedSequence([seed, 0x5EED, 0x0505]).generate_state(len(rows), np.uint64)
    keep = range(len(rows))
    if len(rows) > n_pairs:
        keep = sorted(int(i) for i in rng.choice(len(rows), n_pairs, replace=False))
    return [Pair(i, i, *rows[j], int(seeds[j])) for i, j in enumerate(keep)]


# -- inputs -----------------------------------------------------------------------------------
def to_unit(image: np.ndarray, spec: ClipSpec, size: tuple[int, int] | None = None
            ) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (3, h, w) in [0, 1]: to ``size`` first if given (flow images
    take their frame's size, as the authors do), short-side resize, optional centre crop."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)
    if size is not None and tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x[None], size=size, mode="bilinear", align_corners=False,
                          antialias=True)[0]
    h, w = x.shape[-2:]
    if spec.short_side:
        nh, nw = short_side_size(h, w, int(spec.short_side))
        if (nh, nw) != (h, w):
            x = F.interpolate(x[None], size=(nh, nw), mode="bilinear", align_corners=False,
                              antialias=True)[0]
    if spec.crop:
        c = int(spec.crop)
        h, w = x.shape[-2:]
        if c > min(h, w):
            raise ValueError(f"crop {c} larger than the resized frame {h}x{w}")
        top, left = (h - c) // 2, (w - c) // 2
        x = x[:, top:top + c, left:left + c]
    return x.contiguous()


def normalize(x: torch.Tensor, spec: ClipSpec) -> torch.Tensor:
    mean = torch.tensor(spec.mean, dtype=x.dtype).view(3, 1, 1)
    std = torch.tensor(spec.std, dtype=x.dtype).view(3, 1, 1)
    return (x - mean) / std


def partner_frame(frames: Sequence[str], frame: str, pair_seed: int, scope: int) -> str:
    """RTNet's second frame: offset U{-scope .. scope-1} within the frames that have both
    flows, wrapping around the sequence (the authors' rule)."""
    valid = usable_frames(frames, two_frame=True)
    i = valid.index(frame)
    offset = int(np.random.default_rng([int(pair_seed), 4]).integers(-scope, scope)) \
        if scope > 0 else 0
    return valid[(i + offset) % len(valid)]


def _read_frame(source: Any, item: str, style: int, spec: ClipSpec
                ) -> tuple[torch.Tensor, tuple[int, int]]:
    frames = source.read(item, style)
    if frames.ndim != 4 or frames.shape[0] != 1 or frames.shape[-1] != 3:
        raise VideoReadError(f"expected one (1, H, W, 3) frame, got shape {frames.shape}")
    return to_unit(frames[0], spec), tuple(frames.shape[1:3])


def _flows(source: Any, items: list[str], sizes: list[tuple[int, int]], spec: ClipSpec,
           two_frame: bool) -> list[torch.Tensor]:
    """Flow images in [0, 1], per frame forward (and backward for two-frame models)."""
    out = []
    for item, size in zip(items, sizes, strict=True):
        out.append(to_unit(source.read_flow(item), spec, size))
        if two_frame:
            out.append(to_unit(source.read_flow(item, backward=True), spec, size))
    return out


def _assemble(rgbs: list[torch.Tensor], flows: list[torch.Tensor], spec: ClipSpec,
              two_frame: bool) -> list[torch.Tensor]:
    rgbs = [normalize(x, spec) for x in rgbs]
    flows = [normalize(x, spec) for x in flows]
    if not two_frame:
        return [rgbs[0], flows[0]]
    per_frame = [torch.cat(flows[i:i + 2], 0) for i in range(0, len(flows), 2)]
    return [torch.stack(rgbs), torch.stack(per_frame)]


def jitter_images(flows: list[torch.Tensor], jitters: Sequence[FlowJitter]
                  ) -> list[torch.Tensor]:
    return [j(x).clamp_(0.0, 1.0) for x, j in zip(flows, jitters, strict=True)]


def load_group(source: VideoSource, position: int, pairs: list[Pair], spec: ClipSpec,
               probe: Mapping[str, Any]) -> GroupItem:
    """Inputs of one pair (a VOS group is one pair): clips [a, b], rows [(0, 1)]."""
    item = GroupItem(position, pairs)
    p = pairs[0]
    names = source.style_names
    current = f"{p.video}@{names[p.style_a]}"
    try:
        if len(pairs) != 1:
            raise ValueError(f"a VOS group is one pair, got {len(pairs)}")
        if spec.frames not in (1, 2):
            raise ValueError(f"VOS models take 1 or 2 frames (clip.frames), got {spec.frames}")
        two_frame = spec.frames == 2
        seq, _, frame = p.video.rpartition("/")
        frames = source.frames(seq) if hasattr(source, "frames") \
            else sequences_of(source)[seq]
        item.start = frames.index(frame)
        items = [p.video]
        if two_frame:
            scope = int(probe.get("frame_offset", DEFAULT_FRAME_OFFSET))
            items.append(f"{seq}/{partner_frame(frames, frame, p.seed, scope)}")
        read_a = [_read_frame(source, v, p.style_a, spec) for v in items]
        sizes = [s for _, s in read_a]
        rgb_a = [x for x, _ in read_a]
        flows = _flows(source, items, sizes, spec, two_frame)
        item.clips.append(_assemble(rgb_a, flows, spec, two_frame))
        if p.factor == DYNAMIC:
            current = f"{p.video}@{names[p.style_b]}"
            read_b = [_read_frame(source, v, p.style_b, spec) for v in items]
            if [s for _, s in read_b] != sizes:
                raise VideoReadError(f"style {names[p.style_b]} has frame sizes "
                                     f"{[s for _, s in read_b]}, style {names[p.style_a]} {sizes}")
            item.clips.append(_assemble([x for x, _ in read_b], flows, spec, two_frame))
        else:
            if probe.get("jitter", True):
                jit = draw_pair_jitter(p.seed, len(flows), probe.get("h_range", H_RANGE),
                                       probe.get("s_range", S_RANGE))
                flows = jitter_images(flows, jit.images)
            item.clips.append(_assemble(rgb_a, flows, spec, two_frame))
        item.rows.append((0, 1))
    except READ_ERRORS as exc:
        item.clips, item.rows = [], []
        item.skip_item = current
        item.skip_reason = f"{type(exc).__name__}: {exc}"
    return item


TASK = Task("vos", sample, load_group)
