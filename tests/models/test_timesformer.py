"""Native TimeSformer: release-compatible keys, and the divided space-time forward checked
against a deliberately naive loop implementation (one attention call per patch / per frame)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from staticdyn.models.checkpoints.convert import (
    convert_from_pytorchvideo,
    convert_to_pytorchvideo,
)
from staticdyn.models.checkpoints.reader import read_checkpoint
from staticdyn.models.nets.timesformer import TimeSformer, build_timesformer
from staticdyn.models.zoo import checkpoint_card

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoint_keys"
SMALL = dict(num_classes=10, num_frames=4, img_size=32, patch_size=8, embed_dim=32, depth=2,
             num_heads=4)


def small_model(seed: int = 0) -> TimeSformer:
    """Small model with every parameter random (the init zeroes temporal_fc after block 0)."""
    torch.manual_seed(seed)
    model = build_timesformer(**SMALL).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight"):
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0, 0.2)
    return model


def test_keys_and_shapes_equal_the_release_without_prefix():
    fx = json.loads((FIX / "timesformer_divST_8x32_224_K400.json").read_text())
    release = [(k.removeprefix("model."), tuple(v)) for k, v in fx["keys"].items()]
    with torch.device("meta"):
        model = build_timesformer()
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert ours == release  # same names, shapes and order
    assert sum(v.numel() for v in model.state_dict().values()) == fx["params"]


def test_block_outputs_are_token_sequences_with_class_token_first():
    model = small_model()
    seen: dict[str, tuple[int, ...]] = {}
    for i, blk in enumerate(model.blocks):
        blk.register_forward_hook(lambda _m, _i, out, i=i: seen.__setitem__(f"blocks.{i}",
                                                                          tuple(out.shape)))
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 4, 32, 32))
    n = (32 // 8) ** 2
    assert logits.shape == (2, 10)
    assert seen == {"blocks.0": (2, 1 + 4 * n, 32), "blocks.1": (2, 1 + 4 * n, 32)}


def _attention(attn: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Plain multi-head attention on one sequence (L, C), heads as contiguous channel chunks."""
    c = x.shape[-1]
    h = attn.num_heads
    d = c // h
    w, b = attn.qkv.weight, attn.qkv.bias
    q, k, v = (x @ w[i * c:(i + 1) * c].T + b[i * c:(i + 1) * c] for i in range(3))
    heads = []
    for j in range(h):
        s = slice(j * d, (j + 1) * d)
        a = torch.softmax(q[:, s] @ k[:, s].T / d**0.5, dim=-1)
        heads.append(a @ v[:, s])
    return attn.proj(torch.cat(heads, dim=1))


def reference_forward(model: TimeSformer, clip: torch.Tensor) -> torch.Tensor:
    """The release's algorithm written out with explicit (patch, frame) indices, one clip."""
    t_n = clip.shape[1]
    cls0 = (model.cls_token[0, 0] + model.pos_embed[0, 0])
    patch = {}  # (n, t) -> token
    for t in range(t_n):
        emb = model.patch_embed.proj(clip[:, t][None])[0]  # (C, h, w)
        emb = emb.flatten(1).T + model.pos_embed[0, 1:]  # (N, C)
        for n in range(emb.shape[0]):
            patch[n, t] = emb[n] + model.time_embed[0, t]
    n_n = len(patch) // t_n
    cls = cls0
    for blk in model.blocks:
        # temporal attention per patch position
        new = {}
        for n in range(n_n):
            seq = torch.stack([patch[n, t] for t in range(t_n)])
            res = blk.temporal_fc(_attention(blk.temporal_attn, blk.temporal_norm1(seq)))
            for t in range(t_n):
                new[n, t] = patch[n, t] + res[t]
        # spatial attention per frame, each with its own class-token copy
        res_s, res_cls = {}, []
        for t in range(t_n):
            seq = torch.stack([cls] + [new[n, t] for n in range(n_n)])
            out = _attention(blk.attn, blk.norm1(seq))
            res_cls.append(out[0])
            for n in range(n_n):
                res_s[n, t] = out[1 + n]
        cls = cls + torch.stack(res_cls).mean(0)
        patch = {key: new[key] + res_s[key] for key in new}
        cls = cls + blk.mlp(blk.norm2(cls))
        patch = {key: val + blk.mlp(blk.norm2(val)) for key, val in patch.items()}
    return model.head(model.norm(cls))


def test_forward_matches_naive_reference_and_batch_items_are_independent():
    model = small_model(seed=1)
    clips = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        batched = model(clips)
        for i in range(2):
            torch.testing.assert_close(batched[i], reference_forward(model, clips[i]),
                                       rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(model(clips[i:i + 1])[0], batched[i],
                                       rtol=1e-5, atol=1e-6)
        # Time matters: reversing the frames changes the output (temporal path is live).
        assert not torch.allclose(model(clips.flip(2)), batched, atol=1e-3)
        assert torch.equal(model([clips]), batched)  # one-pathway list input


def test_release_checkpoint_round_trip_loads_strictly(tmp_path):
    model = small_model(seed=3)
    release = convert_from_pytorchvideo(model.state_dict(), checkpoint_card("timesformer"),
                                        layout="timesformer")
    assert all(k.startswith("model.") for k in release)
    torch.save({"epoch": 1, "model_state": release, "optimizer_state": {}, "cfg": "x"},
               tmp_path / "tsf.pyth")
    fresh = build_timesformer(**SMALL).eval()
    converted = convert_to_pytorchvideo(read_checkpoint(tmp_path / "tsf.pyth"),
                                        checkpoint_card("timesformer"),
                                        {k: tuple(v.shape) for k, v in fresh.state_dict().items()})
    fresh.load_state_dict(converted, strict=True)
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.equal(fresh(clip), model(clip))


def test_input_size_is_checked():
    model = build_timesformer(**SMALL)
    with pytest.raises(ValueError, match="4 frames of 32px"):
        model(torch.randn(1, 3, 8, 32, 32))
    with pytest.raises(ValueError, match="not a multiple"):
        build_timesformer(img_size=30, patch_size=16)
    with pytest.raises(ValueError, match="not implemented"):
        build_timesformer(**SMALL, attention_type="joint_space_time")
