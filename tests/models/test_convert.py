"""Checkpoint conversion: every reference layout in tests/fixtures/checkpoint_keys, end to end.

Each fixture records the exact keys/shapes (and file format) a reference code base writes. For
each one a random checkpoint with exactly those keys is written in that format, read back and
converted, and the result must be complete and exact. Where the fixtures say the two code bases
list their tensors in the same order (ResNet family, X3D minus one BatchNorm), that order is
used as an independent oracle: target tensor i must hold source tensor i's values.
"""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from pytorchvideo.models import hub
from pytorchvideo.models.hub.vision_transformers import mvit_video_base_config
from pytorchvideo.models.resnet import create_resnet
from pytorchvideo.models.vision_transformers import create_multiscale_vision_transformers

from staticdyn.errors import UnknownChoiceError, UnsafeCheckpointError
from staticdyn.models.checkpoints.card import CheckpointCard
from staticdyn.models.checkpoints.convert import (
    caffe2_to_slowfast,
    convert_from_pytorchvideo,
    convert_to_pytorchvideo,
    detect_layout,
    slowfast_to_caffe2,
)
from staticdyn.models.checkpoints.convert.common import BN_EPS, CheckpointLayoutError
from staticdyn.models.checkpoints.convert.mvit import KOWAL_POOL_KV_STRIDE_SIZE
from staticdyn.models.checkpoints.reader import read_checkpoint
from staticdyn.models.nets.timesformer import build_timesformer
from staticdyn.models.zoo import checkpoint_card

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoint_keys"
Keys = dict[str, tuple[int, ...]]


def card(entry: str) -> CheckpointCard:
    """The zoo entry's checkpoint facts (family, pathway), as its YAML card states them."""
    return checkpoint_card(entry)


def fixture(name: str) -> dict:
    return json.loads((FIX / name).read_text())


def keys_of(name: str) -> Keys:
    return {k: tuple(v) for k, v in fixture(name)["keys"].items()}


def shapes(sd: dict[str, torch.Tensor]) -> Keys:
    return {k: tuple(v.shape) for k, v in sd.items()}


