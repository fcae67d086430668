"""Behavioural known answer of the motion-trained calibration model (``probe.behaviour``).

The model is the session's CI-size calibration model (``conftest.calibration``: width-8 Tiny3D,
400 steps on the synthetic motion-defined classes, random styles after 2 epochs), measured on
unseen videos of its training distribution (same seed, indices after the training set's, every
style), through ``measure_behaviour`` as ``probe.behaviour=true`` runs it.

What shuffling can take away is set by the class structure. Eight of the ten motion classes
come in time-reversed partners (translate right/left, down/up, rotate cw/ccw, grow/shrink): the
synthetic trajectories are symmetric in time, so a uniformly shuffled clip of a class and one
of its partner have the same distribution, and frame order is the only evidence between them.
The other evidence (the axis of a translation, the set of positions an oscillation visits)
survives in the set of frames, so a model that read motion perfectly could still keep about
60% of its accuracy shuffled: a relative drop of more than half on all ten classes is a fact
about a model's confusions, not about its use of frame order. The known answer is measured
where order is the only evidence:

    order evidence = share of partnered-class clips predicted as their class
                     - share predicted as its time-reversed partner

Shuffled, its expectation is exactly 0 for any model (the symmetry above). The motion-trained
model must have clearly positive order evidence on the original clips and lose most of it (more
than half, intervals apart) when shuffled, on top of a significant overall drop in top-1.
"""

from __future__ import annotations

import numpy as np
import yaml

from staticdyn.data.pairs import group_pairs, sample_pairs
from staticdyn.data.synthetic import MOTION_CLASSES, SyntheticSource
from staticdyn.experiments.training.common import last_checkpoint
from staticdyn.models.zoo import from_config
from staticdyn.probe.behaviour import BehaviourPlan, measure_behaviour, plan_behaviour

N_CLIPS = 300
N_BOOT = 1000
#: time-reversed partners among the motion classes (trajectories symmetric in time)
REVERSED = (("translate_right", "translate_left"), ("translate_down", "translate_up"),
            ("rotate_cw", "rotate_ccw"), ("grow", "shrink"))


def partner_of() -> np.ndarray:
    """Class index -> its time-reversed partner's index (itself when it has none)."""
    partner = np.arange(len(MOTION_CLASSES))
    for a, b in REVERSED:
        i, j = MOTION_CLASSES.index(a), MOTION_CLASSES.index(b)
        partner[i], partner[j] = j, i
    return partner


def order_evidence(labels: np.ndarray, pred: np.ndarray, n_boot: int = N_BOOT, seed: int = 0
                   ) -> tuple[float, float, float]:
    """Order evidence on the partnered classes (see module docstring), with a 95% bootstrap
    interval over clips."""
    partner = partner_of()
    keep = partner[labels] != labels
    score = ((pred == labels).astype(float) - (pred == partner[labels]))[keep]
    rng = np.random.default_rng(seed)
    boots = score[rng.integers(len(score), size=(n_boot, len(score)))].mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return float(score.mean()), float(lo), float(hi)


def test_partners_move_opposite_ways() -> None:
    """The premise, on the renderer's exact object masks: translate right/left and down/up move
    the objects' centroid opposite ways along one axis, grow/shrink change their area opposite
    ways (rotate cw/ccw: opposite signs of the angular speed, by construction in
    ``synthetic._trajectory``); oscillate_h/v have no partner."""
    source = SyntheticSource(n_videos=20, num_frames=8, size=32, seed=10, classes="motion")
    for video in source.videos:
        name = MOTION_CLASSES[source.label(video)]
        masks = source.render(video).masks
        if name.startswith("translate"):
            ys, xs = zip(*(np.argwhere(m).mean(axis=0) for m in masks), strict=True)
            step = np.array([np.mean(np.diff(xs)), np.mean(np.diff(ys))])
            axis = 0 if name in ("translate_right", "translate_left") else 1
            sign = 1 if name in ("translate_right", "translate_down") else -1
            assert sign * step[axis] > 0.5 and abs(step[1 - axis]) < 0.5 * abs(step[axis])
        elif name in ("grow", "shrink"):
            area = masks.reshape(len(masks), -1).sum(axis=1)
            assert (1 if name == "grow" else -1) * (area[-1] - area[0]) > 0.3 * area.mean()
    partner = partner_of()
    assert (partner[partner] == np.arange(len(MOTION_CLASSES))).all()
    assert (partner != np.arange(len(MOTION_CLASSES))).sum() == 8  # oscillate_h/v have none


def test_motion_trained_model_loses_the_order_evidence_when_shuffled(calibration) -> None:
    run = calibration.out / "motion"
    card = yaml.safe_load((run / "model.yaml").read_text())
    model = from_config(dict(card, checkpoint=str(last_checkpoint(run))))
    data = calibration.cfg.dataset
    n_train = int(data.n_videos)
    source = SyntheticSource(n_videos=n_train + N_CLIPS, num_frames=int(data.num_frames),
                             size=int(data.size), seed=int(data.seed), classes="motion")
    groups = group_pairs(sample_pairs(source.videos[n_train:], source.num_styles, 2 * N_CLIPS,
                                      0, "shared"))
    plan = plan_behaviour(model, source, groups)
    assert isinstance(plan, BehaviourPlan) and len(plan.groups) == N_CLIPS
    result = measure_behaviour(model, source, plan, batch_size=50, n_boot=N_BOOT)
    row = result.table.set_index("condition")
    print(row[["top1", "top1_lo", "top1_hi", "relative_drop", "relative_drop_lo",
               "relative_drop_hi", "p_value"]])
    # it learned the motion classes
    assert row.loc["original", "top1_lo"] > 3 * row.loc["original", "chance_top1"]
    # overall: shuffling costs accuracy, significantly (how much is bounded by the classes)
    assert row.loc["shuffled", "relative_drop_lo"] > 0 and row.loc["shuffled", "p_value"] < 0.05
    assert row.loc["shuffled", "top1_hi"] < row.loc["original", "top1_lo"]
    assert row.loc["appearance_free", "top1"] < row.loc["original", "top1"]
    # where order is the only evidence: most of it is lost
    kept = {c: order_evidence(result.labels, result.predictions[c]) for c in
            ("original", "shuffled")}
    print({c: np.round(v, 3) for c, v in kept.items()})
    (orig, orig_lo, _), (shuf, _, shuf_hi) = kept["original"], kept["shuffled"]
    assert orig_lo > 0.2  # it reads direction from frame order
    assert shuf < 0.5 * orig  # most of that is gone shuffled
    assert shuf_hi < orig_lo
