"""Config helpers shared by every layer: plain copies, deep merge, flat keys, run identity.

They live in one place because the probe, training and experiments all compare and merge
configs, and two copies of "which keys identify a run" would drift apart.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from staticdyn.errors import (
    InvalidSettingError,
    MissingSettingError,
    StaticDynError,
    UnknownChoiceError,
)

# Probe keys that change speed or the analysis, not the features: a run may resume with other
# values.
NON_IDENTITY_PROBE_KEYS = frozenset({
    "batch_size", "num_workers", "device", "list_layers", "progress", "lambda", "estimator",
    "warm_allocator", "bootstrap", "behaviour",
})

# Probe keys that may change the features only when switched on (probe.gpu_decode: nvjpeg may
# round differently from libjpeg): off, they are left out of the identity, so runs made before
# the key existed still resume.
IDENTITY_IF_SET = frozenset({"gpu_decode"})

# Probe keys left out of the identity at their default value: a key added after runs were made
# (probe.dynamic_pairs) keeps those runs' identity at its default, so they still resume.
IDENTITY_DEFAULTS: dict[str, str] = {"dynamic_pairs": "style"}


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
    probe = {k: v for k, v in tree.get("probe", {}).items() if k not in NON_IDENTITY_PROBE_KEYS
             and not (k in IDENTITY_IF_SET and str(v).strip().lower() in _FALSE)}
    probe = {k: v for k, v in probe.items() if IDENTITY_DEFAULTS.get(k) != str(v)}
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


# -- resolving a config group without tracebacks ------------------------------------------------
def resolved(node: Any, prefix: str) -> Any:
    """``node`` resolved to plain Python, a ``???`` refused with one line naming the key.

    OmegaConf raises ``MissingMandatoryValue`` (a traceback, deep inside whatever first reads
    the key); here the user gets the key to set, before anything is built.
    """
    from omegaconf.errors import (
        InterpolationResolutionError,
        InterpolationToMissingValueError,
        MissingMandatoryValue,
    )

    if not isinstance(node, DictConfig | ListConfig):
        return copy.deepcopy(node)
    try:
        return OmegaConf.to_container(node, resolve=True, throw_on_missing=True)
    except InterpolationToMissingValueError as exc:
        first = str(exc).splitlines()[0]
        target = first.rsplit("Missing mandatory value:", 1)[-1].strip()
        raise MissingSettingError(
            target, f"a value for {_full_key(exc, prefix)}, which points to it") from None
    except MissingMandatoryValue as exc:
        raise MissingSettingError(_full_key(exc, prefix)) from None
    except InterpolationResolutionError as exc:
        first = str(exc).splitlines()[0]
        raise StaticDynError(f"cannot resolve {_full_key(exc, prefix)}: {first}") from None


def _full_key(exc: Exception, prefix: str) -> str:
    key = str(getattr(exc, "full_key", "") or "")
    if not key:
        return prefix
    return key if key.startswith(f"{prefix}.") or key == prefix else f"{prefix}.{key}"


# -- probe settings -----------------------------------------------------------------------------
MIN_PAIRS_PER_FACTOR = 2  # a correlation over one pair is undefined: each factor needs two
CLIP_STARTS: tuple[str, ...] = ("first", "random")
#: ``probe.vis_pooling`` (task vis): the mean over queries and frames, or the query slots matched
#: to the annotated instances (staticdyn/probe/matched.py).
VIS_POOLINGS: tuple[str, ...] = ("mean", "matched")
#: ``probe.dynamic_pairs``: a dynamic pair's second clip is the clip in another style, or its
#: appearance-free render (data/appearance_free.py), which shares the motion and nothing else.
DYNAMIC_PAIRS: tuple[str, ...] = ("style", "appearance_free")
_AMP: dict[str, str | None] = {"false": None, "off": None, "none": None, "bf16": "bf16",
                               "bfloat16": "bf16", "true": "bf16", "fp16": "fp16",
                               "float16": "fp16"}
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


@dataclass(frozen=True)
class ProbeChoices:
    """The valid values of the probe's choice keys.

    config.py sits below every layer that implements them (task modules and pair samplers in
    ``data``, estimators in ``metrics``, dtypes need torch), so the caller passes them in:
    ``staticdyn.pipeline.probe_choices()`` reads them from those modules, one list each.
    """

    tasks: tuple[str, ...]
    samplers: tuple[str, ...]
    estimators: tuple[str, ...]
    dtypes: tuple[str, ...]
    short_videos: tuple[str, ...]


# Converters: each returns the value in its type or raises ValueError; _Key adds the message.
def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    if not isinstance(value, int):
        raise ValueError
    return value


def _at_least(low: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        n = _to_int(value)
        if n < low:
            raise ValueError
        return n

    return convert


def _to_workers(value: Any) -> int | str:
    """``auto`` (chosen from the visible cores at run time, probe/loader.py) or an int >= 0."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    return _at_least(0)(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError
    return float(value)  # ValueError for text that is not a number


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if not isinstance(value, str | int) or text not in _TRUE + _FALSE:
        raise ValueError
    return text in _TRUE


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise ValueError
        return value

    return convert


