"""staticdyn: how much of what a video model encodes is static, and how much is dynamic.

Implements Kowal et al. (CVPR 2022) and its journal extension (arXiv 2211.01783).
The public API is kept small on purpose, in thingsvision's spirit:

    model = staticdyn.load_model("r3d_18")          # or any torch.nn.Module
    model.show_layers()
    feats = model.extract(clips, ["stage3"])
    tables = staticdyn.probe(model, "synthetic_tiny", n_pairs=40, out_dir="outputs/x")

``import staticdyn`` stays cheap (no torch, no Hydra): the API functions are attributes
resolved on first use (PEP 562). ``staticdyn.probe`` is both the probe subpackage
(``staticdyn.probe.api``, ``.hooks``, ...) and the ``probe(...)`` function: the package is
made callable, because a plain attribute would be replaced by the subpackage the moment any
of its modules is imported.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

from staticdyn.version import __version__

__all__ = ["__version__", "load_model", "probe"]

# name -> "module:attribute", imported on first access
_LAZY = {
    "load_model": "staticdyn.probe.api:load_model",
    "ProbeModel": "staticdyn.probe.api:ProbeModel",
}


class _CallableProbePackage(types.ModuleType):
    """``staticdyn.probe``: the probe subpackage, which calling runs a probe
    (``staticdyn.experiments.api.probe``: the same code path as ``run.py``)."""

    def __call__(self, model: Any, dataset: str, **kwargs: Any) -> Any:
        from staticdyn.experiments.api import probe as _probe

        return _probe(model, dataset, **kwargs)


def _make_probe_callable() -> None:
    from staticdyn import probe as package  # its __init__ is a docstring: nothing heavy

    package.__class__ = _CallableProbePackage


_make_probe_callable()


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'staticdyn' has no attribute '{name}'")
    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
