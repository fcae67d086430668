"""Caffe2 blob names of the SlowFast model zoo <-> SlowFast-code-base state-dict keys.

The SlowFast zoo ships its Kinetics C2D/I3D/Slow/SlowFast R50 weights as Caffe2 pickles
(``{'blobs': {name: ndarray}}``, read with latin1). The SlowFast loader renames each blob with a
list of rewrite rules and silently skips what it cannot place. Here the same naming scheme is
written as explicit per-kind rules (recorded in tests/fixtures/checkpoint_keys/caffe2_blobs),
but strictly: a blob that names no model tensor is an error, not a skip, so a wrong file cannot
half-load. Only optimizer bookkeeping (``*_momentum``, ``lr``, ``model_iter``) is dropped.

Naming scheme: ``t_`` prefix = fast pathway (pathway1), none = pathway0; stem ``conv1_w`` and
``res_conv1_bn_*``; blocks ``res{S}_{i}_branch1*`` / ``res{S}_{i}_branch2{a,b,c}*``; laterals
``t_pool1_subsample*`` (stage 1) and ``t_res{S}_{i}_branch2c_bn_subsample*`` (stage S, block
index irrelevant); classifier ``pred_w``/``pred_b``; BatchNorm suffixes ``_s, _b, _rm, _riv`` =
weight, bias, running_mean, running_var (stored as is: ``riv`` is the running variance).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from staticdyn.models.checkpoints.card import CheckpointCard
from staticdyn.models.checkpoints.convert.common import CheckpointLayoutError, Shape, as_tensor

_BN_SUFFIX = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}
_BN_SUFFIX_INV = {v: k for k, v in _BN_SUFFIX.items()}

_STEM_CONV = re.compile(r"^(t_)?(?:res_)?conv1_w$")
_STEM_BN = re.compile(r"^(t_)?res_conv1_bn_(s|b|rm|riv)$")
_BLOCK = re.compile(
    r"^(t_)?res(\d+)_(\d+)_branch(1|2a|2b|2c)(?:_bn_(s|b|rm|riv)|_w)$"
)
_FUSE1 = re.compile(r"^t_pool1_subsample(?:_bn_(s|b|rm|riv)|_w)$")
_FUSE = re.compile(r"^t_res(\d+)_\d+_branch2c_bn_subsample(?:_bn_(s|b|rm|riv)|_w)$")
_PRED = re.compile(r"^pred_(w|b)$")


def is_optimizer_blob(name: str) -> bool:
    """SGD momentum buffers and solver counters that Caffe2 pickles carry next to the weights."""
    return name.endswith("_momentum") or name in ("lr", "model_iter")


def blob_to_slowfast_key(name: str) -> str | None:
    """SlowFast-code-base key for one Caffe2 blob name, or None when no rule applies."""
    if m := _STEM_CONV.match(name):
        return f"s1.pathway{1 if m.group(1) else 0}_stem.conv.weight"
    if m := _STEM_BN.match(name):
        return f"s1.pathway{1 if m.group(1) else 0}_stem.bn.{_BN_SUFFIX[m.group(2)]}"
    if m := _FUSE1.match(name):
        return "s1_fuse." + (f"bn.{_BN_SUFFIX[m.group(1)]}" if m.group(1) else "conv_f2s.weight")
    if m := _FUSE.match(name):
        stage, bn = m.group(1), m.group(2)
        return f"s{stage}_fuse." + (f"bn.{_BN_SUFFIX[bn]}" if bn else "conv_f2s.weight")
    if m := _BLOCK.match(name):
        fast, stage, idx, branch, bn = m.groups()
        prefix = f"s{stage}.pathway{1 if fast else 0}_res{idx}."
        if branch == "1":
            layer = "branch1_bn" if bn else "branch1"
        else:
            layer = f"branch2.{branch[1]}" + ("_bn" if bn else "")
        return prefix + layer + "." + (_BN_SUFFIX[bn] if bn else "weight")
    if m := _PRED.match(name):
        return "head.projection." + ("weight" if m.group(1) == "w" else "bias")
    return None


_SF_STEM = re.compile(r"^s1\.pathway(\d)_stem\.(conv|bn)\.(\w+)$")
_SF_BLOCK = re.compile(
    r"^s(\d+)\.pathway(\d)_res(\d+)\.(branch1|branch1_bn|branch2\.[abc]|branch2\.[abc]_bn)\.(\w+)$"
)
_SF_FUSE = re.compile(r"^s(\d+)_fuse\.(conv_f2s|bn)\.(\w+)$")


def slowfast_key_to_blob(key: str, fuse_block: Mapping[int, int] | None = None) -> str | None:
    """Canonical Caffe2 blob name for a SlowFast key (the inverse of :func:`blob_to_slowfast_key`).

    ``fuse_block`` gives, per stage, the fast-pathway block index the zoo names laterals after
    (the last block of the stage); any index converts back to the same key.
    """
    param = key.rsplit(".", 1)[-1]
    if m := _SF_STEM.match(key):
        t = "t_" if m.group(1) == "1" else ""
        if m.group(2) == "conv":
            return f"{t}conv1_w"
        return f"{t}res_conv1_bn_{_BN_SUFFIX_INV[param]}"
    if m := _SF_FUSE.match(key):
        stage = int(m.group(1))
        base = "t_pool1_subsample" if stage == 1 else (
            f"t_res{stage}_{(fuse_block or {}).get(stage, 0)}_branch2c_bn_subsample")
        if m.group(2) == "conv_f2s":
            return base + "_w"
        return f"{base}_bn_{_BN_SUFFIX_INV[param]}"
    if m := _SF_BLOCK.match(key):
        stage, path, idx, layer, _ = m.groups()
        t = "t_" if path == "1" else ""
        branch = "1" if layer.startswith("branch1") else "2" + layer.split(".")[1][0]
        tail = f"_bn_{_BN_SUFFIX_INV[param]}" if layer.endswith("_bn") else "_w"
        return f"{t}res{stage}_{idx}_branch{branch}{tail}"
    if key == "head.projection.weight":
        return "pred_w"
    if key == "head.projection.bias":
        return "pred_b"
    return None


def caffe2_to_slowfast(
    blobs: Mapping[str, Any],
    card: CheckpointCard,
    model_keys: Mapping[str, Shape] | None = None,
) -> dict[str, torch.Tensor]:
    """Rename a Caffe2 blob dict to SlowFast-code-base keys, strictly.

    The card says which SlowFast pathways the model has (``pathways``, and for a
    single-pathway model ``checkpoint_pathway``), so a SlowFast pickle given for a Slow model
    fails loudly instead of loading half its tensors; laterals need both pathways.
    With ``model_keys`` the loader's shape rules apply: trailing 1-dims appended when the blob
    has fewer dims than the model tensor, 1-D blobs tiled when the model dim is a multiple, and
    then key set and shapes must match exactly (``num_batches_tracked`` is never in a pickle and
    is not required). Raises CheckpointLayoutError naming the problem otherwise.
    """
    if isinstance(blobs.get("blobs"), Mapping):
        blobs = blobs["blobs"]
    pathways = card.slowfast_pathways
    both = len(pathways) > 1
    out: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    unknown: list[str] = []
    wrong_path: list[str] = []
    for name, value in blobs.items():
        if is_optimizer_blob(name):
            continue
        key = blob_to_slowfast_key(name)
        if key is None:
            unknown.append(name)
            continue
        m = re.search(r"pathway(\d)", key)
        if (m and int(m.group(1)) not in pathways) or ("_fuse." in key and not both):
            wrong_path.append(f"{name} -> {key}")
            continue
        if key in out:
            raise CheckpointLayoutError(
                f"Caffe2 blobs '{origin[key]}' and '{name}' both name '{key}'; ambiguous pickle"
            )
        out[key], origin[key] = as_tensor(value, name), name
    problems = []
    if unknown:
        problems.append(f"{len(unknown)} blobs follow no SlowFast naming rule "
                        f"[{', '.join(sorted(unknown)[:6])}]")
    if wrong_path:
        problems.append(f"{len(wrong_path)} blobs belong to a pathway '{card.entry}' does not "
                        f"have (it has {sorted(pathways)}) [{', '.join(sorted(wrong_path)[:4])}]")
    if model_keys is not None:
        out = _fit_to_model(out, model_keys, problems)
    if problems:
        raise CheckpointLayoutError(
            f"cannot read Caffe2 pickle as '{card.entry}': " + "; ".join(problems) + "."
        )
    return out


def _fit_to_model(out: dict[str, torch.Tensor], model_keys: Mapping[str, Shape],
                  problems: list[str]) -> dict[str, torch.Tensor]:
    fitted: dict[str, torch.Tensor] = {}
    bad: list[str] = []
    for key, t in out.items():
        if key not in model_keys:
            bad.append(f"{key} not in model")
            continue
        shape = tuple(int(d) for d in model_keys[key])
        if t.dim() < len(shape) and tuple(t.shape) == shape[: t.dim()]:
            t = t.reshape(t.shape + (1,) * (len(shape) - t.dim()))
        elif t.dim() == 1 and len(shape) == 1 and shape[0] % t.shape[0] == 0:
            t = t.repeat(shape[0] // t.shape[0])
        if tuple(t.shape) != shape:
            bad.append(f"{key}: blob {tuple(t.shape)} vs model {shape}")
        fitted[key] = t
    missing = [k for k in model_keys if k not in fitted
               and not k.endswith("num_batches_tracked")]
    if bad:
        problems.append(f"{len(bad)} blobs do not fit [{', '.join(bad[:4])}]")
    if missing:
        problems.append(f"{len(missing)} model keys without blob [{', '.join(missing[:6])}]")
    return fitted


def slowfast_to_caffe2(state: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """SlowFast-code-base state dict -> Caffe2 blob dict with the zoo's canonical names.

    Exists so tests (and anyone producing reference pickles) can round-trip through the Caffe2
    naming. ``num_batches_tracked`` is dropped, as Caffe2 has no such blob.
    """
    last_block: dict[int, int] = {}
    for key in state:
        if m := re.match(r"^s(\d+)\.pathway1_res(\d+)\.", key):
            stage, idx = int(m.group(1)), int(m.group(2))
            last_block[stage] = max(last_block.get(stage, 0), idx)
    blobs: dict[str, np.ndarray] = {}
    for key, t in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        name = slowfast_key_to_blob(key, last_block)
        if name is None:
            raise CheckpointLayoutError(f"SlowFast key '{key}' has no Caffe2 blob name")
        blobs[name] = t.detach().cpu().numpy()
    return blobs
