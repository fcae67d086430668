"""Mask2Former's masked-attention transformer decoder, in its two VIS forms.

``VideoMultiScaleMaskedTransformerDecoder`` (Mask2Former-VIS): one set of queries per clip
cross-attends to every T x H x W token of the clip, keys carrying a 3-D sine encoding; states
are (Q, B, C). ``VideoMultiScaleMaskedTransformerDecoder_frame`` (MinVIS): the same parameters
run on every frame alone with a 2-D encoding; states are (Q, B*T, C), b-major. Each of the
``dec_layers - 1`` layers is cross-attention (masked by the previous prediction), then
self-attention, then an FFN; the query state after layer i is the output of
``transformer_ffn_layers.i``. Names follow the official modules, so weights load by name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from staticdyn.models.nets.vis.position_encoding import (
    PositionEmbeddingSine,
    PositionEmbeddingSine3D,
)
from staticdyn.models.nets.vis.resnet_d2 import Conv2d


def _xavier_matrices(module: nn.Module) -> None:
    for p in module.parameters():
        if p.dim() > 1 and not p.is_meta:
            nn.init.xavier_uniform_(p)


def _with_pos(x: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
    """``x + pos``, or ``x`` itself where a caller has no position code (DVIS's tracker and
    refiner attend without one)."""
    return x if pos is None else x + pos


class SelfAttentionLayer(nn.Module):
    """Query self-attention, post-norm (``PRE_NORM: False`` in every VIS config)."""

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        _xavier_matrices(self)

    def forward(self, tgt: torch.Tensor, query_pos: torch.Tensor | None = None
                ) -> torch.Tensor:
        q = k = _with_pos(tgt, query_pos)
        return self.norm(tgt + self.dropout(self.self_attn(q, k, value=tgt)[0]))


class CrossAttentionLayer(nn.Module):
    """Queries attend to image tokens, restricted to the previous layer's predicted mask."""

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        _xavier_matrices(self)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor,
                memory_mask: torch.Tensor | None = None, pos: torch.Tensor | None = None,
                query_pos: torch.Tensor | None = None) -> torch.Tensor:
        out = self.multihead_attn(query=_with_pos(tgt, query_pos), key=_with_pos(memory, pos),
                                  value=memory, attn_mask=memory_mask)[0]
        return self.norm(tgt + self.dropout(out))


