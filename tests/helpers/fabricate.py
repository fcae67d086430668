"""Fabricated features files and run directories for the report and aggregation tests.

Features are planted per channel: within a factor's pairs, za and zb are standard normal with
correlation rho_f[c], so r_f[c] is rho_f[c] up to sampling noise. That gives runs whose
layer-wise and unit-wise results are known in advance without any model.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import h5py
import numpy as np
import yaml

from staticdyn.metrics.analyze import analyze_h5
from staticdyn.report.run_report import write_run_report


def planted_features(
    n: int, rho_dyn: np.ndarray, rho_stat: np.ndarray, rng: np.random.Generator,
    offset: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """za, zb (n, C) float32 and factor (n,) int8 (alternating dynamic, static)."""
    c = len(rho_dyn)
    factor = (np.arange(n) % 2).astype(np.int8)
    rho = np.where(factor[:, None] == 0, np.asarray(rho_dyn)[None, :],
                   np.asarray(rho_stat)[None, :])
    za = rng.standard_normal((n, c))
    zb = rho * za + np.sqrt(1.0 - rho**2) * rng.standard_normal((n, c))
    return (za + offset).astype(np.float32), (zb + offset).astype(np.float32), factor


def default_rhos(c: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A mix of dynamic, static, joint and residual channels."""
    kind = rng.integers(0, 4, c)
    rho_d = np.where((kind == 0) | (kind == 2), 0.85, 0.1)
    rho_s = np.where((kind == 1) | (kind == 2), 0.85, 0.1)
    return rho_d, rho_s


def write_features_h5(
    path: Path, layers: dict[str, int], model: str = "toy", dataset: str = "synthetic",
    n: int = 64, seed: int = 0, complete: bool = True, untrained: bool = False,
    config: dict | None = None, attrs: dict | None = None,
) -> Path:
    """A features.h5 in the store's layout with planted features for each layer."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs.update({
            "model": model, "dataset": dataset, "layers": list(layers), "n_rows": n,
            "complete": complete, "untrained": untrained, "sampler": "shared",
            "config": yaml.safe_dump(config or {}), **(attrs or {}),
        })
        factor = None
        for layer, c in layers.items():
            za, zb, factor = planted_features(n, *default_rhos(c, rng), rng)
            f.create_dataset(f"features/{layer}/a", data=za)
            f.create_dataset(f"features/{layer}/b", data=zb)
        f.create_dataset("pairs/factor", data=factor)
    return path


CARD_DIR = Path(__file__).resolve().parents[2] / "conf" / "model"


def card_facts(model: str) -> dict:
    """``arch_group`` / ``pathway_kind`` of ``model``'s card, as a real run records them in its
    config; {} for a made-up model (like a run written before the cards carried them)."""
    path = CARD_DIR / f"{model}.yaml"
    card = yaml.safe_load(path.read_text()) if path.is_file() else {}
    return {k: card[k] for k in ("arch_group", "pathway_kind") if k in card}


def run_config(model: str, dataset: str, seed: int = 0, tag: str | None = None,
               card: dict | None = None, task: str = "action") -> dict:
    """The parts of a resolved Hydra config the aggregator and the figures read; ``card``
    replaces the model card facts (default: those of conf/model/<model>.yaml, if any)."""
    facts = card_facts(model) if card is None else card
    return {
        "model": {"name": model, "checkpoint": f"/ckpt/{model}.pyth", "checkpoint_tag": tag,
                  **facts},
        "dataset": {"name": dataset},
        "probe": {"task": task, "sampler": "shared", "n_pairs": 64, "clip_start": "first",
                  "lambda": 0.5, "estimator": "pooled", "seed": seed},
    }


def make_run(
    run_dir: Path, layers: dict[str, int], model: str = "toy", dataset: str = "synthetic",
    seed: int = 0, tag: str | None = None, complete: bool = True, report: bool = True,
    hydra: bool = True, n: int = 64, card: dict | None = None, task: str = "action",
) -> Path:
    """A run directory as the pipeline leaves it: .hydra/config.yaml, features.h5, tables."""
    cfg = run_config(model, dataset, seed, tag, card, task)
    if hydra:
        (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
        (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    data_seed = zlib.crc32(f"{model}/{dataset}/{seed}/{tag}".encode())
    h5 = write_features_h5(run_dir / "features.h5", layers, model, dataset, n=n, seed=data_seed,
                           complete=complete, config=cfg)
    if report and complete:
        write_run_report(analyze_h5(h5), run_dir, figures=False)
    return run_dir


STAGES = {f"stage{k}": 8 * k for k in range(1, 6)}


def make_sweep(root: Path) -> Path:
    """A small sweep covering every paper figure, plus broken runs of each kind."""
    for model in ("slow_r50", "fast_r50"):
        for tag in ("kinetics400", "diving48", "ssv2"):
            make_run(root / "outputs" / model / tag / "seed0", STAGES, model, "stylized_anet",
                     tag=tag)
    make_run(root / "outputs" / "x3d_xs" / "seed0", STAGES, "x3d_xs", "stylized_anet",
             tag="kinetics400")
    sf = {f"{p}.stage{k}": (8 if p == "slow" else 4) * k for p in ("slow", "fast")
          for k in range(1, 6)}
    make_run(root / "outputs" / "slowfast_r50" / "seed0", sf, "slowfast_r50", "stylized_anet")
    make_run(root / "outputs" / "mvit" / "seed0", {f"block{k}": 16 for k in range(4)},
             "mvit_base_16x4", "stylized_anet")
    seg = {f"{s}.layer{k}": 8 * k for s in ("app", "mot", "fusion") for k in range(1, 6)}
    for tag in ("davis16", "tao_vos"):
        for seed in range(2):
            make_run(root / "seg" / tag / f"seed{seed}", seg, "fusionseg", "stylized_davis",
                     seed=seed, tag=tag)
    vis = {"backbone.res2": 8, "decoder.layer0": 16, "decoder.layer8": 16}  # probe=vis
    make_run(root / "vis" / "minvis_r50" / "seed0", vis, "minvis_r50", "youtube_vis_2019",
             tag="youtube_vis_2019", task="vis")
    for ds in ("davis16", "tao_vos"):
        (root / "bias" / ds).mkdir(parents=True, exist_ok=True)
        yy, xx = np.mgrid[0:24, 0:32]
        np.save(root / "bias" / ds / "center_bias.npy",
                np.exp(-((yy - 12) ** 2 + (xx - 16) ** 2) / (50.0 if ds == "davis16" else 150.0)))
    (root / "shuffle_results.csv").write_text(
        "dataset,model,top1_ordered,top1_shuffled\n"
        "kinetics400,slow_r50,74.0,70.0\nkinetics400,fast_r50,60.0,50.0\n"
        "ssv2,slow_r50,50.0,20.0\nssv2,fast_r50,55.0,15.0\n")
    return root
