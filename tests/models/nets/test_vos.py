"""VOS models: released key layouts, forward on a small frame + flow, hook names and widths,
and which stream can see which input (the cross connections)."""

from __future__ import annotations

import pytest
import torch

import staticdyn
from staticdyn.models.nets.vos.fusionseg import fusionseg
from staticdyn.models.nets.vos.matnet import matnet
from staticdyn.models.nets.vos.rtnet import rtnet
from staticdyn.probe.api import extract
from tests.helpers.vos import REDUCED, fixture_keys

R101 = [64, 256, 512, 1024, 2048]
R34 = [64, 64, 128, 256, 512]


def _streams(widths: list[int]) -> dict[str, int]:
    return {f"{s}.layer{k}": w for s in ("app", "mot") for k, w in enumerate(widths, start=1)}


WIDTHS: dict[str, dict[str, int]] = {
    "fusionseg": {**_streams(R101), "fusion.layer2": 256, "fusion.layer5": 2048},
    "matnet": {**_streams(R101), **{f"fusion.layer{k}": 2 * w for k, w in
                                    zip(range(2, 6), R101[1:], strict=True)}},
    "rtnet": {**_streams(R101), "fusion.layer2": 64, "fusion.layer3": 128,
              "fusion.layer4": 256, "fusion.layer5": 256},
    "rtnet_r34": {**_streams(R34), "fusion.layer2": 64, "fusion.layer3": 128,
                  "fusion.layer4": 256, "fusion.layer5": 256},
}
WIDTHS["matnet_recip_gated"] = WIDTHS["matnet"]


