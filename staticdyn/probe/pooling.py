"""How one layer output becomes a (batch, channels) feature: the pooling of METHOD.md section 2.

The global average over every non-channel axis. It is its own module so that the rule for each
output shape (conv maps, token sequences, multi-pathway lists, MViT's ``(x, thw)`` tuples) is
written, read and tested in one place; ``hooks`` only decides *when* it runs (inside the forward
hook, on the device).
"""

from __future__ import annotations

import torch


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
