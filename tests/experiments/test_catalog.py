"""The experiments' facts come from YAML: figures, smoke plans, per-model reductions, runners."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf, open_dict

from staticdyn.errors import StaticDynError, UnknownChoiceError
from staticdyn.experiments.catalog import (
    SWEEP,
    TRAIN,
    SmokePlan,
    figures_of,
    paper_experiments,
)
from staticdyn.experiments.compose import compose_experiment, list_experiments
from staticdyn.experiments.smoke import model_smoke_overrides
from staticdyn.experiments.train_job import run_train
from staticdyn.experiments.training import get_runner
from staticdyn.report.paper_figures import BUILDERS

CONF = Path(__file__).resolve().parents[2] / "conf"


def _card(name: str) -> dict:
    card = OmegaConf.to_container(OmegaConf.load(CONF / "model" / f"{name}.yaml"))
    assert isinstance(card, dict)
    return card


def test_paper_experiments_are_the_ones_with_figures() -> None:
    catalog = paper_experiments()
    assert list(catalog) == ["fig3", "fig4", "fig5_6", "table1_fig7", "vis", "shuffle_training"]
    assert [e.kind for e in catalog.values()] == [SWEEP] * 5 + [TRAIN]
    assert sorted(f for e in catalog.values() for f in e.figures) == sorted(BUILDERS)
    assert figures_of(catalog, ["fig5_6", "fig4"]) == ["fig5_left", "fig6", "fig4"]
    with pytest.raises(UnknownChoiceError, match="fig3"):
        figures_of(catalog, ["fig99"])


def test_smoke_plans_read_from_the_yaml() -> None:
    catalog = paper_experiments()
    fig5 = catalog["fig5_6"].smoke
    assert fig5.standin_seeds == {"kinetics400": 400, "diving48": 48, "ssv2": 2}
    assert fig5.standin_checkpoints["checkpoints.fast_r50.kinetics400"] == \
        catalog["fig3"].smoke.standin_checkpoints["checkpoints.fast_r50"]
    vos = catalog["fig4"].smoke
    assert not vos.onednn and catalog["fig3"].smoke.onednn
    # the interpolation survives composition, for Hydra to resolve per job
    assert "dataset.cache_dir=${paper_dir}/cache/synthetic_vos" in vos.overrides
    assert set(catalog["table1_fig7"].smoke.center_bias) == {"davis16", "imagenet_vid",
                                                             "tao_vos"}
    assert SmokePlan.from_mapping(None) == SmokePlan()


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "model").glob("*.yaml")))
def test_every_card_has_a_smoke_block(name: str) -> None:
    smoke = _card(name).get("smoke")
    assert isinstance(smoke, dict), f"{name}: no smoke: block"
    assert set(smoke) == {"clip", "builder_kwargs", "standin_checkpoint"}, name
    # reduced: 32 px, or 64 px where the net needs it (VIS: stride 32 at two scales at least)
    crop = smoke["clip"]["crop"]
    assert crop <= 32 or 32 < crop <= 64 < _card(name)["clip"]["crop"], \
        f"{name}: the smoke clip is not reduced"


def test_card_smoke_blocks_give_the_smoke_overrides() -> None:
    assert model_smoke_overrides(_card("x3d_xs")) == [
        "model.clip.crop=32", "model.clip.short_side=32", "model.checkpoint=null"]
    assert model_smoke_overrides(_card("mvit_base_16x4_slowfast")) == [
        "model.clip.crop=32", "model.clip.short_side=32", "model.clip.frames=4",
        "++model.builder_kwargs.spatial_size=32", "++model.builder_kwargs.temporal_size=4",
        "model.checkpoint=null"]
    assert model_smoke_overrides(_card("rtnet_r34")) == [
        "model.clip.crop=32", "model.clip.short_side=40",
        "++model.builder_kwargs.blocks=[1,1,1,1]", "model.checkpoint=null"]
    # a stand-in checkpoint: the experiment's map entry stays, no checkpoint=null
    assert model_smoke_overrides(_card("slow_r50")) == [
        "model.clip.crop=32", "model.clip.short_side=32",
        "++model.builder_kwargs.stem_dim_out=8"]
    assert model_smoke_overrides({}) == ["model.checkpoint=null"]


@pytest.mark.parametrize("name", list_experiments())
def test_training_experiments_name_their_runner(name: str) -> None:
    node = OmegaConf.to_container(compose_experiment(name).get("experiment") or {})
    assert isinstance(node, dict)
    if compose_experiment(name).get("mode") == "train":
        assert callable(get_runner(node)), name
    else:
        with pytest.raises(StaticDynError, match=f"python run.py -m \\+experiment={name}"):
            get_runner(node)


def test_a_probe_sweep_as_training_fails_before_writing(tmp_path: Path) -> None:
    cfg = compose_experiment("fig3", [f"out_dir={tmp_path / 'out'}", "mode=train"])
    with pytest.raises(StaticDynError, match="experiment.runner"):
        run_train(cfg)
    assert not (tmp_path / "out").exists()


def test_a_runner_that_is_not_importable_is_named(tmp_path: Path) -> None:
    cfg = compose_experiment("calibrate", [f"out_dir={tmp_path}"])
    with open_dict(cfg):
        cfg.experiment.runner = "staticdyn.experiments.training.nope.run"
    with pytest.raises(StaticDynError, match="training.nope"):
        run_train(cfg)
