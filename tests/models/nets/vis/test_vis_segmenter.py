"""Mask2Former-VIS and MinVIS on tiny inputs: outputs, hooks, the frame-order known answer,
clips independent of their batch, query linking, and the building blocks' known answers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import staticdyn
from staticdyn.models.nets.vis.decoder import CrossAttentionLayer, SelfAttentionLayer
from staticdyn.models.nets.vis.minvis import link_queries
from staticdyn.models.nets.vis.ms_deform_attn import MSDeformAttn
from staticdyn.models.nets.vis.position_encoding import (
    PositionEmbeddingSine,
    PositionEmbeddingSine3D,
)
from staticdyn.models.nets.vis.resnet_d2 import FrozenBatchNorm2d
from staticdyn.models.zoo import entry_config
from staticdyn.probe.api import extract

B, T, SIZE, Q, C = 2, 4, 64, 10, 32
PER_FRAME = ([f"backbone.res{i}" for i in range(2, 6)]
             + [f"pixel_decoder.encoder{i}" for i in range(6)] + ["pixel_decoder.mask_features"])
DECODER = [f"decoder.layer{i}" for i in range(9)]


def _tiny(entry: str) -> staticdyn.models.spec.ZooModel:
    torch.manual_seed(0)
    tiny = entry_config(entry)["smoke"]["builder_kwargs"]
    return staticdyn.load_model(entry, builder_kwargs=tiny,
                                clip={"crop": SIZE, "short_side": SIZE, "frames": T})


@pytest.fixture(scope="module")
def models() -> dict[str, staticdyn.models.spec.ZooModel]:
    return {e: _tiny(e) for e in ("mask2former_vis_r50", "minvis_r50")}


@pytest.fixture(scope="module")
def clips() -> torch.Tensor:
    return torch.randn(B, 3, T, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def runs(models, clips) -> dict[str, dict]:
    """Every forward the tests below check, run once per model: the clip batch, its second
    clip alone, and the pooled hooks of the clips and of their frame-shuffled copies."""
    shuffled = clips[:, :, torch.tensor([2, 0, 3, 1])]
    out = {}
    for entry, model in models.items():
        with torch.inference_mode():
            both, second = model.module(clips), model.module(clips[1:])
        out[entry] = {"both": both, "second": second, "pooled": extract(model, clips),
                      "shuffled": extract(model, shuffled)}
    return out


def test_outputs_follow_the_contract(runs) -> None:
    m2f, mv = runs["mask2former_vis_r50"]["both"], runs["minvis_r50"]["both"]
    assert set(m2f) == {"pred_logits", "pred_masks"}
    assert m2f["pred_logits"].shape == mv["pred_logits"].shape == (B, Q, 41)
    assert m2f["pred_masks"].shape == mv["pred_masks"].shape == (B, Q, T, SIZE // 4, SIZE // 4)
    order = mv["query_order"]
    assert order.shape == (B, T, Q) and order.dtype == torch.long
    assert torch.equal(order[:, 0], torch.arange(Q).expand(B, Q))  # frame 0 defines the slots
    assert all(sorted(row.tolist()) == list(range(Q)) for row in order.flatten(0, 1))


def test_every_alias_is_hooked_with_its_declared_layout(models, runs) -> None:
    for entry, query_layout in (("mask2former_vis_r50", "LNC"), ("minvis_r50", "L(NT)C")):
        model = models[entry]
        assert list(model.layers) == PER_FRAME + DECODER
        assert all(model.io.layouts[a] == query_layout for a in DECODER)
        pooled = runs[entry]["pooled"]
        assert list(pooled) == PER_FRAME + DECODER
        assert all(v.shape[0] == B and torch.isfinite(v).all() for v in pooled.values())
        assert pooled["decoder.layer8"].shape == (B, C)
        assert pooled["backbone.res5"].shape == (B, 512)  # smoke widths: 64 * 2^3


def test_per_frame_layers_are_frame_order_invariant_and_only_m2f_decoder_is_not(runs) -> None:
    """The probe's built-in known answer: after the mean over time, every per-frame layer
    (backbone, pixel decoder, all of MinVIS) gives the same features for a clip and its
    frame-shuffled copy; Mask2Former-VIS's decoder sees the order through its 3-D encoding."""
    for entry, run in runs.items():
        a, b = run["pooled"], run["shuffled"]
        for alias in PER_FRAME:
            torch.testing.assert_close(a[alias], b[alias], atol=1e-5, rtol=1e-4)
        for alias in DECODER:
            gap = (a[alias] - b[alias]).abs().max().item()
            if entry == "minvis_r50":
                assert gap < 1e-4, alias
            else:
                assert gap > 1e-3, alias


