"""What the checkpoint loader needs to know about a model, read from its YAML card.

Which converter family a model belongs to, which layouts its files may come in and which
SlowFast pathway a single-pathway model's weights sit in are facts about the model, so they live
in ``conf/model/<entry>.yaml`` (``family``, ``checkpoint_format``, ``checkpoint_pathway``,
``pathways``, ``trust_checkpoint``), not in Python tables keyed by entry name. Adding a model
with a SlowFast-zoo file is then a YAML change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from staticdyn.errors import StaticDynError, UnknownChoiceError

#: ``checkpoint_format`` -> how a file that does not fit the built module as it is gets read.
FORMATS: dict[str, str] = {
    "native": "the built module's own keys only (wrappers and a DDP prefix removed); "
              "no layout conversion",
    "slowfast": "also the SlowFast code base's .pyth and the SlowFast zoo's Caffe2 .pkl, "
                "converted by the card's family",
    "timesformer_release": "also the original TimeSformer release (model. prefix)",
    "vos_release": "the VOS model's released envelope (MATNet: a directory of "
                   "encoder_<epoch>.pt / decoder_<epoch>.pt)",
}
#: Formats whose files go through ``staticdyn.models.checkpoints.convert``.
CONVERTED_FORMATS = ("slowfast", "timesformer_release")


@dataclass(frozen=True)
class CheckpointCard:
    """The card facts checkpoint loading reads.

    ``pathway``: SlowFast pathway index a single-pathway model's weights are named after
    (FastOnly keeps SlowFast's fast pathway: 1). ``pathways``: input streams of the model.
    ``trust``: the user vouches for the file, which may then be unpickled in full.
    """

    entry: str
    family: str = "custom"
    format: str = "native"
    pathway: int = 0
    pathways: int = 1
    trust: bool = False

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> CheckpointCard:
        """The card of a model config (``cfg.model``); absent keys take the defaults above."""
        entry = str(cfg.get("name") or "custom")
        fmt = str(cfg.get("checkpoint_format") or "native")
        if fmt not in FORMATS:
            raise UnknownChoiceError(f"checkpoint_format (model '{entry}')", fmt, FORMATS)
        trust = cfg.get("trust_checkpoint", False)
        if not isinstance(trust, bool):
            raise StaticDynError(
                f"model.trust_checkpoint must be true or false, got {trust!r} (model '{entry}')"
            )
        return cls(
            entry=entry,
            family=str(cfg.get("family") or "custom"),
            format=fmt,
            pathway=_count(cfg, "checkpoint_pathway", 0, entry),
            pathways=_count(cfg, "pathways", 1, entry),
            trust=trust,
        )

    @property
    def slowfast_pathways(self) -> frozenset[int]:
        """SlowFast pathway indices the model's weights may be named after."""
        if self.pathways > 1:
            return frozenset(range(self.pathways))
        return frozenset({self.pathway})


def _count(cfg: Mapping[str, Any], key: str, default: int, entry: str) -> int:
    value = cfg.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StaticDynError(
            f"model.{key} must be a whole number >= 0, got {value!r} (model '{entry}')"
        )
    return value
