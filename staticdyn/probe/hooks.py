"""Forward hooks that pool each layer's output to (batch, channels) on the device.

Pooling (``probe.pooling``, METHOD.md section 2) happens inside the hook, on the device, before
anything is copied to the host. That matters twice: memory (a (B, C, T, H, W) map never leaves
the GPU) and correctness (PyTorchVideo's SlowFast fuses pathways in place after a stage returns,
so reading the output later would see the fused values, not the pathway's own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from staticdyn.probe.layouts import LayerIO, batch_size_of
from staticdyn.probe.pooling import pool_output


class _AllCaptured(Exception):  # noqa: N818 - control flow, not an error
    """Raised by the last hook to stop the forward once every requested layer is pooled."""


class PooledHooks:
    """Context manager: registers one hook per module path, collects pooled outputs.

    With ``stop_early`` the forward pass is cut short once every requested layer has fired: the
    head is never run. That saves the head's time and makes reduced test resolutions work with
    heads whose pooling kernels are fixed to the training resolution.

    ``io`` (alias -> ``LayerIO``, from ``probe.layouts.resolve_layer_io``) pools each layer by
    its declared or verified layout; without it every layer is pooled by ``pool_output``'s rank
    rule. Layouts need the clip batch size (time-folded layers hold batch x time rows), which a
    pre-hook on the root module reads from the forward's input before any module rewrites it.
    """

    def __init__(self, module: nn.Module, layers: Mapping[str, str], stop_early: bool = True,
                 io: Mapping[str, LayerIO] | None = None):
        self.module = module
        self.stop_early = stop_early
        self.layers = dict(layers)
        self.io = dict(io) if io is not None else None
        if self.io is not None:
            missing = [n for n in self.layers if n not in self.io]
            if missing:
                raise ValueError(f"no layout resolved for layers {missing}")
        self.batch = 0
        self.pooled: dict[str, torch.Tensor] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> PooledHooks:
        modules = dict(self.module.named_modules())
        # every path is looked up before the first hook is registered: an unknown path raises
        # here with nothing attached (``__exit__`` does not run when ``__enter__`` raises)
        targets = [(name, modules[path]) for name, path in self.layers.items()]
        if self.io is not None:
            self._handles.append(self.module.register_forward_pre_hook(
                self._read_batch, with_kwargs=True, prepend=True))
        for name, mod in targets:
            self._handles.append(mod.register_forward_hook(self._make_hook(name)))
        return self

    def _read_batch(self, _mod: nn.Module, args: tuple, kwargs: dict) -> None:
        self.batch = batch_size_of([*args, *kwargs.values()])

    def _make_hook(self, name: str):  # noqa: ANN202
        def hook(_mod: nn.Module, _inp: object, out: object) -> None:
            if self.io is None:
                self.pooled[name] = pool_output(out)
            else:
                self.pooled[name] = self.io[name].pool(out, self.batch)
            if self.stop_early and len(self.pooled) == len(self.layers):
                raise _AllCaptured

        return hook

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def take(self) -> dict[str, torch.Tensor]:
        """Pooled features of the last forward, in layer order; resets the buffer."""
        missing = [n for n in self.layers if n not in self.pooled]
        if missing:
            raise RuntimeError(f"layers {missing} did not run in the forward pass")
        out = {n: self.pooled[n] for n in self.layers}
        self.pooled = {}
        return out


def fresh_inputs(
    inputs: torch.Tensor | Sequence[torch.Tensor],
) -> torch.Tensor | list[torch.Tensor]:
    """A new list per call: PyTorchVideo's multipathway models overwrite the list they get."""
    if isinstance(inputs, torch.Tensor):
        return inputs
    return list(inputs)


def extract_pooled(
    module: nn.Module,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    layers: Mapping[str, str],
    stop_early: bool = True,
    io: Mapping[str, LayerIO] | None = None,
) -> dict[str, torch.Tensor]:
    """One forward pass under ``torch.inference_mode``; pooled (B, C) tensors on the device
    (by layout where ``io`` is given, see ``PooledHooks``)."""
    with PooledHooks(module, layers, stop_early, io) as hooks, torch.inference_mode():
        try:
            module(fresh_inputs(inputs))
        except _AllCaptured:
            pass
        return hooks.take()
