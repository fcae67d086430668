"""DVIS (Zhang et al., ICCV 2023): a referring tracker and a temporal refiner on MinVIS queries.

The issue needs one VIS model whose temporal part depends on frame order; MinVIS links frames
only by Hungarian matching, which any frame order satisfies equally. DVIS keeps MinVIS's
per-frame segmenter (frozen in training, identical parameter names) and adds, as in
zhang-tao-whu/DVIS ``dvis/video_dvis_modules.py`` and ``dvis/meta_architecture.py``:

- ``ReferringTracker`` (``tracker.*``): frames are processed in order. At frame t the segmenter's
  queries are matched to the previous frame's (cosine cost, Hungarian); each tracker layer is a
  *referring* cross-attention whose query is the previous frame's final tracked state and whose
  residual ("identity") is the matched current query, then self-attention and an FFN. The
  tracked state at frame t therefore carries frames 0..t-1.
- ``TemporalRefiner`` (``refiner.*``, offline DVIS): per layer, self-attention of each track
  over all frames (no temporal position code), a short temporal 1-D convolution (kernels 5 and 3,
  replicate padding: the order-dependent part), self-attention between tracks, cross-attention to
  the tracker-projected queries of the same frame, an FFN. Classes come from an
  activation-weighted mean over frames, masks per frame.

Faithful details worth knowing (checked against the official forward):

- The official match builds the cost as ``1 - cos(ref, cur)`` (rows ref) and reads
  ``linear_sum_assignment(cost.T)[1]``, i.e. for each current query the reference it matched,
  then uses it to index the *current* queries. That is the inverse of the matching permutation
  unless the permutation is an involution (zhang-tao-whu/DVIS issue #34, open). The released
  weights were trained with it, so it is kept (``match_embds``).
- The official tracker matches only batch element 0 (inference always has one video); here every
  clip of a batch is matched on its own, which equals the official result for each clip.
- B and T are explicit arguments: the official eval path treats the whole batch as one video.

Probe taps (parameter-free, so the released key layout is unchanged): ``tracker.layer{j}`` is
the tracked query state after tracker layer j and ``refiner.layer{i}`` after refiner layer i,
each (Q, B*T, C) b-major (layout ``L(NT)C``), slot q = track q at every frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from staticdyn.models.nets.vis.decoder import (
    MLP,
    CrossAttentionLayer,
    FFNLayer,
    SelfAttentionLayer,
)
from staticdyn.models.nets.vis.segmenter import VisSegmenter
from staticdyn.models.nets.vos.common import Tap


class ReferringCrossAttentionLayer(nn.Module):
    """Cross-attention whose residual is a separate "identity" tensor, post-norm:
    ``norm(identity + attn(query=tgt, key=memory, value=memory))``."""

    def __init__(self, d_model: int, nhead: int) -> None:
        super().__init__()
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(0.0)
        for p in self.parameters():  # the official init: Xavier on every matrix
            if p.dim() > 1 and not p.is_meta:
                nn.init.xavier_uniform_(p)

    def forward(self, identity: torch.Tensor, tgt: torch.Tensor, memory: torch.Tensor
                ) -> torch.Tensor:
        out = self.multihead_attn(query=tgt, key=memory, value=memory)[0]
        return self.norm(identity + self.dropout(out))


def match_embds(ref: torch.Tensor, cur: torch.Tensor) -> np.ndarray:
    """Indices into ``cur`` (Q, C) that align it to ``ref`` (Q, C), as the official tracker
    computes them (see the module docstring: the official convention is kept on purpose)."""
    ref = ref.detach().float()
    cur = cur.detach().float()
    ref = ref / (ref.norm(dim=1, keepdim=True) + 1e-6)
    cur = cur / (cur.norm(dim=1, keepdim=True) + 1e-6)
    cost = (1 - ref @ cur.T).cpu()
    cost = torch.nan_to_num(cost, nan=0.0)
    return linear_sum_assignment(cost.T.numpy())[1]


def _heads(states: torch.Tensor, norm: nn.LayerNorm, mask_embed: nn.Module,
           mask_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(normalised states (B, T, Q, C), masks (B, Q, T, h, w)) of states (T, Q, B, C)."""
    dec = norm(states).permute(2, 0, 1, 3)
    masks = torch.einsum("btqc,btchw->bqthw", mask_embed(dec), mask_features)
    return dec, masks


