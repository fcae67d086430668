"""``python -m staticdyn.report compare``: differences between two runs, paired when the files
show the same pair list, with intervals, p-values and the pairs a half-width needs."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from staticdyn.metrics.compare import compare_h5, p_two_sided
from staticdyn.report.__main__ import main
from tests.helpers.fabricate import planted_features

RUN_ATTRS = {"dataset": "synthetic", "sampler": "shared", "identity.probe.seed": "0",
             "complete": True, "n_pairs_total": 0}


def write_run(path: Path, layers: dict[str, tuple[np.ndarray, np.ndarray]],
              factor: np.ndarray, model: str = "m", **attrs: object) -> Path:
    """A features.h5 from given features, with the attributes ``same_pairs`` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(factor)
    with h5py.File(path, "w") as f:
        f.attrs.update({**RUN_ATTRS, "model": model, "layers": list(layers), "n_rows": n,
                        "n_pairs_total": n, **attrs})
        for name, (a, b) in layers.items():
            f.create_dataset(f"features/{name}/a", data=a)
            f.create_dataset(f"features/{name}/b", data=b)
        f.create_dataset("pairs/factor", data=factor)
        f.create_dataset("pairs/video", data=np.arange(n))
    return path


def _rows(n: int, c: int, seed: int, dyn_share: float = 0.25):
    rng = np.random.default_rng(seed)
    kind = rng.random(c)
    rho_d = np.where(kind < dyn_share, 0.9, 0.1)
    rho_s = np.where(kind > 1 - 0.25, 0.9, 0.1)
    return planted_features(n, rho_d, rho_s, rng)


def test_same_run_twice_differs_by_zero(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    za, zb, f = _rows(200, 32, 0)
    a = write_run(tmp_path / "a" / "features.h5", {"stage4": (za, zb)}, f)
    b = tmp_path / "b" / "features.h5"
    b.parent.mkdir()
    shutil.copy(a, b)
    cmp = compare_h5(a, b, n_boot=300)
    assert cmp.paired
    t = cmp.table
    assert (t["diff"] == 0).all() and (t["diff_lo"] <= 0).all() and (t["diff_hi"] >= 0).all()
    assert (t["p_value"] == 1.0).all()
    assert main(["compare", str(a.parent), str(b), "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert "paired bootstrap" in out and "same pair list" in out and "pairs per run" in out


def test_paired_interval_is_narrower_than_unpaired_on_correlated_runs(tmp_path: Path) -> None:
    za, zb, f = _rows(400, 512, 1)  # enough units that 1 unit (0.2 pp) resolves widths
    rng = np.random.default_rng(9)
    noise = 0.3  # run B: the same pairs seen by a slightly different model
    za2 = (za + noise * rng.standard_normal(za.shape)).astype(np.float32)
    zb2 = (zb + noise * rng.standard_normal(zb.shape)).astype(np.float32)
    a = write_run(tmp_path / "a.h5", {"stage4": (za, zb)}, f)
    b = write_run(tmp_path / "b.h5", {"stage4": (za2, zb2)}, f, model="m2")
    paired = compare_h5(a, b, n_boot=400).table.set_index("stat")
    unpaired = compare_h5(a, b, n_boot=400, paired=False).table.set_index("stat")
    width = {k: t["diff_hi"] - t["diff_lo"] for k, t in (("p", paired), ("u", unpaired))}
    for stat in ("dynamic_pct", "static_pct"):
        assert width["p"][stat] < width["u"][stat], stat
    assert compare_h5(a, b, n_boot=50).paired


def test_different_pair_lists_are_compared_unpaired_and_said_so(tmp_path: Path,
                                                                capsys) -> None:  # noqa: ANN001
    za, zb, f = _rows(200, 16, 2)
    a = write_run(tmp_path / "a.h5", {"stage4": (za, zb)}, f)
    b = write_run(tmp_path / "b.h5", {"stage4": (za, zb)}, f, **{"identity.probe.seed": "1"})
    cmp = compare_h5(a, b, n_boot=100)
    assert not cmp.paired and "identity.probe.seed differs" in cmp.reason
    assert main(["compare", str(a), str(b), "--bootstrap", "100"]) == 0
    assert "unpaired bootstrap" in capsys.readouterr().out
    with pytest.raises(ValueError, match="same pair list"):
        compare_h5(a, b, n_boot=10, paired=True)


def test_a_planted_difference_is_found(tmp_path: Path) -> None:
    """Run A has about twice as many dynamic channels as run B (different seeds, so unpaired)."""
    za, zb, f = _rows(600, 128, 3, dyn_share=0.5)
    a = write_run(tmp_path / "a.h5", {"stage4": (za, zb)}, f)
    za, zb, f = _rows(600, 128, 4, dyn_share=0.1)
    b = write_run(tmp_path / "b.h5", {"stage4": (za, zb)}, f, **{"identity.probe.seed": "4"})
    t = compare_h5(a, b, n_boot=500).table.set_index("stat")
    assert t.loc["dynamic_pct", "diff"] > 0
    assert t.loc["dynamic_pct", "p_value"] < 0.05
    assert t.loc["dynamic_pct", "diff_lo"] > 0
    assert t.loc["dynamic", "p_value"] < 0.05


def test_p_value_is_two_sided_and_never_zero() -> None:
    assert p_two_sided(np.full(99, 0.0)) == 1.0
    assert p_two_sided(np.arange(1.0, 100.0)) == pytest.approx(2 / 100)
    assert p_two_sided(-np.arange(1.0, 100.0)) == pytest.approx(2 / 100)
    assert np.isnan(p_two_sided(np.array([np.nan])))


def test_compare_writes_csv_and_refuses_bad_input(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    za, zb, f = _rows(100, 8, 5)
    a = write_run(tmp_path / "a.h5", {"stage4": (za, zb)}, f)
    assert main(["compare", str(a), str(a), "--bootstrap", "20", "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "compare.csv")
    assert {"layer", "stat", "diff", "diff_lo", "diff_hi", "p_value", "paired"} <= set(table)
    capsys.readouterr()
    assert main(["compare", str(a), str(a), "--layer", "nope", "--bootstrap", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0] and "stage4" in err[0]
    assert main(["compare", str(a), str(tmp_path / "missing.h5")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["compare", str(a), str(a), "--bootstrap", "0"]) == 2


def test_not_estimable_and_incomplete_runs_in_compare(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    za, zb, f = _rows(60, 8, 6)
    dead = np.ones_like(za)
    a = write_run(tmp_path / "a.h5", {"s1": (za, zb), "s2": (dead, dead)}, f)
    assert main(["compare", str(a), str(a), "--bootstrap", "20"]) == 3
    out = capsys.readouterr()
    assert "dead layer" in out.out and len(out.err.strip().splitlines()) == 1
    assert main(["compare", str(a), str(a), "--bootstrap", "20", "--allow-incomplete"]) == 0
    t = compare_h5(a, a, n_boot=20).table
    s2 = t[t["layer"] == "s2"]
    assert (~s2["estimable"]).all() and s2["diff"].isna().all() and s2["p_value"].isna().all()
    killed = write_run(tmp_path / "k.h5", {"s1": (za, zb)}, f, complete=False)
    capsys.readouterr()
    assert main(["compare", str(killed), str(a), "--bootstrap", "20"]) == 2
    assert "incomplete" in capsys.readouterr().err
    assert main(["compare", str(killed), str(a), "--bootstrap", "20", "--layer", "s1",
                 "--allow-incomplete"]) == 0
