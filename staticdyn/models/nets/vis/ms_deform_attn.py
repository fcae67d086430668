"""Multi-scale deformable attention (Deformable DETR) in plain PyTorch.

Mask2Former ships a compiled CUDA kernel and falls back to a ``grid_sample`` formulation when
it is missing; only that formulation is used here (no compiled op to build), on any device.
Parameter names (``sampling_offsets``, ``attention_weights``, ``value_proj``, ``output_proj``)
are the official module's, so released weights load by name.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def deform_attn_sample(
    value: torch.Tensor,
    shapes: list[tuple[int, int]],
    locations: torch.Tensor,
    weights: torch.Tensor,
) -> torch.Tensor:
    """Attention-weighted bilinear samples of every level at every sampling location.

    value (N, S, M, D) with S = sum of H*W over ``shapes``; locations (N, Lq, M, L, P, 2) in
    [0, 1] (x, y); weights (N, Lq, M, L, P). Returns (N, Lq, M*D).
    """
    n, _, heads, dim = value.shape
    _, lq, _, levels, points, _ = locations.shape
    per_level = value.split([h * w for h, w in shapes], dim=1)
    grids = 2 * locations - 1  # grid_sample's [-1, 1] frame
    sampled = []
    for lvl, (h, w) in enumerate(shapes):
        # (N, H*W, M, D) -> (N*M, D, H, W): one sampling image per head
        img = per_level[lvl].flatten(2).transpose(1, 2).reshape(n * heads, dim, h, w)
        grid = grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)  # (N*M, Lq, P, 2)
        sampled.append(F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros",
                                     align_corners=False))  # (N*M, D, Lq, P)
    w = weights.transpose(1, 2).reshape(n * heads, 1, lq, levels * points)
    out = (torch.stack(sampled, dim=-2).flatten(-2) * w).sum(-1)  # (N*M, D, Lq)
    return out.view(n, heads * dim, lq).transpose(1, 2).contiguous()


class MSDeformAttn(nn.Module):
    """Each query attends to ``n_points`` learned offsets around its reference point at every
    one of ``n_levels`` feature levels, per head."""

    def __init__(self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8,
                 n_points: int = 4) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.d_model, self.n_levels, self.n_heads, self.n_points = (
            d_model, n_levels, n_heads, n_points)
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Deformable DETR's init: zero offset weights, offset biases pointing each head in its
        own direction at growing radii, uniform attention."""
        if self.sampling_offsets.weight.is_meta:
            return
        nn.init.zeros_(self.sampling_offsets.weight)
        angles = torch.arange(self.n_heads, dtype=torch.float32) * (2 * math.pi / self.n_heads)
        dirs = torch.stack([angles.cos(), angles.sin()], -1)
        dirs = dirs / dirs.abs().max(-1, keepdim=True).values
        radii = torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        grid = dirs.view(self.n_heads, 1, 1, 2) * radii
        grid = grid.expand(self.n_heads, self.n_levels, self.n_points, 2)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.reshape(-1))
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for lin in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, query: torch.Tensor, reference_points: torch.Tensor,
                input_flatten: torch.Tensor, spatial_shapes: list[tuple[int, int]]
                ) -> torch.Tensor:
        """query (N, Lq, C), reference_points (N, Lq, L, 2) in [0, 1], input_flatten (N, S, C)
        over the levels of ``spatial_shapes`` [(H, W), ...] -> (N, Lq, C)."""
        n, lq, _ = query.shape
        s = input_flatten.shape[1]
        if sum(h * w for h, w in spatial_shapes) != s:
            raise ValueError("input_flatten length does not match the spatial shapes")
        heads, levels, points = self.n_heads, self.n_levels, self.n_points
        value = self.value_proj(input_flatten).view(n, s, heads, self.d_model // heads)
        offsets = self.sampling_offsets(query).view(n, lq, heads, levels, points, 2)
        weights = self.attention_weights(query).view(n, lq, heads, levels * points)
        weights = weights.softmax(-1).view(n, lq, heads, levels, points)
        # offsets are in pixels of each level: normalise by (W, H)
        norm = torch.tensor([[w, h] for h, w in spatial_shapes], dtype=query.dtype,
                            device=query.device)
        locations = reference_points[:, :, None, :, None, :] + offsets / norm[None, None, None,
                                                                               :, None, :]
        return self.output_proj(deform_attn_sample(value, spatial_shapes, locations, weights))
