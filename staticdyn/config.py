"""Config helpers shared by every layer: plain copies, deep merge, flat keys, run identity.

They live in one place because the probe, training and experiments all compare and merge
configs, and two copies of "which keys identify a run" would drift apart.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from staticdyn.errors import StaticDynError

# Probe keys that change speed or the analysis, not the features: a run may resume with other
# values.
NON_IDENTITY_PROBE_KEYS = frozenset({
    "batch_size", "num_workers", "device", "list_layers", "progress", "lambda", "estimator",
})


def plain(node: Any) -> Any:
    """A resolved plain-Python copy of a config node (dicts stay dicts)."""
    if isinstance(node, DictConfig | ListConfig):
        return OmegaConf.to_container(node, resolve=True)
    return copy.deepcopy(node)


def merged(base: Any, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """A plain copy of ``base`` with ``overrides`` deep-merged in."""
    out = plain(base) if base is not None else {}
    for key, value in (plain(overrides) or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``{"a.b.c": leaf}``, so a refusal can name the exact key."""
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for k, v in node.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def identity_of(cfg: DictConfig) -> dict[str, str]:
    """Flattened config keys that determine the features (model, dataset, pairs, layers)."""
    tree = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(tree, dict)
    out: dict[str, str] = {}
    for group in ("model", "dataset"):
        node = tree.get(group, {})
        if node != {}:
            out.update({k: str(v) for k, v in flatten(node, group).items()})
    probe = {k: v for k, v in tree.get("probe", {}).items() if k not in NON_IDENTITY_PROBE_KEYS}
    if probe:
        out.update({k: str(v) for k, v in flatten(probe, "probe").items()})
    return out


def run_dir_of(cfg: DictConfig) -> Path:
    """The Hydra run/sweep directory of this job, or ``cfg.out_dir`` outside Hydra."""
    if cfg.get("out_dir"):
        return Path(cfg.out_dir)
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    raise StaticDynError("no output directory: set out_dir=... when calling run() outside Hydra")
