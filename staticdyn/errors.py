"""Exceptions with one clear line each: what is wrong and what the valid choices are.

The CLI prints ``str(exc)`` of these and exits non-zero, without a traceback, because the
message already says everything a user needs to fix the input.
"""

from __future__ import annotations

from collections.abc import Iterable


class StaticDynError(Exception):
    """Base class: an input problem the user can fix."""


def _preview(items: Iterable[str], limit: int = 60) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    more = f", ... (+{len(items) - limit} more)" if len(items) > limit else ""
    return shown + more


class UnknownLayerError(StaticDynError):
    def __init__(self, model: str, name: str, aliases: Iterable[str], paths: Iterable[str]):
        self.name = name
        super().__init__(
            f"unknown layer '{name}' for model '{model}'. Valid aliases: {_preview(aliases)}. "
            f"Valid module paths: {_preview(paths)}"
        )


class UnknownChoiceError(StaticDynError):
    def __init__(self, kind: str, name: str, choices: Iterable[str]):
        super().__init__(f"unknown {kind} '{name}'. Valid choices: {_preview(sorted(choices))}")


class CheckpointMismatchError(StaticDynError):
    def __init__(self, entry: str, path: str, missing: list[str], unexpected: list[str],
                 shape_mismatch: list[str] | None = None):
        shape_mismatch = shape_mismatch or []
        parts = [
            f"checkpoint '{path}' does not fit model '{entry}':",
            f"{len(missing)} missing keys [{_preview(missing, 5)}],",
            f"{len(unexpected)} unexpected keys [{_preview(unexpected, 5)}]",
        ]
        if shape_mismatch:
            shown = _preview(shape_mismatch, 5)
            parts.append(f", {len(shape_mismatch)} shape mismatches [{shown}]")
        super().__init__(" ".join(parts))
        self.missing, self.unexpected, self.shape_mismatch = missing, unexpected, shape_mismatch


class VideoReadError(StaticDynError):
    """A single video (or frame) could not be read: the run skips it, logs it and counts it."""


class DatasetError(StaticDynError):
    """The dataset as a whole is unusable (missing root, nothing readable)."""


class ConfigMismatchError(StaticDynError):
    """A run directory already holds a run with a different configuration."""


class CheckpointFileError(StaticDynError):
    """A checkpoint file cannot be read as weights: missing, a directory, empty, text, damaged."""


class UnsafeCheckpointError(CheckpointFileError):
    """A checkpoint would build objects other than weights data when unpickled.

    Refused before anything runs: a pickle's ``__reduce__`` can call any function, and
    checkpoints come from shared drives and model zoos. The user may vouch for the file.
    """

    def __init__(self, path: str, builds: str):
        self.path, self.builds = path, builds
        super().__init__(
            f"checkpoint '{path}' would build {builds} when unpickled; a checkpoint of weights "
            "needs only tensors, numpy arrays, plain containers and scalars, so it was refused "
            "without running anything. If you vouch for this file, set "
            "model.trust_checkpoint=true (Python: trust_checkpoint=True)"
        )

class InvalidSettingError(StaticDynError):
    """A setting has a value the run cannot use: names the key, the value and what is valid."""

    def __init__(self, key: str, value: object, valid: str):
        self.key = key
        super().__init__(f"invalid {key}={value!r}. Valid: {valid}")


class MissingSettingError(StaticDynError):
    """A setting the run needs was never given (``???`` in the config, or absent)."""

    def __init__(self, key: str, valid: str | None = None):
        self.key = key
        said = f". Valid: {valid}" if valid else " (it is ??? in the config)"
        super().__init__(f"{key} is not set{said}; pass {key}=... on the command line")


class StoreUnreadableError(StaticDynError):
    """A run directory's features.h5 or journal cannot be read: names the file and the way out."""

