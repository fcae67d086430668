"""The VIS figure from tidy sweep tables: VIS runs only (by probe task), dynamic/static % per
layer with intervals, unit classes at the card's last_layer (read from the run's config)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from staticdyn.report.paper_figures import BUILDERS, FigureInputs, fig3_unitwise
from staticdyn.report.runs import KEY_COLUMNS
from staticdyn.report.vis_figure import card_last_layers, is_vis, vis_figures

LAYERS = ["backbone.res2", "decoder.layer0", "decoder.layer1", "tracker.layer0"]


def _run_dir(root: Path, model: str, last_layer: str | None) -> Path:
    run = root / model
    (run / ".hydra").mkdir(parents=True)
    last = f", last_layer: {last_layer}" if last_layer else ""
    (run / ".hydra" / "config.yaml").write_text(f"model: {{name: {model}{last}}}\n")
    return run


def _tables(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    lw, uw = [], []
    runs = {("minvis_r50", "vis"): "decoder.layer1", ("dvis_r50", "vis"): "tracker.layer0",
            ("toy_vis", "vis"): None, ("slow_r50", "action"): "stage5"}
    for (model, task), last in runs.items():
        run = _run_dir(root, model, last)
        for seed in (0, 1):
            for i, layer in enumerate(LAYERS):
                keys = dict.fromkeys(KEY_COLUMNS, "x")
                keys.update(model=model, task=task, seed=seed, shard=0, dataset="synthetic_vis",
                            train_dataset="synthetic_vis", run_dir=str(run), layer=layer,
                            layer_index=i, untrained=True, estimable=True)
                lw.append({**keys, "dynamic_pct": 10.0 + i + seed, "static_pct": 60.0 - i,
                           "residual_pct": 30.0 - seed})
                uw.append({**keys, "dynamic": i, "static": 10, "joint": 1, "residual": 2,
                           "dead": 0})
    return pd.DataFrame(lw), pd.DataFrame(uw)


def test_vis_figure_draws_vis_runs_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lw, uw = _tables(tmp_path / "runs")
    assert is_vis(lw).sum() == 3 * 2 * len(LAYERS)
    assert card_last_layers(lw[is_vis(lw)]) == {"minvis_r50": "decoder.layer1",
                                                "dvis_r50": "tracker.layer0"}
    paths = vis_figures(lw, uw, tmp_path / "out", ("png",))
    assert [p.name for p in paths] == ["vis_left_layerwise.png",
                                       "vis_right_last_decoder_units.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    # the paper figures know it, and the action figures leave VIS runs out
    inp = FigureInputs(lw, uw, tmp_path, tmp_path / "paper", ("png",))
    assert [p.name for p in BUILDERS["vis"](inp)] == [p.name for p in paths]
    with caplog.at_level(logging.INFO, logger="staticdyn.report"):
        assert fig3_unitwise(FigureInputs(lw[is_vis(lw)], uw[is_vis(uw)], tmp_path,
                                          tmp_path / "p2", ("png",))) == []
    assert "no action-recognition" in caplog.text


def test_the_right_panel_takes_the_cards_last_layer(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    lw, uw = _tables(tmp_path / "runs")
    shown: dict[str, list] = {}

    def capture(ax, df, labels=None):  # noqa: ANN001, ANN202
        shown["layers"], shown["labels"] = list(df["layer"]), list(labels)

    monkeypatch.setattr("staticdyn.report.vis_figure.plot_unit_stack", capture)
    vis_figures(lw, uw, tmp_path / "out", ("png",))
    assert shown["layers"] == ["tracker.layer0", "decoder.layer1", "tracker.layer0"]
    assert shown["labels"] == ["dvis_r50\ntracker.layer0", "minvis_r50\ndecoder.layer1",
                               "toy_vis\ntracker.layer0 (highest)"]


def test_no_vis_runs_is_one_skip(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lw, uw = _tables(tmp_path / "runs")
    with caplog.at_level(logging.INFO, logger="staticdyn.report"):
        assert vis_figures(lw[~is_vis(lw)], uw[~is_vis(uw)], tmp_path / "out") == []
        assert vis_figures(pd.DataFrame(), pd.DataFrame(), tmp_path / "out") == []
    assert caplog.text.count("vis: skipped") == 2