def test_each_clip_is_decoded_on_its_own(runs) -> None:
    """B and T are explicit: a clip gives the same output alone as in a batch (the official
    evaluation would decode the whole batch as one video)."""
    for run in runs.values():
        both, second = run["both"], run["second"]
        torch.testing.assert_close(both["pred_logits"][1:], second["pred_logits"],
                                   atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(both["pred_masks"][1:], second["pred_masks"],
                                   atol=1e-3, rtol=1e-4)


def test_minvis_tracks_are_raw_queries_reordered_by_query_order(models, clips, runs) -> None:
    out = runs["minvis_r50"]["both"]
    with torch.inference_mode():
        raw, _, _ = models["minvis_r50"].module.segment(clips)
    logits = raw["pred_logits"].view(B, T, Q, -1)
    for b in range(B):
        for t in range(T):
            idx = out["query_order"][b, t]
            torch.testing.assert_close(out["pred_masks"][b, :, t], raw["pred_masks"][b, idx, t])
        expect = torch.stack([logits[b, t, out["query_order"][b, t]] for t in range(T)]).mean(0)
        torch.testing.assert_close(out["pred_logits"][b], expect)


def test_link_queries_recovers_a_known_permutation() -> None:
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(6, 8, generator=gen)
    perms = [torch.arange(6), torch.randperm(6, generator=gen), torch.randperm(6, generator=gen)]
    # frame t's raw query perms[t][q] continues track q (plus a little noise)
    frames = torch.stack([torch.empty_like(base).index_copy_(0, p, base) for p in perms])
    frames = frames + 0.01 * torch.randn(frames.shape, generator=gen)
    assert torch.equal(link_queries(frames), torch.stack(perms))


def test_input_not_divisible_by_32_is_padded_and_masks_cropped(models) -> None:
    model = models["mask2former_vis_r50"].module
    with torch.inference_mode():
        out = model(torch.randn(1, 3, 2, 72, 40))
        seg, b, t = models["minvis_r50"].module.segment(torch.randn(1, 3, 2, 72, 40))
    assert out["pred_masks"].shape == (1, Q, 2, 18, 10)
    # segment() hands on the mask features (what DVIS builds on), cropped like the masks
    assert (b, t) == (1, 2) and seg["mask_features"].shape == (2, C, 18, 10)
    assert seg["pred_masks"].shape == (1, Q, 2, 18, 10)


def test_bad_input_is_refused(models) -> None:
    model = models["minvis_r50"].module
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        model(torch.randn(2, 3, 64, 64))


# -- building blocks --------------------------------------------------------------------------
def test_attention_layers_without_position_codes_add_none() -> None:
    """DVIS's tracker and refiner attend without position codes: leaving them out is adding
    zeros (to float rounding: without a code, query, key and value are one tensor and
    nn.MultiheadAttention projects them in one packed matmul, as in the official
    ``with_pos_embed(x, None)``), and a given code changes the result."""
    torch.manual_seed(0)
    sa, ca = SelfAttentionLayer(8, 2).eval(), CrossAttentionLayer(8, 2).eval()
    tgt, memory, pos = torch.randn(3, 2, 8), torch.randn(5, 2, 8), torch.randn(5, 2, 8)
    zeros_q, zeros_m = torch.zeros_like(tgt), torch.zeros_like(memory)
    with torch.inference_mode():
        torch.testing.assert_close(sa(tgt), sa(tgt, query_pos=zeros_q), rtol=0, atol=1e-6)
        assert torch.equal(ca(tgt, memory),
                           ca(tgt, memory, None, pos=zeros_m, query_pos=zeros_q))
        assert not torch.allclose(ca(tgt, memory, pos=pos), ca(tgt, memory), atol=1e-3)
        assert not torch.allclose(sa(tgt, query_pos=pos[:3]), sa(tgt), atol=1e-3)


def test_frozen_batchnorm_is_batchnorm_in_eval() -> None:
    gen = torch.Generator().manual_seed(0)
    fbn, bn = FrozenBatchNorm2d(5), torch.nn.BatchNorm2d(5).eval()
    for name in ("weight", "bias", "running_mean"):
        value = torch.randn(5, generator=gen)
        getattr(fbn, name).copy_(value)
        getattr(bn, name).data.copy_(value)
    var = torch.rand(5, generator=gen) + 0.5
    fbn.running_var.copy_(var)
    bn.running_var.copy_(var)
    x = torch.randn(2, 5, 3, 3, generator=gen)
    torch.testing.assert_close(fbn(x), bn(x))
    assert set(fbn.state_dict()) == {"weight", "bias", "running_mean", "running_var"}


def test_deformable_attention_with_no_offsets_reads_the_reference_pixel() -> None:
    """One level, one point, zero offsets: each query samples its own pixel centre exactly,
    so with identity projections the output is the input."""
    attn = MSDeformAttn(d_model=8, n_levels=1, n_heads=2, n_points=1)
    with torch.no_grad():
        attn.sampling_offsets.bias.zero_()
        for lin in (attn.value_proj, attn.output_proj):
            lin.weight.copy_(torch.eye(8))
            lin.bias.zero_()
    h, w = 3, 5
    x = torch.randn(2, h * w, 8)
    ys, xs = torch.meshgrid((torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w,
                            indexing="ij")
    ref = torch.stack((xs.flatten(), ys.flatten()), -1)[None, :, None].expand(2, -1, 1, 2)
    torch.testing.assert_close(attn(x, ref, x, [(h, w)]), x)


def test_position_encodings() -> None:
    pe2, pe3 = PositionEmbeddingSine(8, normalize=True), PositionEmbeddingSine3D(8, normalize=True)
    p2 = pe2(torch.zeros(1, 3, 4, 6))
    p3 = pe3(torch.zeros(1, 5, 3, 4, 6))
    assert p2.shape == (1, 16, 4, 6) and p3.shape == (1, 5, 16, 4, 6)
    # first channel: sin of the normalised row coordinate (row 1 of 4 -> 2*pi/4)
    assert p2[0, 0, 0, 0].item() == pytest.approx(torch.sin(torch.tensor(2 * torch.pi / 4)).item(),
                                                  abs=1e-5)
    # the 3-D encoding is the 2-D one plus a time term that differs between frames
    z = p3[0] - p2[0]
    assert not torch.allclose(z[0], z[1])
    assert torch.allclose(z[0], z[0, :, :1, :1].expand_as(z[0]))  # constant over space
    assert F.cosine_similarity(z[0].flatten(), z[-1].flatten(), dim=0) < 0.99


def test_bf16_autocast_runs_with_the_pixel_decoder_in_float32(models) -> None:
    """Official: the deformable pixel decoder runs outside autocast; linking costs are float64
    numpy whatever the decoder's dtype."""
    module = models["minvis_r50"].module
    seen = []
    handle = module.sem_seg_head.pixel_decoder.mask_features.register_forward_hook(
        lambda _m, _i, out: seen.append(out.dtype))
    try:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            out = module(torch.randn(1, 3, 2, SIZE, SIZE))
    finally:
        handle.remove()
    assert seen == [torch.float32]
    assert out["query_order"].shape == (1, 2, Q)
