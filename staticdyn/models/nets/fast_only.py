"""FastOnly: the fast pathway of SlowFast R50, trained on its own (Kowal et al., Fig. 3/5/6).

No public library ships this network; the authors added it to their copy of the SlowFast code.
It is built here with PyTorchVideo's ``create_resnet`` so that its state-dict layout is the
same as ``slow_r50``'s (``blocks.0.conv.weight``, ``blocks.1.res_blocks.0.branch2.conv_a...``,
head ``blocks.5.proj``): one loader and one set of layer aliases serve both, and a checkpoint
from the authors' SlowFast layout (``s1.pathway1_stem...``) only needs a key rename.

Architecture, checked against the authors' FAST_8x8_R50 key list:
- channel width 1/8 of R50 (SlowFast's beta = 1/8): stem 8, res2..res5 out 32/64/128/256,
  bottleneck inner width out/4 (8/16/32/64);
- temporal kernels of SlowFast's fast pathway: stem 5x7x7, a 3x1x1 ``conv_a`` in every
  bottleneck of every stage (the slow pathway has them only in res4/res5);
- no temporal striding, 32 input frames (sampling rate 2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytorchvideo.models.resnet import create_resnet
from torch import nn

FAST_STEM_WIDTH = 8
FAST_STAGE_WIDTHS = (32, 64, 128, 256)


def create_fast_only(
    model_num_class: int = 400,
    dropout_rate: float = 0.5,
    model_depth: int = 50,
    head_pool: Callable[..., nn.Module] = nn.AdaptiveAvgPool3d,
    **kwargs: Any,
) -> nn.Module:
    """Build FastOnly R50 (random init).

    The head pools adaptively, unlike the hub models' fixed (T, 7, 7) kernels: FastOnly is
    trained by staticdyn itself (Kinetics, Diving48, SSv2, shuffled frames), and an adaptive
    pool makes the same weights usable at any crop and clip length. Pooling has no parameters,
    so the key layout is unchanged. Other ``create_resnet`` arguments pass through ``kwargs``.
    """
    return create_resnet(
        model_depth=model_depth,
        model_num_class=model_num_class,
        dropout_rate=dropout_rate,
        stem_dim_out=FAST_STEM_WIDTH,
        stem_conv_kernel_size=kwargs.pop("stem_conv_kernel_size", (5, 7, 7)),
        stage_conv_a_kernel_size=kwargs.pop(
            "stage_conv_a_kernel_size", ((3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 1, 1))
        ),
        head_pool=head_pool,
        head_output_size=kwargs.pop("head_output_size", (1, 1, 1)),
        **kwargs,
    )
