"""MViT-B 16x4 as the SlowFast code base's Kinetics-400 model-zoo file has it.

That file (the one the paper probed, per the authors' config) lists key/value pooling strides for
blocks 0-13 only, so blocks 14 and 15 have no K/V pooling and 12 fewer tensors than
PyTorchVideo's own MViT-B 16x4. This builder makes the matching module, so the file loads
strictly (through the SlowFast-layout converter, which also splits the fused qkv).
"""

from __future__ import annotations

from typing import Any

from pytorchvideo.models.hub.vision_transformers import mvit_video_base_config
from pytorchvideo.models.vision_transformers import create_multiscale_vision_transformers
from torch import nn

from staticdyn.models.checkpoints.convert.mvit import KOWAL_POOL_KV_STRIDE_SIZE


def mvit_base_16x4_slowfast(**overrides: Any) -> nn.Module:
    cfg = {k: v for k, v in mvit_video_base_config.items() if k != "pool_kv_stride_adaptive"}
    cfg["pool_kv_stride_size"] = KOWAL_POOL_KV_STRIDE_SIZE
    cfg.update(overrides)
    return create_multiscale_vision_transformers(**cfg)
