"""StaticDropout: dropout of one layer's units, aimed at the units a probe calls static.

Design (the journal paper gives one sentence; this is our reading of it, see docs/training.md):

- A *unit* is a channel (METHOD.md), so a unit is dropped as a whole: one Bernoulli draw per
  (sample, channel), broadcast over time and space, like ``nn.Dropout3d``. Dropping single
  activations would leave the unit's information in its neighbours.
- Each unit c has its own drop probability ``rates[c]``. StaticDropout sets ``rates[c] = p``
  for units whose unit-wise class is in ``classes`` (``static`` by default) and 0 elsewhere, so
  dynamic, joint and residual units are never touched.
- Kept units are scaled by ``1 / (1 - rates[c])`` (inverted dropout per unit): the expected
  activation of every unit is unchanged, so eval mode is the identity and needs no rescaling.
- Nothing happens in eval mode: the probe and validation see the undropped network.
- The classes come from ``unitprobe.probe_units`` on the current model (re-estimated every
  ``refresh_every`` steps, the first time at step ``start``; before that nothing is dropped,
  because an untrained network's classes say little), or once from a reference checkpoint.
- The baseline, plain dropout "of equal rate", is the same hook with one rate on every unit;
  ``matched_rate`` gives the rate at which it drops as many units in expectation as
  StaticDropout did (p times the fraction of selected units).

The hook is a forward hook, not a module inserted into the network, so the model's state dict
is untouched and checkpoints still load strictly into the plain zoo model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from staticdyn.data.source import VideoSource
from staticdyn.errors import StaticDynError, UnknownChoiceError
from staticdyn.metrics.unitwise import UNIT_CLASSES
from staticdyn.models.spec import ZooModel
from staticdyn.train.unitprobe import UnitProbe, probe_units

KINDS = ("none", "static", "plain")


class UnitDropout:
    """Forward hook dropping whole channels of a module's output with per-unit rates."""

    def __init__(self, module: nn.Module, units: int, generator: torch.Generator | None = None):
        self.module = module
        self.rates = torch.zeros(units)
        self.generator = generator
        self._handle = module.register_forward_hook(self._hook)

    def set_rates(self, rates: torch.Tensor | np.ndarray | float) -> None:
        r = torch.as_tensor(rates, dtype=torch.float32)
        r = r.expand(self.rates.shape).clone() if r.ndim == 0 else r.clone()
        if r.shape != self.rates.shape:
            raise ValueError(f"{tuple(r.shape)} rates for a layer of {self.rates.numel()} units")
        if (r < 0).any() or (r >= 1).any():
            raise ValueError("dropout rates must be in [0, 1)")
        self.rates = r

    def mask(self, batch: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """(batch, C) multipliers: 0 for a dropped unit, 1 / (1 - rate) for a kept one."""
        keep_p = (1.0 - self.rates).to(device)
        u = torch.rand((batch, keep_p.numel()), generator=self.generator).to(device)
        kept = u < keep_p
        return (kept.to(dtype) / keep_p.to(dtype))

    def _hook(self, module: nn.Module, _inp: object, out: object) -> torch.Tensor | None:
        if not module.training or not bool((self.rates > 0).any()):
            return None
        if not isinstance(out, torch.Tensor) or out.ndim < 2:
            raise StaticDynError(f"unit dropout needs a (B, C, ...) tensor output; "
                                 f"got {type(out).__name__}")
        m = self.mask(out.shape[0], out.dtype, out.device)
        return out * m.view(*m.shape, *([1] * (out.ndim - 2)))

    def remove(self) -> None:
        self._handle.remove()


def layer_units(model: ZooModel, layer: str) -> int:
    """Channel count of ``layer``'s output, from one tiny forward pass."""
    from staticdyn.probe.hooks import extract_pooled

    spec = model.clip_spec
    paths = [torch.zeros(2, 3, t, spec.crop, spec.crop, device=model.device)
             for t in spec.pathway_frames]
    was = model.module.training
    model.module.eval()
    try:
        feats = extract_pooled(model.module, paths[0] if len(paths) == 1 else paths,
                               model.resolve_layers([layer]))
    finally:
        model.module.train(was)
    return int(feats[layer].shape[1])


def matched_rate(p: float, selected_fraction: float) -> float:
    """Plain-dropout rate that drops as many units in expectation as dropping a
    ``selected_fraction`` of the units with probability ``p``."""
    return float(p) * float(selected_fraction)


def select_units(probe: UnitProbe, classes: Sequence[str], max_fraction: float = 1.0
                 ) -> np.ndarray:
    """Units to drop: those of ``classes``; when they exceed ``max_fraction`` of the layer,
    only the most static of them (largest r_static - r_dynamic).

    The cap keeps StaticDropout from turning into heavy plain dropout when nearly every unit is
    static (early in training, or in a model that has learned a static shortcut).
    """
    mask = probe.mask(classes)
    limit = int(np.floor(max_fraction * mask.size))
    if mask.sum() <= limit:
        return mask
    staticness = np.where(mask, probe.r_static - probe.r_dynamic, -np.inf)
    keep = np.argsort(-staticness, kind="stable")[:limit]
    out = np.zeros_like(mask)
    out[keep] = True
    return out


class DropoutController:
    """Owns the hook of a training run and decides its rates over the steps.

    ``kind``: ``none`` (no hook), ``plain`` (rate ``p`` on every unit from step 0) or
    ``static`` (StaticDropout, see the module docstring).
    """

    def __init__(self, model: ZooModel, settings: dict[str, Any], probe_source: VideoSource | None,
                 generator: torch.Generator | None = None):
        self.kind = str(settings.get("kind", "none"))
        if self.kind not in KINDS:
            raise UnknownChoiceError("train.dropout.kind", self.kind, KINDS)
        self.model, self.s, self.source = model, dict(settings), probe_source
        self.classes: Sequence[str] = tuple(settings.get("classes") or ("static",))
        bad = [c for c in self.classes if c not in UNIT_CLASSES]
        if bad:
            raise UnknownChoiceError("train.dropout.classes entry", bad[0], UNIT_CLASSES)
        self.p = float(settings.get("p", 0.5))
        self.max_fraction = float(settings.get("max_fraction", 1.0))
        self.start = int(settings.get("start", 0))
        self.refresh_every = int(settings.get("refresh_every", 0))
        self.last_probe: UnitProbe | None = None
        self.last_refresh: int | None = None
        self.rate_sum, self.active_steps = 0.0, 0
        self.hook: UnitDropout | None = None
        if self.kind == "none":
            return
        if not settings.get("layer"):
            raise StaticDynError("train.dropout.layer is not set and the model card names no "
                                 "last_layer: set train.dropout.layer=<layer alias>")
        layer = str(settings["layer"])
        self.layer = layer
        path = model.resolve_layers([layer])[layer]
        module = dict(model.module.named_modules())[path]
        self.hook = UnitDropout(module, layer_units(model, layer), generator)
        if self.kind == "static":
            if probe_source is None:
                raise StaticDynError("StaticDropout needs a probe source for the unit classes")
            reference = settings.get("reference")
            if reference:
                self._set_from(self._probe(self._reference_model(str(reference))))
                self.refresh_every, self.start = 0, -1

    @property
    def selected(self) -> int:
        """Units currently dropped with a non-zero rate."""
        return 0 if self.hook is None else int((self.hook.rates > 0).sum())

    @property
    def mean_rate(self) -> float:
        """Expected fraction of the layer's units dropped per sample."""
        return 0.0 if self.hook is None else float(self.hook.rates.mean())

    def _reference_model(self, checkpoint: str) -> ZooModel:
        from staticdyn.models.zoo import from_config

        cfg = dict(self.s.get("model_cfg") or {})
        if not cfg:
            raise StaticDynError("train.dropout.reference needs the model config to rebuild it")
        cfg["checkpoint"] = checkpoint
        return from_config(cfg)

    def _probe(self, model: ZooModel) -> UnitProbe:
        assert self.source is not None
        return probe_units(model, self.source, self.layer, int(self.s.get("n_pairs", 128)),
                           int(self.s.get("probe_seed", 0)), float(self.s.get("lam", 0.5)))

    def _set_from(self, probe: UnitProbe) -> None:
        assert self.hook is not None
        self.last_probe = probe
        self.hook.set_rates(torch.as_tensor(select_units(probe, self.classes,
                                                         self.max_fraction),
                                            dtype=torch.float32) * self.p)

    @property
    def mean_active_rate(self) -> float:
        """Mean fraction of units dropped per sample over the steps the dropout was active:
        the rate a plain-dropout baseline of "equal rate" gets."""
        return self.rate_sum / self.active_steps if self.active_steps else 0.0

    def before_step(self, step: int) -> bool:
        """Set the rates of step ``step``; True when the unit classes were re-estimated.

        Both kinds start at step ``start`` (plain dropout too, so that a plain baseline is
        active over exactly the steps StaticDropout is).
        """
        if self.hook is None or step < self.start:
            return False
        refreshed = False
        if self.kind == "plain":
            if not bool((self.hook.rates > 0).any()):
                self.hook.set_rates(self.p)
        elif self.start >= 0:
            due = step == self.start or (self.refresh_every > 0
                                         and (step - self.start) % self.refresh_every == 0)
            if due and self.last_refresh != step:
                self._set_from(self._probe(self.model))
                self.last_refresh, refreshed = step, True
        self.rate_sum += self.mean_rate
        self.active_steps += 1
        return refreshed

    def state(self) -> dict[str, Any]:
        """What a checkpoint must hold to resume with the same rates."""
        rates = self.hook.rates.clone() if self.hook is not None else torch.zeros(0)
        return {"rates": rates, "last_refresh": -1 if self.last_refresh is None
                else int(self.last_refresh), "rate_sum": self.rate_sum,
                "active_steps": self.active_steps}

    def load_state(self, state: dict[str, Any]) -> None:
        if self.hook is not None and state.get("rates") is not None \
                and state["rates"].numel() == self.hook.rates.numel():
            self.hook.set_rates(state["rates"])
        self.rate_sum = float(state.get("rate_sum", 0.0))
        self.active_steps = int(state.get("active_steps", 0))
        last = int(state.get("last_refresh", -1))
        self.last_refresh = None if last < 0 else last

    def remove(self) -> None:
        if self.hook is not None:
            self.hook.remove()