def random_state(keys: Keys, seed: int) -> dict[str, torch.Tensor]:
    """Random tensors with exactly these keys; BN variances positive, counters int64."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, s in keys.items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.randint(1, 10_000, (), generator=g)
        elif k.endswith("running_var"):
            out[k] = torch.rand(s, generator=g) + 0.5
        else:
            out[k] = torch.randn(s, generator=g)
    return out


def save_slowfast_pyth(sd: dict[str, torch.Tensor], path: Path) -> Path:
    """SlowFast .pyth: {'epoch', 'model_state', 'optimizer_state', 'cfg' (a YAML string)}."""
    torch.save({"epoch": 196, "model_state": sd, "optimizer_state": {"state": {}},
                "cfg": "MODEL:\n  ARCH: test\n"}, path)
    return path


class Py2Pickler(pickle._Pickler):
    """Protocol-2 pickler writing bytes and ASCII text as Python-2 ``str`` (BINSTRING).

    That is how the SlowFast zoo's Caffe2 pickles store blob names and array data, and why they
    must be read with latin1; Python 3's own protocol 2 would wrap bytes in _codecs calls.
    """

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: bytes | str) -> None:
        if isinstance(obj, str):
            if not obj.isascii():
                return self.save_str(obj)
            obj = obj.encode("ascii")
        self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)  # not memoized

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


def fast_r50_keys() -> Keys:
    """FastOnly as the zoo builds it: create_resnet with the SlowFast R50 fast-pathway widths."""
    with torch.device("meta"):
        m = create_resnet(stem_dim_out=8, stem_conv_kernel_size=(5, 7, 7),
                          stage_conv_a_kernel_size=((3, 1, 1),) * 4,
                          head_pool_kernel_size=(32, 8, 8))
    return shapes(m.state_dict())


def meta_keys(builder, **kw) -> Keys:
    with torch.device("meta"):
        return shapes(builder(**kw).state_dict())


# (SlowFast fixture, pytorchvideo fixture or None, entry)
SLOWFAST_CASES = [
    ("slowfast_C2D_8x8_R50.json", "pytorchvideo_c2d_r50.json", "c2d_r50"),
    ("slowfast_I3D_8x8_R50.json", "pytorchvideo_i3d_r50.json", "i3d_r50"),
    ("slowfast_SLOW_8x8_R50.json", "pytorchvideo_slow_r50.json", "slow_r50"),
    ("slowfast_SLOWFAST_8x8_R50.json", "pytorchvideo_slowfast_r50.json", "slowfast_r50"),
    ("slowfast_FAST_8x8_R50.json", None, "fast_r50"),
    ("slowfast_X3D_XS.json", "pytorchvideo_x3d_xs.json", "x3d_xs"),
    ("slowfast_X3D_S.json", "pytorchvideo_x3d_s.json", "x3d_s"),
    ("slowfast_X3D_M.json", "pytorchvideo_x3d_m.json", "x3d_m"),
]

X3D_SHORTCUT_BN = "s2.pathway0_res0.branch1_bn."
X3D_FOLDED = {"blocks.1.res_blocks.0.branch1_conv.weight",
              "blocks.1.res_blocks.0.branch2.norm_c.bias"}


def target_for(ptv_fixture: str | None, entry: str) -> Keys:
    return keys_of(ptv_fixture) if ptv_fixture else fast_r50_keys()


@pytest.mark.parametrize("sf_name,ptv_name,entry", SLOWFAST_CASES,
                         ids=[c[2] for c in SLOWFAST_CASES])
def test_slowfast_pyth_converts_exactly(tmp_path, sf_name, ptv_name, entry):
    sf_keys = keys_of(sf_name)
    target = target_for(ptv_name, entry)
    sd = random_state(sf_keys, seed=len(sf_keys))
    loaded = read_checkpoint(save_slowfast_pyth(sd, tmp_path / "ckpt.pyth"))
    assert detect_layout(loaded, card(entry)) == "slowfast"

    out = convert_to_pytorchvideo(loaded, card(entry), target)

    assert list(out) == list(target)
    assert shapes(out) == target
    # Positional oracle (fixture notes: same order in both code bases, X3D minus one BN).
    x3d = entry.startswith("x3d")
    src_order = [k for k in sf_keys if not (x3d and k.startswith(X3D_SHORTCUT_BN))]
    assert len(src_order) == len(target)
    for sk, tk in zip(src_order, target, strict=True):
        if x3d and tk in X3D_FOLDED:
            continue
        assert torch.equal(out[tk], sd[sk]), f"{sk} -> {tk}"

    if x3d:
        # The naming trap: SlowFast conv_xy is the spatial 1x3x3 conv = pytorchvideo conv_t.
        stem = "s1.pathway0_stem."
        assert torch.equal(out["blocks.0.conv.conv_t.weight"], sd[stem + "conv_xy.weight"])
        assert torch.equal(out["blocks.0.conv.conv_xy.weight"], sd[stem + "conv.weight"])
        # Folded shortcut BatchNorm, checked against the eval-mode BN formula.
        bn = {p: sd[X3D_SHORTCUT_BN + p].double()
              for p in ("weight", "bias", "running_mean", "running_var")}
        scale = bn["weight"] / torch.sqrt(bn["running_var"] + BN_EPS)
        shift = bn["bias"] - bn["running_mean"] * scale
        w = sd["s2.pathway0_res0.branch1.weight"].double() * scale.view(-1, 1, 1, 1, 1)
        torch.testing.assert_close(out["blocks.1.res_blocks.0.branch1_conv.weight"], w.float())
        c = sd["s2.pathway0_res0.branch2.c_bn.bias"].double() + shift
        torch.testing.assert_close(out["blocks.1.res_blocks.0.branch2.norm_c.bias"], c.float())
    if entry == "slowfast_r50":
        assert torch.equal(out["blocks.0.multipathway_fusion.conv_fast_to_slow.weight"],
                           sd["s1_fuse.conv_f2s.weight"])
        assert torch.equal(out["blocks.6.proj.weight"], sd["head.projection.weight"])
    if entry in ("c2d_r50", "i3d_r50"):  # blocks.2 is the parameter-free stage-1 pool
        assert torch.equal(out["blocks.3.res_blocks.0.branch1_conv.weight"],
                           sd["s3.pathway0_res0.branch1.weight"])


@pytest.mark.parametrize("sf_name,ptv_name,entry", SLOWFAST_CASES,
                         ids=[c[2] for c in SLOWFAST_CASES])
def test_inverse_writes_the_slowfast_layout(sf_name, ptv_name, entry):
    """convert_from_pytorchvideo reproduces the reference key list exactly (order included)."""
    target = target_for(ptv_name, entry)
    ptv = {k: torch.empty(s, device="meta") for k, s in target.items()}
    sf = convert_from_pytorchvideo(ptv, card(entry))
    assert shapes(sf) == keys_of(sf_name)
    assert list(sf) == list(keys_of(sf_name))


CAFFE2_CASES = [
    ("C2D_8x8_R50", "pytorchvideo_c2d_r50.json", "c2d_r50"),
    ("I3D_8x8_R50", "pytorchvideo_i3d_r50.json", "i3d_r50"),
    ("SLOW_8x8_R50", "pytorchvideo_slow_r50.json", "slow_r50"),
    ("SLOWFAST_8x8_R50", "pytorchvideo_slowfast_r50.json", "slowfast_r50"),
]


@pytest.mark.parametrize("model,ptv_name,entry", CAFFE2_CASES, ids=[c[2] for c in CAFFE2_CASES])
def test_caffe2_pickle_converts_exactly(tmp_path, model, ptv_name, entry):
    fx = fixture(f"caffe2_blobs/{model}.json")
    rng = np.random.default_rng(len(fx["blobs"]))
    blobs: dict[str, np.ndarray] = {}
    for name, info in fx["blobs"].items():
        blobs[name] = rng.standard_normal(info["shape"], dtype=np.float32)
        if name.endswith(("_w", "_b", "_s")):
            blobs[name + "_momentum"] = np.zeros(info["shape"], np.float32)
    blobs["lr"] = np.array([0.1], np.float32)
    blobs["model_iter"] = np.array([1000], np.int64)
    path = tmp_path / f"{model}.pkl"
    with open(path, "wb") as f:
        Py2Pickler(f, protocol=2).dump({"blobs": blobs})

    loaded = read_checkpoint(path)
    assert detect_layout(loaded, card(entry)) == "caffe2"

    # Blob names -> SlowFast keys: exactly the fixture's table.
    sf = caffe2_to_slowfast(loaded, card(entry))
    assert set(sf) == {info["key"] for info in fx["blobs"].values()}
    for name, info in fx["blobs"].items():
        assert np.array_equal(sf[info["key"]].numpy(), blobs[name]), name
    sf_keys = {k: v for k, v in keys_of(f"slowfast_{model}.json").items()
               if not k.endswith("num_batches_tracked")}
    assert shapes(sf) == sf_keys

    # ... and on to pytorchvideo, strictly.
    target = keys_of(ptv_name)
    out = convert_to_pytorchvideo(loaded, card(entry), target)
    assert shapes(out) == target
    head = next(k for k in target if k.endswith(".proj.weight"))
    assert np.array_equal(out[head].numpy(), blobs["pred_w"])
    stem = ("blocks.0.multipathway_blocks.0.conv.weight" if entry == "slowfast_r50"
            else "blocks.0.conv.weight")
    assert np.array_equal(out[stem].numpy(), blobs["conv1_w"])
    assert all(int(v) == 0 for k, v in out.items() if k.endswith("num_batches_tracked"))
    if entry == "slowfast_r50":
        assert np.array_equal(out["blocks.0.multipathway_fusion.conv_fast_to_slow.weight"].numpy(),
                              blobs["t_pool1_subsample_w"])
        assert np.array_equal(
            out["blocks.1.multipathway_blocks.1.res_blocks.2.branch2.norm_b.running_var"].numpy(),
            blobs["t_res2_2_branch2b_bn_riv"])

    # The inverse writes the fixture's canonical blob names.
    back = convert_from_pytorchvideo(out, card(entry), layout="caffe2")
    assert set(back) == set(fx["blobs"])


def test_caffe2_strictness(tmp_path):
    blobs = {"conv1_w": np.zeros((64, 3, 1, 7, 7), np.float32)}
    # A pickle written by Python 3 itself (bytes via _codecs.encode) reads back too.
    with open(tmp_path / "py3.pkl", "wb") as f:
        pickle.dump({"blobs": blobs, "info": "x"}, f, protocol=2)
    assert set(read_checkpoint(tmp_path / "py3.pkl")["blobs"]) == {"conv1_w"}
    # ... but nothing beyond arrays is unpickled.
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump({"blobs": blobs, "x": Path("/")}, f, protocol=2)
    with pytest.raises(UnsafeCheckpointError, match="pathlib.PosixPath.*trust_checkpoint=true"):
        read_checkpoint(tmp_path / "evil.pkl")
    slow = card("slow_r50")
    with pytest.raises(ValueError, match="no SlowFast naming rule"):
        caffe2_to_slowfast({**blobs, "mystery_blob": np.zeros(3)}, slow)
    with pytest.raises(ValueError, match=r"pathway 'slow_r50' does not have \(it has \[0\]\)"):
        caffe2_to_slowfast({**blobs, "t_conv1_w": np.zeros((8, 3, 5, 7, 7))}, slow)
    # ... while FastOnly's card (checkpoint_pathway: 1) takes exactly the t_ blobs
    fast = caffe2_to_slowfast({"t_conv1_w": np.zeros((8, 3, 5, 7, 7))}, card("fast_r50"))
    assert list(fast) == ["s1.pathway1_stem.conv.weight"]
    with pytest.raises(ValueError, match="pathway"):
        caffe2_to_slowfast(blobs, card("fast_r50"))
    with pytest.raises(ValueError, match="both name"):
        caffe2_to_slowfast({**blobs, "res_conv1_w": np.zeros((64, 3, 1, 7, 7))}, slow)
    # The SlowFast loader's shape rules: trailing 1s appended, 1-D blobs tiled.
    out = caffe2_to_slowfast({"pred_w": np.ones((4, 6), np.float32),
                              "res_conv1_bn_s": np.arange(2, dtype=np.float32)}, slow,
                             model_keys={"head.projection.weight": (4, 6, 1, 1, 1),
                                         "s1.pathway0_stem.bn.weight": (4,)})
    assert out["head.projection.weight"].shape == (4, 6, 1, 1, 1)
    assert out["s1.pathway0_stem.bn.weight"].tolist() == [0, 1, 0, 1]
    with pytest.raises(ValueError, match="X3D"):
        convert_to_pytorchvideo({"blobs": blobs}, card("x3d_xs"),
                                keys_of("pytorchvideo_x3d_xs.json"))


PTV_CASES = [
    ("pytorchvideo_c2d_r50.json", "c2d_r50"),
    ("pytorchvideo_i3d_r50.json", "i3d_r50"),
    ("pytorchvideo_slow_r50.json", "slow_r50"),
    ("pytorchvideo_slowfast_r50.json", "slowfast_r50"),
    ("pytorchvideo_x3d_xs.json", "x3d_xs"),
    ("pytorchvideo_x3d_s.json", "x3d_s"),
    ("pytorchvideo_x3d_m.json", "x3d_m"),
    ("pytorchvideo_mvit_base_16x4.json", "mvit_base_16x4"),
]


@pytest.mark.parametrize("ptv_name,entry", PTV_CASES, ids=[c[1] for c in PTV_CASES])
def test_pytorchvideo_pyth_passes_through(tmp_path, ptv_name, entry):
    target = keys_of(ptv_name)
    sd = random_state(target, seed=7)
    path = tmp_path / "ptv.pyth"
    torch.save({"model_state": sd}, path)
    loaded = read_checkpoint(path)
    assert detect_layout(loaded, card(entry)) == "pytorchvideo"
    out = convert_to_pytorchvideo(loaded, card(entry), target)
    assert list(out) == list(target)
    assert all(torch.equal(out[k], sd[k]) for k in target)
    # DataParallel prefix is tolerated.
    out = convert_to_pytorchvideo({"module." + k: v for k, v in sd.items()}, card(entry), target)
    assert shapes(out) == target


def test_mvit_upstream_layout_splits_qkv(tmp_path):
    sf_keys = keys_of("slowfast_upstream_MVIT_B_16x4_CONV.json")
    target = keys_of("pytorchvideo_mvit_base_16x4.json")
    sd = random_state(sf_keys, seed=3)
    loaded = read_checkpoint(save_slowfast_pyth(sd, tmp_path / "mvit.pyth"))
    assert detect_layout(loaded, card("mvit_base_16x4")) == "slowfast"
    out = convert_to_pytorchvideo(loaded, card("mvit_base_16x4"), target)
    assert list(out) == list(target) and shapes(out) == target
    for blk, c in ((0, 96), (1, 192), (15, 768)):
        qkv_w, qkv_b = sd[f"blocks.{blk}.attn.qkv.weight"], sd[f"blocks.{blk}.attn.qkv.bias"]
        for i, n in enumerate("qkv"):
            assert torch.equal(out[f"blocks.{blk}.attn.{n}.weight"], qkv_w[i * c:(i + 1) * c])
            assert torch.equal(out[f"blocks.{blk}.attn.{n}.bias"], qkv_b[i * c:(i + 1) * c])
    renames = {"cls_token": "cls_positional_encoding.cls_token",
               "pos_embed_spatial": "cls_positional_encoding.pos_embed_spatial",
               "pos_embed_temporal": "cls_positional_encoding.pos_embed_temporal",
               "pos_embed_class": "cls_positional_encoding.pos_embed_class",
               "patch_embed.proj.weight": "patch_embed.patch_model.weight",
               "norm.weight": "norm_embed.weight",
               "head.projection.weight": "head.proj.weight",
               "blocks.14.attn.pool_k.weight": "blocks.14.attn.pool_k.weight",
               "blocks.1.attn.norm_q.bias": "blocks.1.attn.norm_q.bias",
               "blocks.0.proj.weight": "blocks.0.proj.weight"}
    for s, t in renames.items():
        assert torch.equal(out[t], sd[s]), s
    # Every SlowFast tensor is used: 301 + 12 pooled tensors, qkv counted 3 times.
    n_qkv = sum(1 for k in sf_keys if ".attn.qkv." in k)
    assert len(out) == len(sf_keys) + 2 * n_qkv


def test_mvit_zoo_layout_without_kv_pooling_in_last_blocks(tmp_path):
    """The 301-key file needs a model without K/V pooling in blocks 14-15, and says so."""
    sf_keys = keys_of("slowfast_MVIT_B_16x4_CONV.json")
    sd = random_state(sf_keys, seed=4)
    loaded = read_checkpoint(save_slowfast_pyth(sd, tmp_path / "mvit.pyth"))
    full = keys_of("pytorchvideo_mvit_base_16x4.json")
    with pytest.raises(ValueError, match=r"no key/value pooling in blocks \[14, 15\]"):
        convert_to_pytorchvideo(loaded, card("mvit_base_16x4"), full)

    cfg = {k: v for k, v in mvit_video_base_config.items() if k != "pool_kv_stride_adaptive"}
    model = create_multiscale_vision_transformers(**cfg,
                                                  pool_kv_stride_size=KOWAL_POOL_KV_STRIDE_SIZE)
    target = shapes(model.state_dict())
    dropped = {k for k in full if k.startswith(("blocks.14.attn.", "blocks.15.attn."))
               and any(p in k for p in ("pool_k", "norm_k", "pool_v", "norm_v"))}
    assert len(dropped) == 12 and target == {k: v for k, v in full.items() if k not in dropped}
    out = convert_to_pytorchvideo(loaded, card("mvit_base_16x4"), target)
    model.load_state_dict(out, strict=True)
    assert torch.equal(model.blocks[13].attn.pool_k.weight, sd["blocks.13.attn.pool_k.weight"])

    # The upstream 313-key file into this model is refused the other way round.
    up = {k: torch.empty(s, device="meta")
          for k, s in keys_of("slowfast_upstream_MVIT_B_16x4_CONV.json").items()}
    with pytest.raises(ValueError, match=r"pools keys/values in blocks \[14, 15\]"):
        convert_to_pytorchvideo(up, card("mvit_base_16x4"), target)


def test_mvit_pool_aliases_of_pytorchvideo_main():
    target = keys_of("pytorchvideo_mvit_base_16x4.json")
    sd = {k: torch.zeros(s) for k, s in target.items()}
    w = sd["blocks.1.attn.pool_q.weight"]
    aliased = {**sd, "blocks.1.attn._attention_pool_q.pool.weight": w}
    assert len(convert_to_pytorchvideo(aliased, card("mvit_base_16x4"), target)) == len(target)
    aliased["blocks.1.attn._attention_pool_q.pool.weight"] = w + 1
    with pytest.raises(ValueError, match="left unused"):
        convert_to_pytorchvideo(aliased, card("mvit_base_16x4"), target)


def test_mvit_qkv_split_matches_fused_attention():
    """Chunking qkv along dim 0 reproduces SlowFast's reshape(B, N, 3, heads, hd) semantics."""
    torch.manual_seed(0)
    model = create_multiscale_vision_transformers(
        spatial_size=32, temporal_size=4, depth=3, patch_embed_dim=16, num_heads=2,
        embed_dim_mul=[[1, 2.0]], atten_head_mul=[[1, 2.0]],
        pool_q_stride_size=[[1, 1, 2, 2]], pool_kv_stride_adaptive=[1, 4, 4],
        pool_kvq_kernel=[3, 3, 3], head_num_classes=5).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    sd = model.state_dict()
    sf = convert_from_pytorchvideo(sd, card("mvit_base_16x4"))
    attn = model.blocks[2].attn
    x = torch.randn(2, 7, attn.q.in_features)
    heads = attn.num_heads
    fused = torch.nn.functional.linear(x, sf["blocks.2.attn.qkv.weight"],
                                       sf["blocks.2.attn.qkv.bias"])
    c = attn.q.out_features
    fused = fused.reshape(2, 7, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    for i, layer in enumerate((attn.q, attn.k, attn.v)):
        sep = layer(x).reshape(2, 7, heads, c // heads).permute(0, 2, 1, 3)
        torch.testing.assert_close(fused[i], sep)

    back = convert_to_pytorchvideo(sf, card("mvit_base_16x4"), shapes(sd))
    fresh = create_multiscale_vision_transformers(
        spatial_size=32, temporal_size=4, depth=3, patch_embed_dim=16, num_heads=2,
        embed_dim_mul=[[1, 2.0]], atten_head_mul=[[1, 2.0]],
        pool_q_stride_size=[[1, 1, 2, 2]], pool_kv_stride_adaptive=[1, 4, 4],
        pool_kvq_kernel=[3, 3, 3], head_num_classes=5).eval()
    fresh.load_state_dict(back, strict=True)
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(fresh(clip), model(clip), rtol=0, atol=0)


def test_timesformer_release_converts(tmp_path):
    release = keys_of("timesformer_divST_8x32_224_K400.json")
    sd = random_state(release, seed=6)
    torch.save({"epoch": 15, "model_state": sd, "optimizer_state": {}, "cfg": "x"},
               tmp_path / "TimeSformer_divST_8x32_224_K400.pyth")
    loaded = read_checkpoint(tmp_path / "TimeSformer_divST_8x32_224_K400.pyth")
    assert detect_layout(loaded, card("timesformer")) == "timesformer"
    target = meta_keys(build_timesformer)
    out = convert_to_pytorchvideo(loaded, card("timesformer"), target)
    assert list(out) == list(target) and shapes(out) == target
    for k in ("cls_token", "pos_embed", "time_embed", "blocks.3.temporal_fc.weight", "head.bias"):
        assert torch.equal(out[k], sd["model." + k])
    del sd, loaded, out


# Entries without a reference fixture: the inverse and forward conversions must agree on the
# model's own keys (run on meta tensors: no memory, shapes only).
NO_FIXTURE = [
    ("slowfast_r101", lambda: meta_keys(hub.slowfast_r101)),
    ("x3d_l", lambda: meta_keys(hub.x3d_l)),
    ("fast_r50", fast_r50_keys),
    ("mvit_base_32x3", lambda: shapes(hub.mvit_base_32x3().state_dict())),
]


@pytest.mark.parametrize("entry,make", NO_FIXTURE, ids=[c[0] for c in NO_FIXTURE])
def test_round_trip_keys_without_fixture(entry, make):
    target = make()
    ptv = {k: torch.empty(s, device="meta") for k, s in target.items()}
    sf = convert_from_pytorchvideo(ptv, card(entry))
    assert detect_layout(sf, card(entry)) == "slowfast"
    back = convert_to_pytorchvideo(sf, card(entry), target)
    assert list(back) == list(target) and shapes(back) == target


def _randomize(model: torch.nn.Module, seed: int) -> None:
    """Distinct values in every 1-D tensor (BN statistics included) so a misplaced one shows.

    Conv/linear weights keep the builder's random init, which keeps activations bounded.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point() or t.dim() != 1:
                continue
            if name.endswith(("running_var", "weight")):
                t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)


def _trunk(model: torch.nn.Module, x):
    """Stage-5 output (the hub heads pool with fixed 224-px kernels, too big for test clips)."""
    x = list(x) if isinstance(x, list) else x  # multipathway blocks write into the list
    for blk in list(model.blocks)[:5]:
        x = blk(x)
    return x


@pytest.fixture(scope="module")
def slowfast_pair():
    torch.manual_seed(0)
    return hub.slowfast_r50(pretrained=False).eval(), hub.slowfast_r50(pretrained=False).eval()


def test_slowfast_r50_numerical_round_trip(tmp_path, slowfast_pair):
    model, fresh = slowfast_pair
    _randomize(model, seed=1)
    sd = model.state_dict()
    sf = convert_from_pytorchvideo(sd, card("slowfast_r50"))
    assert shapes(sf) == keys_of("slowfast_SLOWFAST_8x8_R50.json")
    loaded = read_checkpoint(save_slowfast_pyth(sf, tmp_path / "sf.pyth"))
    fresh.load_state_dict(convert_to_pytorchvideo(loaded, card("slowfast_r50"), shapes(sd)),
                          strict=True)
    g = torch.Generator().manual_seed(2)
    clip = [torch.randn(1, 3, 4, 64, 64, generator=g), torch.randn(1, 3, 16, 64, 64, generator=g)]
    with torch.no_grad():
        a, b = _trunk(model, clip), _trunk(fresh, clip)
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=0)
        proj_a, proj_b = model.blocks[6].proj, fresh.blocks[6].proj
        feats = torch.cat([t.mean(dim=(2, 3, 4)) for t in a], dim=1)
        torch.testing.assert_close(proj_a(feats), proj_b(feats), rtol=0, atol=0)

    # Through the Caffe2 naming as well.
    blobs = convert_from_pytorchvideo(sd, card("slowfast_r50"), layout="caffe2")
    assert blobs.keys() == slowfast_to_caffe2(sf).keys()
    assert set(blobs) == set(fixture("caffe2_blobs/SLOWFAST_8x8_R50.json")["blobs"])
    again = convert_to_pytorchvideo({"blobs": blobs}, card("slowfast_r50"), shapes(sd))
    assert all(torch.equal(again[k], sd[k]) for k in sd if not k.endswith("num_batches_tracked"))


def test_x3d_xs_numerical_round_trip_and_shortcut_fold(tmp_path):
    torch.manual_seed(0)
    model = hub.x3d_xs(pretrained=False).eval()
    _randomize(model, seed=3)
    sd = model.state_dict()
    target = shapes(sd)
    sf = convert_from_pytorchvideo(sd, card("x3d_xs"))
    assert shapes(sf) == keys_of("slowfast_X3D_XS.json")
    # Round trip through the identity shortcut BN is exact.
    loaded = read_checkpoint(save_slowfast_pyth(sf, tmp_path / "x3d.pyth"))
    back = convert_to_pytorchvideo(loaded, card("x3d_xs"), target)
    assert all(torch.equal(back[k], sd[k]) for k in sd)

    # A SlowFast X3D with a real shortcut BN: emulate SlowFast by giving the pytorchvideo block
    # that BN, then compare with the converted (folded) model.
    g = torch.Generator().manual_seed(4)
    bn = torch.nn.BatchNorm3d(24).eval()
    with torch.no_grad():
        bn.weight.copy_(torch.rand(24, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(24, generator=g))
        bn.running_mean.copy_(torch.randn(24, generator=g))
        bn.running_var.copy_(torch.rand(24, generator=g) + 0.5)
    for p, t in bn.state_dict().items():
        sf[X3D_SHORTCUT_BN + p] = t
    folded = hub.x3d_xs(pretrained=False).eval()
    folded.load_state_dict(convert_to_pytorchvideo(sf, card("x3d_xs"), target), strict=True)
    reference = model  # same weights as sf apart from the BN, which it now gets as a module
    reference.blocks[1].res_blocks[0].branch1_norm = bn
    clip = torch.randn(2, 3, 4, 64, 64, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(_trunk(folded, clip), _trunk(reference, clip),
                                   rtol=1e-4, atol=1e-4)


def test_errors_name_the_problem():
    target = keys_of("pytorchvideo_slow_r50.json")
    sf = {k: torch.empty(s, device="meta")
          for k, s in keys_of("slowfast_SLOW_8x8_R50.json").items()}
    with pytest.raises(UnknownChoiceError, match="slow50"):
        card("slow50")
    # the family comes from the card: one no converter reads is refused by name
    with pytest.raises(ValueError, match="family 'csn', which no layout converter reads"):
        convert_to_pytorchvideo(sf, checkpoint_card("csn_r101", checkpoint_format="slowfast"),
                                target)
    with pytest.raises(ValueError, match="left unused.*extra.weight"):
        convert_to_pytorchvideo({**sf, "s2.pathway0_res0.extra.weight": torch.empty(1)},
                                card("slow_r50"), target)
    missing = dict(sf)
    del missing["s3.pathway0_res1.branch2.b.weight"]
    with pytest.raises(ValueError, match="not produced.*blocks.2.res_blocks.1.branch2.conv_b"):
        convert_to_pytorchvideo(missing, card("slow_r50"), target)
    wrong = {**sf, "head.projection.weight": torch.empty(10, 2048, device="meta")}
    with pytest.raises(ValueError, match=r"shape mismatch.*\(10, 2048\) vs model \(400, 2048\)"):
        convert_to_pytorchvideo(wrong, card("slow_r50"), target)
    with pytest.raises(ValueError, match="model keys not produced"):  # fast weights, slow model
        convert_to_pytorchvideo(
            {k: torch.empty(s, device="meta")
             for k, s in keys_of("slowfast_FAST_8x8_R50.json").items()}, card("slow_r50"), target)
    mvit = {k: torch.empty(s, device="meta")
            for k, s in keys_of("slowfast_MVIT_B_16x4_CONV.json").items()}
    with pytest.raises(ValueError, match="cannot tell the layout"):
        convert_to_pytorchvideo(mvit, card("slow_r50"), target)
    with pytest.raises(CheckpointLayoutError, match="layout 'caffe2' is not available"):
        convert_from_pytorchvideo({}, card("mvit_base_16x4"), layout="caffe2")
