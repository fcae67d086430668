"""The paper's experiment configs compose, and the smoke run draws every figure end to end.

A config mistake in ``conf/experiment`` (a layer name a model lacks, an interpolation that does
not resolve, two jobs sharing a folder) would otherwise surface hours into a cluster sweep; here
every job of every sweep is composed and fully resolved, with dummy paths for the values the
user must give. The quick smoke then runs the real chain (compose, pipeline, report) for a
reduced grid that still feeds every figure; ``make paper-figures-smoke`` runs the full grid.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from staticdyn.experiments.catalog import SWEEP, paper_experiments
from staticdyn.experiments.compose import (
    compose_experiment,
    expand_sweep,
    hydra_context,
    list_experiments,
    sweep_params,
)
from staticdyn.experiments.smoke import SmokeResult, model_smoke_overrides, run_smoke
from staticdyn.report.paper_figures import BUILDERS

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = paper_experiments()
FIGURES = [sys.executable, "-m", "staticdyn.experiments.figures"]


def _missing_keys(node: DictConfig, prefix: str = "") -> list[str]:
    """Dotted keys of every ``???`` value, found without resolving any interpolation."""
    found = []
    for key in node.keys():
        path = f"{prefix}{key}"
        if path == "hydra":
            continue
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            found += _missing_keys(child, f"{path}.")
        elif not isinstance(child, ListConfig) and OmegaConf.is_missing(node, key):
            found.append(path)
    return found


def _fill_missing(name: str) -> list[str]:
    """An override with a dummy path for every value the experiment leaves to the user."""
    cfg = compose_experiment(name)
    return [f"{k}=/given/{k.replace('.', '/')}" for k in _missing_keys(cfg)]


def _card(model: str) -> dict:
    """A zoo card as plain data (conf/model/<model>.yaml)."""
    card = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "model" / f"{model}.yaml"))
    assert isinstance(card, dict)
    return card


def _card_layers(model: str) -> set[str]:
    """Layer aliases a zoo card offers (VOS nets name theirs in code: build a reduced one)."""
    card = OmegaConf.load(ROOT / "conf" / "model" / f"{model}.yaml")
    if card.get("layers_fn"):
        from staticdyn.models.zoo import load_model

        smoke = OmegaConf.to_container(card.smoke) if card.get("smoke") else {}  # VOS: blocks
        return set(load_model(model, builder_kwargs=smoke.get("builder_kwargs") or {}).layers)
    return set(card.get("layers") or {})


def test_the_experiments_are_the_known_ones() -> None:
    assert set(EXPERIMENTS) <= set(list_experiments())
    covered = {f for e in EXPERIMENTS.values() for f in e.figures}
    assert covered == set(BUILDERS), "every figure of the report comes from an experiment"


@pytest.mark.parametrize("name", list_experiments())
def test_every_experiment_config_composes_and_resolves(name: str) -> None:
    """Every conf/experiment/*.yaml, the training ones included, as ``+experiment=NAME``."""
    cfg = compose_experiment(name, _fill_missing(name))
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


SWEEPS = [n for n, e in EXPERIMENTS.items() if e.kind == SWEEP]


@pytest.mark.parametrize("name", SWEEPS)
def test_every_job_of_every_sweep_composes_and_resolves(name: str, tmp_path: Path) -> None:
    fills = _fill_missing(name)
    layers_of_card: dict[str, set[str]] = {}
    with hydra_context():
        grid = sweep_params(name, [f"paper_dir={tmp_path}", *fills])
        jobs = expand_sweep(grid)
        assert jobs, f"{name}: empty sweep"
        run_dirs = set()
        for num, job in enumerate(jobs):
            cfg = compose_experiment(name, [*job, f"paper_dir={tmp_path}", *fills,
                                            f"hydra.job.num={num}"], hydra_config=True)
            run_dir = Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
            assert run_dir.parent == tmp_path / name
            run_dirs.add(run_dir)
            task = cfg.copy()
            with open_dict(task):
                del task["hydra"]
            plain = OmegaConf.to_container(task, resolve=True, throw_on_missing=True)
            model = plain["model"]
            assert model["checkpoint"] and model["checkpoint_tag"], (name, job)
            assert plain["probe"]["n_pairs"] >= 3000 or plain["probe"]["task"] == "vos"
            layers = plain["probe"]["layers"]
            assert layers, f"{name} {job}: no layers listed for {model['name']}"
            if model["name"] not in layers_of_card:
                layers_of_card[model["name"]] = _card_layers(model["name"])
            unknown = set(layers) - layers_of_card[model["name"]]
            assert not unknown, f"{name}: {model['name']} has no layers {sorted(unknown)}"
        assert len(run_dirs) == len(jobs), f"{name}: two jobs share a run folder"


def test_fig5_6_training_sets_pick_dataset_tag_and_checkpoint() -> None:
    fills = _fill_missing("fig5_6")
    with hydra_context():
        for train, dataset in (("kinetics400", "stylized_activitynet"), ("diving48", "diving48"),
                               ("ssv2", "ssv2")):
            cfg = compose_experiment("fig5_6", [f"experiment/fig5_6_train={train}",
                                                "model=slow_r50", *fills])
            assert cfg.dataset.name == dataset and cfg.model.checkpoint_tag == train
            assert cfg.dataset.root == f"/given/data_roots/{dataset}"
            assert cfg.model.checkpoint.endswith(
                "SLOWONLY_8x8_R50.pkl" if train == "kinetics400" else f"slow_r50/{train}")


def test_a_required_checkpoint_is_named_when_missing() -> None:
    """FastOnly has no public Kinetics file: the error names the key to set."""
    cfg = compose_experiment("fig3", ["model=fast_r50", "ckpt_dir=/c", "dataset.root=/d"])
    with pytest.raises(Exception, match="checkpoints.fast_r50"):
        OmegaConf.to_container(cfg.model, resolve=True, throw_on_missing=True)


MULTIRUNS = {
    "fig3": (["model=x3d_xs"], "0_x3d_xs_synthetic_tiny_seed0", "kinetics400"),
    "fig5_6": (["model=fast_r50", "experiment/fig5_6_train=diving48",
                "+data_roots.synthetic_tiny=unused", "~dataset.root",
                "checkpoints.fast_r50.diving48=null"],
               "0_fast_r50_diving48_synthetic_tiny_seed0", "diving48"),
}


@pytest.mark.parametrize("name", sorted(MULTIRUNS))
def test_hydra_multirun_of_an_experiment_lays_out_runs_as_the_smoke(
        name: str, tmp_path: Path) -> None:
    """``run.py -m +experiment=NAME`` itself for one tiny job: the sweep folder, the job folder
    name, and the training set the report reads back from Hydra's (unresolved) saved config."""
    extra, job_dir, tag = MULTIRUNS[name]
    model = extra[0].split("=")[1]
    cmd = [sys.executable, "run.py", "-m", f"+experiment={name}", f"paper_dir={tmp_path}",
           "ckpt_dir=/unused", "dataset=synthetic_tiny", "probe.n_pairs=8", "probe.batch_size=4",
           "probe.progress=false", *extra, *model_smoke_overrides(_card(model)),
           "model.checkpoint=null"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    run_dir = tmp_path / name / job_dir
    assert (run_dir / "layerwise.csv").stat().st_size > 0
    saved = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    assert saved["model"]["checkpoint_tag"] == tag
    from staticdyn.report.aggregate import collect_runs

    sweep = collect_runs(tmp_path)
    assert set(sweep.layerwise["train_dataset"]) == {tag}
    assert list(sweep.layerwise["layer"]) == [f"stage{k}" for k in range(1, 6)]


# -- the smoke ----------------------------------------------------------------------------------
def _check_all_figures(result: SmokeResult) -> None:
    assert not result.failed_jobs, [(j.run_dir.name, j.error) for j in result.failed_jobs]
    assert set(result.figures) == set(BUILDERS)
    for name, paths in result.figures.items():
        assert paths, f"{name}: nothing written"
        for p in paths:
            assert p.is_file() and p.stat().st_size > 0, p
    assert result.ok


@pytest.fixture(scope="module")
def quick_smoke(tmp_path_factory: pytest.TempPathFactory) -> SmokeResult:
    return run_smoke(tmp_path_factory.mktemp("paper_smoke"), quick=True)


def test_quick_smoke_draws_every_figure(quick_smoke: SmokeResult) -> None:
    _check_all_figures(quick_smoke)
    status = pd.read_csv(quick_smoke.out_dir / "runs_status.csv")
    assert set(status["status"]) <= {"ok", "duplicate"}, status
    table = pd.read_csv(quick_smoke.out_dir / "table1_dataset_bias.csv")
    fusionseg = table[table["model"] == "fusionseg"]
    assert list(fusionseg["train_dataset"]) == ["davis16", "imagenet_vid", "tao_vos"]
    lw = pd.read_csv(quick_smoke.out_dir / "layerwise_all.csv")
    fast = lw[lw["model"] == "fast_r50"]
    assert set(fast["train_dataset"]) == {"kinetics400", "diving48", "ssv2"}
    assert not fast["untrained"].any()  # loaded through the experiment's checkpoint map


def test_figures_from_several_sweep_folders(quick_smoke: SmokeResult, tmp_path: Path) -> None:
    """``python -m staticdyn.experiments.figures DIR1 DIR2 ...`` draws what one shared folder
    gives."""
    dirs = sorted(p for p in quick_smoke.paper_dir.iterdir()
                  if p.is_dir() and p.name not in ("paper", "cache", "ckpt"))
    out = tmp_path / "figs"
    proc = subprocess.run([*FIGURES, *map(str, dirs), "--out", str(out), "--formats", "png"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("fig3_left_layerwise", "fig4_left_segmentation", "fig5_left_training_dataset",
                 "fig6_stages_by_dataset", "fig7_center_bias"):
        assert (out / f"{name}.png").stat().st_size > 0, name
    assert (out / "table1_dataset_bias.csv").is_file()


@pytest.mark.slow
def test_full_smoke_via_the_script(tmp_path: Path) -> None:
    """What ``make paper-figures-smoke`` runs: the full smoke grid through the script."""
    out = tmp_path / "smoke"
    proc = subprocess.run([*FIGURES, "--smoke", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in BUILDERS:
        assert f"{name} " in proc.stdout
    assert "smoke ok" in proc.stdout
