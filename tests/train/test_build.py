"""train/build.py reads the model card: the classifier keyword and the default layer."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

from staticdyn.errors import StaticDynError
from staticdyn.models.zoo import entry_config, from_config
from staticdyn.train.build import (
    card_last_layer,
    dropout_settings,
    model_config,
    num_classes_key,
    prepare,
)
from staticdyn.train.dropout import DropoutController
from tests.helpers.configs import tiny_dataset, tiny_model, tiny_train


def _smoke_card(entry: str) -> dict:
    """A zoo card at its smoke sizes (cheap to build)."""
    card = entry_config(entry)
    smoke = card.get("smoke") or {}
    card["clip"] = {**card["clip"], **(smoke.get("clip") or {})}
    card["builder_kwargs"] = {**card["builder_kwargs"], **(smoke.get("builder_kwargs") or {})}
    return card


@pytest.mark.parametrize("entry", ["x3d_xs", "fast_r50", "mvit_base_16x4"])
def test_the_cards_classifier_keyword_sizes_the_head(entry: str) -> None:
    """Three builders, three keywords (model_num_class, FastOnly's, MViT's head_num_classes):
    the card says which, and the built head has that many outputs."""
    module = from_config(model_config(_smoke_card(entry), 7)).module
    last = [m for m in module.modules() if isinstance(m, nn.Linear)][-1]
    assert last.out_features == 7


def test_num_classes_key_order() -> None:
    assert num_classes_key({"num_classes_key": "head_num_classes"}) == "head_num_classes"
    assert num_classes_key({"num_classes_key": "x"}, "num_classes") == "num_classes"
    assert num_classes_key({"builder_kwargs": {"model_num_class": 3}}) == "model_num_class"
    # no card key, nothing set: the plain keyword, whatever the builder's import path says
    assert num_classes_key({"builder": "pytorchvideo.models.hub.slow_r50"}) == "num_classes"


def test_dropout_layer_defaults_to_the_cards_last_layer() -> None:
    card = {"name": "m", "last_layer": "stage5"}
    assert dropout_settings({"kind": "static", "layer": None}, card)["layer"] == "stage5"
    assert dropout_settings({"kind": "static", "layer": "stage2"}, card)["layer"] == "stage2"
    assert dropout_settings({"kind": "none", "layer": None}, {"name": "m"})["layer"] is None
    assert card_last_layer(card) == "stage5"
    with pytest.raises(StaticDynError, match="model.last_layer"):
        card_last_layer({"name": "custom", "last_layer": None})


def test_a_run_records_the_layer_it_drops() -> None:
    prep = prepare(tiny_model(), tiny_dataset(), tiny_train(dropout={"kind": "plain",
                                                                     "layer": None}))
    assert prep.settings.dropout["layer"] == entry_config("toy3d")["last_layer"]
    assert prep.settings.identity()["dropout"]["layer"] == "stage4"


def test_dropout_without_any_layer_is_one_clear_error() -> None:
    prep = prepare(tiny_model(last_layer=None), tiny_dataset(), tiny_train())
    with pytest.raises(StaticDynError, match="train.dropout.layer"):
        DropoutController(prep.model, {"kind": "plain", "p": 0.1}, None)


def test_calibration_verdict_copies_and_fails_when_required(tmp_path: Path) -> None:
    from staticdyn.experiments.training.calibrate import Check, conclude

    for name in ("calibration.md", "calibration.png"):
        (tmp_path / name).write_text(name)
    ok, bad = Check("a", True, 1.0, ""), Check("order", False, -2.0, "")
    assert conclude([ok], tmp_path, 60.0, str(tmp_path / "docs"), require_pass=True)
    assert (tmp_path / "docs" / "calibration.png").read_text() == "calibration.png"
    assert not conclude([ok, bad], tmp_path, 60.0)  # reported, not raised
    with pytest.raises(StaticDynError, match="calibration failed: order"):
        conclude([ok, bad], tmp_path, 60.0, require_pass=True)
