"""Helpers shared by the VOS tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoint_keys"
REDUCED = [1, 1, 1, 1]  # one residual block per stage: real widths and key names, fast


def fixture_keys(name: str, strip_module: bool = False) -> dict[str, list[int]]:
    """Key -> shape list the reference code produces (tests/fixtures/checkpoint_keys)."""
    keys = json.loads((FIXTURES / f"{name}.json").read_text())["keys"]
    if strip_module:
        keys = {k.removeprefix("module."): v for k, v in keys.items()}
    return keys
