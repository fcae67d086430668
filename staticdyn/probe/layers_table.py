"""``probe.list_layers=true``: every named layer with what a probe run would make of it.

A user picking layers needs more than names: the output shape on a real clip, the layout it is
pooled by (and whether the card declared it or the dry run inferred it), and the feature width
that pooling gives. A layer whose layout cannot be settled is listed with the reason instead of
stopping the listing, since the listing is how the user finds out what to declare.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from staticdyn.models.io import ModelIO
from staticdyn.probe.layouts import DRY_RUN_BATCH, LayerIO, dry_run

HEADER = ("alias", "module path", "output shape", "layout", "channels")


def _rows(model: Any, layers: dict[str, str], results: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per layer: the HEADER's cells, then a note (why a layout is unsettled)."""
    default = set(getattr(model, "default_layers", []) or [])
    rows = []
    for alias, path in layers.items():
        name = alias + ("*" if alias in default else "")
        result = results[alias]
        if isinstance(result, LayerIO):
            shape = " + ".join(str(s) for s in result.shape)
            layout = f"{result.layout.name} ({result.source})"
            rows.append((name, path, shape, layout, str(result.channels), ""))
        else:
            rows.append((name, path, "-", "?", "-", str(result)))
    return rows


def layer_table(
    model: Any,
    layers: Sequence[str] | None = None,
    io: ModelIO | None = None,
    example: torch.Tensor | Sequence[torch.Tensor] | None = None,
) -> str:
    """The layer listing of a ``ZooModel`` as aligned text: one row per alias (default: every
    alias, then any default layer given by module path), from one dry run. ``*`` marks the
    layers a run probes when it names none."""
    names = list(layers) if layers else list(dict.fromkeys([*model.layers,
                                                             *model.default_layers]))
    resolved = model.resolve_layers(names)
    results = dry_run(model, resolved, io, example)
    rows = [(*HEADER, ""), *_rows(model, resolved, results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    spec = model.clip_spec
    size = spec.crop or spec.short_side
    lines = [f"model {model.name}: dry run on {DRY_RUN_BATCH} clips of {spec.frames} frames, "
             f"{size}x{size} (* = default layers)"]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)