def _to_lambda(value: Any) -> float:
    lam = _to_float(value)
    if not 0.0 < lam < 1.0:
        raise ValueError
    return lam


def _to_amp(value: Any) -> str | None:
    if value is False or value is None:
        return None
    text = str(value).strip().lower()
    if not isinstance(value, str | bool) or text not in _AMP:
        raise ValueError
    return _AMP[text]


def _to_layers(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items or not all(
            isinstance(x, str) and x for x in items):
        raise ValueError
    return tuple(items)


def _to_seeds(value: Any) -> tuple[int, ...] | None:
    if value is None or (isinstance(value, list | tuple) and not value):
        return None
    if not isinstance(value, list | tuple):
        raise ValueError
    seeds = tuple(_at_least(0)(s) for s in value)
    if len(set(seeds)) != len(seeds):
        raise ValueError
    return seeds


def _range_up_to(high: float) -> Callable[[Any], list[float]]:
    def convert(value: Any) -> list[float]:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValueError
        lo, hi = (_to_float(v) for v in value)
        if not 0.0 <= lo <= hi <= high:
            raise ValueError
        return [lo, hi]

    return convert


def _to_device(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z]+(:\d+)?", value.strip()):
        raise ValueError
    return value.strip()


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


@dataclass(frozen=True)
class _Key:
    """One probe key: what a valid value is (said to the user) and how to convert one."""

    valid: str
    convert: Callable[[Any], Any]
    required: bool = False  # no default: conf/probe/*.yaml sets it, the run cannot guess it

    def __call__(self, key: str, value: Any) -> Any:
        try:
            return self.convert(value)
        except (ValueError, TypeError):
            raise InvalidSettingError(key, value, self.valid) from None


def probe_keys(choices: ProbeChoices) -> dict[str, _Key]:
    """Every probe key of conf/probe/*.yaml with its check (both tasks: keys a task does not
    read are accepted and ignored, as the task modules read only their own)."""
    n_min = 2 * MIN_PAIRS_PER_FACTOR
    return {
        "task": _Key(f"one of {', '.join(choices.tasks)}", _one_of(choices.tasks)),
        "sampler": _Key(f"one of {', '.join(choices.samplers)}", _one_of(choices.samplers),
                        required=True),
        "n_pairs": _Key(f"an integer >= {n_min} (at least {MIN_PAIRS_PER_FACTOR} pairs of each "
                        "factor)", _at_least(n_min), required=True),
        "seed": _Key("an integer >= 0", _at_least(0), required=True),
        "lambda": _Key("a number strictly between 0 and 1", _to_lambda, required=True),
        "bootstrap": _Key("an integer >= 0 (bootstrap resamples for the 95% intervals; 0: none)",
                          _at_least(0)),
        "estimator": _Key(f"one of {', '.join(choices.estimators)}",
                          _one_of(choices.estimators), required=True),
        "batch_size": _Key("an integer >= 1", _at_least(1), required=True),
        "num_workers": _Key("auto (from the visible cores) or an integer >= 0", _to_workers,
                            required=True),
        "layers": _Key("null (the model's default layers) or a list of layer aliases or module "
                       "paths", _to_layers),
        "seeds": _Key("null (one run with probe.seed) or a list of distinct integers >= 0, "
                      "e.g. [1,2,3,4]", _to_seeds),
        "clip_start": _Key(f"one of {', '.join(CLIP_STARTS)}", _one_of(CLIP_STARTS)),
        "short_videos": _Key(f"one of {', '.join(choices.short_videos)}",
                             _one_of(choices.short_videos)),
        "dynamic_pairs": _Key(f"one of {', '.join(DYNAMIC_PAIRS)}", _one_of(DYNAMIC_PAIRS)),
        "device": _Key("cpu, cuda or cuda:N (a torch device)", _to_device),
        "dtype": _Key(f"one of {', '.join(choices.dtypes)}", _one_of(choices.dtypes)),
        "amp": _Key("false, bf16 or fp16 (GPU autocast)", _to_amp),
        "threads": _Key("null (torch's default) or an integer >= 1", _optional(_at_least(1))),
        "progress": _Key("true or false", _to_bool),
        "warm_allocator": _Key("true or false", _to_bool),
        "behaviour": _Key("true or false (also top-1 on original, shuffled and appearance-free "
                          "clips: behaviour.csv)", _to_bool),
        "gpu_decode": _Key("true or false (JPEG frames decoded with nvjpeg on a CUDA device)",
                           _to_bool),
        "list_layers": _Key("true or false", _to_bool),
        "shard": _Key("an integer >= 0", _at_least(0)),
        "num_shards": _Key("an integer >= 1", _at_least(1)),
        # video object segmentation (conf/probe/vos.yaml)
        "nreps": _Key("an integer >= 1", _at_least(1)),
        "jitter": _Key("true or false", _to_bool),
        "h_range": _Key("[low, high] with 0 <= low <= high <= 0.5 (fractions of a hue turn)",
                        _range_up_to(0.5)),
        "s_range": _Key("[low, high] with 0 <= low <= high", _range_up_to(float("inf"))),
        "frame_offset": _Key("an integer >= 1", _at_least(1)),
        "clip_frames": _Key("an integer >= 1", _at_least(1)),
        # video instance segmentation (conf/probe/vis.yaml)
        "vis_pooling": _Key(f"one of {', '.join(VIS_POOLINGS)}", _one_of(VIS_POOLINGS)),
    }


@dataclass(frozen=True)
class ProbeSettings:
    """Every ``probe.*`` key, checked and converted before anything runs or is written.

    One place reads the probe config, so a wrong value (``probe.lambda=abc``,
    ``probe.estimator=bogus``, ``probe.shard=3 probe.num_shards=2``) stops the run at start
    with one line naming the key, the value and what is valid, instead of after an extraction.
    Integers given as text (``"8"``, as sweeper params are) are converted; ``"abc"`` is refused.
    ``task_values`` is the probe mapping with the converted values, for the task modules
    (``data/tasks``), which read their own keys from it with their own defaults.
    """

    sampler: str
    n_pairs: int
    seed: int
    lam: float  # probe.lambda
    estimator: str
    batch_size: int
    num_workers: int | str  # "auto": chosen at run time (probe.loader.choose_num_workers)
    bootstrap: int = 1000  # resamples for the run's 95% intervals (seeded by probe.seed); 0: none
    task: str = "action"
    layers: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None
    clip_start: str = "first"
    short_videos: str | None = None  # None = not given, the action task's default applies
    dynamic_pairs: str = "style"  # style | appearance_free (the action task's dynamic pairs)
    device: str = "cpu"
    dtype: str = "float32"
    amp: str | None = None  # None (off), "bf16" or "fp16"
    threads: int | None = None
    progress: bool = True
    warm_allocator: bool = True  # keep freed activation memory in the process (probe/allocator)
    behaviour: bool = False  # also top-1 under shuffling / appearance-free (probe/behaviour)
    gpu_decode: bool = False  # frame-folder JPEGs decoded on the CUDA device (data/jpeg_gpu)
    list_layers: bool = False
    shard: int = 0
    num_shards: int = 1
    # video object segmentation; None = not given, the task module's default applies
    nreps: int | None = None
    jitter: bool | None = None
    h_range: list[float] | None = None
    s_range: list[float] | None = None
    frame_offset: int | None = None
    clip_frames: int | None = None
    vis_pooling: str | None = None  # task vis; None = not given (mean)
    task_values: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_cfg(cls, node: Any, choices: ProbeChoices) -> ProbeSettings:
        """Check ``cfg.probe`` (a DictConfig or a plain mapping) key by key."""
        raw = resolved(node, "probe")
        if not isinstance(raw, dict):
            raise InvalidSettingError("probe", raw, "a mapping of probe.KEY: value")
        keys = probe_keys(choices)
        unknown = sorted(str(k) for k in set(raw) - set(keys))
        if unknown:
            raise UnknownChoiceError("probe key", unknown[0], keys)
        for key, spec in keys.items():
            if spec.required and key not in raw:
                raise MissingSettingError(f"probe.{key}", spec.valid)
        values = {key: keys[key](f"probe.{key}", value) for key, value in raw.items()}
        settings = cls(**{_FIELD.get(k, k): v for k, v in values.items()},
                       task_values={**raw, **values})
        if settings.shard >= settings.num_shards:
            raise InvalidSettingError("probe.shard", raw["shard"],
                                      f"0..{settings.num_shards - 1} (probe.num_shards="
                                      f"{settings.num_shards})")
        if settings.dynamic_pairs != "style" and settings.task != "action":
            raise InvalidSettingError("probe.dynamic_pairs", raw["dynamic_pairs"],
                                      f"style with probe.task={settings.task} (appearance-free "
                                      "pairs are built by the action task)")
        if settings.behaviour and settings.num_shards > 1:
            raise InvalidSettingError("probe.behaviour", raw["behaviour"],
                                      "false with probe.num_shards > 1 (behaviour.csv covers "
                                      "the whole run: measure it on the merged run)")
        return settings

    def for_seed(self, seed: int) -> ProbeSettings:
        """The settings of one run of ``probe.seeds``."""
        return replace(self, seed=seed, seeds=None,
                       task_values={**self.task_values, "seed": seed, "seeds": None})


_FIELD = {"lambda": "lam"}  # probe keys that are not Python names
