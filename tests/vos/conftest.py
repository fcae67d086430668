"""Shared fixtures of the VOS tests: a tiny synthetic DAVIS-layout set.

Big models are built once per module (module-scoped fixtures) and in reduced depth (one residual
block per stage: the channel widths and key names stay those of the real network) wherever the
test is about behaviour rather than the released key layout.
"""

from __future__ import annotations

import pytest

from staticdyn.data.davis import SyntheticDavisSource


@pytest.fixture(scope="session")
def tiny_davis(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDavisSource:
    """3 sequences x 5 frames of 48 x 48 in the DAVIS layout, 4 styles, with both flows."""
    cache = tmp_path_factory.mktemp("vos_cache")
    return SyntheticDavisSource(cache_dir=cache, n_sequences=3, num_frames=5, size=48)
