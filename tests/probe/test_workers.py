"""probe.num_workers=auto, prefetching and pinned memory: chosen from the machine, never a
change in the features."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from staticdyn.config import NON_IDENTITY_PROBE_KEYS, ProbeSettings, identity_of
from staticdyn.errors import InvalidSettingError
from staticdyn.pipeline import probe_choices, run
from staticdyn.probe import extract
from staticdyn.probe.loader import (
    CUDA_PREFETCH,
    MAX_CLIPS_IN_FLIGHT,
    MIN_BATCHES_FOR_WORKERS,
    choose_num_workers,
    cpu_worker_init,
    loader_options,
    visible_cores,
    worker_init,
)
from tests.helpers.configs import make_cfg

CONF = Path(__file__).resolve().parents[2] / "conf" / "probe"


def _features(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as f:
        out = {f"{k}/{m}": f["features"][k][m][:] for k in f["features"] for m in ("a", "b")}
        out.update({f"pairs/{k}": f["pairs"][k][:] for k in f["pairs"]})
        return out


# -- the choice -----------------------------------------------------------------------------

def test_auto_is_the_default_of_every_probe_config() -> None:
    for name in ("action.yaml", "vos.yaml"):
        probe = OmegaConf.load(CONF / name)
        assert probe.num_workers == "auto", name
        assert probe.gpu_decode is False, name


def test_an_int_is_used_as_given() -> None:
    assert choose_num_workers(3, 8, "cpu", n_batches=1, cores=1) == 3
    assert choose_num_workers(0, 8, "cuda", n_batches=100, cores=64) == 0


@pytest.mark.parametrize(("cores", "device", "batch", "n_batches", "expected"), [
    (2, "cpu", 8, 100, 1),     # CPU forward: half the cores decode
    (16, "cpu", 8, 100, 8),
    (1, "cpu", 8, 100, 0),     # one core: in-process
    (16, "cuda", 8, 100, 15),  # GPU forward: every core but the main process's
    (64, "cuda", 8, 100, 16),  # capped
    (64, "cuda", 32, 100, MAX_CLIPS_IN_FLIGHT // (32 * CUDA_PREFETCH)),  # memory cap: 4
    (16, "cuda", 8, MIN_BATCHES_FOR_WORKERS - 1, 0),  # a tiny run: no worker start-up
])
def test_auto_from_cores_batch_size_and_device(cores: int, device: str, batch: int,
                                               n_batches: int, expected: int) -> None:
    assert choose_num_workers("auto", batch, device, n_batches, cores=cores) == expected


def test_auto_reads_the_visible_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5})
    assert visible_cores() == 6
    assert choose_num_workers("auto", 8, "cuda", 100) == 5


def test_loader_options_on_cpu_are_the_plain_loader() -> None:
    assert loader_options(0, "cpu") == {"num_workers": 0}
    assert loader_options(2, "cpu") == {"num_workers": 2, "prefetch_factor": 2,
                                        "worker_init_fn": cpu_worker_init}


def test_loader_options_for_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # a CUDA device torch cannot see: the plain loader
    assert loader_options(2, "cuda") == {"num_workers": 2, "prefetch_factor": 2,
                                         "worker_init_fn": cpu_worker_init}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    # feeding a GPU, workers keep their priority
    assert loader_options(2, "cuda") == {"num_workers": 2, "prefetch_factor": CUDA_PREFETCH,
                                         "worker_init_fn": worker_init}
    assert loader_options(0, "cuda") == {"num_workers": 0}
    # GPU JPEG decoding in workers: CUDA cannot start in a forked child
    assert loader_options(2, "cuda", gpu_decode=True)["multiprocessing_context"] == "spawn"
    assert "multiprocessing_context" not in loader_options(0, "cuda", gpu_decode=True)


def test_stacking_for_cuda_pins_only_where_cuda_is(monkeypatch: pytest.MonkeyPatch) -> None:
    parts = [torch.randn(3, 2, 4, 4) for _ in range(3)]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = extract._stack_for(torch.device("cuda"), parts)  # degrades to a plain stack
    assert torch.equal(out, torch.stack(parts)) and not out.is_pinned()


def test_stacking_for_cpu_is_a_plain_stack() -> None:
    parts = [torch.randn(3, 2, 4, 4) for _ in range(3)]
    out = extract._stack_for(torch.device("cpu"), parts)
    assert torch.equal(out, torch.stack(parts)) and not out.is_pinned()


# -- the setting ------------------------------------------------------------------------------

def _probe(**over: object) -> dict:
    base = OmegaConf.to_container(OmegaConf.load(CONF / "action.yaml"))
    assert isinstance(base, dict)
    return {**base, **over}


@pytest.mark.parametrize(("value", "expected"), [("auto", "auto"), (" auto ", "auto"),
                                                 ("AUTO", "auto"), (2, 2), ("3", 3)])
def test_num_workers_accepts_auto_or_an_int(value: object, expected: object) -> None:
    assert ProbeSettings.from_cfg(_probe(num_workers=value), probe_choices()).num_workers \
        == expected


@pytest.mark.parametrize("value", ["many", -1, 1.5, True, None])
def test_bad_num_workers_is_refused_in_one_line(value: object) -> None:
    with pytest.raises(InvalidSettingError) as err:
        ProbeSettings.from_cfg(_probe(num_workers=value), probe_choices())
    msg = str(err.value)
    assert "probe.num_workers" in msg and "auto" in msg and "\n" not in msg


def test_gpu_decode_is_checked_and_only_joins_the_identity_when_on() -> None:
    assert ProbeSettings.from_cfg(_probe(gpu_decode="true"), probe_choices()).gpu_decode
    with pytest.raises(InvalidSettingError, match=r"probe\.gpu_decode.*true or false"):
        ProbeSettings.from_cfg(_probe(gpu_decode="maybe"), probe_choices())
    assert "num_workers" in NON_IDENTITY_PROBE_KEYS
    off = identity_of(OmegaConf.create({"probe": _probe(num_workers=0)}))
    auto = identity_of(OmegaConf.create({"probe": _probe(num_workers="auto")}))
    assert off == auto and "probe.num_workers" not in off
    assert "probe.gpu_decode" not in off  # runs made before the key existed still resume
    on = identity_of(OmegaConf.create({"probe": _probe(gpu_decode=True)}))
    assert on["probe.gpu_decode"] == "True"


# -- the features -----------------------------------------------------------------------------

def test_features_are_bit_identical_for_any_worker_count(tmp_path: Path) -> None:
    over = ["model=toy3d", "probe.n_pairs=16", "probe.batch_size=3", "probe.bootstrap=0"]
    runs = {w: run(make_cfg(tmp_path / f"w{w}", [*over, f"probe.num_workers={w}"]))
            for w in (0, 1, 2, "auto")}
    assert runs[2]["stats"].workers == 2
    assert runs["auto"]["stats"].workers == choose_num_workers("auto", 3, "cpu", 8)
    ref = _features(runs[0]["features"])
    for w in (1, 2, "auto"):
        other = _features(runs[w]["features"])
        assert other.keys() == ref.keys()
        for k in ref:
            assert np.array_equal(ref[k], other[k]), (w, k)
    # a run started with 0 workers resumes with another count (not part of the identity)
    again = run(make_cfg(tmp_path / "w0", [*over, "probe.num_workers=2"]))
    assert again["rows"] == runs[0]["rows"]


_CHILD_PRIORITY = textwrap.dedent("""
    import multiprocessing, os
    from staticdyn.probe.loader import cpu_worker_init, worker_init

    def run(init, q):
        before = os.nice(0)
        init(0)
        q.put((before, os.nice(0)))

    if __name__ == "__main__":
        ctx = multiprocessing.get_context("fork")
        for init in (cpu_worker_init, worker_init):
            q = ctx.Queue()
            p = ctx.Process(target=run, args=(init, q))
            p.start()
            print(*q.get())
            p.join()
""")


def test_cpu_workers_run_at_the_lowest_priority() -> None:
    """A worker feeding a CPU model yields the cores to the forward; one feeding a GPU not."""
    proc = subprocess.run([sys.executable, "-c", _CHILD_PRIORITY], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (cpu_before, cpu_after), (gpu_before, gpu_after) = (
        map(int, line.split()) for line in proc.stdout.split("\n")[:2])
    assert cpu_after == 19 and cpu_before < 19
    assert gpu_after == gpu_before
