"""``staticdyn.probe(model, dataset, ...)``: one probe run from Python, the same run as run.py.

The config is composed from conf/ by Hydra exactly as ``python run.py model=... dataset=...``
composes it, the Python arguments are set on it as command-line overrides would be, and
``pipeline.run`` does the rest: same checks, same run directory layout, same features.h5 and
CSV files, same numbers. A zoo model is rebuilt from its entry and overrides inside the run
(seeded by ``probe.seed``, as run.py builds it); a module the user built (``load_model(module)``)
cannot be rebuilt from a card, so it is passed to the run as it is, and ``cfg.model`` only
describes it (its card and a fingerprint of its weights, which join the run's identity so a
resume with other weights is refused).

It composes configs and runs the pipeline, which is the experiments layer's job (the layer
above ``pipeline``); ``staticdyn/__init__.py`` exposes it lazily.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from staticdyn.errors import StaticDynError
from staticdyn.experiments.compose import hydra_context
from staticdyn.models.zoo import merge_into_card, split_overrides
from staticdyn.probe.api import ProbeModel, load_model


def state_fingerprint(module: Any) -> str:
    """sha1 of a module's state dict (names, dtypes, shapes and bytes): the identity of weights
    that no checkpoint file names."""
    import torch

    digest = hashlib.sha1()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}:{t.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def compose_run(overrides: Sequence[str] = ()) -> DictConfig:
    """``conf/config.yaml`` with ``overrides`` (``model=NAME``, ``dataset.root=...``), as
    ``python run.py`` composes it."""
    from hydra import compose
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return compose("config", overrides=list(overrides))
    with hydra_context():
        return compose("config", overrides=list(overrides))


def probe_config(
    model: ProbeModel | str, dataset: str, layers: Sequence[str] | None = None,
    n_pairs: int | None = None, out_dir: str | Path | None = None,
    overrides: Sequence[str] = (), **probe_overrides: Any,
) -> tuple[DictConfig, Any]:
    """The run's config and the prebuilt ZooModel to inject (None: the run builds cfg.model).

    ``overrides`` are Hydra command-line overrides applied when composing (e.g.
    ``dataset.root=/data/ssv2``); ``probe_overrides`` are ``probe.*`` keys."""
    if not isinstance(dataset, str):
        raise StaticDynError(f"dataset must be the name of a conf/dataset entry, got "
                             f"{type(dataset).__name__}; set its keys with overrides=['dataset."
                             "root=...']")
    entry = model if isinstance(model, str) else model.entry
    cfg = compose_run([f"model={entry or 'custom'}", f"dataset={dataset}", *overrides])
    prebuilt = None
    with open_dict(cfg):
        if isinstance(model, ProbeModel) and model.prebuilt:
            card = dict(model.card or {})
            card["description"] = (f"{card.get('description') or 'prebuilt module'}; state "
                                   f"sha1 {state_fingerprint(model.module)}")
            cfg.model = OmegaConf.create(card)
            prebuilt = model.model
        elif isinstance(model, ProbeModel):
            plain, objects = split_overrides(model.overrides)
            merge_into_card(cfg.model, plain)
            if objects:  # what a config cannot hold: probe the model as it was built
                prebuilt = model.model
        probe = dict(probe_overrides)
        if layers is not None:
            probe["layers"] = list(layers)
        if n_pairs is not None:
            probe["n_pairs"] = int(n_pairs)
        for key, value in probe.items():
            cfg.probe[key] = value
        if out_dir is None:
            out_dir = (Path(cfg.out_root) / str(cfg.model.name) / str(cfg.dataset.name)
                       / f"seed{cfg.probe.seed}")
        cfg.out_dir = str(out_dir)
    return cfg, prebuilt


def probe(
    model: ProbeModel | str | Any,
    dataset: str,
    layers: Sequence[str] | None = None,
    n_pairs: int | None = None,
    out_dir: str | Path | None = None,
    overrides: Sequence[str] = (),
    **probe_overrides: Any,
) -> Any:
    """Probe ``model`` (a zoo entry name, ``staticdyn.load_model(...)``'s result or any
    ``torch.nn.Module``) on ``dataset`` (a conf/dataset entry) and return the run's tables
    (``RunTables``: ``.layerwise`` and ``.unitwise`` pandas DataFrames, ``.unit_scores``);
    with ``seeds=[...]``, {seed: tables}. Files go to ``out_dir`` (default: run.py's
    ``outputs/<model>/<dataset>/seed<k>``); re-running resumes, as run.py does.

    ``layers`` / ``n_pairs`` / ``probe_overrides`` are ``probe.*`` keys (``sampler``,
    ``batch_size``, ``bootstrap``, ``seed`` ...); ``overrides`` are Hydra overrides for the
    rest (``["dataset.root=/data/ssv2"]``).
    """
    from staticdyn.pipeline import run

    if not isinstance(model, str | ProbeModel):
        model = load_model(model)  # a torch.nn.Module; anything else is refused there
    cfg, prebuilt = probe_config(model, dataset, layers, n_pairs, out_dir, overrides,
                                 **probe_overrides)
    if prebuilt is not None and not prebuilt.resolve_layers(layers):
        raise StaticDynError(
            f"model '{prebuilt.name}' names no default layers: pass layers=[...] to "
            f"staticdyn.probe or load_model (module paths, e.g. "
            f"{', '.join(prebuilt.module_paths()[:4])})")
    result = run(cfg, model=prebuilt)
    if "seeds" in result:
        return {seed: r["tables"] for seed, r in result["seeds"].items()}
    return result.get("tables", result)


__all__ = ["compose_run", "probe", "probe_config", "state_fingerprint"]
