"""Original TimeSformer release keys <-> staticdyn's native TimeSformer keys.

The release's .pyth holds the state dict of a wrapper whose ``self.model`` is the
VisionTransformer, so every key starts with ``model.``; staticdyn.models.nets.timesformer builds the
VisionTransformer part with identical names, so the conversion is the prefix alone.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from staticdyn.models.checkpoints.convert.common import Plan, Shape

PREFIX = "model."


def plan_from_release(source: Mapping[str, torch.Tensor], entry: str,
                      target_keys: Mapping[str, Shape]) -> Plan:
    plan = Plan()
    for key in source:
        if key.startswith(PREFIX):
            plan.copy(key[len(PREFIX):], key)
        else:
            plan.unmapped.append(key)
    return plan


def native_to_release(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {PREFIX + k: v for k, v in state.items()}
