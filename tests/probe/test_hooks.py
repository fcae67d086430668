"""PooledHooks / extract_pooled: what the extraction loop relies on.

One forward pass captures every requested layer; the pass stops after the last hooked layer; no
hook outlives the call (also when the forward raises); a feature is the layer's output at the
moment the layer returned, even if a parent changes that tensor in place afterwards (PyTorchVideo's
SlowFast fusion); the caller's input list is never the one the model sees; no autograd state.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from staticdyn.probe.hooks import PooledHooks, extract_pooled, fresh_inputs


class Step(nn.Module):
    """``fn(x)``, counting its calls."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.fn = fn
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.fn(x)


class Chain(nn.Module):
    """stem -> a -> b -> head, counting whole forward passes."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = Step(lambda x: x * 1.0)
        self.a = Step(lambda x: x + 1.0)
        self.b = Step(lambda x: x * 2.0)
        self.head = Step(lambda x: x.flatten(1).sum(1, keepdim=True))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.head(self.b(self.a(self.stem(x))))


def _no_hooks(module: nn.Module) -> bool:
    return all(not m._forward_hooks for m in module.modules())


X = torch.arange(2 * 3 * 2 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2, 2)
X_MEAN = X.mean(dim=(2, 3, 4))  # 24b + 8c + 3.5


def test_every_layer_from_one_forward_pass() -> None:
    net = Chain()
    feats = extract_pooled(net, X, {"A": "a", "B": "b", "S": "stem"})
    assert net.calls == 1 and net.stem.calls == net.a.calls == net.b.calls == 1
    assert list(feats) == ["A", "B", "S"]  # request order, not firing order
    assert torch.equal(feats["S"], X_MEAN)
    assert torch.equal(feats["A"], X_MEAN + 1.0)
    assert torch.equal(feats["B"], (X_MEAN + 1.0) * 2.0)


def test_forward_stops_after_the_last_hooked_layer() -> None:
    net = Chain()
    extract_pooled(net, X, {"A": "a"})
    assert net.a.calls == 1
    assert net.b.calls == 0 and net.head.calls == 0


def test_stop_waits_for_the_last_layer_to_fire_not_the_last_requested() -> None:
    net = Chain()
    feats = extract_pooled(net, X, {"B": "b", "A": "a"})
    assert net.b.calls == 1 and net.head.calls == 0
    assert list(feats) == ["B", "A"]


def test_without_early_stop_the_head_runs_and_features_are_the_same() -> None:
    cut, full = Chain(), Chain()
    a = extract_pooled(cut, X, {"A": "a", "B": "b"})
    b = extract_pooled(full, X, {"A": "a", "B": "b"}, stop_early=False)
    assert full.head.calls == 1 and cut.head.calls == 0
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_hooks_are_removed_after_the_call() -> None:
    net = Chain()
    extract_pooled(net, X, {"A": "a", "B": "b"})
    assert _no_hooks(net)
    net(X)  # a plain forward afterwards runs to the end: no hook left to stop it
    assert net.head.calls == 1


class Boom(RuntimeError):
    pass


def _raise(_x: torch.Tensor) -> torch.Tensor:
    raise Boom("planted failure between the hooked layers")


def test_hooks_are_removed_when_the_forward_raises() -> None:
    net = Chain()
    net.b = Step(_raise)
    with pytest.raises(Boom, match="planted failure"):
        extract_pooled(net, X, {"A": "a", "H": "head"})
    assert _no_hooks(net)


def test_a_layer_that_never_runs_is_named_and_hooks_are_removed() -> None:
    class Skips(Chain):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.a(x))  # b is never called

    net = Skips()
    with pytest.raises(RuntimeError, match=r"layers \['B'\] did not run"):
        extract_pooled(net, X, {"A": "a", "B": "b"})
    assert _no_hooks(net)


def test_an_unknown_module_path_leaves_no_hook_behind() -> None:
    net = Chain()
    with pytest.raises(KeyError, match="nope"):
        extract_pooled(net, X, {"A": "a", "N": "nope"})
    assert _no_hooks(net)


class InPlaceFusion(nn.Module):
    """A parent that changes its child's output tensor in place after the child returned."""

    def __init__(self, child_fn: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.child = Step(child_fn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.child(x)
        y += 100.0  # like a lateral connection fused into the pathway's own tensor
        return y


class FusedNet(nn.Module):
    def __init__(self, child_fn: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.fuse = InPlaceFusion(child_fn)
        self.after = Step(lambda x: x - 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after(self.fuse(x))


@pytest.mark.parametrize("x", [X, X.mean(dim=(2, 3, 4))], ids=["5d", "2d"])
def test_feature_is_the_output_when_the_layer_returned(x: torch.Tensor) -> None:
    net = FusedNet(lambda t: t * 3.0)  # a fresh tensor the parent then changes in place
    seen: list[torch.Tensor] = []
    net.fuse.child.register_forward_hook(lambda _m, _i, out: seen.append(out))
    feats = extract_pooled(net, x, {"child": "fuse.child", "after": "after"})
    pooled_x = x.mean(dim=tuple(range(2, x.ndim))) if x.ndim > 2 else x
    assert torch.equal(feats["child"], pooled_x * 3.0)
    # the child's output tensor itself was changed afterwards: reading it late would be wrong
    late = seen[0].mean(dim=tuple(range(2, x.ndim))) if x.ndim > 2 else seen[0]
    assert torch.equal(late, pooled_x * 3.0 + 100.0)
    assert torch.equal(feats["after"], pooled_x * 3.0 + 99.0)


def test_pathway_list_changed_in_place_after_return() -> None:
    class Pathways(nn.Module):
        def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
            return [xs[0] * 1.0, xs[1] * 1.0]

    class SlowFastLike(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stage = Pathways()
            self.after = Step(lambda x: x)

        def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
            out = self.stage(xs)
            out[0] += out[1].mean()  # fuse fast into slow, in place
            out[1] = out[1] * 0.0  # and replace an entry of the returned list
            return self.after(torch.cat([o.flatten(1) for o in out], 1))

    slow, fast = X[:, :2], X[:, 2:] + 50.0
    feats = extract_pooled(SlowFastLike(), [slow, fast], {"s": "stage", "z": "after"})
    assert torch.equal(feats["s"], torch.cat([X_MEAN[:, :2], X_MEAN[:, 2:] + 50.0], 1))


def test_fresh_inputs_gives_a_new_list_of_the_same_tensors() -> None:
    a, b = torch.zeros(1), torch.ones(1)
    for given in ([a, b], (a, b)):
        got = fresh_inputs(given)
        assert isinstance(got, list) and got is not given
        assert got[0] is a and got[1] is b
        got[0] = b
        assert given[0] is a
    assert fresh_inputs(a) is a


def test_a_model_that_overwrites_its_input_list_does_not_change_the_callers() -> None:
    class Overwrites(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = Step(lambda x: x)

        def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
            xs[0] = xs[0] + xs[1]  # PyTorchVideo multipathway blocks overwrite their input list
            return self.layer(xs[0])

    a, b = torch.ones(1, 2), torch.full((1, 2), 2.0)
    inputs = [a, b]
    first = extract_pooled(Overwrites(), inputs, {"l": "layer"})
    second = extract_pooled(Overwrites(), inputs, {"l": "layer"})
    assert inputs[0] is a and inputs[1] is b
    assert first["l"].tolist() == second["l"].tolist() == [[3.0, 3.0]]


def test_runs_in_inference_mode() -> None:
    modes: list[bool] = []

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv3d(3, 4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            modes.append(torch.is_inference_mode_enabled())
            return self.conv(x)

    net = Net()
    assert net.conv.weight.requires_grad
    feats = extract_pooled(net, X, {"c": "conv"}, stop_early=False)
    assert modes == [True] and not torch.is_inference_mode_enabled()
    assert feats["c"].is_inference() and not feats["c"].requires_grad
    assert feats["c"].shape == (2, 4)


def test_take_resets_between_forward_passes() -> None:
    net = Chain()
    with PooledHooks(net, {"A": "a"}, stop_early=False) as hooks:
        net(X)
        first = hooks.take()
        with pytest.raises(RuntimeError, match=r"\['A'\] did not run"):
            hooks.take()
        net(X * 0.0)
        second = hooks.take()
    assert torch.equal(first["A"], X_MEAN + 1.0)
    assert torch.equal(second["A"], torch.ones(2, 3))
    assert _no_hooks(net)