class ReferringTracker(nn.Module):
    """DVIS's online tracker (``tracker.*``); see the module docstring."""

    def __init__(self, hidden_channel: int = 256, feedforward_channel: int = 2048,
                 num_head: int = 8, decoder_layer_num: int = 6, mask_dim: int = 256,
                 class_num: int = 40) -> None:
        super().__init__()
        self.num_heads, self.num_layers = num_head, decoder_layer_num
        self.transformer_self_attention_layers = nn.ModuleList(
            SelfAttentionLayer(hidden_channel, num_head) for _ in range(decoder_layer_num))
        self.transformer_cross_attention_layers = nn.ModuleList(
            ReferringCrossAttentionLayer(hidden_channel, num_head)
            for _ in range(decoder_layer_num))
        self.transformer_ffn_layers = nn.ModuleList(
            FFNLayer(hidden_channel, feedforward_channel) for _ in range(decoder_layer_num))
        self.decoder_norm = nn.LayerNorm(hidden_channel)
        self.class_embed = nn.Linear(hidden_channel, class_num + 1)
        self.mask_embed = MLP(hidden_channel, hidden_channel, mask_dim, 3)
        for j in range(decoder_layer_num):
            self.add_module(f"layer{j}", Tap())

    def _layer(self, j: int, identity: torch.Tensor, tgt: torch.Tensor, memory: torch.Tensor
               ) -> torch.Tensor:
        out = self.transformer_cross_attention_layers[j](identity, tgt, memory)
        out = self.transformer_self_attention_layers[j](out)
        return self.transformer_ffn_layers[j](out)

    def align(self, ref: torch.Tensor, cur: torch.Tensor) -> torch.Tensor:
        """Per clip b, the indices into cur[:, b] that align it to ref[:, b]: (B, Q) long."""
        idx = [torch.as_tensor(match_embds(ref[:, b], cur[:, b])) for b in range(cur.shape[1])]
        return torch.stack(idx).to(cur.device)

    def forward(self, frame_embeds: torch.Tensor, mask_features: torch.Tensor, batch: int,
                frames: int) -> dict[str, torch.Tensor]:
        """frame_embeds: the segmenter's normalised queries (Q, B*T, C), b-major;
        mask_features (B*T, C, h, w). Returns ``pred_logits`` (B, T, Q, K+1), ``pred_masks``
        (B, Q, T, h, w), ``pred_embds`` (T, Q, B, C) (normalised last states, the refiner's
        input) and ``indices`` (B, T, Q): raw query of each slot per frame (official order)."""
        q, _, c = frame_embeds.shape
        per_frame = frame_embeds.reshape(q, batch, frames, c).permute(2, 0, 1, 3)  # T, Q, B, C
        layer_states: list[list[torch.Tensor]] = [[] for _ in range(self.num_layers)]
        indices = []
        last: torch.Tensor | None = None  # previous frame's final tracked state (Q, B, C)
        ref = per_frame[0]
        for t in range(frames):
            cur = per_frame[t]
            if last is None:
                idx = self.align(cur, cur)
                aligned = cur
            else:
                idx = self.align(ref, cur)
                aligned = torch.gather(cur, 0, idx.T.unsqueeze(-1).expand_as(cur))
            ref = aligned
            indices.append(idx)
            out = aligned
            for j in range(self.num_layers):
                out = self._layer(j, out, out if last is None else last, cur)
                layer_states[j].append(out)
            last = out
        stacked = [torch.stack(s) for s in layer_states]  # each (T, Q, B, C)
        for j, s in enumerate(stacked):
            getattr(self, f"layer{j}")(s.permute(1, 2, 0, 3).reshape(q, batch * frames, c))
        dec, masks = _heads(stacked[-1], self.decoder_norm, self.mask_embed,
                            mask_features.reshape(batch, frames, *mask_features.shape[1:]))
        return {"pred_logits": self.class_embed(dec), "pred_masks": masks,
                "pred_embds": dec.permute(1, 2, 0, 3), "indices": torch.stack(indices, 1)}

    def frame_forward(self, frame_embeds: torch.Tensor) -> torch.Tensor:
        """Every frame's queries (Q, B*T, C) through the tracker layers alone (each its own
        reference), normalised: the memory the refiner cross-attends to."""
        out = frame_embeds
        for j in range(self.num_layers):
            out = self._layer(j, out, out, frame_embeds)
        return self.decoder_norm(out)


