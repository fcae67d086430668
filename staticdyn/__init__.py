"""staticdyn: how much of what a video model encodes is static, and how much is dynamic.

Implements Kowal et al. (CVPR 2022) and its journal extension (arXiv 2211.01783).
The public API is kept small on purpose: load a model, probe it, analyse an HDF5 file.
"""

from __future__ import annotations

from staticdyn.version import __version__

__all__ = ["__version__", "load_model"]


def load_model(name: str, checkpoint: str | None = None, **overrides):  # noqa: ANN201
    """A zoo model by entry name, ready to ``extract`` (see ``staticdyn.models.zoo.load_model``).

    Imported lazily so that ``import staticdyn`` (and the numpy-only metrics) never pull in torch.
    """
    from staticdyn.models.zoo import load_model as _load
    from staticdyn.probe.api import ProbeModel

    return ProbeModel(_load(name, checkpoint=checkpoint, **overrides))
