"""Derive the key fixtures of the Swin-L backbone and DVIS from the OFFICIAL code, not from ours.

A key list dumped from our own model would only test that the model equals itself, so this
script imports the official modules themselves (read from local git mirrors, never copied into
the package) and builds them with the values of the official configs:

- ``D2SwinTransformer`` of facebookresearch/Mask2Former (``mask2former/modeling/backbone/swin.py``,
  defaults of ``mask2former/config.py``, values of
  ``configs/youtubevis_2019/swin/video_maskformer2_swin_large_IN21k_384_bs16_8ep.yaml``);
- ``ReferringTracker`` and ``TemporalRefiner`` of zhang-tao-whu/DVIS (``dvis/video_dvis_modules.py``
  with the layer classes of ``mask2former_video/.../video_mask2former_transformer_decoder.py``;
  sizes from ``dvis/config.py`` and ``configs/youtubevis_2019/DVIS_Offline_R50.yaml``).

detectron2 and fvcore are not installable here; the few names the official files import from
them are replaced by minimal stand-ins that add no parameters (a registry whose ``register`` is
the identity, ``configurable`` as the identity, ``Backbone`` as ``nn.Module``), so the module
trees and state-dict keys are the official ones. The DVIS segmenter part (``backbone.*``,
``sem_seg_head.*``, ``criterion.empty_weight``) is the MinVIS R50 segmenter, whose keys come
from its own fixture (``--segmenter-fixture``), itself derived from the official code.

Usage (mirrors fetched with ``git``; the commits are written into each fixture's ``source``):

    python scripts/derive_vis_dvis_keys.py --m2f /path/Mask2Former.git --dvis /path/DVIS.git \
        --segmenter-fixture tests/fixtures/checkpoint_keys/vis_minvis_r50.json \
        --out tests/fixtures/checkpoint_keys
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import types
from pathlib import Path

# the helpers of the Mask2Former-VIS / MinVIS derivation (same folder): git, stubs, fixtures
from derive_vis_keys import _git, _keys, _materialise, _Registry, _stub, _write
from torch import nn

SWIN_FILES = ("mask2former/modeling/backbone/swin.py", "mask2former/config.py",
              "configs/youtubevis_2019/swin/video_maskformer2_swin_large_IN21k_384_bs16_8ep.yaml")
DVIS_FILES = ("dvis/video_dvis_modules.py",
              "mask2former_video/modeling/transformer_decoder/"
              "video_mask2former_transformer_decoder.py",
              "dvis/video_mask2former_transformer_decoder.py",
              "dvis/meta_architecture.py", "dvis/config.py",
              "configs/youtubevis_2019/MinVIS_R50.yaml",
              "configs/youtubevis_2019/DVIS_Online_R50.yaml",
              "configs/youtubevis_2019/DVIS_Offline_R50.yaml")


def _install_stubs() -> None:
    """Parameter-free stand-ins for the detectron2 / fvcore names the official files import."""
    for pkg in ("detectron2", "fvcore", "fvcore.nn", "mask2former", "mask2former.modeling",
                "mask2former.modeling.transformer_decoder"):
        _stub(pkg, __path__=[])
    _stub("detectron2.modeling", BACKBONE_REGISTRY=_Registry(), Backbone=nn.Module,
          ShapeSpec=lambda **kw: kw)
    _stub("detectron2.config", configurable=lambda f=None, **kw: f)
    _stub("detectron2.layers", Conv2d=nn.Conv2d)
    _stub("fvcore.nn.weight_init", c2_xavier_fill=lambda m: None)
    _stub("mask2former.modeling.transformer_decoder.maskformer_transformer_decoder",
          TRANSFORMER_DECODER_REGISTRY=_Registry())
    _stub("einops", rearrange=None)  # used in forward only


def swin_keys(repo: Path, commit: str, root: Path) -> dict[str, list[int]]:
    _materialise(repo, commit, {SWIN_FILES[0]: "official_m2f/swin.py"}, root, packages=True)
    swin = importlib.import_module("official_m2f.swin")
    cfg = types.SimpleNamespace(MODEL=types.SimpleNamespace(SWIN=types.SimpleNamespace(
        # mask2former/config.py defaults, overridden by the Swin-L YTVIS-2019 config
        PRETRAIN_IMG_SIZE=384, PATCH_SIZE=4, EMBED_DIM=192, DEPTHS=[2, 2, 18, 2],
        NUM_HEADS=[6, 12, 24, 48], WINDOW_SIZE=12, MLP_RATIO=4.0, QKV_BIAS=True, QK_SCALE=None,
        DROP_RATE=0.0, ATTN_DROP_RATE=0.0, DROP_PATH_RATE=0.3, APE=False, PATCH_NORM=True,
        OUT_FEATURES=["res2", "res3", "res4", "res5"], USE_CHECKPOINT=False)))
    return _keys(swin.D2SwinTransformer(cfg, None), "backbone.")


def dvis_keys(repo: Path, commit: str, root: Path) -> dict[str, list[int]]:
    _materialise(repo, commit, {
        DVIS_FILES[0]: "dvis/video_dvis_modules.py",
        DVIS_FILES[1]: "mask2former_video/modeling/transformer_decoder/"
                       "video_mask2former_transformer_decoder.py",
        "mask2former_video/modeling/transformer_decoder/position_encoding.py":
            "mask2former_video/modeling/transformer_decoder/position_encoding.py",
        DVIS_FILES[2]: "dvis/video_mask2former_transformer_decoder.py",
        "mask2former/modeling/transformer_decoder/position_encoding.py":
            "mask2former/modeling/transformer_decoder/position_encoding.py",
    }, root, packages=True)
    # the stub package holds only the registry; its real position_encoding is read from root
    sys.modules["mask2former.modeling.transformer_decoder"].__path__ = [
        str(root / "mask2former/modeling/transformer_decoder")]
    mods = importlib.import_module("dvis.video_dvis_modules")
    seg = importlib.import_module("dvis.video_mask2former_transformer_decoder")
    # the segmenter's decoder as DVIS builds it (MinVIS_R50.yaml: 100 queries, DEC_LAYERS 10
    # = 9 layers + the prediction on the learnable queries, ENFORCE_INPUT_PROJ False)
    predictor = seg.VideoMultiScaleMaskedTransformerDecoder_dvis(
        256, True, num_classes=40, hidden_dim=256, num_queries=100, nheads=8,
        dim_feedforward=2048, dec_layers=9, pre_norm=False, mask_dim=256,
        enforce_input_project=False, num_frames=1)
    # DVIS_offline.from_config: HIDDEN_DIM 256, DIM_FEEDFORWARD 2048, NHEADS 8 (MinVIS_R50.yaml),
    # TRACKER/REFINER.DECODER_LAYERS 6 (dvis/config.py), NUM_CLASSES 40 (YouTube-VIS 2019)
    size = dict(hidden_channel=256, feedforward_channel=2048, num_head=8, decoder_layer_num=6,
                mask_dim=256, class_num=40)
    keys = _keys(predictor, "sem_seg_head.predictor.")
    keys.update(_keys(mods.ReferringTracker(**size), "tracker."))
    keys.update(_keys(mods.TemporalRefiner(**size, windows=3), "refiner."))
    return keys


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m2f", type=Path, required=True, help="git dir of Mask2Former")
    ap.add_argument("--dvis", type=Path, required=True, help="git dir of DVIS")
    ap.add_argument("--segmenter-fixture", type=Path, default=None,
                    help="MinVIS R50 key fixture (backbone/sem_seg_head/criterion keys)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    _install_stubs()
    m2f = _git(args.m2f, "rev-parse", "HEAD").strip()
    dvis = _git(args.dvis, "rev-parse", "HEAD").strip()
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, tmp)
        swin = swin_keys(args.m2f, m2f, Path(tmp))
        heads = dvis_keys(args.dvis, dvis, Path(tmp))
    _write(args.out / "vis_backbone_swinl.json", {
        "source": {"repo": "facebookresearch/Mask2Former", "commit": m2f,
                   "files": list(SWIN_FILES),
                   "config": "MODEL.SWIN: EMBED_DIM 192, DEPTHS [2,2,18,2], NUM_HEADS "
                             "[6,12,24,48], WINDOW_SIZE 12, PRETRAIN_IMG_SIZE 384, APE False, "
                             "PATCH_NORM True, OUT_FEATURES res2..res5"},
        "derived_by": "scripts/derive_vis_dvis_keys.py: the official D2SwinTransformer built "
                      "with detectron2 names stubbed (no parameters added), keys under "
                      "'backbone.' as in the meta-architecture's state dict",
    }, swin)
    if args.segmenter_fixture is None:
        print("no --segmenter-fixture: vis_dvis_r50.json not written")
        return
    fixture = json.loads(args.segmenter_fixture.read_text())
    minvis = {k: list(v) for k, v in fixture["keys"].items()}
    pred = "sem_seg_head.predictor."
    ours = {k: v for k, v in heads.items() if k.startswith(pred)}
    theirs = {k: v for k, v in minvis.items() if k.startswith(pred)}
    if ours != theirs:  # DVIS's own decoder must be MinVIS's, or the composition is wrong
        raise SystemExit(f"DVIS predictor keys differ from {args.segmenter_fixture}: "
                         f"{sorted(set(ours) ^ set(theirs))[:5]}")
    seg = {k: v for k, v in minvis.items() if not k.startswith(pred)}
    seg_source = {"fixture": str(args.segmenter_fixture), "source": fixture.get("source")}
    _write(args.out / "vis_dvis_r50.json", {
        "source": {"repo": "zhang-tao-whu/DVIS", "commit": dvis, "files": list(DVIS_FILES),
                   "config": "configs/youtubevis_2019/DVIS_Offline_R50.yaml (META_ARCHITECTURE "
                             "DVIS_offline: segmenter + tracker + refiner; NUM_CLASSES 40, "
                             "HIDDEN_DIM 256, NHEADS 8, DIM_FEEDFORWARD 2048, TRACKER and "
                             "REFINER DECODER_LAYERS 6)",
                   "segmenter": seg_source},
        "derived_by": "scripts/derive_vis_dvis_keys.py: DVIS's own segmenter decoder "
                      "(VideoMultiScaleMaskedTransformerDecoder_dvis), ReferringTracker and "
                      "TemporalRefiner built with detectron2/fvcore/einops names stubbed; "
                      "backbone, pixel decoder and criterion keys from the MinVIS R50 fixture "
                      "(DVIS builds them with the same detectron2/Mask2Former code and the "
                      "config DVIS_Offline_R50.yaml inherits from MinVIS_R50.yaml); the "
                      "predictor keys are checked equal to that fixture's",
        "checkpoint_format": "detectron2 .pth {'model': state_dict, ...} (DVIS releases, "
                             "trained with DVIS_offline); pixel_mean/pixel_std are "
                             "non-persistent buffers, so absent",
    }, {**seg, **heads})  # backbone, pixel decoder, criterion; predictor, tracker, refiner


if __name__ == "__main__":
    main()
