"""The ``custom`` entry: probe any ``nn.Module`` that can be built from an import path.

Users studying their own network should not have to touch staticdyn's code. They name the
constructor (``model.builder=pkg.mod.fn``, or Hydra's ``model._target_``), its arguments
(``model.builder_kwargs``), the clip spec and the layers by module path. This module only
decides which of the two spellings wins and says clearly what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from staticdyn.errors import StaticDynError

CUSTOM_HINT = (
    "set model.builder=pkg.module.fn (or model._target_=pkg.module.fn), the clip spec "
    "(model.clip.frames, crop, ...) and the layers to probe by module path "
    "(model.default_layers=[layer3,layer4])"
)


def builder_path(cfg: Mapping[str, Any], entry: str) -> str:
    """The builder import path of a model config: ``builder``, else ``_target_``.

    Both set to different values is an error rather than a silent choice, since the two
    spellings come from different places (YAML card vs Hydra override) and one of them is stale.
    """
    builder = cfg.get("builder")
    target = cfg.get("_target_")
    if builder and target and builder != target:
        raise StaticDynError(
            f"model '{entry}' sets both builder='{builder}' and _target_='{target}'; keep one"
        )
    path = builder or target
    if not path:
        raise StaticDynError(f"model '{entry}' names no builder: {CUSTOM_HINT}")
    return str(path)
