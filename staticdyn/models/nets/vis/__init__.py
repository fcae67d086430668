"""Video instance segmentation models (issue 13), native PyTorch, official key names.

``segmenter.VisSegmenter`` is the Mask2Former segmenter (detectron2 ResNet or Swin backbone,
deformable-attention pixel decoder, masked-attention decoder) shared by
``mask2former_vis.mask2former_vis`` (clip-level decoder, 3-D position encoding) and
``minvis.minvis`` (per-frame decoder, queries linked by Hungarian matching); DVIS builds on the
MinVIS segmenter. ``layers_of`` gives the hook aliases of a built model (the zoo's
``layers_fn``): ``backbone.res2..res5``, ``pixel_decoder.encoder0..N``,
``pixel_decoder.mask_features``, ``decoder.layer0..`` (query state after each decoder layer).
"""

from __future__ import annotations

from torch import nn


def layers_of(module: nn.Module) -> tuple[dict[str, str], list[str]]:
    """(alias -> module path, default aliases = all) of a VIS model, from its own build (the
    number of encoder / decoder layers is a builder argument)."""
    paths = dict(module.layer_paths())  # type: ignore[operator]
    return paths, list(paths)


__all__ = ["layers_of"]
