"""Fig. 7's inputs: the centre-bias map of every training set the Table 1 runs name.

The Table 1 / Fig. 7 experiment carries ``center_bias_roots`` (training set -> mask root) and
``center_bias_layouts`` in its config; every job saves them in ``.hydra/config.yaml``, so the
figure step knows which maps to make without a second place to configure them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import yaml

log = logging.getLogger("staticdyn.report")

CENTER_BIAS_DIR = "center_bias"
MISSING = "???"


def center_bias_requests(sweep_root: Path) -> dict[Path, dict[str, tuple[str, str]]]:
    """Centre-bias maps the runs under ``sweep_root`` ask for, per sweep folder.

    Entries left at ``???`` (or still an interpolation) are skipped.
    """
    found: dict[Path, dict[str, tuple[str, str]]] = {}
    for cfg_path in sorted(Path(sweep_root).rglob(".hydra/config.yaml")):
        try:
            data = yaml.safe_load(cfg_path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        roots = data.get("center_bias_roots") or {}
        layouts = data.get("center_bias_layouts") or {}
        sweep_dir = cfg_path.parent.parent.parent
        for tag, root in roots.items():
            if root in (None, MISSING) or "${" in str(root):
                continue
            found.setdefault(sweep_dir, {})[str(tag)] = (str(root), str(layouts.get(tag, "auto")))
    return found


def ensure_center_bias(sweep_root: Path) -> list[Path]:
    """Write every requested centre-bias map that is not there yet; returns the .npy paths.

    Maps go to ``<sweep>/center_bias/<training set>/center_bias.npy`` (Fig. 7 titles each panel
    with that folder's name), beside the runs of the same experiment.
    """
    from staticdyn.data.davis import CENTER_BIAS_SIZE, center_bias, mask_paths

    written = []
    for sweep_dir, requests in center_bias_requests(sweep_root).items():
        for tag, (root, layout) in requests.items():
            out = sweep_dir / CENTER_BIAS_DIR / tag / "center_bias.npy"
            if not out.is_file():
                out.parent.mkdir(parents=True, exist_ok=True)
                bias = center_bias(mask_paths(Path(root), layout), CENTER_BIAS_SIZE)
                np.save(out, bias)
                log.info("centre bias of %s (%s) -> %s", tag, root, out)
            written.append(out)
    return written
