"""Convert reference checkpoints to the PyTorchVideo models staticdyn probes, exactly.

The published weights behind Kowal et al. come from several code bases: the SlowFast code
base's .pyth files, the SlowFast zoo's Caffe2 pickles, the MViT zoo file with fused ``qkv``, the
original TimeSformer release. staticdyn runs PyTorchVideo models (and a native TimeSformer), so
each file is renamed / reshaped into the model's own keys. A conversion either accounts for
every tensor on both sides with equal shapes or raises
:class:`~staticdyn.models.checkpoints.convert.common.CheckpointLayoutError` (a ValueError)
saying what does not line up: a silently half-loaded network would still produce features,
just wrong ones.

Public API:

* :func:`convert_to_pytorchvideo` - any supported layout -> the model's state dict.
* :func:`convert_from_pytorchvideo` - the inverse, for round-trip tests and reference files.
* :func:`caffe2_to_slowfast` / :func:`slowfast_to_caffe2` - the Caffe2 blob naming.
* :func:`detect_layout`.

Every function takes the model's :class:`~staticdyn.models.checkpoints.card.CheckpointCard`:
its ``family`` picks the layouts that make sense and its ``checkpoint_pathway`` names the
SlowFast pathway a single-pathway model's weights sit in. Files are read elsewhere
(``staticdyn.models.checkpoints.reader``); these functions only rename tensors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from staticdyn.models.checkpoints.card import CheckpointCard
from staticdyn.models.checkpoints.convert import mvit, resnet, timesformer_release
from staticdyn.models.checkpoints.convert.caffe2 import (
    caffe2_to_slowfast,
    is_optimizer_blob,
    slowfast_to_caffe2,
)
from staticdyn.models.checkpoints.convert.common import (
    FAMILY_LAYOUTS,
    LAYOUTS,
    CheckpointLayoutError,
    Plan,
    Shape,
    as_tensor,
    family_of,
    finish,
    strip_prefix,
    unwrap,
)
from staticdyn.models.checkpoints.convert.mvit import KOWAL_POOL_KV_STRIDE_SIZE

__all__ = [
    "FAMILY_LAYOUTS",
    "KOWAL_POOL_KV_STRIDE_SIZE",
    "LAYOUTS",
    "CheckpointLayoutError",
    "caffe2_to_slowfast",
    "convert_from_pytorchvideo",
    "convert_to_pytorchvideo",
    "detect_layout",
    "slowfast_to_caffe2",
]

_SF_RESNET = re.compile(r"^(s\d+(\.|_fuse\.)|head\.)")
_SF_MVIT_TOP = {"cls_token", "pos_embed", "pos_embed_spatial", "pos_embed_temporal",
                "pos_embed_class"}


def _prepare(state: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    inner, container = unwrap(state)
    return strip_prefix(inner, "module."), container


def _detect(keys: list[str], container: str | None, card: CheckpointCard) -> str:
    family = family_of(card)
    entry = card.entry
    if not keys:
        raise CheckpointLayoutError(f"empty state dict given for '{entry}'")

    def verdict(found: dict[str, bool]) -> str:
        hits = [name for name, hit in found.items() if hit]
        if len(hits) == 1:
            return hits[0]
        what = "keys of several layouts" if hits else "no key of a known layout"
        raise CheckpointLayoutError(
            f"cannot tell the layout of the checkpoint for '{entry}' ({family}): {what} "
            f"[{', '.join(hits) or ', '.join(keys[:5])}]; expected one of "
            f"{', '.join(FAMILY_LAYOUTS[family])}"
        )

    if family in ("resnet", "slowfast", "x3d"):
        caffe2 = container == "blobs" or all("." not in k for k in keys)
        if caffe2 and family == "x3d":
            raise CheckpointLayoutError(
                f"'{entry}' got a Caffe2 blob dict, but X3D was never released as Caffe2 "
                "blobs; expected a SlowFast or PyTorchVideo .pyth"
            )
        return verdict({
            "caffe2": caffe2,
            "slowfast": not caffe2 and any(_SF_RESNET.match(k) for k in keys),
            "pytorchvideo": not caffe2 and any(k.startswith("blocks.") for k in keys),
        })
    if family == "mvit":
        return verdict({
            "slowfast": any(k in _SF_MVIT_TOP or ".attn.qkv." in k
                            or k.startswith(("patch_embed.proj.", "head.projection."))
                            for k in keys),
            "pytorchvideo": any(k.startswith(("cls_positional_encoding.",
                                              "patch_embed.patch_model.", "head.proj."))
                                for k in keys),
        })
    release = all(k.startswith(timesformer_release.PREFIX) for k in keys)
    return verdict({"timesformer": release,
                    "pytorchvideo": not any(k.startswith("model.") for k in keys)})


def detect_layout(state: Mapping[str, Any], card: CheckpointCard) -> str:
    """Which code base wrote this state dict (or file dict): one of :data:`LAYOUTS`.

    ``pytorchvideo`` means the model's own layout (for ``timesformer``: staticdyn's native
    keys); ``slowfast`` the SlowFast code base (MViT included); ``caffe2`` a SlowFast-zoo blob
    dict; ``timesformer`` the original TimeSformer release (``model.`` prefix).
    """
    inner, container = _prepare(state)
    return _detect(list(inner), container, card)


def convert_to_pytorchvideo(
    state: Mapping[str, Any], card: CheckpointCard, target_keys: Mapping[str, Shape]
) -> dict[str, torch.Tensor]:
    """Convert a loaded checkpoint (any supported layout) into the carded model's state dict.

    ``state`` may be the loaded file (``{'model_state': ...}``, ``{'blobs': ...}``,
    ``{'state_dict': ...}``, ``module.`` prefixes) or the bare state dict. ``target_keys`` are
    the model's ``state_dict()`` keys -> shapes: they fix where each stage sits and which
    layout variant the model was built in, and the result is checked against them. Returns the
    tensors in ``target_keys`` order, ready for a strict ``load_state_dict``.
    """
    inner, container = _prepare(state)
    layout = _detect(list(inner), container, card)
    family = family_of(card)
    entry = card.entry
    allow_trailing_ones = False
    if layout == "caffe2":
        tensors = caffe2_to_slowfast(inner, card)
        ignored = {k: "optimizer state" for k in inner if is_optimizer_blob(k)}
        plan = resnet.plan_from_slowfast(tensors, card, target_keys)
        plan.ignored.update(ignored)
        allow_trailing_ones = True  # the Caffe2 loader's linear -> 1x1x1 conv rule
    else:
        tensors = {k: as_tensor(v, k) for k, v in inner.items()}
        if layout == "pytorchvideo":
            ignored: dict[str, str] = {}
            if family == "mvit":
                tensors, ignored = mvit.drop_pool_aliases(tensors, target_keys)
            plan = Plan(ignored=ignored)
            for key in tensors:
                plan.copy(key, key)
        elif layout == "timesformer":
            plan = timesformer_release.plan_from_release(tensors, entry, target_keys)
        elif family == "mvit":
            plan = mvit.plan_from_slowfast(tensors, entry, target_keys)
        else:
            plan = resnet.plan_from_slowfast(tensors, card, target_keys)
    return finish(plan, tensors, target_keys, layout, entry,
                  allow_trailing_ones=allow_trailing_ones)


def convert_from_pytorchvideo(
    state: Mapping[str, Any], card: CheckpointCard, layout: str = "slowfast"
) -> dict[str, torch.Tensor] | dict[str, np.ndarray]:
    """Write the carded model's PyTorchVideo state dict in a reference layout (the inverse).

    ``layout``: ``slowfast`` (SlowFast code base; for ``timesformer`` the release, whose files
    are SlowFast-style), ``caffe2`` (blob dict of numpy arrays, C2D/I3D/Slow/Fast/SlowFast
    only), ``timesformer`` (release, ``timesformer`` only) or ``pytorchvideo`` (a copy).
    Lossless except where the reference has a layer PyTorchVideo lacks (X3D stage-2 shortcut
    BatchNorm: written as identity).
    """
    inner, _ = _prepare(state)
    tensors = {k: as_tensor(v, k) for k, v in inner.items()}
    family = family_of(card)
    entry = card.entry
    valid = {
        "resnet": ("slowfast", "caffe2", "pytorchvideo"),
        "slowfast": ("slowfast", "caffe2", "pytorchvideo"),
        "x3d": ("slowfast", "pytorchvideo"),
        "mvit": ("slowfast", "pytorchvideo"),
        "timesformer": ("slowfast", "timesformer", "pytorchvideo"),
    }[family]
    if layout not in valid:
        raise CheckpointLayoutError(
            f"layout '{layout}' is not available for '{entry}'. Valid: {', '.join(valid)}"
        )
    if layout == "pytorchvideo":
        return dict(tensors)
    if family == "timesformer":
        return timesformer_release.native_to_release(tensors)
    if family == "mvit":
        return mvit.ptv_to_slowfast(tensors, entry)
    sf = resnet.ptv_to_slowfast(tensors, card)
    return slowfast_to_caffe2(sf) if layout == "caffe2" else sf
