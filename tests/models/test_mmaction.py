"""The mmaction2 adapter (optional extra): offline build, aliases, clip spec, strict checkpoints."""

from __future__ import annotations

from pathlib import Path

import mmaction  # noqa: F401  (make install provides the extra; see requirements/mmaction.txt)
import pytest
import torch

from staticdyn.errors import CheckpointMismatchError, StaticDynError  # noqa: E402
from staticdyn.models import zoo  # noqa: E402
from staticdyn.models.mmaction_adapter import strip_downloads  # noqa: E402
from staticdyn.probe.api import extract

PREPROC = ("data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],"
           " std=[58.395, 57.12, 57.375], format_shape='NCTHW')")
SLOWONLY = f"""
model = dict(
    type='Recognizer3D',
    backbone=dict(type='ResNet3dSlowOnly', depth=50, pretrained='https://example.invalid/r50.pth',
                  lateral=False, conv1_kernel=(1, 7, 7), conv1_stride_t=1, pool1_stride_t=1,
                  inflate=(0, 0, 1, 1), norm_eval=False),
    cls_head=dict(type='I3DHead', in_channels=2048, num_classes=400, spatial_type='avg'),
    {PREPROC})
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=8, frame_interval=8, num_clips=10, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='ThreeCrop', crop_size=256),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs'),
]
"""
SLOWFAST = f"""
model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='ResNet3dSlowFast', pretrained=None, resample_rate=8, speed_ratio=8, channel_ratio=8,
        slow_pathway=dict(type='resnet3d', depth=50, pretrained=None, lateral=True,
                          conv1_kernel=(1, 7, 7), dilations=(1, 1, 1, 1), conv1_stride_t=1,
                          pool1_stride_t=1, inflate=(0, 0, 1, 1), norm_eval=False),
        fast_pathway=dict(type='resnet3d', depth=50, pretrained=None, lateral=False,
                          base_channels=8, conv1_kernel=(5, 7, 7), conv1_stride_t=1,
                          pool1_stride_t=1, norm_eval=False),
        init_cfg=dict(type='Pretrained', checkpoint='https://example.invalid/sf.pth')),
    cls_head=dict(type='SlowFastHead', in_channels=2304, num_classes=400, spatial_type='avg'),
    {PREPROC})
"""
X3D = """
model = dict(
    type='Recognizer3D',
    backbone=dict(type='X3D', gamma_w=1, gamma_b=2.25, gamma_d=2.2),
    cls_head=dict(type='X3DHead', in_channels=432, num_classes=400, spatial_type='avg',
                  fc1_bias=False),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[114.75, 114.75, 114.75],
                           std=[57.375, 57.375, 57.375], format_shape='NCTHW'))
"""
R50 = [64, 256, 512, 1024, 2048]


def _config(tmp_path: Path, text: str, name: str = "cfg.py") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _widths(model: zoo.ZooModel, frames: int, crop: int = 32) -> dict[str, int]:
    feats = extract(model, torch.randn(1, 3, frames, crop, crop))
    return {k: v.shape[1] for k, v in feats.items()}


def test_slowonly_offline_with_aliases_and_clip(tmp_path: Path) -> None:
    model = zoo.load_model("mmaction", builder_kwargs={"config": _config(tmp_path, SLOWONLY)})
    spec = model.clip_spec
    assert (spec.frames, spec.sampling_rate, spec.short_side, spec.crop) == (8, 8, 256, 256)
    assert spec.mean == pytest.approx((0.485, 0.456, 0.406))
    assert spec.std == pytest.approx((0.229, 0.224, 0.225))
    assert _widths(model, 2) == {f"stage{i + 1}": w for i, w in enumerate(R50)}
    assert model.untrained


