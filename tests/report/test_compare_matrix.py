"""The sweep comparison matrix: pairwise dynamic % differences for one layer across runs."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from staticdyn.experiments.figures import main as figures_main
from staticdyn.metrics.compare import compare_h5
from staticdyn.metrics.estimable import IncompleteRunError
from staticdyn.report.compare_matrix import (
    MATRIX_COLUMNS,
    compare_matrix,
    matrix_markdown,
    run_labels,
)
from tests.helpers.fabricate import make_run, planted_features

ATTRS = {"dataset": "synthetic", "sampler": "shared", "identity.probe.seed": "0",
         "complete": True}


def _run(path: Path, layers: dict[str, float], n: int = 200, c: int = 32, seed: int = 0,
         **attrs: object) -> Path:
    """features.h5 whose layers have ``share`` of their channels dynamic (planted)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs.update({**ATTRS, "model": "m", "layers": list(layers), "n_rows": n,
                        "n_pairs_total": n, **attrs})
        factor = None
        for k, (name, share) in enumerate(layers.items()):
            rng = np.random.default_rng([seed, k])
            dyn = np.arange(c) < share * c
            za, zb, factor = planted_features(n, np.where(dyn, 0.9, 0.1),
                                              np.where(dyn, 0.1, 0.9), rng)
            f.create_dataset(f"features/{name}/a", data=za)
            f.create_dataset(f"features/{name}/b", data=zb)
        f.create_dataset("pairs/factor", data=factor)
        f.create_dataset("pairs/video", data=np.arange(n))
    return path


def test_known_differences_pairing_and_agreement_with_compare(tmp_path: Path) -> None:
    a = _run(tmp_path / "a.h5", {"stage1": 0.2, "stage4": 0.6}, seed=1)
    b = _run(tmp_path / "b.h5", {"stage1": 0.2, "stage4": 0.1}, seed=2)
    a_copy = _run(tmp_path / "c.h5", {"stage1": 0.2, "stage4": 0.6}, seed=1)
    other = _run(tmp_path / "d.h5", {"stage4": 0.1}, seed=3, **{"identity.probe.seed": "7"})
    res = compare_matrix([("A", a), ("B", b), ("A again", a_copy), ("D", other)],
                         layer="stage4", n_boot=400, seed=5)
    t = res.table
    assert list(t.columns) == MATRIX_COLUMNS and len(t) == 6  # 4 runs: 6 pairs
    cell = t.set_index(["a", "b"])
    ab = cell.loc[("A", "B")]
    assert ab["diff"] > 0 and ab["diff_lo"] > 0 and ab["p_value"] < 0.05 and ab["paired"]
    same = cell.loc[("A", "A again")]
    assert same["diff"] == 0 and same["diff_lo"] == 0 and same["diff_hi"] == 0
    assert same["p_value"] == 1.0
    assert not cell.loc[("A", "D"), "paired"] and not cell.loc[("B", "D"), "paired"]
    # the first pair class draws its counts exactly as `report compare` does: same numbers
    ref = compare_h5(a, b, ["stage4"], n_boot=400, seed=5).table.set_index("stat")
    for col in ("diff", "diff_lo", "diff_hi", "p_value"):
        assert ab[col] == pytest.approx(ref.loc["dynamic_pct", col])
    md = matrix_markdown(res)
    assert md.startswith("| row minus column | A | B | A again | D |")
    assert "(unpaired)" in md and "p=" in md


def test_last_layer_and_missing_layers(tmp_path: Path) -> None:
    a = _run(tmp_path / "a.h5", {"stage1": 0.2, "stage4": 0.6})
    b = _run(tmp_path / "b.h5", {"block0": 0.2, "block11": 0.1}, seed=4)
    last = compare_matrix([("A", a), ("B", b)], layer="last", n_boot=100).table
    assert last[["layer_a", "layer_b"]].values.tolist() == [["stage4", "block11"]]
    res = compare_matrix([("A", a), ("B", b)], layer="stage4", n_boot=100)
    assert res.labels == ["A"] and res.table.empty
    assert "B: no layer 'stage4'" in res.left_out[0]


def test_bad_input_refused(tmp_path: Path) -> None:
    a = _run(tmp_path / "a.h5", {"stage4": 0.6})
    killed = _run(tmp_path / "k.h5", {"stage4": 0.6}, complete=False)
    with pytest.raises(ValueError, match="statistic"):
        compare_matrix([("A", a)], stat="bogus")
    with pytest.raises(ValueError, match="resamples"):
        compare_matrix([("A", a)], n_boot=0)
    with pytest.raises(IncompleteRunError):
        compare_matrix([("A", a), ("K", killed)])


def test_run_labels_are_unique() -> None:
    runs = pd.DataFrame({"model": ["x", "y", "x", "x"], "dataset": ["d", "d", "d", "e"],
                         "seed": [0, 0, 1, 0]})
    assert run_labels(runs) == ["x (d, seed 0)", "y", "x (d, seed 1)", "x (e, seed 0)"]


def test_figures_cli_writes_the_matrix(tmp_path: Path) -> None:
    stages = {"stage1": 8, "stage4": 16}
    for model in ("slow_r50", "x3d_xs", "c2d_r50"):
        make_run(tmp_path / "sweep" / model, stages, model, "synthetic")
    out = tmp_path / "report"
    code = figures_main([str(tmp_path / "sweep"), "--out", str(out), "--only", "fig3_left",
                         "--compare-layer", "stage4", "--bootstrap", "200", "--formats", "png"])
    assert code == 0
    table = pd.read_csv(out / "compare_matrix_stage4.csv")
    assert len(table) == 3 and set(table["a"]) | set(table["b"]) == {"slow_r50", "x3d_xs",
                                                                     "c2d_r50"}
    assert "row minus column" in (out / "compare_matrix_stage4.md").read_text()


def test_figures_cli_refuses_a_layer_no_two_runs_have(tmp_path: Path, capsys) -> None:
    for model in ("slow_r50", "x3d_xs"):
        make_run(tmp_path / "sweep" / model, {"stage1": 8, "stage4": 16}, model, "synthetic")
    code = figures_main([str(tmp_path / "sweep"), "--out", str(tmp_path / "r"), "--only",
                         "fig3_left", "--compare-layer", "stage9", "--formats", "png"])
    err = capsys.readouterr().err
    assert code == 2 and "--compare-layer stage9: 0 of 2 runs have it" in err
    assert "no layer 'stage9' (stage1, stage4)" in err and len(err.strip().splitlines()) == 1
