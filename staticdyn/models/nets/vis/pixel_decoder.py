"""Mask2Former's pixel decoder (``MSDeformAttnPixelDecoder``), run on every frame on its own.

A deformable-attention transformer encoder mixes the three coarsest backbone levels (strides
8, 16, 32); an FPN step then adds the stride-4 level, and a 1x1 conv (``mask_features``) gives
the per-pixel embeddings that the decoder's queries are dotted with. Module names follow the
official code (``input_proj``, ``transformer.encoder.layers.K``, ``transformer.level_embed``,
``adapter_1``, ``layer_1``, ``mask_features``) so released weights load by name. Every encoder
layer and ``mask_features`` is its own module called in the forward, so forward hooks on them
fire (the official head calls ``forward_features``; a hook on the decoder itself never would).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from staticdyn.models.nets.vis.ms_deform_attn import MSDeformAttn
from staticdyn.models.nets.vis.position_encoding import PositionEmbeddingSine
from staticdyn.models.nets.vis.resnet_d2 import Conv2d


def _xavier_conv(conv: nn.Conv2d) -> None:
    """Caffe2's Xavier fill (uniform, a=1), detectron2's ``c2_xavier_fill``."""
    nn.init.kaiming_uniform_(conv.weight, a=1)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class MSDeformAttnTransformerEncoderLayer(nn.Module):
    """Deformable self-attention over all levels' tokens, then a ReLU FFN (post-norm)."""

    def __init__(self, d_model: int = 256, d_ffn: int = 1024, dropout: float = 0.0,
                 n_levels: int = 3, n_heads: int = 8, n_points: int = 4) -> None:
        super().__init__()
        self.self_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.dropout2 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.dropout3 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, src: torch.Tensor, pos: torch.Tensor, reference_points: torch.Tensor,
                spatial_shapes: list[tuple[int, int]]) -> torch.Tensor:
        src = self.norm1(src + self.dropout1(
            self.self_attn(src + pos, reference_points, src, spatial_shapes)))
        ffn = self.linear2(self.dropout2(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout3(ffn))


class MSDeformAttnTransformerEncoder(nn.Module):
    def __init__(self, num_layers: int, **layer_kwargs: int | float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            MSDeformAttnTransformerEncoderLayer(**layer_kwargs) for _ in range(num_layers))

    @staticmethod
    def reference_points(shapes: list[tuple[int, int]], batch: int,
                         device: torch.device) -> torch.Tensor:
        """Pixel centres of every level in [0, 1] (x, y), shared by all levels: (N, S, L, 2).
        No padding masks here (every frame is the full padded image), so valid ratios are 1."""
        refs = []
        for h, w in shapes:
            ys, xs = torch.meshgrid(
                torch.linspace(0.5, h - 0.5, h, dtype=torch.float32, device=device) / h,
                torch.linspace(0.5, w - 0.5, w, dtype=torch.float32, device=device) / w,
                indexing="ij")
            refs.append(torch.stack((xs.reshape(-1), ys.reshape(-1)), -1))
        ref = torch.cat(refs, 0)[None, :, None, :]
        return ref.expand(batch, -1, len(shapes), 2)

    def forward(self, src: torch.Tensor, shapes: list[tuple[int, int]],
                pos: torch.Tensor) -> torch.Tensor:
        ref = self.reference_points(shapes, src.shape[0], src.device)
        for layer in self.layers:
            src = layer(src, pos, ref, shapes)
        return src


class MSDeformAttnTransformerEncoderOnly(nn.Module):
    def __init__(self, d_model: int = 256, nhead: int = 8, num_encoder_layers: int = 6,
                 dim_feedforward: int = 1024, dropout: float = 0.0,
                 num_feature_levels: int = 3, enc_n_points: int = 4) -> None:
        super().__init__()
        self.d_model, self.nhead = d_model, nhead
        self.encoder = MSDeformAttnTransformerEncoder(
            num_encoder_layers, d_model=d_model, d_ffn=dim_feedforward, dropout=dropout,
            n_levels=num_feature_levels, n_heads=nhead, n_points=enc_n_points)
        self.level_embed = nn.Parameter(torch.empty(num_feature_levels, d_model))
        if not self.level_embed.is_meta:
            for p in self.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
            for m in self.modules():
                if isinstance(m, MSDeformAttn):
                    m._reset_parameters()
            nn.init.normal_(self.level_embed)

    def forward(self, srcs: list[torch.Tensor], pos_embeds: list[torch.Tensor]
                ) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """Flatten every level to tokens (level embedding added to its position encoding),
        encode them jointly; returns the (N, S, C) memory and the level shapes."""
        shapes = [(int(s.shape[2]), int(s.shape[3])) for s in srcs]
        tokens = torch.cat([s.flatten(2).transpose(1, 2) for s in srcs], 1)
        pos = torch.cat([p.flatten(2).transpose(1, 2) + self.level_embed[lvl].view(1, 1, -1)
                         for lvl, p in enumerate(pos_embeds)], 1)
        return self.encoder(tokens, shapes, pos), shapes


class MSDeformAttnPixelDecoder(nn.Module):
    """``forward_features(features) -> (mask_features, encoder output, 3 multi-scale maps)``.

    ``in_channels``: {"res2": C2, ..., "res5": C5} of the backbone (strides 4..32); the
    transformer reads ``transformer_in_features`` (res3..res5), the FPN adds the rest down to
    ``common_stride``.
    """

    def __init__(
        self,
        in_channels: dict[str, int],
        strides: dict[str, int],
        *,
        conv_dim: int = 256,
        mask_dim: int = 256,
        transformer_in_features: tuple[str, ...] = ("res3", "res4", "res5"),
        transformer_enc_layers: int = 6,
        transformer_nheads: int = 8,
        transformer_dim_feedforward: int = 1024,
        transformer_dropout: float = 0.0,
        common_stride: int = 4,
        groups: int = 32,
    ) -> None:
        super().__init__()
        order = sorted(in_channels, key=lambda k: strides[k])
        self.in_features = order
        self.transformer_in_features = [k for k in order if k in transformer_in_features]
        levels = len(self.transformer_in_features)
        self.input_proj = nn.ModuleList(
            nn.Sequential(nn.Conv2d(in_channels[k], conv_dim, kernel_size=1),
                          nn.GroupNorm(groups, conv_dim))
            for k in self.transformer_in_features[::-1])
        for proj in self.input_proj:
            nn.init.xavier_uniform_(proj[0].weight, gain=1)
            nn.init.zeros_(proj[0].bias)
        self.transformer = MSDeformAttnTransformerEncoderOnly(
            d_model=conv_dim, nhead=transformer_nheads, num_encoder_layers=transformer_enc_layers,
            dim_feedforward=transformer_dim_feedforward, dropout=transformer_dropout,
            num_feature_levels=levels)
        self.pe_layer = PositionEmbeddingSine(conv_dim // 2, normalize=True)
        self.mask_dim = mask_dim
        self.mask_features = Conv2d(conv_dim, mask_dim, kernel_size=1)
        _xavier_conv(self.mask_features)
        self.maskformer_num_feature_levels = 3
        finest = min(strides[k] for k in self.transformer_in_features)
        self.num_fpn_levels = int(math.log2(finest) - math.log2(common_stride))
        lateral, output = [], []
        for idx, name in enumerate(order[: self.num_fpn_levels]):
            lat = Conv2d(in_channels[name], conv_dim, kernel_size=1, bias=False,
                         norm=nn.GroupNorm(groups, conv_dim))
            out = Conv2d(conv_dim, conv_dim, kernel_size=3, padding=1, bias=False,
                         norm=nn.GroupNorm(groups, conv_dim), activation=F.relu)
            _xavier_conv(lat)
            _xavier_conv(out)
            self.add_module(f"adapter_{idx + 1}", lat)
            self.add_module(f"layer_{idx + 1}", out)
            lateral.append(lat)
            output.append(out)
        # plain lists (not registered twice): coarse-to-fine order of use
        self.lateral_convs, self.output_convs = lateral[::-1], output[::-1]

    def encoder_paths(self) -> list[str]:
        """Module paths (inside this decoder) of the encoder layers, in order."""
        return [f"transformer.encoder.layers.{i}"
                for i in range(len(self.transformer.encoder.layers))]

    def forward_features(self, features: dict[str, torch.Tensor]
                         ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """In float32 even under autocast, as the official decoder (deformable attention's
        sampling is not reliable in half precision)."""
        device = next(iter(features.values())).device.type
        with torch.autocast(device_type=device, enabled=False):
            return self._forward_features(features)

    def _forward_features(self, features: dict[str, torch.Tensor]
                          ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        srcs, pos = [], []
        for idx, name in enumerate(self.transformer_in_features[::-1]):  # coarsest first
            x = features[name].float()
            srcs.append(self.input_proj[idx](x))
            pos.append(self.pe_layer(x))
        memory, shapes = self.transformer(srcs, pos)
        n = memory.shape[0]
        sizes = [h * w for h, w in shapes]
        maps = [z.transpose(1, 2).reshape(n, -1, h, w)
                for z, (h, w) in zip(memory.split(sizes, dim=1), shapes, strict=True)]
        for idx, name in enumerate(self.in_features[: self.num_fpn_levels][::-1]):
            cur = self.lateral_convs[idx](features[name].float())
            up = F.interpolate(maps[-1], size=cur.shape[-2:], mode="bilinear",
                               align_corners=False)
            maps.append(self.output_convs[idx](cur + up))
        multi_scale = maps[: self.maskformer_num_feature_levels]
        return self.mask_features(maps[-1]), maps[0], multi_scale