def _shapes(module: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize(("build", "fixture", "strip"), [
    (lambda: fusionseg(), "vos_fusionseg_twostream_deeplabv3plus_resnet101", False),
    (lambda: matnet(cross="mat"), "vos_matnet", False),
    (lambda: matnet(cross="recip_gated"), "vos_matnet_bidir_gated", False),
    (lambda: rtnet("rx50"), "vos_rtnet_rx50", True),
    (lambda: rtnet("r34"), "vos_rtnet_r34", True),
], ids=["fusionseg", "matnet", "matnet_recip_gated", "rtnet_rx50", "rtnet_r34"])
def test_full_architecture_has_the_released_key_layout(build, fixture: str, strip: bool) -> None:
    with torch.device("meta"):  # the real architecture, without paying for its init
        module = build()
    assert _shapes(module) == fixture_keys(fixture, strip_module=strip)


def test_matnet_convex_gated_fusion_layout() -> None:
    """No fixture exists for this variant: expected = vos_matnet.json with each gated_res<k>
    replaced by the reference GatedConvex(2C, ratio 16) keys (channel.fc1/fc2, spatial.conv1)."""
    expected = {k: v for k, v in fixture_keys("vos_matnet").items()
                if not k.startswith("encoder.gated_res")}
    for k, c in zip((2, 3, 4, 5), R101[1:], strict=True):
        p = f"encoder.gated_res{k}"
        expected |= {f"{p}.channel.fc1.weight": [2 * c // 16, 2 * c, 1, 1],
                     f"{p}.channel.fc1.bias": [2 * c // 16],
                     f"{p}.channel.fc2.weight": [c, 2 * c // 16, 1, 1],
                     f"{p}.channel.fc2.bias": [c],
                     f"{p}.spatial.conv1.weight": [1, 4, 7, 7]}
    with torch.device("meta"):
        module = matnet(fusion="convex_gated")
    assert _shapes(module) == expected


@pytest.fixture(scope="module")
def full_fusionseg() -> staticdyn.models.spec.ZooModel:
    return staticdyn.load_model("fusionseg", clip={"crop": 32})


def test_full_fusionseg_runs_and_hooks_every_layer(full_fusionseg) -> None:
    rgb, flow = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        logits = full_fusionseg.module([rgb, flow])
    assert logits.shape == (1, 2, 32, 32)
    pooled = extract(full_fusionseg, [rgb, flow])
    assert {k: v.shape[1] for k, v in pooled.items()} == WIDTHS["fusionseg"]


def _inputs(entry: str, n: int = 2, size: int = 32, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    if entry.startswith("rtnet"):
        return [torch.randn(n, 2, 3, size, size, generator=g),
                torch.randn(n, 2, 6, size, size, generator=g)]
    return [torch.randn(n, 3, size, size, generator=g), torch.randn(n, 3, size, size, generator=g)]


@pytest.fixture(scope="module")
def reduced() -> dict[str, staticdyn.models.spec.ZooModel]:
    return {e: staticdyn.load_model(e, builder_kwargs={"blocks": REDUCED}, clip={"crop": 32})
            for e in WIDTHS}


@pytest.mark.parametrize("entry", list(WIDTHS))
def test_forward_and_documented_hook_widths(reduced, entry: str) -> None:
    model = reduced[entry]
    assert model.clip_spec.task == "vos"
    assert model.default_layers == list(WIDTHS[entry])
    x = _inputs(entry)
    with torch.inference_mode():
        out = model.module(x)
    assert out.shape[0] == 2 and torch.isfinite(out).all()
    pooled = extract(model, x)
    assert {k: tuple(v.shape) for k, v in pooled.items()} == \
        {k: (2, w) for k, w in WIDTHS[entry].items()}


def _changes(model, layer: str, entry: str, which: int) -> bool:
    """Does ``layer`` change when only input ``which`` (0 = rgb, 1 = flow) changes?"""
    a = _inputs(entry, seed=1)
    b = [x.clone() for x in a]
    b[which] = _inputs(entry, seed=2)[which]
    fa, fb = extract(model, a, [layer])[layer], extract(model, b, [layer])[layer]
    return not torch.allclose(fa, fb)


@pytest.mark.parametrize(("entry", "layer", "sees_rgb", "sees_flow"), [
    ("fusionseg", "app.layer5", True, False),       # no cross connections
    ("fusionseg", "mot.layer5", False, True),
    ("fusionseg", "fusion.layer2", True, True),
    ("matnet", "app.layer2", True, False),          # before the first MAT block
    ("matnet", "app.layer3", True, True),           # motion -> appearance after res3
    ("matnet", "mot.layer5", False, True),          # unidirectional: motion never sees RGB
    ("matnet_recip_gated", "mot.layer3", True, True),  # bidirectional
    ("rtnet_r34", "app.layer1", True, False),
    ("rtnet_r34", "mot.layer2", True, True),        # reciprocal transformation at stage 1
])
def test_streams_are_read_after_cross_connections(reduced, entry: str, layer: str,
                                                  sees_rgb: bool, sees_flow: bool) -> None:
    model = reduced[entry]
    assert _changes(model, layer, entry, 0) == sees_rgb
    assert _changes(model, layer, entry, 1) == sees_flow


def test_rtnet_batch_members_do_not_mix(reduced) -> None:
    """The authors' copy reorders frames across the batch when B > 1; each sample's features
    must equal those of the sample run alone."""
    model = reduced["rtnet_r34"]
    x = _inputs("rtnet_r34", n=2)
    both = extract(model, x)
    first = extract(model, [t[:1] for t in x])
    for k in both:  # batched convolutions differ in rounding only; a mix-up differs by O(1)
        scale = float(both[k].abs().max())
        torch.testing.assert_close(both[k][:1], first[k], rtol=1e-3, atol=1e-3 * scale)


def test_rtnet_rejects_single_frame_input(reduced) -> None:
    with pytest.raises(ValueError, match="RTNet takes rgb"):
        reduced["rtnet_r34"].module(_inputs("fusionseg"))


@pytest.mark.parametrize("entry", list(WIDTHS))
def test_cards_are_offline_and_consistent(entry: str) -> None:
    from staticdyn.models import zoo

    cfg = zoo.entry_config(entry)
    assert set(cfg) <= zoo.CONFIG_KEYS and cfg["name"] == entry
    assert cfg["pretrained"] is False and cfg["checkpoint"] is None
    spec = zoo.clip_spec_from(cfg["clip"], entry)
    assert spec.task == "vos" and spec.frames == (2 if entry.startswith("rtnet") else 1)
    assert spec.mean == (0.485, 0.456, 0.406) and spec.std == (0.229, 0.224, 0.225)
