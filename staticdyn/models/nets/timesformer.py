"""TimeSformer (divided space-time attention), written with plain torch.

Why a native copy: the original release depends on an old timm and on SlowFast-style config
objects, and its forward was modified in the Kowal et al. copy. staticdyn needs only the
network: same parameter names and shapes as the release (without its ``model.`` prefix, see
staticdyn.models.checkpoints.convert) so its K400 checkpoint loads strictly, and blocks that
return the full token sequence so the pooling hook can average over every token.

Token layout (as in the release): after the patch embedding each clip is one sequence
``[cls, (patch 0, frame 0..T-1), (patch 1, frame 0..T-1), ...]`` of length ``1 + N*T`` - the
patch index varies slowest, the frame fastest. Each block first attends over time (per patch),
then over space (per frame, with a per-frame copy of the class token whose outputs are averaged
back into one), then applies the MLP.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (release names: qkv, proj)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DividedSpaceTimeBlock(nn.Module):
    """One TimeSformer block; input and output are (B, 1 + N*T, C), class token first."""

    def __init__(self, dim: int, num_heads: int, num_frames: int, mlp_ratio: float = 4.0,
                 eps: float = 1e-6) -> None:
        super().__init__()
        self.num_frames = num_frames
        # Registration order = the release's state_dict order.
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads)
        self.temporal_norm1 = nn.LayerNorm(dim, eps=eps)
        self.temporal_attn = Attention(dim, num_heads)
        self.temporal_fc = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, c = x.shape
        t = self.num_frames
        n = (length - 1) // t
        cls, tokens = x[:, :1], x[:, 1:]

        # Time: each patch position attends over its T frames.
        xt = tokens.reshape(b * n, t, c)
        res_t = self.temporal_attn(self.temporal_norm1(xt)).reshape(b, n * t, c)
        tokens = tokens + self.temporal_fc(res_t)

        # Space: each frame attends over its N patches plus its own copy of the class token.
        xs = tokens.reshape(b, n, t, c).transpose(1, 2).reshape(b * t, n, c)
        xs = torch.cat([cls.repeat_interleave(t, dim=0), xs], dim=1)
        res_s = self.attn(self.norm1(xs))
        res_cls = res_s[:, :1].reshape(b, t, c).mean(dim=1, keepdim=True)
        res_s = res_s[:, 1:].reshape(b, t, n, c).transpose(1, 2).reshape(b, n * t, c)

        x = torch.cat([cls, tokens], dim=1) + torch.cat([res_cls, res_s], dim=1)
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Per-frame 2-D patch embedding (release name: patch_embed.proj, a Conv2d)."""

    def __init__(self, img_size: int, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        if img_size % patch_size:
            raise ValueError(f"img_size {img_size} is not a multiple of patch_size {patch_size}")
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B*T, N, C)


class TimeSformer(nn.Module):
    """ViT with divided space-time attention. Input (B, 3, T, H, W) -> logits (B, classes)."""

    def __init__(self, num_classes: int = 400, num_frames: int = 8, img_size: int = 224,
                 patch_size: int = 16, embed_dim: int = 768, depth: int = 12,
                 num_heads: int = 12, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.num_frames, self.img_size = num_frames, img_size
        self.patch_embed = PatchEmbed(img_size, patch_size, embed_dim)
        n = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, embed_dim))
        self.time_embed = nn.Parameter(torch.zeros(1, num_frames, embed_dim))
        self.blocks = nn.ModuleList(
            DividedSpaceTimeBlock(embed_dim, num_heads, num_frames, mlp_ratio)
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """Random init in the release's spirit; the temporal residual of blocks after the first
        starts at zero so an untrained model begins as a per-frame ViT."""
        for p in (self.cls_token, self.pos_embed):
            nn.init.trunc_normal_(p, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        for blk in list(self.blocks)[1:]:
            nn.init.zeros_(blk.temporal_fc.weight)
            nn.init.zeros_(blk.temporal_fc.bias)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> tokens (B, 1 + N*T, C) with space and time embeddings added."""
        b, _, t, h, w = x.shape
        if t != self.num_frames or h != self.img_size or w != self.img_size:
            raise ValueError(
                f"TimeSformer built for {self.num_frames} frames of {self.img_size}px, "
                f"got {t} frames of {h}x{w}"
            )
        frames = x.transpose(1, 2).reshape(b * t, x.shape[1], h, w)
        tokens = self.patch_embed(frames)  # (B*T, N, C)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat([cls, tokens], dim=1) + self.pos_embed
        cls = tokens[:, :1].reshape(b, t, 1, -1)[:, 0]  # identical for every frame
        n, c = tokens.shape[1] - 1, tokens.shape[2]
        patches = tokens[:, 1:].reshape(b, t, n, c).transpose(1, 2)  # (B, N, T, C)
        patches = patches + self.time_embed.unsqueeze(1)
        return torch.cat([cls, patches.reshape(b, n * t, c)], dim=1)

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        if isinstance(x, list | tuple):
            if len(x) != 1:
                raise ValueError(f"TimeSformer takes one pathway, got {len(x)}")
            x = x[0]
        x = self.embed(x)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x)[:, 0])


def build_timesformer(num_classes: int = 400, num_frames: int = 8, img_size: int = 224,
                      patch_size: int = 16, embed_dim: int = 768, depth: int = 12,
                      num_heads: int = 12, **kw: Any) -> TimeSformer:
    """TimeSformer-B divST (8 frames, 224 px by default), keys = the release minus ``model.``.

    Position embeddings are sized from ``img_size`` and ``patch_size`` so small test models
    (e.g. img_size=32, depth=2, embed_dim=64) work. ``kw`` accepts ``mlp_ratio`` and
    ``attention_type`` (only the release's ``divided_space_time`` is implemented, and asking for
    another fails instead of silently building this one).
    """
    attention = kw.pop("attention_type", "divided_space_time")
    if attention != "divided_space_time":
        raise ValueError(f"attention_type '{attention}' is not implemented; "
                         "only 'divided_space_time'")
    return TimeSformer(num_classes=num_classes, num_frames=num_frames, img_size=img_size,
                       patch_size=patch_size, embed_dim=embed_dim, depth=depth,
                       num_heads=num_heads, **kw)
