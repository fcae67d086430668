"""Swin Transformer backbone of Mask2Former (``D2SwinTransformer``), natively, without detectron2.

Mask2Former's Swin-L VIS entries wrap the Swin Transformer in detectron2's backbone interface:
images (N, 3, H, W) in, ``{"res2": stride 4, ..., "res5": stride 32}`` maps out, each stage's
tokens put through its own LayerNorm (``norm0``..``norm3``). The attribute names here are those
of ``mask2former/modeling/backbone/swin.py`` so that a released ``model_final_*.pkl`` loads
strictly under the ``backbone.`` prefix, including the ``relative_position_index`` buffers the
official module registers as persistent. The computation follows the official forward: patch
embedding with padding to the patch size, window attention with a learned relative-position
bias, padding to the window size inside each block, cyclic shift every second block with the
shifted-window mask, patch merging between stages. Stochastic depth and dropout are identity
at inference and are not built (they hold no parameters).

The meta-architecture, not the backbone, pads a batch to ``size_divisibility`` (32), as
detectron2's ``ImageList.from_tensors`` does; this module only exposes the number.

Probe taps: ``res2``..``res5`` are parameter-free identity modules applied to the (N, C, H', W')
stage outputs, so ``backbone.res2``..``backbone.res5`` name the same thing (layout ``(NT)CHW``)
in the Swin and the ResNet entries, and the state dict keeps the released layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# the two-layer GELU MLP of every timm-style block (fc1, fc2: the official names)
from staticdyn.models.nets.timesformer import Mlp
from staticdyn.models.nets.vos.common import Tap

OUT_FEATURES = ("res2", "res3", "res4", "res5")


@dataclass(frozen=True)
class ShapeSpec:
    """What detectron2's ``Backbone.output_shape()`` reports per feature: channels and stride."""

    channels: int
    stride: int


def relative_position_index(window: int) -> torch.Tensor:
    """(w*w, w*w) index into the (2w-1)^2 bias table: row offset * (2w-1) + column offset."""
    ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    coords = torch.stack([ys.flatten(), xs.flatten()])  # 2, w*w
    rel = coords[:, :, None] - coords[:, None, :] + (window - 1)  # 2, w*w, w*w; >= 0
    return rel[0] * (2 * window - 1) + rel[1]


