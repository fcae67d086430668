"""Turn a YAML ``builder`` import path into an ``nn.Module``, never downloading weights.

Every zoo entry names its constructor by import path (``pytorchvideo.models.hub.slow_r50``) so
that the YAML file is the whole design card of a model and new models need no Python change.
Hub constructors accept ``pretrained=True`` and would then fetch weights from the internet;
staticdyn works offline and records exactly which checkpoint file produced a result, so that
flag is forced off here, in the one place every model is built.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from staticdyn.errors import StaticDynError

NO_DOWNLOAD_HINT = (
    "staticdyn never downloads weights: set pretrained=false and pass the checkpoint file "
    "instead (model.checkpoint=/path/to/file.pyth, or load_model(name, checkpoint=path))"
)


def import_object(path: str) -> Any:
    """Import ``pkg.mod.attr`` (or ``pkg.mod:attr``) and return the attribute.

    The error names the path the user wrote, because a bare ImportError from deep inside
    importlib does not say which config value was wrong.
    """
    if not path or not isinstance(path, str):
        raise StaticDynError(f"builder must be an import path like 'pkg.module.fn', got {path!r}")
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise StaticDynError(f"builder '{path}' is not an import path like 'pkg.module.fn'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StaticDynError(f"cannot import '{module_name}' for builder '{path}': {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise StaticDynError(f"'{module_name}' has no attribute '{attr}' (builder '{path}')"
                                 ) from exc
    return obj


def _accepts_pretrained(fn: Callable[..., Any]) -> bool:
    """True when ``fn`` has a parameter literally named ``pretrained``.

    Only then is ``pretrained=False`` passed: builders that forward ``**kwargs`` to a
    constructor without that parameter would fail on it.
    """
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "pretrained" in params


def _check_kwargs(builder: str, fn: Callable[..., Any], kwargs: Mapping[str, Any]) -> None:
    """Reject a misspelt builder_kwargs key before building, with the accepted names.

    Binding against the signature (rather than catching TypeError from the call) keeps genuine
    errors raised inside the builder intact.
    """
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(**kwargs)
    except TypeError as exc:
        names = [n for n, p in sig.parameters.items() if p.kind is not p.VAR_KEYWORD]
        raise StaticDynError(
            f"builder '{builder}' does not accept builder_kwargs {sorted(kwargs)} ({exc}). "
            f"Its parameters: {', '.join(names)}"
        ) from exc


def build_module(builder: str, kwargs: Mapping[str, Any] | None = None) -> nn.Module:
    """Call the builder named by import path with ``kwargs``; pretrained weights are refused."""
    kwargs = dict(kwargs or {})
    if kwargs.get("pretrained"):
        raise StaticDynError(f"builder_kwargs.pretrained=true for '{builder}': {NO_DOWNLOAD_HINT}")
    fn = import_object(builder)
    if not callable(fn):
        raise StaticDynError(f"builder '{builder}' is not callable")
    if _accepts_pretrained(fn):
        kwargs["pretrained"] = False
    else:
        kwargs.pop("pretrained", None)
    _check_kwargs(builder, fn, kwargs)
    try:
        module = fn(**kwargs)
    except TypeError as exc:
        # Hub builders forward **kwargs to the real constructor, so a misspelt key surfaces
        # only here; other TypeErrors are genuine bugs and propagate unchanged.
        bad = [k for k in kwargs if f"unexpected keyword argument '{k}'" in str(exc)]
        if not bad:
            raise
        raise StaticDynError(
            f"builder '{builder}' does not accept builder_kwargs {bad} ({exc})"
        ) from exc
    if not isinstance(module, nn.Module):
        raise StaticDynError(
            f"builder '{builder}' returned {type(module).__name__}, not a torch.nn.Module"
        )
    return module
