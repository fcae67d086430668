"""Training tests run on one torch thread: the tiny configs (``tests.helpers.configs``) are
sized for one CPU core, and a fixed thread count keeps their timings predictable."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)
