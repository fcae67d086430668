"""The VOS models' released checkpoint formats: strict loading, and writing (tests, tools).

Each model family was released by a different code base, in its own envelope:

- FusionSeg (Kowal et al.): one file ``{"model_state": state_dict, ...}``, bare keys
  (``backbone.*``, ``classifier.*``).
- MATNet: a *directory* with ``encoder_<epoch>.pt`` and ``decoder_<epoch>.pt``, each a bare
  state dict of the encoder / decoder, keys prefixed ``module.`` when trained with DataParallel.
  The authors load the largest epoch. The training repository of the Kowal variants omits the
  18 decoder tensors the forward pass never uses (``RF*.convFS1``, ``RF*.pdc.block2/3``); such
  files load, and those tensors keep their initialisation, which changes nothing.
- RTNet: one file ``{"state_dict": state_dict, "optimizer": ...}`` with ``module.`` keys.

Loading is strict in the sense of ``staticdyn.models.checkpoints``: every other key must be
present with its shape and nothing may be left over, or ``CheckpointMismatchError`` names them.
Every file is read by ``staticdyn.models.checkpoints.reader`` (data only; ``trust`` is the
user's ``model.trust_checkpoint``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch
from torch import nn

from staticdyn.errors import CheckpointFileError, CheckpointMismatchError, StaticDynError
from staticdyn.models.checkpoints.reader import read_checkpoint
from staticdyn.models.checkpoints.state import (
    BN_COUNTER,
    compare_keys,
    extract_state_dict,
    target_keys,
)

log = logging.getLogger(__name__)

FORMATS = ("model_state", "encoder_decoder", "state_dict")
_EPOCH_FILE = re.compile(r"^(encoder|decoder)_(\d+)\.pt$")
# Built by the reference MATNet, never used in its forward pass.
MATNET_UNUSED = tuple(
    f"decoder.RF{k}.{part}.{p}" for k in (4, 3, 2)
    for part in ("convFS1", "pdc.block2.conv", "pdc.block3.conv") for p in ("weight", "bias")
)


def release_format(module: nn.Module) -> str:
    fmt = getattr(module, "release_format", None)
    if fmt not in FORMATS:
        raise StaticDynError(f"{type(module).__name__} has no released checkpoint format")
    return str(fmt)


def matnet_files(path: str | Path) -> tuple[Path, Path]:
    """(encoder, decoder) files of a MATNet checkpoint given as the directory (largest epoch,
    as the authors' ``load_ckpt``) or as either file (its partner must sit beside it)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointFileError(
            f"checkpoint not found: {path}; expected a MATNet checkpoint directory "
            "(encoder_<epoch>.pt + decoder_<epoch>.pt) or one of its two files")
    if path.is_dir():
        epochs = [int(m.group(2)) for p in path.iterdir()
                  if (m := _EPOCH_FILE.match(p.name)) and m.group(1) == "encoder"]
        if not epochs:
            raise StaticDynError(f"no encoder_<epoch>.pt in MATNet checkpoint directory {path}")
        epoch = max(epochs)
        enc, dec = path / f"encoder_{epoch}.pt", path / f"decoder_{epoch}.pt"
    else:
        m = _EPOCH_FILE.match(path.name)
        if not m:
            raise StaticDynError(
                f"MATNet checkpoint '{path}' is neither a directory nor encoder_<epoch>.pt / "
                "decoder_<epoch>.pt")
        enc = path.with_name(f"encoder_{m.group(2)}.pt")
        dec = path.with_name(f"decoder_{m.group(2)}.pt")
    for p in (enc, dec):
        if not p.is_file():
            raise StaticDynError(f"MATNet checkpoint file not found: {p}")
    return enc, dec


def read_matnet(path: str | Path, trust: bool = False) -> dict[str, torch.Tensor]:
    """Both halves as one state dict with ``encoder.`` / ``decoder.`` keys."""
    enc, dec = matnet_files(path)
    state: dict[str, torch.Tensor] = {}
    for prefix, file in (("encoder.", enc), ("decoder.", dec)):
        # extract_state_dict also strips a DataParallel prefix
        part = extract_state_dict(read_checkpoint(file, trust=trust), file)
        state.update({prefix + k: v for k, v in part.items()})
    return state


def read_release(module: nn.Module, path: str | Path,
                 trust: bool = False) -> dict[str, torch.Tensor]:
    """The state dict of a released checkpoint of ``module``'s family, unwrapped."""
    if release_format(module) == "encoder_decoder":
        return read_matnet(path, trust)
    return extract_state_dict(read_checkpoint(path, trust=trust), path)


def load_vos_checkpoint(module: nn.Module, path: str | Path, entry: str = "",
                        trust: bool = False) -> None:
    """Load a released checkpoint into ``module`` in place (strict, see module docstring)."""
    entry = entry or type(module).__name__
    state = read_release(module, path, trust)
    if not state:
        raise StaticDynError(f"checkpoint '{path}' holds no tensors")
    target = target_keys(module)
    missing, unexpected, mismatch = compare_keys(state, target)
    allowed = set(MATNET_UNUSED) if release_format(module) == "encoder_decoder" else set()
    kept = [k for k in missing if k in allowed]
    missing = [k for k in missing if k not in allowed]
    if missing or unexpected or mismatch:
        raise CheckpointMismatchError(entry, str(path), missing, unexpected, mismatch)
    if kept:
        log.info("%s: %d decoder tensors unused by MATNet's forward are not in %s; keeping "
                 "their initialisation", entry, len(kept), path)
    result = module.load_state_dict(state, strict=False)
    left = [k for k in result.missing_keys if not k.endswith(BN_COUNTER) and k not in allowed]
    if left or result.unexpected_keys:
        raise CheckpointMismatchError(entry, str(path), left, list(result.unexpected_keys))


def save_release_checkpoint(module: nn.Module, path: str | Path, epoch: int = 0,
                            data_parallel: bool = True) -> Path:
    """Write ``module``'s weights in its family's released format; returns what to load.

    MATNet: ``path`` is a directory, ``encoder_<epoch>.pt`` / ``decoder_<epoch>.pt`` are written
    into it (``module.`` prefixed when ``data_parallel``). RTNet keys always carry ``module.``
    (its training script wraps the model), FusionSeg keys never do.
    """
    path = Path(path)
    fmt = release_format(module)
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    if fmt == "model_state":
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"model_state": state, "cur_itrs": 0, "best_score": 0.0}, path)
        return path
    if fmt == "state_dict":
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()},
                    "epoch": epoch}, path)
        return path
    path.mkdir(parents=True, exist_ok=True)
    prefix = "module." if data_parallel else ""
    for half in ("encoder", "decoder"):
        part = {prefix + k[len(half) + 1:]: v for k, v in state.items()
                if k.startswith(f"{half}.")}
        torch.save(part, path / f"{half}_{epoch}.pt")
    return path
