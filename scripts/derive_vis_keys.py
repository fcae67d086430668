"""Derive the key fixtures of Mask2Former-VIS and MinVIS from the OFFICIAL code, not from ours.

A key list dumped from our own model would only test that the model equals itself, so this
script builds the official modules themselves, read from local git mirrors into a temporary
folder (never copied into the package), with the values of the official configs:

- backbone: detectron2's ``build_resnet_backbone`` (``detectron2/modeling/backbone/resnet.py``
  with the real ``layers/wrappers.py`` Conv2d, ``layers/batch_norm.py`` FrozenBatchNorm2d /
  ``get_norm`` and ``layers/blocks.py``), cfg = detectron2 defaults + the YouTube-VIS base
  config (DEPTH 50, STRIDE_IN_1X1 False, NORM FrozenBN, FREEZE_AT 0, res2..res5);
  for the Swin-L entries the backbone keys come from ``vis_backbone_swinl.json`` (derived by
  ``scripts/derive_vis_dvis_keys.py`` from the official ``D2SwinTransformer``) when present;
- ``sem_seg_head.pixel_decoder``: Mask2Former's ``MSDeformAttnPixelDecoder`` (CONVS_DIM 256,
  MASK_DIM 256, NORM GN, IN_FEATURES res2..res5, deformable encoder on res3..res5, 6 layers,
  COMMON_STRIDE 4);
- ``sem_seg_head.predictor``: ``VideoMultiScaleMaskedTransformerDecoder`` (Mask2Former-VIS) or
  MinVIS's ``VideoMultiScaleMaskedTransformerDecoder_frame`` (HIDDEN_DIM 256, NHEADS 8,
  DIM_FEEDFORWARD 2048, DEC_LAYERS 10 -> 9 layers, NUM_CLASSES 40, 100 queries (R50) or 200
  (Swin-L), ENFORCE_INPUT_PROJ False, PRE_NORM False);
- ``criterion``: the official ``VideoSetCriterion`` (``empty_weight``, NO_OBJECT_WEIGHT 0.1).
``MaskFormerHead`` (``pixel_decoder`` + ``predictor``) and the meta-architecture (``backbone``,
``sem_seg_head``, ``criterion``; ``pixel_mean``/``pixel_std`` non-persistent) only nest these.

detectron2, fvcore and the compiled deformable-attention op are not installable here; the few
names the official files import from them and do not define parameters (registries,
``configurable``, weight-init fills, distributed helpers) are replaced by stand-ins that add
no parameters, so module trees and state-dict keys are the official ones.

``--check-forward`` also runs the official R50 modules (backbone, pixel decoder through
``forward_features``, both decoders; the deformable attention through its PyTorch fallback)
against ours with the same random weights on a small clip batch and prints the largest
difference of every output (0.0 at commit time: bit-identical on CPU).

Usage:
    python scripts/derive_vis_keys.py --m2f M2F.git --minvis MinVIS.git --d2 detectron2.git \
        --out tests/fixtures/checkpoint_keys [--check-forward]
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import torch
from torch import nn

D2_FILES = {
    "detectron2/layers/wrappers.py": "detectron2/layers/wrappers.py",
    "detectron2/layers/batch_norm.py": "detectron2/layers/batch_norm.py",
    "detectron2/layers/blocks.py": "detectron2/layers/blocks.py",
    "detectron2/layers/shape_spec.py": "detectron2/layers/shape_spec.py",
    "detectron2/modeling/backbone/backbone.py": "detectron2/modeling/backbone/backbone.py",
    "detectron2/modeling/backbone/resnet.py": "detectron2/modeling/backbone/resnet.py",
}
M2F_FILES = {f: f for f in (
    "mask2former/modeling/pixel_decoder/msdeformattn.py",
    "mask2former/modeling/pixel_decoder/ops/modules/__init__.py",
    "mask2former/modeling/pixel_decoder/ops/modules/ms_deform_attn.py",
    "mask2former/modeling/pixel_decoder/ops/functions/__init__.py",
    "mask2former/modeling/pixel_decoder/ops/functions/ms_deform_attn_func.py",
    "mask2former/modeling/transformer_decoder/position_encoding.py",
    "mask2former/modeling/transformer_decoder/transformer.py",
    "mask2former/modeling/meta_arch/mask_former_head.py",
    "mask2former_video/modeling/transformer_decoder/video_mask2former_transformer_decoder.py",
    "mask2former_video/modeling/transformer_decoder/position_encoding.py",
    "mask2former_video/modeling/criterion.py",
)}
MINVIS_FILES = {"minvis/video_mask2former_transformer_decoder.py":
                "minvis/video_mask2former_transformer_decoder.py"}
CONFIGS = {
    "m2f": ["configs/youtubevis_2019/Base-YouTubeVIS-VideoInstanceSegmentation.yaml",
            "configs/youtubevis_2019/video_maskformer2_R50_bs16_8ep.yaml",
            "configs/youtubevis_2019/swin/video_maskformer2_swin_large_IN21k_384_bs16_8ep.yaml",
            "mask2former_video/video_maskformer_model.py"],
    "minvis": ["configs/youtubevis_2019/video_maskformer2_R50_bs32_8ep_frame.yaml",
               "configs/youtubevis_2019/swin/video_maskformer2_swin_large_IN21k_384_bs32_8ep_"
               "frame.yaml", "minvis/video_maskformer_model.py"],
    "d2": ["detectron2/config/defaults.py"],
}
SWIN_CHANNELS = {"res2": 192, "res3": 384, "res4": 768, "res5": 1536}  # EMBED_DIM 192 x 2^i


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(repo), *args], check=True,
                          capture_output=True, text=True).stdout


def _stub(name: str, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    mod.__path__ = []  # importable as a package too
    sys.modules[name] = mod
    return mod


class _Registry:
    def register(self, obj: Any = None) -> Any:
        return obj if obj is not None else (lambda o: o)


def _materialise(repo: Path, commit: str, files: dict[str, str], root: Path,
                 packages: bool = False) -> None:
    """Write official files (repo path -> path under ``root``); ``packages``: also an empty
    ``__init__.py`` in every folder above them, for files imported as real packages rather
    than through stub packages (``_install_stubs``)."""
    for src, dst in files.items():
        path = root / dst
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_git(repo, "show", f"{commit}:{src}"))
        if packages:
            for parent in path.relative_to(root).parents:
                if str(parent) != ".":
                    (root / parent / "__init__.py").touch()


def _install_stubs(root: Path) -> None:
    """Parameter-free stand-ins for what the official files import and this build never runs;
    packages whose real files were materialised get a path so those files import."""
    def pkg(name: str, **attrs: Any) -> None:
        mod = _stub(name, **attrs)
        mod.__path__ = [str(root / name.replace(".", "/"))]

    for name in ("detectron2", "detectron2.utils", "detectron2.modeling.backbone",
                 "mask2former", "mask2former.modeling", "mask2former.modeling.pixel_decoder",
                 "mask2former.modeling.pixel_decoder.ops", "mask2former.modeling.meta_arch",
                 "mask2former.modeling.transformer_decoder", "mask2former_video",
                 "mask2former_video.modeling", "mask2former_video.modeling.transformer_decoder",
                 "minvis", "fvcore", "fvcore.nn", "detectron2.projects",
                 "detectron2.projects.point_rend", "mask2former.utils"):
        pkg(name)
    noop = lambda *a, **k: None  # noqa: E731
    _stub("detectron2.utils.env", TORCH_VERSION=tuple(
        int(x) for x in torch.__version__.split("+")[0].split(".")[:2]))
    _stub("detectron2.utils.comm", get_world_size=lambda: 1)
    _stub("fvcore.nn.weight_init", c2_xavier_fill=noop, c2_msra_fill=noop)
    _stub("fvcore.nn.distributed", differentiable_all_reduce=noop)
    _stub("detectron2.config", configurable=lambda f=None, **kw: f)
    _stub("MultiScaleDeformableAttention")  # the compiled op: never called here
    _stub("detectron2.projects.point_rend.point_features", point_sample=noop,
          get_uncertain_point_coords_with_randomness=noop)
    _stub("mask2former.utils.misc", is_dist_avail_and_initialized=lambda: False)
    _stub("mask2former.modeling.transformer_decoder.maskformer_transformer_decoder",
          TRANSFORMER_DECODER_REGISTRY=_Registry(), build_transformer_decoder=noop)
    _stub("mask2former.modeling.pixel_decoder.fpn", build_pixel_decoder=noop)
    layers = _stub("detectron2.layers")
    layers.__path__ = [str(root / "detectron2/layers")]
    shape_spec = importlib.import_module("detectron2.layers.shape_spec")
    wrappers = importlib.import_module("detectron2.layers.wrappers")
    layers.ShapeSpec, layers.Conv2d = shape_spec.ShapeSpec, wrappers.Conv2d
    layers.BatchNorm2d = wrappers.BatchNorm2d
    bn = importlib.import_module("detectron2.layers.batch_norm")
    layers.FrozenBatchNorm2d, layers.get_norm = bn.FrozenBatchNorm2d, bn.get_norm
    layers.CNNBlockBase = importlib.import_module("detectron2.layers.blocks").CNNBlockBase
    layers.DeformConv = layers.ModulatedDeformConv = nn.Module  # DEFORM_ON_PER_STAGE all False
    _stub("detectron2.modeling.backbone.build", BACKBONE_REGISTRY=_Registry())
    modeling = _stub("detectron2.modeling", BACKBONE_REGISTRY=_Registry(),
                     SEM_SEG_HEADS_REGISTRY=_Registry(), ShapeSpec=shape_spec.ShapeSpec)
    modeling.__path__ = [str(root / "detectron2/modeling")]
    modeling.Backbone = importlib.import_module(
        "detectron2.modeling.backbone.backbone").Backbone


def _ns(**kw: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{k: _ns(**v) if isinstance(v, dict) else v
                                    for k, v in kw.items()})


def resnet50() -> nn.Module:
    resnet = importlib.import_module("detectron2.modeling.backbone.resnet")
    shape = importlib.import_module("detectron2.layers.shape_spec").ShapeSpec
    cfg = _ns(MODEL={"RESNETS": {  # detectron2 defaults + Base-YouTubeVIS config
        "NORM": "FrozenBN", "STEM_OUT_CHANNELS": 64, "OUT_FEATURES": ["res2", "res3", "res4",
                                                                      "res5"],
        "DEPTH": 50, "NUM_GROUPS": 1, "WIDTH_PER_GROUP": 64, "RES2_OUT_CHANNELS": 256,
        "STRIDE_IN_1X1": False, "RES5_DILATION": 1,
        "DEFORM_ON_PER_STAGE": [False] * 4, "DEFORM_MODULATED": False, "DEFORM_NUM_GROUPS": 1},
        "BACKBONE": {"FREEZE_AT": 0}})
    return resnet.build_resnet_backbone(cfg, shape(channels=3))


def head_and_criterion(channels: dict[str, int], decoder: str, queries: int) -> nn.Module:
    shape = importlib.import_module("detectron2.layers.shape_spec").ShapeSpec
    msd = importlib.import_module("mask2former.modeling.pixel_decoder.msdeformattn")
    input_shape = {k: shape(channels=c, stride=4 * 2 ** i)
                   for i, (k, c) in enumerate(channels.items())}
    pixel = msd.MSDeformAttnPixelDecoder(
        input_shape, transformer_dropout=0.0, transformer_nheads=8,
        transformer_dim_feedforward=1024, transformer_enc_layers=6, conv_dim=256, mask_dim=256,
        norm="GN", transformer_in_features=["res3", "res4", "res5"], common_stride=4)
    if decoder == "video":
        mod = importlib.import_module("mask2former_video.modeling.transformer_decoder."
                                      "video_mask2former_transformer_decoder")
        cls = mod.VideoMultiScaleMaskedTransformerDecoder
    else:
        mod = importlib.import_module("minvis.video_mask2former_transformer_decoder")
        cls = mod.VideoMultiScaleMaskedTransformerDecoder_frame
    predictor = cls(256, True, num_classes=40, hidden_dim=256, num_queries=queries, nheads=8,
                    dim_feedforward=2048, dec_layers=10 - 1, pre_norm=False, mask_dim=256,
                    enforce_input_project=False, num_frames=2)
    head_mod = importlib.import_module("mask2former.modeling.meta_arch.mask_former_head")
    head = head_mod.MaskFormerHead(
        input_shape, num_classes=40, pixel_decoder=pixel, loss_weight=1.0, ignore_value=255,
        transformer_predictor=predictor, transformer_in_feature="multi_scale_pixel_decoder")
    crit_mod = importlib.import_module("mask2former_video.modeling.criterion")
    criterion = crit_mod.VideoSetCriterion(
        40, matcher=None, weight_dict={}, eos_coef=0.1, losses=["labels", "masks"],
        num_points=12544, oversample_ratio=3.0, importance_sample_ratio=0.75)
    whole = nn.Module()  # the meta-architecture's attribute names (video_maskformer_model.py)
    whole.sem_seg_head, whole.criterion = head, criterion
    return whole


def check_forward(batch: int = 2, frames: int = 3, size: tuple[int, int] = (64, 96)) -> None:
    """Ours vs the official modules, same weights: print the largest output differences."""
    from staticdyn.models.nets.vis.mask2former_vis import mask2former_vis
    from staticdyn.models.nets.vis.minvis import minvis

    gen = torch.Generator().manual_seed(0)
    clips = torch.randn(batch, 3, frames, *size, generator=gen)
    official_backbone = resnet50().eval()
    for decoder, build in (("video", mask2former_vis), ("frame", minvis)):
        torch.manual_seed(1)
        ours = build().eval()
        official = head_and_criterion({"res2": 256, "res3": 512, "res4": 1024, "res5": 2048},
                                      decoder, 100).eval()
        state = ours.state_dict()
        with torch.no_grad():  # copy by name (load_state_dict would apply the head's
            for k, v in official_backbone.state_dict().items():  # old-version renaming)
                v.copy_(state["backbone." + k])
            for k, v in official.state_dict().items():
                v.copy_(state[k])
            predictor = official.sem_seg_head.predictor
            # the official forward takes B from num_frames only in training mode (in eval the
            # batch is one video); it has no dropout or batch statistics, so train() is safe
            predictor.train()
            predictor.num_frames = frames
            flat = clips.transpose(1, 2).flatten(0, 1)
            feats = official_backbone(flat)
            ref = official.sem_seg_head(feats)
            mine, _, _ = ours.segment(clips)
            our_feats = ours.backbone(flat)
        logits = ref["pred_logits"].flatten(0, 1) if decoder == "frame" else ref["pred_logits"]
        diffs = {"backbone": max((feats[k] - our_feats[k]).abs().max().item() for k in feats),
                 "pred_logits": (logits - mine["pred_logits"]).abs().max().item(),
                 "pred_masks": (ref["pred_masks"] - mine["pred_masks"]).abs().max().item()}
        print(f"{decoder} decoder, B={batch} T={frames} {size}: max |official - ours| {diffs}")


def _keys(module: nn.Module, prefix: str = "") -> dict[str, list[int]]:
    return {prefix + k: list(v.shape) for k, v in module.state_dict().items()}


def _write(path: Path, meta: dict[str, Any], keys: dict[str, list[int]]) -> None:
    body = {**meta, "num_keys": len(keys),
            "params": sum(math.prod(s) for s in keys.values()), "keys": keys}
    path.write_text(json.dumps(body, indent=1) + "\n")
    print(f"{path}: {len(keys)} keys, {body['params']} values")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m2f", type=Path, required=True, help="git dir of Mask2Former")
    ap.add_argument("--minvis", type=Path, required=True, help="git dir of MinVIS")
    ap.add_argument("--d2", type=Path, required=True, help="git dir of detectron2")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--check-forward", action="store_true",
                    help="also compare our forward with the official modules' (R50, CPU)")
    args = ap.parse_args()
    commits = {n: _git(getattr(args, n), "rev-parse", "HEAD").strip()
               for n in ("m2f", "minvis", "d2")}
    repos = {"m2f": "facebookresearch/Mask2Former", "minvis": "NVlabs/MinVIS",
             "d2": "facebookresearch/detectron2"}
    swin_fixture = args.out / "vis_backbone_swinl.json"
    swin = json.loads(swin_fixture.read_text()) if swin_fixture.exists() else None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _materialise(args.d2, commits["d2"], D2_FILES, root)
        _materialise(args.m2f, commits["m2f"], M2F_FILES, root)
        _materialise(args.minvis, commits["minvis"], MINVIS_FILES, root)
        sys.path.insert(0, tmp)
        _install_stubs(root)
        with torch.device("meta"):
            r50 = _keys(resnet50(), "backbone.")
            r50_channels = {"res2": 256, "res3": 512, "res4": 1024, "res5": 2048}
            for entry, decoder, repo in (("mask2former_vis", "video", "m2f"),
                                         ("minvis", "frame", "minvis")):
                files = {"m2f": sorted(M2F_FILES), "minvis": sorted(MINVIS_FILES),
                         "d2": sorted(D2_FILES)}
                files = {repos[r]: {"commit": commits[r], "files": f + CONFIGS[r]}
                         for r, f in files.items() if r in ("m2f", "d2", repo)}
                for size, queries, channels in (("r50", 100, r50_channels),
                                                ("swinl", 200, SWIN_CHANNELS)):
                    head = _keys(head_and_criterion(channels, decoder, queries))
                    if size == "r50":
                        backbone, note = r50, "detectron2 build_resnet_backbone (R50)"
                    elif swin is not None:
                        backbone = {k: list(v) for k, v in swin["keys"].items()}
                        note = "vis_backbone_swinl.json (official D2SwinTransformer)"
                    else:
                        print(f"skipping {entry}_{size}: no {swin_fixture}")
                        continue
                    _write(args.out / f"vis_{entry}_{size}.json", {
                        "source": {"repos": files, "config": CONFIGS[repo][0 if size == "r50"
                                                                         else 1],
                                   "backbone": note},
                        "derived_by": "scripts/derive_vis_keys.py: the official modules "
                                      "built with detectron2/fvcore names stubbed (no "
                                      "parameters added), nested as the meta-architecture "
                                      "nests them",
                        "checkpoint_format": "detectron2 .pkl {'model': {name: numpy array}, "
                                             "'__author__': ...} or .pth {'model': "
                                             "state_dict, ...}",
                    }, {**backbone, **head})
        if args.check_forward:
            check_forward()


if __name__ == "__main__":
    main()