class WindowAttention(nn.Module):
    """Multi-head self-attention inside one window, with a learned relative-position bias."""

    def __init__(self, dim: int, window: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        self.window_size = (window, window)
        self.num_heads = num_heads
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def bias(self) -> torch.Tensor:
        """(heads, w*w, w*w) additive bias of every query/key pair of a window."""
        n = self.window_size[0] * self.window_size[1]
        table = self.relative_position_bias_table[self.relative_position_index.reshape(-1)]
        return table.reshape(n, n, self.num_heads).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (windows*N, w*w, C); mask: (windows, w*w, w*w) of 0 / -100 or None."""
        bw, n, c = x.shape
        q, k, v = self.qkv(x).reshape(bw, n, 3, self.num_heads, c // self.num_heads
                                      ).permute(2, 0, 3, 1, 4)
        bias = self.bias()  # heads, n, n
        if mask is not None:  # windows are image-major: split (N*nW) to broadcast the mask
            nw = mask.shape[0]
            q, k, v = (t.reshape(bw // nw, nw, *t.shape[1:]) for t in (q, k, v))
            bias = bias.unsqueeze(0) + mask.unsqueeze(1)  # nW, heads, n, n
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        return self.proj(out.reshape(bw, self.num_heads, n, -1).transpose(1, 2).reshape(bw, n, c))


def _partition(x: torch.Tensor, w: int) -> torch.Tensor:
    """(N, H, W, C) with H, W multiples of w -> (N * H/w * W/w, w*w, C), image-major."""
    n, h, wd, c = x.shape
    x = x.reshape(n, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, c)


def _merge(windows: torch.Tensor, w: int, n: int, h: int, wd: int) -> torch.Tensor:
    """Inverse of ``_partition``."""
    c = windows.shape[-1]
    x = windows.reshape(n, h // w, wd // w, w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h, wd, c)


class SwinTransformerBlock(nn.Module):
    """Pre-norm window attention (shifted by ``shift_size`` when > 0) and MLP, both residual."""

    def __init__(self, dim: int, num_heads: int, window: int, shift: int, mlp_ratio: float,
                 qkv_bias: bool = True):
        super().__init__()
        self.window_size, self.shift_size = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, h: int, wd: int, mask: torch.Tensor) -> torch.Tensor:
        n, _, c = x.shape
        w, s = self.window_size, self.shift_size
        y = self.norm1(x).reshape(n, h, wd, c)
        y = F.pad(y, (0, 0, 0, (w - wd % w) % w, 0, (w - h % w) % w))  # pad right, bottom
        hp, wp = y.shape[1], y.shape[2]
        if s:
            y = torch.roll(y, shifts=(-s, -s), dims=(1, 2))
        y = self.attn(_partition(y, w), mask if s else None)
        y = _merge(y, w, n, hp, wp)
        if s:
            y = torch.roll(y, shifts=(s, s), dims=(1, 2))
        x = x + y[:, :h, :wd].reshape(n, h * wd, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2x2 neighbouring tokens concatenated (pad odd sizes), normalised, projected to 2C."""

    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor, h: int, wd: int) -> torch.Tensor:
        n, _, c = x.shape
        x = F.pad(x.reshape(n, h, wd, c), (0, 0, 0, wd % 2, 0, h % 2))
        # channel order of the official concatenation: (0,0), (1,0), (0,1), (1,1) offsets
        parts = [x[:, i::2, j::2] for j in (0, 1) for i in (0, 1)]
        x = torch.cat(parts, dim=-1).reshape(n, -1, 4 * c)
        return self.reduction(self.norm(x))


