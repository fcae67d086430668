"""Every config in conf/ composes the way run.py composes it, and what it describes can be built.

As in lightning-hydra-template's config tests: ``initialize_config_dir`` + ``compose`` with each
``model=``, ``dataset=``, ``probe=``, ``+experiment=`` (and every job of its sweep) and
``hydra/launcher=``; then the cheap part of each is instantiated.

Model cards build through ``zoo.from_config`` at the reduced size their own ``smoke:`` block
gives, on PyTorch's meta device: every module is constructed, the builder path and kwargs, the
layer aliases and the clip spec are checked, but no weight is allocated or initialised (measured
on two cores with 41 cards: ~40 s of CPU initialisation, Swin3D-B 6.5 s and TimeSformer 4 s of
it; ~8 s on meta). Builders that compute with tensor values while building cannot run on meta
(``REAL``): they build on the CPU, and a test checks that they still need to. Building with real
weights and running a clip is ``tests/models/``'s job. Two cards need something from the user
before they can build (``custom`` a builder, ``mmaction`` an mmaction2 config file): they
compose, their keys are checked, they fail with the one line that says what to set, and
``custom`` builds once a builder is named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import nn

from staticdyn.data.source import VideoSource
from staticdyn.data.tasks import get_task
from staticdyn.errors import StaticDynError
from staticdyn.models import zoo
from staticdyn.pipeline import build_source, check_config
from tests.helpers.configs import CONF


def _names(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF) / group).glob("*.yaml"))


MODELS = _names("model")
DATASETS = _names("dataset")
PROBES = _names("probe")
EXPERIMENTS = _names("experiment")
LAUNCHERS = _names("hydra/launcher")
# Cards that cannot build until the user names something (see the module docstring).
NEEDS_USER_INPUT = {"custom": "model.builder=", "mmaction": "model.builder_kwargs.config="}
BUILDABLE = [m for m in MODELS if m not in NEEDS_USER_INPUT]
# Builders that read tensor values while building (PyTorchVideo's MViT calls .item()).
REAL = ["mvit_base_16x4", "mvit_base_16x4_slowfast", "mvit_base_32x3"]
ROOTED = [d for d in DATASETS if OmegaConf.is_missing(OmegaConf.load(
    Path(CONF) / "dataset" / f"{d}.yaml"), "root")]
ROOT_FREE = [d for d in DATASETS if d not in ROOTED]

Compose = Callable[..., DictConfig]


@pytest.fixture(scope="module")
def cfg_of() -> Iterator[Compose]:
    """``compose("config", overrides)`` with Hydra initialised on conf/ once for the module."""
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        yield lambda *overrides, hydra=False: compose(
            "config", overrides=list(overrides), return_hydra_config=hydra)


def test_every_group_has_configs() -> None:
    assert MODELS and DATASETS and PROBES and EXPERIMENTS and LAUNCHERS
    assert ROOTED and ROOT_FREE  # both kinds of dataset exist, so both tests below run


def test_default_config_composes_and_resolves(cfg_of: Compose, tmp_path: Path) -> None:
    cfg = cfg_of(f"out_root={tmp_path}")
    tree = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(tree, dict)
    assert {"model", "dataset", "probe", "train", "mode"} <= set(tree)
    assert tree["model"]["name"] in MODELS and tree["dataset"]["name"] in DATASETS


# -- models -------------------------------------------------------------------------------------

def _card(cfg: DictConfig) -> dict[str, Any]:
    card = OmegaConf.to_container(cfg.model, resolve=True)
    assert isinstance(card, dict)
    return card


def _smoke_sized(cfg: DictConfig) -> dict[str, Any]:
    """The composed card with its own ``smoke:`` clip and builder_kwargs merged in *before*
    resolution, as a command-line override would be (a card value may interpolate another)."""
    smoke = cfg.model.smoke
    base = cfg.copy()
    OmegaConf.set_struct(base, False)
    return _card(OmegaConf.merge(base, {"model": {"clip": smoke.clip,
                                                  "builder_kwargs": smoke.builder_kwargs}}))


def _build(card: dict[str, Any]) -> zoo.ZooModel:
    with torch.device("cpu" if card["name"] in REAL else "meta"):
        return zoo.from_config(card)


# Layer names (aliases and module paths) of each built card, kept for the experiment checks so
# no model is built twice in one session.
_LAYER_NAMES: dict[str, set[str]] = {}


def _layer_names(model: zoo.ZooModel) -> set[str]:
    _LAYER_NAMES[model.name] = set(model.layers) | set(model.module_paths())
    return _LAYER_NAMES[model.name]


@pytest.mark.parametrize("name", MODELS)
def test_model_card_composes_with_known_keys(cfg_of: Compose, name: str) -> None:
    card = _card(cfg_of(f"model={name}"))
    assert card["name"] == name
    assert set(card) <= zoo.CONFIG_KEYS, sorted(set(card) - zoo.CONFIG_KEYS)
    assert card["pretrained"] is False and card["checkpoint"] is None
    assert card.get("trust_checkpoint") is False
    get_task(card["task"])  # a registered task
    assert set(card["smoke"]) >= {"clip", "builder_kwargs"}, "every card says how CI shrinks it"


@pytest.mark.parametrize("name", BUILDABLE)
def test_model_card_builds_at_its_smoke_size(cfg_of: Compose, name: str) -> None:
    card = _smoke_sized(cfg_of(f"model={name}"))
    model = _build(card)
    assert model.name == name and model.untrained and model.checkpoint is None
    assert isinstance(model.module, nn.Module) and not model.module.training
    assert model.layers and set(model.default_layers) <= _layer_names(model)
    assert model.clip_spec.crop == card["clip"]["crop"]  # the reduced size was applied
    assert model.clip_spec.task == card["task"]


@pytest.mark.parametrize("name", REAL)
def test_real_tensor_builders_still_fail_on_meta(cfg_of: Compose, name: str) -> None:
    """When this fails the builder was fixed upstream: drop the card from ``REAL``."""
    card = _smoke_sized(cfg_of(f"model={name}"))
    with torch.device("meta"), pytest.raises(RuntimeError, match="meta"):
        zoo.from_config(card)


@pytest.mark.parametrize("name", sorted(NEEDS_USER_INPUT))
def test_card_needing_user_input_says_what_to_set(cfg_of: Compose, name: str) -> None:
    card = _smoke_sized(cfg_of(f"model={name}"))
    with pytest.raises(StaticDynError, match=NEEDS_USER_INPUT[name]) as info:
        zoo.from_config(card)
    assert "\n" not in str(info.value)


def test_custom_card_builds_once_a_builder_is_named(cfg_of: Compose) -> None:
    cfg = cfg_of("model=custom", "model.builder=staticdyn.models.nets.toy.Tiny3D",
                 "+model.builder_kwargs.width=4", "model.default_layers=[blocks.1]")
    model = _build(_smoke_sized(cfg))
    assert type(model.module).__name__ == "Tiny3D"
    assert model.resolve_layers(None) == {"blocks.1": "blocks.1"}


# -- datasets -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ROOT_FREE)
def test_root_free_dataset_instantiates(cfg_of: Compose, name: str, tmp_path: Path) -> None:
    cfg = cfg_of(f"dataset={name}", f"out_root={tmp_path}")  # caches go under tmp_path
    source = instantiate(cfg.dataset, _convert_="all")
    assert isinstance(source, VideoSource) and source.name == name
    assert source.videos and source.num_styles >= 2


@pytest.mark.parametrize("name", ROOTED)
def test_rooted_dataset_fails_with_one_line_naming_the_root(
    cfg_of: Compose, name: str, tmp_path: Path
) -> None:
    unset = cfg_of(f"dataset={name}", f"out_root={tmp_path}")
    assert OmegaConf.is_missing(unset.dataset, "root")
    with pytest.raises(StaticDynError, match=r"^dataset\.root is not set") as info:
        check_config(unset)  # what run.py checks before anything is built
    assert "\n" not in str(info.value)
    root = tmp_path / "no_such_root"
    cfg = cfg_of(f"dataset={name}", f"dataset.root={root}")
    with pytest.raises(StaticDynError) as info:
        build_source(cfg)
    message = str(info.value)
    assert str(root) in message and "\n" not in message


# -- probes and launchers -----------------------------------------------------------------------

@pytest.mark.parametrize("name", PROBES)
def test_probe_config_composes_and_names_its_task(cfg_of: Compose, name: str) -> None:
    cfg = cfg_of(f"probe={name}")
    settings = check_config(cfg)  # every probe key valid, as run.py checks it
    assert get_task(settings.task).name == settings.task


@pytest.mark.parametrize("name", LAUNCHERS)
def test_launcher_composes_and_its_plugin_is_installed(cfg_of: Compose, name: str) -> None:
    cfg = cfg_of(f"hydra/launcher={name}", hydra=True)
    launcher = get_class(cfg.hydra.launcher._target_)
    assert launcher.__name__.endswith("Launcher")


# -- experiments --------------------------------------------------------------------------------

def _sweep_jobs(cfg: DictConfig) -> list[list[str]]:
    """Override lists of the experiment's sweep, expanded by Hydra's own BasicSweeper."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    return [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def _user_keys(node: DictConfig | ListConfig, prefix: str = "") -> list[str]:
    """Keys left ``???`` for the user (checkpoint folders, data roots), found without resolving."""
    keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
    out: list[str] = []
    for key in keys:
        child = node._get_node(key)
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(child, DictConfig | ListConfig):
            out += _user_keys(child, path)
        elif child._is_missing():
            out.append(path)
    return out


