"""The calibration orderings at CI size (the full suite is ``make calibrate``), with style pairs.

32-px, 8-frame synthetic videos and 400 training steps per model (``conftest.fast_cfg``, run
once per session by the ``calibration`` fixture, which also probes with appearance-free pairs):
with the default style dynamic pairs, the motion-trained Tiny3D must have a higher dynamic % at
its last stage than the appearance-trained one, with non-overlapping bootstrap intervals, and
the frame-order-invariant model no dynamic unit. The seeds are fixed; the margins seen over
several seeds are in docs/training.md.
"""

from __future__ import annotations

STYLE_CHECKS = ("motion > appearance (dynamic %, last stage, intervals apart)",
                "order-invariant model has no dynamic unit (every layer)")


def test_calibration_ordering_fast(calibration) -> None:
    checks = {c.name: c for c in calibration.result["checks"]}
    for name in STYLE_CHECKS:  # the style variant's checks carry no suffix
        assert name in checks, list(checks)
        assert checks[name].passed, f"{name}: {checks[name].detail}"
    assert calibration.result["passed"]
    assert (calibration.out / "calibration.png").exists()
    assert "PASS" in (calibration.out / "calibration.md").read_text()
    lw = calibration.result["layerwise"]
    style = lw[(lw["dynamic_pairs"] == "style") & (lw["layer"] == "stage4")]
    assert sorted(style["calibration_model"]) == ["appearance", "invariant", "motion"]
    assert (calibration.out / "motion" / "probe" / "features.h5").exists()