def shifted_window_mask(h: int, wd: int, window: int, shift: int,
                        device: torch.device | None = None) -> torch.Tensor:
    """(windows, w*w, w*w) mask: -100 between tokens that the cyclic shift brought together.

    The padded map is cut into three bands per axis ([0, -w), [-w, -s), [-s, end)); tokens
    of different band pairs must not attend to each other inside a shifted window.
    """
    hp, wp = -(-h // window) * window, -(-wd // window) * window
    label = torch.zeros(1, hp, wp, 1, device=device)
    bands = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for i, (rows, cols) in enumerate((r, c) for r in bands for c in bands):
        label[:, rows, cols, :] = i
    win = _partition(label, window).squeeze(-1)  # windows, w*w
    diff = win.unsqueeze(1) - win.unsqueeze(2)
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


class BasicLayer(nn.Module):
    """One stage: ``depth`` blocks (odd ones shifted by window // 2), then patch merging."""

    def __init__(self, dim: int, depth: int, num_heads: int, window: int, mlp_ratio: float,
                 downsample: bool, qkv_bias: bool = True):
        super().__init__()
        self.window_size, self.shift_size = window, window // 2
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(dim, num_heads, window, 0 if i % 2 == 0 else window // 2,
                                 mlp_ratio, qkv_bias)
            for i in range(depth))
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x: torch.Tensor, h: int, wd: int) -> torch.Tensor:
        mask = shifted_window_mask(h, wd, self.window_size, self.shift_size, x.device)
        for blk in self.blocks:
            x = blk(x, h, wd, mask)
        return x


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection (input padded to the patch size), then LayerNorm."""

    def __init__(self, patch_size: int, embed_dim: int, patch_norm: bool = True):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim) if patch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch_size
        x = F.pad(x, (0, (p - x.shape[-1] % p) % p, 0, (p - x.shape[-2] % p) % p))
        x = self.proj(x)
        if self.norm is not None:
            x = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x


class D2SwinTransformer(nn.Module):
    """The Swin backbone with detectron2's interface: (N, 3, H, W) -> {res2..res5: NCHW}.

    Defaults are Swin-L as Mask2Former's ``configs/youtubevis_2019/swin/*swin_large*.yaml``
    configures it (embed 192, depths 2/2/18/2, heads 6/12/24/48, window 12, pretrain 384);
    smaller widths, depths and windows build the same key pattern for tests and smoke runs."""

    def __init__(self, embed_dim: int = 192, depths: Sequence[int] = (2, 2, 18, 2),
                 num_heads: Sequence[int] = (6, 12, 24, 48), window_size: int = 12,
                 pretrain_img_size: int = 384, patch_size: int = 4, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, ape: bool = False, patch_norm: bool = True,
                 out_features: Sequence[str] = OUT_FEATURES):
        super().__init__()
        if len(depths) != 4 or len(num_heads) != 4:
            raise ValueError(f"Swin needs 4 stages: depths {list(depths)}, heads "
                             f"{list(num_heads)}")
        self.num_features = [embed_dim * 2 ** i for i in range(4)]
        self.patch_embed = PatchEmbed(patch_size, embed_dim, patch_norm)
        self.ape = ape
        if ape:  # absolute position embedding, resized to the input (off in every VIS config)
            side = pretrain_img_size // patch_size
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, embed_dim, side, side))
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
        self.layers = nn.ModuleList(
            BasicLayer(self.num_features[i], depths[i], num_heads[i], window_size, mlp_ratio,
                       downsample=i < 3, qkv_bias=qkv_bias)
            for i in range(4))
        for i in range(4):
            self.add_module(f"norm{i}", nn.LayerNorm(self.num_features[i]))
        self._out_features = [f for f in out_features if f in OUT_FEATURES]
        self._out_feature_strides = {f"res{i + 2}": patch_size * 2 ** i for i in range(4)}
        self._out_feature_channels = {f"res{i + 2}": c for i, c in enumerate(self.num_features)}
        for name in OUT_FEATURES:
            self.add_module(name, Tap())

    @property
    def size_divisibility(self) -> int:
        """What the meta-architecture pads inputs to (detectron2 ``Backbone`` contract)."""
        return 32

    def stage_paths(self) -> dict[str, str]:
        """Probe alias (inside the backbone) -> tap module path of each returned stage."""
        return {name: name for name in self._out_features}

    def output_shape(self) -> dict[str, ShapeSpec]:
        return {f: ShapeSpec(self._out_feature_channels[f], self._out_feature_strides[f])
                for f in self._out_features}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.ndim != 4:
            raise ValueError(f"the Swin backbone takes (N, C, H, W) frames, got shape "
                             f"{tuple(x.shape)}")
        x = self.patch_embed(x)
        h, wd = x.shape[-2:]
        if self.ape:
            x = x + F.interpolate(self.absolute_pos_embed, size=(h, wd), mode="bicubic")
        x = x.flatten(2).transpose(1, 2)
        out: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.layers):
            x = layer(x, h, wd)
            name = f"res{i + 2}"
            if name in self._out_features:
                y = getattr(self, f"norm{i}")(x)
                y = y.reshape(-1, h, wd, self.num_features[i]).permute(0, 3, 1, 2).contiguous()
                out[name] = getattr(self, name)(y)
            if layer.downsample is not None:
                x = layer.downsample(x, h, wd)
                h, wd = (h + 1) // 2, (wd + 1) // 2
        return out


def build_swin_backbone(**kwargs: object) -> D2SwinTransformer:
    """Mask2Former's Swin-L unless told otherwise (e.g. ``embed_dim=16, depths=(1, 1, 2, 1),
    num_heads=(1, 2, 4, 8), window_size=4`` for a fast test build)."""
    return D2SwinTransformer(**kwargs)  # type: ignore[arg-type]
