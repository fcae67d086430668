"""Load a checkpoint file into a zoo model, strictly, from a local path only.

Strictness is the point: a checkpoint that silently leaves half of the layers at their random
initialisation still gives static/dynamic numbers, just meaningless ones. The SlowFast code
base loads non-strictly (only shape-matching keys), which hides exactly that failure, so
staticdyn checks every key itself and names the missing and unexpected ones.

The file is read by ``reader.read_checkpoint`` (data only, never code). What happens next is
the model card's ``checkpoint_format`` (``card.FORMATS``):

- ``native``: the file must hold the built module's own keys (PyTorchVideo model-zoo ``.pyth``
  ``{"model_state": sd}``, mmaction ``{"state_dict": ...}``, plain state dicts, DDP
  ``module.`` prefixes); nothing is converted.
- ``slowfast`` / ``timesformer_release``: a file in another code base's layout is handed to
  ``staticdyn.models.checkpoints.convert``, which reads the card's ``family`` and
  ``checkpoint_pathway``.
- ``vos_release``: the VOS model's released envelope (``vos_release``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from staticdyn.errors import CheckpointMismatchError, StaticDynError
from staticdyn.models.checkpoints.card import CONVERTED_FORMATS, CheckpointCard
from staticdyn.models.checkpoints.convert import convert_to_pytorchvideo
from staticdyn.models.checkpoints.reader import read_checkpoint
from staticdyn.models.checkpoints.state import (
    BN_COUNTER,
    compare_keys,
    extract_state_dict,
    target_keys,
)
from staticdyn.models.checkpoints.vos_release import load_vos_checkpoint

__all__ = ["ALIAS_MARKERS", "Converter", "converters_for", "extract_state_dict",
           "fit_state_dict", "load_checkpoint", "target_keys"]

Converter = Callable[[dict[str, torch.Tensor], CheckpointCard, dict[str, tuple[int, ...]]],
                     dict[str, torch.Tensor]]

# PyTorchVideo after 0.1.5 also exposes MViT's attention pools under these names; they alias
# tensors already present under pool_q/norm_q etc., so a 0.1.5 module simply lacks them.
ALIAS_MARKERS = ("._attention_pool_",)


def _drop_aliases(
    state: dict[str, torch.Tensor], target: Mapping[str, tuple[int, ...]]
) -> dict[str, torch.Tensor]:
    """Remove duplicate alias keys the built module does not have (see ALIAS_MARKERS)."""
    return {
        k: v for k, v in state.items()
        if k in target or not any(m in k for m in ALIAS_MARKERS)
    }


def converters_for(card: CheckpointCard) -> list[Converter]:
    """The layout converters a card's ``checkpoint_format`` allows (none for ``native``)."""
    return [convert_to_pytorchvideo] if card.format in CONVERTED_FORMATS else []


def fit_state_dict(
    state: dict[str, torch.Tensor],
    model: nn.Module,
    card: CheckpointCard,
    path: str | Path,
    converters: list[Converter] | None = None,
) -> dict[str, torch.Tensor]:
    """Return a state dict that fits ``model`` exactly, converting the layout if needed.

    Raises CheckpointMismatchError against the file's own keys when no converter helps, since
    those are what the user can recognise.
    """
    target = target_keys(model)
    state = _drop_aliases(state, target)
    missing, unexpected, mismatch = compare_keys(state, target)
    if not (missing or unexpected or mismatch):
        return state
    if converters is None:
        converters = converters_for(card)
    reasons: list[str] = []
    for convert in converters:
        try:
            converted = convert(dict(state), card, target)
        except ValueError as exc:
            reasons.append(str(exc))
            continue
        c_missing, c_unexpected, c_mismatch = compare_keys(converted, target)
        if not (c_missing or c_unexpected or c_mismatch):
            return converted
        missing, unexpected, mismatch = c_missing, c_unexpected, c_mismatch
        reasons.append(f"{getattr(convert, '__name__', 'converter')} left keys unmatched")
    err = CheckpointMismatchError(card.entry, str(path), missing, unexpected, mismatch)
    if reasons:
        # The converter's reason ("cannot tell the layout ...", "stage 4 has 6 blocks, the
        # model 23") is usually what explains the mismatch, so it joins the one-line message.
        err.args = (f"{err.args[0]}. Layout conversion: {'; '.join(reasons)}",)
    raise err


def load_checkpoint(
    model: nn.Module,
    path: str | Path,
    card: CheckpointCard,
    converters: list[Converter] | None = None,
) -> None:
    """Load ``path`` into ``model`` in place; every model key must be filled, none left over.

    ``card`` carries the model card's facts (``CheckpointCard.from_config``). ``converters``
    defaults to what the card's ``checkpoint_format`` allows; each is called only when the keys
    do not already fit, and signals "not my layout" with ValueError.
    """
    if card.format == "vos_release":
        load_vos_checkpoint(model, path, card.entry, trust=card.trust)
        return
    state = extract_state_dict(read_checkpoint(path, trust=card.trust), path)
    if not state:
        raise StaticDynError(f"checkpoint '{path}' holds no tensors")
    fitted = fit_state_dict(state, model, card, path, converters)
    # strict=False only because num_batches_tracked may be absent; fit_state_dict already
    # guaranteed that every other key is present with its shape.
    result = model.load_state_dict(fitted, strict=False)
    left = [k for k in result.missing_keys if not k.endswith(BN_COUNTER)]
    if left or result.unexpected_keys:
        raise CheckpointMismatchError(card.entry, str(path), left, list(result.unexpected_keys))