class FFNLayer(nn.Module):
    def __init__(self, d_model: int, dim_feedforward: int = 2048, dropout: float = 0.0) -> None:
        super().__init__()
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm = nn.LayerNorm(d_model)
        _xavier_matrices(self)

    def forward(self, tgt: torch.Tensor) -> torch.Tensor:
        out = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm(tgt + self.dropout(out))


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU between them (the mask embedding head)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:],
                                                                    strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class VideoMultiScaleMaskedTransformerDecoder(nn.Module):
    """Clip-level decoder (Mask2Former-VIS). ``dec_layers`` is the config's ``DEC_LAYERS``
    minus one (the official count includes the prediction from the learnable queries)."""

    num_feature_levels = 3

    def __init__(self, in_channels: int = 256, *, num_classes: int = 40, hidden_dim: int = 256,
                 num_queries: int = 100, nheads: int = 8, dim_feedforward: int = 2048,
                 dec_layers: int = 9, mask_dim: int = 256,
                 enforce_input_project: bool = False) -> None:
        super().__init__()
        self.mask_classification = True
        self.num_heads, self.num_layers, self.num_queries = nheads, dec_layers, num_queries
        self.pe_layer: nn.Module = PositionEmbeddingSine3D(hidden_dim // 2, normalize=True)
        self.transformer_self_attention_layers = nn.ModuleList(
            SelfAttentionLayer(hidden_dim, nheads) for _ in range(dec_layers))
        self.transformer_cross_attention_layers = nn.ModuleList(
            CrossAttentionLayer(hidden_dim, nheads) for _ in range(dec_layers))
        self.transformer_ffn_layers = nn.ModuleList(
            FFNLayer(hidden_dim, dim_feedforward) for _ in range(dec_layers))
        self.decoder_norm = nn.LayerNorm(hidden_dim)
        self.query_feat = nn.Embedding(num_queries, hidden_dim)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.level_embed = nn.Embedding(self.num_feature_levels, hidden_dim)
        self.input_proj = nn.ModuleList()
        for _ in range(self.num_feature_levels):
            if in_channels != hidden_dim or enforce_input_project:
                proj = Conv2d(in_channels, hidden_dim, kernel_size=1)
                if not proj.weight.is_meta:
                    nn.init.kaiming_uniform_(proj.weight, a=1)
                    nn.init.zeros_(proj.bias)
                self.input_proj.append(proj)
            else:
                self.input_proj.append(nn.Sequential())
        self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)

    def layer_paths(self) -> list[str]:
        """Module paths (inside this decoder) whose outputs are the query states per layer."""
        return [f"transformer_ffn_layers.{i}" for i in range(self.num_layers)]

    # -- the parts that differ between the clip and the per-frame decoder ------------------
    def _memory(self, x: torch.Tensor, level: int, batch: int, frames: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens, positions) of one level, (T*H*W, B, C): every frame's tokens of a clip
        in one sequence, t-major, with the 3-D encoding."""
        _, _, h, w = x.shape
        pos = self.pe_layer(x.view(batch, frames, -1, h, w)).flatten(3)  # (B, T, C, HW)
        src = self.input_proj[level](x).flatten(2) + self.level_embed.weight[level][None, :, None]
        c = src.shape[1]
        pos = pos.view(batch, frames, c, h * w).permute(1, 3, 0, 2).flatten(0, 1)
        src = src.view(batch, frames, c, h * w).permute(1, 3, 0, 2).flatten(0, 1)
        return src, pos

    def _masks(self, embed: torch.Tensor, mask_features: torch.Tensor, batch: int,
               frames: int) -> torch.Tensor:
        """Mask logits (B, Q, T, h, w) from query embeddings (B, Q, C)."""
        _, c, h, w = mask_features.shape
        feats = mask_features.view(batch, frames, c, h, w)
        return torch.einsum("bqc,btchw->bqthw", embed, feats)

    def _attn_mask(self, masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Where a query may not look next: (B*heads, Q, T*h*w) True outside its mask."""
        b, q, t = masks.shape[:3]
        m = F.interpolate(masks.flatten(0, 1), size=size, mode="bilinear", align_corners=False)
        m = m.view(b, q, t * size[0] * size[1]).sigmoid() < 0.5
        return m.unsqueeze(1).expand(b, self.num_heads, q, m.shape[-1]).flatten(0, 1).detach()

    def _rows(self, batch: int, frames: int) -> int:
        """Sequences the decoder runs: one per clip."""
        return batch

    # -- shared forward ---------------------------------------------------------------------
    def heads(self, output: torch.Tensor, mask_features: torch.Tensor, batch: int,
              frames: int, size: tuple[int, int]
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(class logits (rows, Q, K+1), mask logits (B, Q, T, h, w), next attention mask)."""
        dec = self.decoder_norm(output).transpose(0, 1)
        logits = self.class_embed(dec)
        masks = self._masks(self.mask_embed(dec), mask_features, batch, frames)
        return logits, masks, self._attn_mask(masks, size)

    def forward(self, x: list[torch.Tensor], mask_features: torch.Tensor, batch: int,
                frames: int) -> dict[str, torch.Tensor]:
        """x: 3 multi-scale maps (B*T, C, h, w), coarsest first; mask_features (B*T, C, H/4,
        W/4). B and T are given, never guessed from the batch. The mask features come back
        with the outputs, so a model on top of the segmenter (DVIS) needs no second path
        through the head."""
        if len(x) != self.num_feature_levels:
            raise ValueError(f"decoder takes {self.num_feature_levels} levels, got {len(x)}")
        sizes = [(int(f.shape[-2]), int(f.shape[-1])) for f in x]
        memory = [self._memory(f, lvl, batch, frames) for lvl, f in enumerate(x)]
        rows = self._rows(batch, frames)
        query_pos = self.query_embed.weight.unsqueeze(1).repeat(1, rows, 1)
        output = self.query_feat.weight.unsqueeze(1).repeat(1, rows, 1)
        logits, masks, attn = self.heads(output, mask_features, batch, frames, sizes[0])
        for i in range(self.num_layers):
            level = i % self.num_feature_levels
            attn = attn.clone()
            attn[attn.all(-1)] = False  # a query masked everywhere may look everywhere
            src, pos = memory[level]
            output = self.transformer_cross_attention_layers[i](
                output, src, memory_mask=attn, pos=pos, query_pos=query_pos)
            output = self.transformer_self_attention_layers[i](output, query_pos=query_pos)
            output = self.transformer_ffn_layers[i](output)
            logits, masks, attn = self.heads(output, mask_features, batch, frames,
                                             sizes[(i + 1) % self.num_feature_levels])
        return {"pred_logits": logits, "pred_masks": masks,
                "pred_embds": self.decoder_norm(output), "mask_features": mask_features}


class VideoMultiScaleMaskedTransformerDecoder_frame(VideoMultiScaleMaskedTransformerDecoder):  # noqa: N801
    """Per-frame decoder (MinVIS): same parameters, 2-D encoding, one query set per frame.

    Returns ``pred_logits`` (B*T, Q, K+1), ``pred_masks`` (B, Q, T, h, w) in raw per-frame
    query order, ``pred_embds`` (Q, B*T, C), the normalised last states used for linking, and
    ``mask_features`` (B*T, C, h, w).
    """

    def __init__(self, in_channels: int = 256, **kwargs: int | bool) -> None:
        super().__init__(in_channels, **kwargs)  # type: ignore[arg-type]
        self.pe_layer = PositionEmbeddingSine(self.query_feat.embedding_dim // 2,
                                              normalize=True)

    def _memory(self, x: torch.Tensor, level: int, batch: int, frames: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
        pos = self.pe_layer(x).flatten(2).permute(2, 0, 1)  # (HW, B*T, C)
        src = self.input_proj[level](x).flatten(2) + self.level_embed.weight[level][None, :, None]
        return src.permute(2, 0, 1), pos

    def _masks(self, embed: torch.Tensor, mask_features: torch.Tensor, batch: int,
               frames: int) -> torch.Tensor:
        masks = torch.einsum("nqc,nchw->nqhw", embed, mask_features)  # (B*T, Q, h, w)
        return masks.view(batch, frames, *masks.shape[1:]).transpose(1, 2)

    def _attn_mask(self, masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        b, q, t = masks.shape[:3]
        per_frame = masks.transpose(1, 2).reshape(b * t, q, 1, *masks.shape[-2:])
        return super()._attn_mask(per_frame, size)

    def _rows(self, batch: int, frames: int) -> int:
        return batch * frames
