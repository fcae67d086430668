"""VOS pairs: the authors' alternating items, and what each member of a pair contains."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from staticdyn.data.pairs import DYNAMIC, STATIC
from staticdyn.data.spec import ClipSpec
from staticdyn.data.tasks import get_task, vos

SPEC = ClipSpec(task="vos", frames=1, crop=None, short_side=48, mean=(0.485, 0.456, 0.406),
                std=(0.229, 0.224, 0.225))
SPEC2 = ClipSpec(**{**SPEC.__dict__, "frames": 2, "crop": 32, "short_side": 40})


def probe(**kw: object) -> dict:
    return {"n_pairs": 1000, "seed": 0, "nreps": 2, "jitter": True, "clip_frames": 1, **kw}


def test_vos_task_is_registered() -> None:
    task = get_task("vos")
    assert task.sample is vos.sample and task.load_group is vos.load_group


def test_items_alternate_static_dynamic_and_cover_every_usable_frame(tiny_davis) -> None:
    pairs = vos.sample(tiny_davis, probe())
    # 3 sequences x 2 reps, 4 usable frames each (the last frame has no forward flow)
    assert len(pairs) == 3 * 2 * 4
    items = [pairs[i:i + 4] for i in range(0, len(pairs), 4)]
    assert [it[0].factor for it in items] == [STATIC, DYNAMIC] * 3
    for it in items:
        assert len({(p.factor, p.style_a, p.style_b, p.video.split("/")[0]) for p in it}) == 1
        assert [p.video.split("/")[1] for p in it] == ["00000", "00001", "00002", "00003"]
        p = it[0]
        assert (p.style_a == p.style_b) == (p.factor == STATIC)
    assert Counter(p.video.split("/")[0] for p in pairs) == {s: 8 for s in tiny_davis.sequences}
    assert [p.index for p in pairs] == list(range(len(pairs)))
    assert [p.group for p in pairs] == list(range(len(pairs)))
    assert len({p.seed for p in pairs}) == len(pairs)


def test_sampling_is_deterministic_and_seeded(tiny_davis) -> None:
    assert vos.sample(tiny_davis, probe()) == vos.sample(tiny_davis, probe())
    assert vos.sample(tiny_davis, probe()) != vos.sample(tiny_davis, probe(seed=1))


def test_two_frame_models_skip_first_and_last_frames(tiny_davis) -> None:
    pairs = vos.sample(tiny_davis, probe(clip_frames=2, nreps=1))
    assert {p.video.split("/")[1] for p in pairs} == {"00001", "00002", "00003"}


def test_n_pairs_keeps_a_seeded_subset_with_both_factors_and_stable_seeds(tiny_davis) -> None:
    full = {p.video + str(p.factor) + str(p.style_a): p.seed for p in
            vos.sample(tiny_davis, probe(nreps=1))}
    sub = vos.sample(tiny_davis, probe(n_pairs=6, nreps=1))
    assert len(sub) == 6 and {p.factor for p in sub} == {STATIC, DYNAMIC}
    assert [p.index for p in sub] == list(range(6))
    for p in sub:
        assert full[p.video + str(p.factor) + str(p.style_a)] == p.seed


def _pair(tiny_davis, factor: int, clip_frames: int = 1):
    pairs = vos.sample(tiny_davis, probe(clip_frames=clip_frames))
    return next(p for p in pairs if p.factor == factor)


def test_dynamic_pair_same_flow_different_style(tiny_davis) -> None:
    p = _pair(tiny_davis, DYNAMIC)
    g = vos.load_group(tiny_davis, 0, [p], SPEC, probe())
    assert g.skip_reason is None and g.rows == [(0, 1)]
    (rgb_a, flow_a), (rgb_b, flow_b) = g.clips
    assert rgb_a.shape == (3, 48, 48) and flow_a.shape == (3, 48, 48)
    assert torch.equal(flow_a, flow_b) and not torch.equal(rgb_a, rgb_b)


def test_static_pair_rgb_untouched_flow_jittered(tiny_davis) -> None:
    p = _pair(tiny_davis, STATIC)
    (rgb_a, flow_a), (rgb_b, flow_b) = vos.load_group(tiny_davis, 0, [p], SPEC, probe()).clips
    assert torch.equal(rgb_a, rgb_b) and not torch.allclose(flow_a, flow_b, atol=1e-3)
    again = vos.load_group(tiny_davis, 0, [p], SPEC, probe()).clips[1][1]
    assert torch.equal(flow_b, again)  # the jitter comes from the pair seed


def test_jitter_off_makes_the_static_pair_identical(tiny_davis) -> None:
    p = _pair(tiny_davis, STATIC)
    (rgb_a, flow_a), (rgb_b, flow_b) = vos.load_group(tiny_davis, 0, [p], SPEC,
                                                      probe(jitter=False)).clips
    assert torch.equal(rgb_a, rgb_b) and torch.equal(flow_a, flow_b)


def test_inputs_are_normalised_with_the_model_statistics(tiny_davis) -> None:
    p = _pair(tiny_davis, DYNAMIC)
    rgb, _ = vos.load_group(tiny_davis, 0, [p], SPEC, probe()).clips[0]
    raw = torch.from_numpy(tiny_davis.read(p.video, p.style_a)[0]).permute(2, 0, 1) / 255.0
    expected = (raw - torch.tensor(SPEC.mean).view(3, 1, 1)) / torch.tensor(SPEC.std).view(3, 1, 1)
    torch.testing.assert_close(rgb, expected)


def test_two_frame_clip_has_forward_and_backward_flow(tiny_davis) -> None:
    p = _pair(tiny_davis, STATIC, clip_frames=2)
    g = vos.load_group(tiny_davis, 0, [p], SPEC2, probe(clip_frames=2))
    (rgb_a, flow_a), (rgb_b, flow_b) = g.clips
    assert rgb_a.shape == (2, 3, 32, 32) and flow_a.shape == (2, 6, 32, 32)
    assert torch.equal(rgb_a, rgb_b)
    for c in range(0, 6, 3):  # every flow image of the clip is jittered
        for t in range(2):
            assert not torch.allclose(flow_a[t, c:c + 3], flow_b[t, c:c + 3], atol=1e-3)
    assert not torch.equal(flow_a[:, :3], flow_a[:, 3:])


def test_partner_frame_wraps_within_frames_that_have_both_flows() -> None:
    frames = [f"{i:05d}" for i in range(6)]
    partners = {vos.partner_frame(frames, "00002", s, 10) for s in range(200)}
    assert partners == {"00001", "00002", "00003", "00004"}
    assert vos.partner_frame(frames, "00002", 0, 0) == "00002"


def test_unreadable_frame_is_skipped_with_a_reason(tiny_davis) -> None:
    p = _pair(tiny_davis, DYNAMIC)
    moved = tiny_davis.root / tiny_davis.flow_dir / f"{p.video}.png"
    backup = moved.with_suffix(".bak")
    moved.rename(backup)
    try:
        g = vos.load_group(tiny_davis, 3, [p], SPEC, probe())
    finally:
        backup.rename(moved)
    assert g.clips == [] and g.rows == [] and g.position == 3
    assert g.skip_item.startswith(p.video) and "VideoReadError" in g.skip_reason


def test_unknown_sampler_is_refused(tiny_davis) -> None:
    with pytest.raises(Exception, match="authors"):
        vos.sample(tiny_davis, probe(sampler="shared"))
