"""How one layer output becomes a (batch, channels) feature: the pooling of METHOD.md section 2.

The global average over every non-channel axis. It is its own module so that the rule for each
output shape (conv maps, token sequences, multi-pathway lists, MViT's ``(x, thw)`` tuples) is
written, read and tested in one place; ``hooks`` only decides *when* it runs (inside the forward
hook, on the device).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from staticdyn.errors import StaticDynError, UnknownChoiceError
from staticdyn.models.io import OUTPUT_LAYOUTS, Layout, Selector


def pool_output(out: object) -> torch.Tensor:
    """Reduce a layer output to (batch, channels), in float32, as a tensor the caller owns.

    - 5-D (B, C, T, H, W) and 4-D (B, C, H, W) conv maps: mean over all axes after C.
    - 3-D (B, N, C) token sequences (MViT, TimeSformer): mean over every token, class token
      included, as the authors did.
    - 2-D (B, C): a copy, so a later in-place change of the output cannot reach it.
    - A tuple (MViT blocks return ``(x, thw)``): the first tensor.
    - A list of tensors (a fused multi-pathway stage): each pathway pooled, channels concatenated.
    """
    if isinstance(out, tuple):
        return pool_output(out[0])
    if isinstance(out, list):
        return torch.cat([pool_output(o) for o in out], dim=1)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"cannot pool a layer output of type {type(out).__name__}")
    x = out.float()
    if x.ndim >= 4:
        return x.mean(dim=tuple(range(2, x.ndim)))
    if x.ndim == 3:
        return x.mean(dim=1)
    if x.ndim == 2:
        return x.clone()
    raise ValueError(f"cannot pool a layer output of shape {tuple(out.shape)}")


# -- pooling by declared layout (issue 12) ------------------------------------------------------
# ``pool_output`` above reads the rank only (channels at dim 1 for 4-D/5-D, dim 2 for 3-D); the
# functions below read a declared ``Layout`` instead. For the layouts that rank rule assumes
# (NCTHW, NCHW, NLC, NC) they run the very same tensor operations, so a declared or inferred
# layout reproduces ``pool_output`` bit for bit.


def select_output(out: object, selector: Selector | None, where: str) -> object:
    """The element of a layer output to pool: ``selector`` indexes a tuple/list or keys a
    dict/ModelOutput. Without one a tuple gives its first element (MViT's ``(x, thw)``), a list
    stays a list (pathways), a tensor is itself. A selector on a bare tensor is not applied:
    libraries move between returning ``(x,)`` and ``x`` (transformers 4 -> 5) and both mean x.
    """
    if isinstance(out, torch.Tensor):
        return out
    if selector is None:
        if isinstance(out, tuple):
            return out[0]
        if isinstance(out, list):
            return out
        keys = list(out.keys()) if isinstance(out, Mapping) else []
        raise StaticDynError(
            f"layer {where} returns a {type(out).__name__}; name the element to pool with "
            f"output: (per layer or model default). Valid choices: {', '.join(map(str, keys))}"
        )
    if isinstance(out, Mapping):
        keys = [k for k, v in out.items() if v is not None]
        if isinstance(selector, int):
            if -len(keys) <= selector < len(keys):
                return out[keys[selector]]
        elif selector in out:
            return out[selector]
        raise UnknownChoiceError(f"output of layer {where}", str(selector), map(str, keys))
    if isinstance(out, tuple | list) and isinstance(selector, int):
        if -len(out) <= selector < len(out):
            return out[selector]
        raise UnknownChoiceError(f"output index of layer {where}", str(selector),
                                 map(str, range(len(out))))
    if isinstance(selector, str) and hasattr(out, selector):
        return getattr(out, selector)
    raise StaticDynError(f"layer {where}: output selector {selector!r} does not apply to a "
                         f"{type(out).__name__}")


def fits(layout: Layout, shape: Sequence[int], batch: int) -> bool:
    """Rank and batch axis agree: the batch axis holds ``batch`` rows (folded forms: a whole
    number of time steps per clip)."""
    if len(shape) != layout.rank:
        return False
    if layout.folded:
        return shape[layout.batch_axis] % batch == 0
    return shape[layout.batch_axis] == batch


def pooled_width(layout: Layout, shape: Sequence[int]) -> int:
    """Channel count the layout reads from an output shape (the pooled feature width)."""
    return int(shape[layout.channel_axis])


def pool_tensor(x: torch.Tensor, layout: Layout, batch: int, where: str) -> torch.Tensor:
    """(batch, channels) float32 of one tensor: the mean over every axis except batch and
    channels; a time-folded batch is unfolded to (batch, T, ...) first (one row per clip)."""
    if not fits(layout, tuple(x.shape), batch):
        raise StaticDynError(
            f"layer {where}: output shape {tuple(x.shape)} does not fit layout {layout.name} "
            f"for a batch of {batch}. Valid choices: {', '.join(OUTPUT_LAYOUTS)}"
        )
    x = x.float()
    batch_axis, channel_axis = layout.batch_axis, layout.channel_axis
    if layout.folded:
        x = x.unflatten(batch_axis, (batch, x.shape[batch_axis] // batch))
        channel_axis += int(channel_axis > batch_axis)
    dims = tuple(d for d in range(x.ndim) if d not in (batch_axis, channel_axis))
    if not dims:
        return x.clone()
    return x.mean(dim=dims[0] if len(dims) == 1 else dims)


def pool_declared(
    out: object, layout: Layout, selector: Selector | None, batch: int, where: str
) -> torch.Tensor:
    """Pool a layer output by its layout: select the element, then pool each pathway of a list
    (channels concatenated, as ``pool_output`` does) or the tensor itself."""
    x = select_output(out, selector, where)
    if isinstance(x, list):
        return torch.cat([pool_tensor(_tensor(o, where), layout, batch, where) for o in x],
                         dim=1)
    return pool_tensor(_tensor(x, where), layout, batch, where)


def _tensor(x: object, where: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise StaticDynError(f"layer {where}: the selected output is a {type(x).__name__}, "
                             "not a tensor; choose another element with output:")
    return x
