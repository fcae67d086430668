"""StaticDropout: only the selected units, at the configured rate, only in training mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from staticdyn.train import dropout as dropout_mod
from staticdyn.train import prepare, train_run
from staticdyn.train.dropout import DropoutController, UnitDropout, matched_rate
from staticdyn.train.unitprobe import UnitProbe
from tests.helpers.configs import tiny_dataset, tiny_model, tiny_train


def _layer(units: int = 6) -> tuple[nn.Module, nn.Module]:
    inner = nn.Identity()
    return nn.Sequential(inner), inner


def test_drops_only_selected_units_at_the_rate() -> None:
    net, inner = _layer()
    hook = UnitDropout(inner, 6, torch.Generator().manual_seed(0))
    rates = torch.tensor([0.0, 0.5, 0.0, 0.25, 0.0, 0.5])
    hook.set_rates(rates)
    net.train()
    x = torch.ones(4000, 6, 2, 3, 3)
    y = net(x)
    # unselected units pass unchanged, bit for bit
    assert torch.equal(y[:, [0, 2, 4]], x[:, [0, 2, 4]])
    # a selected unit is dropped whole (every t, h, w) or kept and rescaled by 1 / (1 - rate)
    per_unit = y.flatten(2)
    assert torch.equal(per_unit.amin(2), per_unit.amax(2))
    values = per_unit[:, :, 0]
    for c, r in [(1, 0.5), (3, 0.25), (5, 0.5)]:
        v = values[:, c]
        kept = v != 0
        assert torch.allclose(v[kept], torch.full_like(v[kept], 1 / (1 - r)))
        dropped = 1 - kept.float().mean().item()
        se = np.sqrt(r * (1 - r) / len(v))
        assert abs(dropped - r) < 4 * se, (c, dropped, r)
    # expectation preserved (inverted dropout)
    assert values[:, [1, 3, 5]].mean(0).sub(1).abs().max() < 0.1


def test_identity_in_eval_mode() -> None:
    net, inner = _layer()
    hook = UnitDropout(inner, 6)
    hook.set_rates(0.9)
    net.eval()
    x = torch.randn(8, 6, 2, 3, 3)
    assert torch.equal(net(x), x)
    hook.remove()
    net.train()
    assert torch.equal(net(x), x)  # removed: no effect even in training mode


def test_rates_are_validated() -> None:
    _, inner = _layer()
    hook = UnitDropout(inner, 6)
    with pytest.raises(ValueError):
        hook.set_rates(torch.full((5,), 0.1))
    with pytest.raises(ValueError):
        hook.set_rates(1.0)


def test_matched_rate() -> None:
    assert matched_rate(0.5, 0.25) == pytest.approx(0.125)


def _fake_probe(classes: list[str]):  # noqa: ANN202
    def probe(model, source, layer, n_pairs=128, seed=0, lam=0.5, **_):  # noqa: ANN001, ANN202
        c = np.array(classes, dtype=object)
        return UnitProbe(layer, np.zeros(len(c)), np.zeros(len(c)), c)

    return probe


def test_static_dropout_targets_the_probed_static_units(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    prep = prepare(tiny_model(), tiny_dataset(), tiny_train())
    units = 32  # stage4 of a width-4 Tiny3D
    classes = ["static" if i % 4 == 0 else "dynamic" if i % 4 == 1 else "joint"
               for i in range(units)]
    monkeypatch.setattr(dropout_mod, "probe_units", _fake_probe(classes))
    ctl = DropoutController(prep.model, {"kind": "static", "layer": "stage4", "p": 0.4,
                                         "classes": ["static"], "start": 2,
                                         "refresh_every": 3}, prep.source)
    assert not ctl.before_step(0) and ctl.selected == 0  # nothing before `start`
    assert ctl.before_step(2)
    expected = torch.tensor([0.4 if c == "static" else 0.0 for c in classes])
    assert torch.allclose(ctl.hook.rates, expected)
    assert not ctl.before_step(3) and ctl.before_step(5)  # re-estimated every 3 steps
    ctl2 = DropoutController(prep.model, {"kind": "static", "layer": "stage4", "p": 0.4,
                                          "classes": ["static", "joint"], "start": 0},
                             prep.source)
    ctl2.before_step(0)
    assert ctl2.selected == sum(c in ("static", "joint") for c in classes)
    ctl.remove()
    ctl2.remove()


def test_static_dropout_run_end_to_end(tmp_path: Path) -> None:
    """Real in-memory probe during training; checkpoints still load strictly (the hook is
    not part of the state dict) and resume restores the rates."""
    from staticdyn.models.zoo import from_config

    drop = {"kind": "static", "layer": "stage3", "p": 0.5, "classes": ["static", "joint"],
            "start": 1, "refresh_every": 2, "n_pairs": 8}
    prep = prepare(tiny_model(), tiny_dataset(), tiny_train(max_steps=4, dropout=drop))
    res = train_run(prep, tmp_path / "run")
    state = torch.load(res.checkpoints[-1], weights_only=True)
    assert state["dropout_state"]["rates"].numel() == 16
    assert set(np.unique(state["dropout_state"]["rates"].numpy())) <= {0.0, 0.5}
    assert res.mean_dropout_rate == pytest.approx(
        float(state["dropout_state"]["rate_sum"]) / 3)
    from_config({**prep.model_cfg, "checkpoint": str(res.checkpoints[-1])})


def test_plain_dropout_has_one_rate_on_every_unit() -> None:
    prep = prepare(tiny_model(), tiny_dataset(), tiny_train())
    ctl = DropoutController(prep.model, {"kind": "plain", "layer": "stage4", "p": 0.2,
                                         "start": 1}, None)
    ctl.before_step(0)
    assert ctl.selected == 0
    ctl.before_step(1)
    assert torch.allclose(ctl.hook.rates, torch.full((32,), 0.2))
    assert ctl.mean_active_rate == pytest.approx(0.2)
    ctl.remove()


def test_max_fraction_keeps_the_most_static_units() -> None:
    from staticdyn.train.dropout import select_units

    r_s = np.array([0.9, 0.6, 0.95, 0.7, 0.8, 0.1, 0.99, 0.2])
    r_d = np.array([0.1, 0.1, 0.0, 0.4, 0.1, 0.9, 0.9, 0.1])
    cls = np.array(["static", "static", "static", "static", "static", "dynamic", "joint",
                    "residual"], dtype=object)
    probe = UnitProbe("stage4", r_d, r_s, cls)
    assert select_units(probe, ["static"]).tolist() == [True] * 5 + [False] * 3
    capped = select_units(probe, ["static"], max_fraction=0.25)  # 2 of 8 units
    assert np.nonzero(capped)[0].tolist() == [0, 2]  # r_s - r_d: 0.8 and 0.95 are the largest