class TemporalRefiner(nn.Module):
    """DVIS's offline refiner (``refiner.*``); see the module docstring."""

    def __init__(self, hidden_channel: int = 256, feedforward_channel: int = 2048,
                 num_head: int = 8, decoder_layer_num: int = 6, mask_dim: int = 256,
                 class_num: int = 40) -> None:
        super().__init__()
        n = decoder_layer_num
        self.num_heads, self.num_layers = num_head, n
        self.transformer_time_self_attention_layers = nn.ModuleList(
            SelfAttentionLayer(hidden_channel, num_head) for _ in range(n))
        self.conv_short_aggregate_layers = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(hidden_channel, hidden_channel, 5, padding="same",
                          padding_mode="replicate"),
                nn.ReLU(inplace=True),
                nn.Conv1d(hidden_channel, hidden_channel, 3, padding="same",
                          padding_mode="replicate"))
            for _ in range(n))
        self.conv_norms = nn.ModuleList(nn.LayerNorm(hidden_channel) for _ in range(n))
        self.transformer_obj_self_attention_layers = nn.ModuleList(
            SelfAttentionLayer(hidden_channel, num_head) for _ in range(n))
        self.transformer_cross_attention_layers = nn.ModuleList(
            CrossAttentionLayer(hidden_channel, num_head) for _ in range(n))
        self.transformer_ffn_layers = nn.ModuleList(
            FFNLayer(hidden_channel, feedforward_channel) for _ in range(n))
        self.decoder_norm = nn.LayerNorm(hidden_channel)
        self.class_embed = nn.Linear(hidden_channel, class_num + 1)
        self.mask_embed = MLP(hidden_channel, hidden_channel, mask_dim, 3)
        self.activation_proj = nn.Linear(hidden_channel, 1)
        for i in range(n):
            self.add_module(f"layer{i}", Tap())

    def forward(self, instance_embeds: torch.Tensor, frame_embeds: torch.Tensor,
                mask_features: torch.Tensor, batch: int, frames: int
                ) -> dict[str, torch.Tensor]:
        """instance_embeds: the tracker's ``pred_embds`` (T, Q, B, C); frame_embeds: the
        tracker's ``frame_forward`` output (Q, B*T, C); mask_features (B*T, C, h, w).
        Returns ``pred_logits`` (B, Q, K+1) (one class per track) and ``pred_masks``
        (B, Q, T, h, w)."""
        t, q, b, c = instance_embeds.shape
        x = instance_embeds.permute(1, 2, 0, 3)  # Q, B, T, C
        for i in range(self.num_layers):
            y = x.permute(2, 1, 0, 3).reshape(t, b * q, c)  # frames as the sequence
            y = self.transformer_time_self_attention_layers[i](y)
            y = y.permute(1, 2, 0)  # (B*Q, C, T): a short conv along time
            y = self.conv_norms[i]((self.conv_short_aggregate_layers[i](y) + y).transpose(1, 2))
            y = y.reshape(b, q, t, c).permute(1, 0, 2, 3).reshape(q, b * t, c)
            y = self.transformer_obj_self_attention_layers[i](y)
            y = self.transformer_cross_attention_layers[i](y, frame_embeds)
            y = getattr(self, f"layer{i}")(self.transformer_ffn_layers[i](y))
            x = y.reshape(q, b, t, c)
        last = x.permute(2, 0, 1, 3)  # T, Q, B, C
        dec, masks = _heads(last, self.decoder_norm, self.mask_embed,
                            mask_features.reshape(batch, frames, *mask_features.shape[1:]))
        weights = self.activation_proj(dec).softmax(dim=1)  # over frames
        logits = self.class_embed((dec * weights).sum(dim=1))  # (B, Q, K+1)
        return {"pred_logits": logits, "pred_masks": masks}


class DVIS(VisSegmenter):
    """MinVIS's per-frame segmenter + ``tracker`` (+ ``refiner`` when ``offline``).

    (B, 3, T, H, W) normalised clips -> ``pred_logits`` (B, Q, K+1), ``pred_masks``
    (B, Q, T, H/4, W/4) in track-slot order (the refiner's for offline DVIS, else the
    tracker's, whose per-frame logits are averaged over frames as the official
    post-processing does) and ``query_order`` (B, T, Q): the raw per-frame query that each slot
    was aligned to, for the segmenter's hooked decoder states.
    """

    def __init__(self, *, offline: bool = True, tracker_layers: int = 6,
                 refiner_layers: int = 6, **kwargs: Any) -> None:
        super().__init__("frame", **kwargs)
        predictor = self.sem_seg_head.predictor
        size: Mapping[str, Any] = dict(
            hidden_channel=predictor.query_feat.embedding_dim,
            feedforward_channel=predictor.transformer_ffn_layers[0].linear1.out_features,
            num_head=predictor.num_heads, mask_dim=predictor.query_feat.embedding_dim,
            class_num=self.sem_seg_head.num_classes)
        self.tracker = ReferringTracker(decoder_layer_num=tracker_layers, **size)
        self.refiner = (TemporalRefiner(decoder_layer_num=refiner_layers, **size)
                        if offline else None)

    def layer_paths(self) -> dict[str, str]:
        """The segmenter's aliases, then ``tracker.layer{j}`` and ``refiner.layer{i}``."""
        paths = super().layer_paths()
        paths |= {f"tracker.layer{j}": f"tracker.layer{j}"
                  for j in range(self.tracker.num_layers)}
        if self.refiner is not None:
            paths |= {f"refiner.layer{i}": f"refiner.layer{i}"
                      for i in range(self.refiner.num_layers)}
        return paths

    def forward(self, clips: torch.Tensor) -> dict[str, torch.Tensor]:
        seg, b, t = self.segment(clips)
        mask_features = seg["mask_features"]  # cropped to the unpadded input's 1/4
        track = self.tracker(seg["pred_embds"], mask_features, b, t)
        if self.refiner is None:
            logits, masks = track["pred_logits"].mean(1), track["pred_masks"]
        else:
            refined = self.refiner(track["pred_embds"],
                                   self.tracker.frame_forward(seg["pred_embds"]),
                                   mask_features, b, t)
            logits, masks = refined["pred_logits"], refined["pred_masks"]
        return {"pred_logits": logits, "pred_masks": masks, "query_order": track["indices"]}


def dvis(**kwargs: Any) -> DVIS:
    """Zoo builder (``conf/model/dvis_r50.yaml``): DVIS_offline by default (``offline:
    false`` builds DVIS_online, tracker only); other keywords as ``minvis``."""
    return DVIS(**kwargs)
