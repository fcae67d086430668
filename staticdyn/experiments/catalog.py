"""The paper's experiments as the YAML says them: which figures each feeds, how CI shrinks it.

Every ``conf/experiment/<name>.yaml`` that feeds a figure carries an ``experiment:`` node::

    experiment:
      name: fig3
      figures: [fig3_left, fig3_right]    # keys of staticdyn.report.paper_figures.BUILDERS
      runner: null                        # training experiments: the function run.py calls
      smoke:                              # CI's smoke run (staticdyn/experiments/smoke.py)
        params: {probe.seed: "0"}         # replace entries of hydra.sweeper.params
        quick: {model: "x3d_xs,..."}      # on top of params for the test suite's quick smoke
        overrides: [dataset=synthetic_tiny, ...]   # fixed overrides of every job
        standin_checkpoints: {checkpoints.fast_r50: fast_r50_kinetics400}
        standin_seeds: {kinetics400: 400}  # training set -> seed of its stand-in weights
        center_bias: {davis16: {seed: 10, ...}}    # synthetic sets for Fig. 7's maps
        onednn: true

Nothing here knows an experiment, model or figure by name: adding an experiment is a YAML
file. The per-model reductions (clip, builder arguments, stand-in checkpoints) are the model
cards' own ``smoke:`` blocks, read per job from the composed config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import OmegaConf

from staticdyn.errors import UnknownChoiceError
from staticdyn.experiments.compose import compose_experiment, hydra_context, list_experiments

SWEEP, TRAIN = "sweep", "train"


@dataclass(frozen=True)
class SmokePlan:
    """How the smoke run shrinks one experiment (the YAML's ``experiment.smoke``)."""

    params: dict[str, str] = field(default_factory=dict)
    quick: dict[str, str] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    standin_checkpoints: dict[str, str] = field(default_factory=dict)
    standin_seeds: dict[str, int] = field(default_factory=dict)
    center_bias: dict[str, dict[str, Any]] = field(default_factory=dict)
    onednn: bool = True  # see smoke._cpu_convolutions

    @classmethod
    def from_mapping(cls, raw: dict[str, Any] | None) -> SmokePlan:
        raw = raw or {}
        return cls(
            params={str(k): str(v) for k, v in (raw.get("params") or {}).items()},
            quick={str(k): str(v) for k, v in (raw.get("quick") or {}).items()},
            overrides=tuple(str(x) for x in raw.get("overrides") or ()),
            standin_checkpoints={str(k): str(v)
                                 for k, v in (raw.get("standin_checkpoints") or {}).items()},
            standin_seeds={str(k): int(v) for k, v in (raw.get("standin_seeds") or {}).items()},
            center_bias={str(k): dict(v) for k, v in (raw.get("center_bias") or {}).items()},
            onednn=bool(raw.get("onednn", True)),
        )


@dataclass(frozen=True)
class PaperExperiment:
    """One experiment that feeds figures.

    ``kind`` is ``sweep`` for the probe multiruns (``python run.py -m +experiment=NAME``) and
    ``train`` for a training experiment that is one run (``mode: train`` in its YAML), such as
    the shuffled-frame training of Fig. 5 right.
    """

    name: str
    figures: tuple[str, ...]
    kind: str
    smoke: SmokePlan


def load_experiment(name: str) -> PaperExperiment:
    """The ``experiment:`` node of ``conf/experiment/<name>.yaml``, composed as run.py does."""
    cfg = compose_experiment(name)
    node = OmegaConf.select(cfg, "experiment")
    raw: dict[str, Any] = OmegaConf.to_container(node, resolve=True) if node else {}  # type: ignore[assignment]
    kind = TRAIN if str(cfg.get("mode", "probe")) == "train" else SWEEP
    return PaperExperiment(name, tuple(str(f) for f in raw.get("figures") or ()), kind,
                           SmokePlan.from_mapping(raw.get("smoke")))


def paper_experiments() -> dict[str, PaperExperiment]:
    """Every experiment with a ``figures:`` list: the probe sweeps first, then the trainings.

    Sweeps run first because they share stand-in checkpoints and may hold the same run twice
    (Table 1's DAVIS16 FusionSeg runs are Fig. 4's): the report keeps the newest copy.
    """
    with hydra_context():
        found = [load_experiment(n) for n in list_experiments()]
    ordered = sorted((e for e in found if e.figures), key=lambda e: (e.kind != SWEEP, e.name))
    return {e.name: e for e in ordered}


def figures_of(experiments: dict[str, PaperExperiment], names: list[str]) -> list[str]:
    """The figure names the given experiments feed (for partial smoke runs)."""
    unknown = [n for n in names if n not in experiments]
    if unknown:
        raise UnknownChoiceError("experiment", unknown[0], list(experiments))
    return [f for n in names for f in experiments[n].figures]
