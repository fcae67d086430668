"""The segmenter shared by Mask2Former-VIS, MinVIS and DVIS: backbone + ``sem_seg_head``.

Attribute names are those of the official meta-architecture (``backbone``, ``sem_seg_head``
with ``pixel_decoder`` and ``predictor``, ``criterion``), so a released state dict loads by
name. The backbone and the pixel decoder run on every frame of every clip (B*T images,
b-major: row b*T + t); the decoder is told B and T explicitly (the official evaluation treats
the whole input batch as one video, which would mix clips here).

``criterion`` is kept only for its ``empty_weight`` buffer (the class weights of the training
loss, no-object class last), which is in every released checkpoint; no loss is computed here.
The input is already normalised by the clip pipeline (the card's ``clip.mean/std`` are the
official ``PIXEL_MEAN/STD`` / 255), so the official non-persistent ``pixel_mean/std`` buffers
are not needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from staticdyn.models.builders import import_object
from staticdyn.models.nets.vis.decoder import (
    VideoMultiScaleMaskedTransformerDecoder,
    VideoMultiScaleMaskedTransformerDecoder_frame,
)
from staticdyn.models.nets.vis.pixel_decoder import MSDeformAttnPixelDecoder

DECODERS: dict[str, type[VideoMultiScaleMaskedTransformerDecoder]] = {
    "video": VideoMultiScaleMaskedTransformerDecoder,
    "frame": VideoMultiScaleMaskedTransformerDecoder_frame,
}
#: backbone name in a card -> import path of its class (``ResNetD2`` or vis-dvis' Swin)
BACKBONES = {"resnet": "staticdyn.models.nets.vis.resnet_d2:ResNetD2",
             "swin": "staticdyn.models.nets.vis.swin:build_swin_backbone"}


def backbone_shapes(backbone: nn.Module) -> tuple[dict[str, int], dict[str, int]]:
    """({res2..res5: channels}, {res2..res5: stride}) of a backbone: ``channels``/``strides``
    (ResNetD2) or detectron2's ``_out_feature_channels``/``_out_feature_strides`` (Swin)."""
    for chan, stride in (("channels", "strides"),
                         ("_out_feature_channels", "_out_feature_strides")):
        if hasattr(backbone, chan) and hasattr(backbone, stride):
            return dict(getattr(backbone, chan)), dict(getattr(backbone, stride))
    raise TypeError(f"{type(backbone).__name__} names neither its channels nor its strides")


class MaskFormerHead(nn.Module):
    """Pixel decoder then transformer decoder on its three multi-scale maps."""

    def __init__(self, pixel_decoder: MSDeformAttnPixelDecoder,
                 predictor: VideoMultiScaleMaskedTransformerDecoder, num_classes: int) -> None:
        super().__init__()
        self.pixel_decoder = pixel_decoder
        self.predictor = predictor
        self.num_classes = num_classes

    def forward(self, features: dict[str, torch.Tensor], batch: int, frames: int
                ) -> dict[str, torch.Tensor]:
        mask_features, _, multi_scale = self.pixel_decoder.forward_features(features)
        return self.predictor(multi_scale, mask_features, batch, frames)


class SetCriterion(nn.Module):
    """Holds the training loss's class weights (``empty_weight``: 1 per class, ``eos_coef``
    for no-object) so the released key set is complete; computes nothing."""

    def __init__(self, num_classes: int, eos_coef: float = 0.1) -> None:
        super().__init__()
        weight = torch.ones(num_classes + 1)
        weight[-1] = eos_coef
        self.register_buffer("empty_weight", weight)


class VisSegmenter(nn.Module):
    """(B, 3, T, H, W) normalised clips -> decoder outputs (see the decoder classes)."""

    def __init__(
        self,
        decoder: str = "video",
        *,
        backbone: str = "resnet",
        backbone_kwargs: Mapping[str, Any] | None = None,
        num_classes: int = 40,
        num_queries: int = 100,
        hidden_dim: int = 256,
        conv_dim: int = 256,
        mask_dim: int = 256,
        nheads: int = 8,
        dim_feedforward: int = 2048,
        dec_layers: int = 10,
        enc_layers: int = 6,
        enc_dim_feedforward: int = 1024,
        norm_groups: int = 32,
        no_object_weight: float = 0.1,
    ) -> None:
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {sorted(DECODERS)}, got {decoder!r}")
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {backbone!r}")
        self.backbone = import_object(BACKBONES[backbone])(**dict(backbone_kwargs or {}))
        channels, strides = backbone_shapes(self.backbone)
        pixel_decoder = MSDeformAttnPixelDecoder(
            channels, strides, conv_dim=conv_dim,
            mask_dim=mask_dim, transformer_enc_layers=enc_layers, transformer_nheads=nheads,
            transformer_dim_feedforward=enc_dim_feedforward, groups=norm_groups)
        # DEC_LAYERS counts the prediction from the learnable queries: dec_layers - 1 layers
        predictor = DECODERS[decoder](
            conv_dim, num_classes=num_classes, hidden_dim=hidden_dim, num_queries=num_queries,
            nheads=nheads, dim_feedforward=dim_feedforward, dec_layers=dec_layers - 1,
            mask_dim=mask_dim)
        self.sem_seg_head = MaskFormerHead(pixel_decoder, predictor, num_classes)
        self.criterion = SetCriterion(num_classes, no_object_weight)
        self.size_divisibility = int(getattr(self.backbone, "size_divisibility", 32) or 32)

    def layer_paths(self) -> dict[str, str]:
        """Hook alias -> module path: backbone stages, encoder layers, mask features, and the
        query state after each decoder layer."""
        stages = getattr(self.backbone, "stage_paths", dict)()  # else: the card's layers:
        paths = {f"backbone.{a}": f"backbone.{p}" for a, p in stages.items()}
        pd = self.sem_seg_head.pixel_decoder
        paths |= {f"pixel_decoder.encoder{i}": f"sem_seg_head.pixel_decoder.{p}"
                  for i, p in enumerate(pd.encoder_paths())}
        paths["pixel_decoder.mask_features"] = "sem_seg_head.pixel_decoder.mask_features"
        paths |= {f"decoder.layer{i}": f"sem_seg_head.predictor.{p}"
                  for i, p in enumerate(self.sem_seg_head.predictor.layer_paths())}
        return paths

    def frames_of(self, clips: torch.Tensor) -> tuple[torch.Tensor, int, int, tuple[int, int]]:
        """(B*T, 3, H', W') frames zero-padded to the size divisibility (as detectron2's
        ImageList pads normalised images), B, T, and the mask size of the unpadded input."""
        if clips.ndim != 5 or clips.shape[1] != 3:
            raise ValueError(f"VIS models take (B, 3, T, H, W) clips, got {tuple(clips.shape)}")
        b, _, t, h, w = clips.shape
        frames = clips.transpose(1, 2).flatten(0, 1)
        d = self.size_divisibility
        pad_h, pad_w = (-h) % d, (-w) % d
        if pad_h or pad_w:
            frames = F.pad(frames, (0, pad_w, 0, pad_h))
        return frames, b, t, (-(-h // 4), -(-w // 4))

    def segment(self, clips: torch.Tensor) -> tuple[dict[str, torch.Tensor], int, int]:
        """Decoder outputs for (B, 3, T, H, W) clips, B and T; masks and mask features cropped
        to the unpadded size (1/4 of the input)."""
        frames, b, t, (mh, mw) = self.frames_of(clips)
        out = self.sem_seg_head(self.backbone(frames), b, t)
        for key in ("pred_masks", "mask_features"):
            out[key] = out[key][..., :mh, :mw]
        return out, b, t