def test_slowfast_pathways_before_fusion(tmp_path: Path) -> None:
    model = zoo.load_model("mmaction", builder_kwargs={"config": _config(tmp_path, SLOWFAST)})
    widths = _widths(model, 16)
    assert widths == {**{f"slow.stage{i + 1}": w for i, w in enumerate(R50)},
                      **{f"fast.stage{i + 1}": w // 8 for i, w in enumerate(R50)}}


def test_x3d_stages_and_clip_override(tmp_path: Path) -> None:
    model = zoo.load_model("mmaction", builder_kwargs={"config": _config(tmp_path, X3D)},
                           clip={"crop": 182, "frames": 4})
    assert (model.clip_spec.crop, model.clip_spec.frames) == (182, 4)
    assert model.clip_spec.mean == pytest.approx((0.45,) * 3)
    assert model.default_layers == [f"stage{i}" for i in range(1, 6)]
    assert _widths(model, 2) == dict(zip(model.default_layers, [24, 24, 48, 96, 192],
                                         strict=True))


def test_mmaction_checkpoint_round_trip(tmp_path: Path) -> None:
    cfg = {"config": _config(tmp_path, X3D)}
    model = zoo.load_model("mmaction", builder_kwargs=cfg)
    gen = torch.Generator().manual_seed(1)
    state = {k: torch.rand(v.shape, generator=gen) if v.is_floating_point() else v
             for k, v in model.module.state_dict().items()}
    path = tmp_path / "x3d.pth"
    torch.save({"meta": {"epoch": 3, "mmengine_version": "0.10.7"}, "state_dict": state}, path)
    loaded = zoo.load_model("mmaction", builder_kwargs=cfg, checkpoint=path)
    assert not loaded.untrained
    for key, value in loaded.module.state_dict().items():
        assert torch.equal(value, state[key]), key
    head_key = [k for k in state if k.startswith("cls_head.")][-1]
    del state[head_key]
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointMismatchError, match=head_key.replace(".", r"\.")):
        zoo.load_model("mmaction", builder_kwargs=cfg, checkpoint=path)


def test_downloads_are_stripped_and_reported() -> None:
    cfg = {"backbone": {"pretrained": "torchvision://resnet50",
                        "init_cfg": [{"type": "Pretrained", "checkpoint": "x"}]},
           "cls_head": {"init_cfg": {"type": "Normal", "std": 0.01}}}
    removed = strip_downloads(cfg)
    assert len(removed) == 2
    assert cfg["backbone"] == {"pretrained": None, "init_cfg": None}
    assert cfg["cls_head"]["init_cfg"] == {"type": "Normal", "std": 0.01}


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StaticDynError, match="builder_kwargs.config"):
        zoo.load_model("mmaction")
    with pytest.raises(StaticDynError, match="not found"):
        zoo.load_model("mmaction", builder_kwargs={"config": str(tmp_path / "none.py")})
    audio = "model = dict(type='RecognizerAudio', backbone=dict(type='ResNet', depth=18))\n"
    with pytest.raises(StaticDynError, match="Recognizer3D and Recognizer2D"):
        zoo.load_model("mmaction", builder_kwargs={"config": _config(tmp_path, audio, "a.py")})
    with pytest.raises(StaticDynError, match="not both"):
        zoo.load_model("mmaction", builder_kwargs={"config": _config(tmp_path, X3D),
                                                   "model": {"type": "Recognizer2D"}})


TIMESFORMER = """
model = dict(
    type='Recognizer3D',
    backbone=dict(type='TimeSformer', pretrained=None, num_frames=2, img_size=32, patch_size=16,
                  embed_dims=64, num_heads=4, num_transformer_layers=2,
                  in_channels=3, dropout_ratio=0., attention_type='divided_space_time'),
    cls_head=dict(type='TimeSformerHead', num_classes=400, in_channels=64),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5, 127.5, 127.5],
                           std=[127.5, 127.5, 127.5], format_shape='NCTHW'))
"""


def test_timesformer_through_mmaction(tmp_path: Path) -> None:
    model = zoo.load_model("mmaction", builder_kwargs={"config": _config(tmp_path, TIMESFORMER)})
    feats = extract(model, torch.randn(2, 3, 2, 32, 32))
    blocks = [k for k in model.layers if k.startswith("block")]
    assert len(blocks) == 2, model.layers
    for name in model.default_layers:
        assert feats[name].shape == (2, 64), name
