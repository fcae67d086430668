#!/usr/bin/env python
"""Centre bias of a segmentation dataset (Kowal et al., Table 1 / Fig. 7).

    python scripts/center_bias.py DATASET_ROOT --out DIR [--layout auto|davis|tao_vos|imagenet_vid]
    python scripts/center_bias.py synthetic --out DIR        # the built-in synthetic set

The map is the mean of every binarised ground-truth mask, each resized (nearest neighbour) to
854 x 480: the fraction of annotated frames in which a pixel is foreground. A dataset whose
objects sit in the middle of the frame lets a model segment them from position alone, which is
why the paper relates it to how static a FusionSeg trained on that dataset becomes.

Writes ``DIR/center_bias.npy`` (float64, 480 x 854), ``DIR/center_bias.png`` (the map in grey,
as the authors plot it) and ``DIR/center_bias.json`` (mask count, mean coverage, and the mean
over the central third versus the rest).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from staticdyn.data.davis import CENTER_BIAS_SIZE, MASK_LAYOUTS, center_bias, mask_paths
from staticdyn.errors import StaticDynError

SYNTHETIC = "synthetic"


def summary(bias: np.ndarray, n_masks: int) -> dict[str, float | int]:
    """Numbers to compare datasets by: coverage, and centre-third vs border mean."""
    h, w = bias.shape
    centre = np.zeros_like(bias, dtype=bool)
    centre[h // 3: 2 * h // 3, w // 3: 2 * w // 3] = True
    return {"n_masks": int(n_masks), "height": int(h), "width": int(w),
            "mean_coverage": float(bias.mean()), "centre_third_mean": float(bias[centre].mean()),
            "outside_mean": float(bias[~centre].mean())}


def save_figure(bias: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(bias.shape[1] / 100, bias.shape[0] / 100), dpi=100)
    ax.imshow(bias, cmap="gray", vmin=0.0, vmax=max(float(bias.max()), 1e-12))
    ax.set_axis_off()
    fig.subplots_adjust(0, 0, 1, 1)
    fig.savefig(path)
    plt.close(fig)


def resolve_root(root: str, cache_dir: Path) -> Path:
    """``synthetic`` -> the synthetic DAVIS-layout set (written on first use)."""
    if root != SYNTHETIC:
        return Path(root)
    from staticdyn.data.davis import SyntheticDavisSource

    return SyntheticDavisSource(cache_dir=cache_dir).root


def run(root: str, out: Path, layout: str = "auto",
        cache_dir: Path = Path("outputs/cache/synthetic_vos")) -> dict[str, float | int]:
    paths = mask_paths(resolve_root(root, cache_dir), layout)
    bias = center_bias(paths, CENTER_BIAS_SIZE)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "center_bias.npy", bias)
    save_figure(bias, out / "center_bias.png")
    info = summary(bias, len(paths))
    (out / "center_bias.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help=f"dataset (or mask) root, or '{SYNTHETIC}'")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--layout", default="auto", choices=["auto", *MASK_LAYOUTS],
                        help="where the masks are below ROOT (auto: DAVIS if ROOT has "
                             "Annotations/480p, else every PNG)")
    parser.add_argument("--cache-dir", type=Path, default=Path("outputs/cache/synthetic_vos"),
                        help=f"where '{SYNTHETIC}' writes its dataset")
    args = parser.parse_args(argv)
    try:
        info = run(args.root, args.out, args.layout, args.cache_dir)
    except StaticDynError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=2))
    print(f"wrote {args.out / 'center_bias.npy'}, {args.out / 'center_bias.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