def _built_layer_names(cfg_of: Compose, model: str) -> set[str]:
    if model not in _LAYER_NAMES:
        _layer_names(_build(_smoke_sized(cfg_of(f"model={model}"))))
    return _LAYER_NAMES[model]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_and_every_job_of_its_sweep_compose(cfg_of: Compose, name: str) -> None:
    """Each job resolves completely once the user's ``???`` keys are filled, and the layers it
    probes exist in its model."""
    cfg = cfg_of(f"+experiment={name}", hydra=True)
    assert cfg.experiment.name == name
    jobs = _sweep_jobs(cfg)
    assert jobs
    for job in jobs:
        job_cfg = cfg_of(f"+experiment={name}", *job)
        for key in _user_keys(job_cfg):
            OmegaConf.update(job_cfg, key, f"/user/{key}")
        tree = OmegaConf.to_container(job_cfg, resolve=True)  # every interpolation lands
        assert isinstance(tree, dict)
        check_config(job_cfg)  # and the job's probe settings are valid
        model = tree["model"]["name"]
        assert model in MODELS and tree["dataset"]["name"] in DATASETS
        get_task(tree["probe"]["task"])
        layers = tree["probe"].get("layers") or []
        missing = set(layers) - _built_layer_names(cfg_of, model)
        assert not missing, f"{name} {job}: {model} has no layers {sorted(missing)}"
