"""The one checkpoint reader: files are data, never code.

The two malicious-checkpoint tests run the real command line: a payload that would create a
file must not create it, and the run must end with one line naming the file, the type it tried
to build and the opt-in, exit code 2, no traceback. Each wrong ``model.checkpoint`` value is a
one-line StaticDynError too.
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from staticdyn.errors import (
    CheckpointFileError,
    StaticDynError,
    UnknownChoiceError,
    UnsafeCheckpointError,
)
from staticdyn.models import zoo
from staticdyn.models.checkpoints.reader import read_checkpoint
from staticdyn.models.checkpoints.state import extract_state_dict

ROOT = Path(__file__).resolve().parents[3]
TOY = "toy3d"


class TouchMarker:
    """Pickles as a call of ``os.system('touch MARKER')``: what a hostile checkpoint carries."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def _toy_state() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    module = zoo.load_model(TOY).module
    return {k: torch.rand(v.shape, generator=gen) if v.is_floating_point() else v
            for k, v in module.state_dict().items()}


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", f"model={TOY}", "dataset=synthetic_tiny",
                           "probe.n_pairs=4", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def _hostile(tmp_path: Path, suffix: str) -> tuple[Path, Path]:
    """A checkpoint (.pkl: numpy pickle; .pyth: torch.save) whose payload touches a marker."""
    marker = tmp_path / "MARKER"
    path = tmp_path / f"evil{suffix}"
    state = _toy_state()
    if suffix == ".pkl":
        blobs = {k: v.numpy() for k, v in state.items()}
        path.write_bytes(pickle.dumps({"blobs": blobs, "x": TouchMarker(marker)}, protocol=2))
    else:
        torch.save({"model_state": state, "x": TouchMarker(marker)}, path)
    return path, marker


@pytest.mark.parametrize("suffix", [".pkl", ".pyth"])
def test_hostile_checkpoint_runs_nothing_through_the_cli(tmp_path: Path, suffix: str) -> None:
    path, marker = _hostile(tmp_path, suffix)
    # The payload is live: a plain unpickle creates the marker.
    if suffix == ".pkl":
        pickle.loads(path.read_bytes())
    else:
        torch.load(path, weights_only=False)
    assert marker.exists()
    marker.unlink()

    proc = _run_cli(f"model.checkpoint={path}", f"hydra.run.dir={tmp_path / 'run'}")
    assert not marker.exists()
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert str(path) in lines[0] and "posix.system" in lines[0]
    assert "model.trust_checkpoint=true" in lines[0]


def test_trusted_file_with_an_extra_object_runs_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "toy.pyth"
    torch.save({"model_state": _toy_state(), "args": argparse.Namespace(lr=0.1)}, path)
    refused = _run_cli(f"model.checkpoint={path}", f"hydra.run.dir={tmp_path / 'refused'}")
    assert refused.returncode == 2 and "argparse.Namespace" in refused.stderr
    out = tmp_path / "run"
    proc = _run_cli(f"model.checkpoint={path}", "model.trust_checkpoint=true",
                    f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "argparse.Namespace" in proc.stderr and "trust_checkpoint=true" in proc.stderr
    assert (out / "layerwise.csv").stat().st_size > 0


def test_truncated_checkpoint_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.pyth"
    torch.save({"model_state": _toy_state()}, path)
    path.write_bytes(path.read_bytes()[:300])
    proc = _run_cli(f"model.checkpoint={path}", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"error: checkpoint '{path}' is a truncated" in proc.stderr


@pytest.mark.parametrize("suffix", [".pkl", ".pyth"])
def test_trusted_extra_object_loads_in_process(tmp_path: Path, suffix: str) -> None:
    state = _toy_state()
    path = tmp_path / f"toy{suffix}"
    extra = argparse.Namespace(lr=0.1)
    if suffix == ".pkl":
        path.write_bytes(pickle.dumps({"model": {k: v.numpy() for k, v in state.items()},
                                       "args": extra}, protocol=2))
    else:
        torch.save({"model_state": state, "args": extra}, path)
    with pytest.raises(UnsafeCheckpointError, match="argparse.Namespace"):
        zoo.load_model(TOY, checkpoint=path)
    with pytest.warns(UserWarning, match="argparse.Namespace"):
        model = zoo.load_model(TOY, checkpoint=path, trust_checkpoint=True)
    for key, value in model.module.state_dict().items():
        assert torch.equal(value, state[key]), key


# --- formats told by content, not suffix -----------------------------------------------------

def test_formats_are_told_by_content(tmp_path: Path) -> None:
    state = OrderedDict(w=torch.arange(4.0), n=torch.tensor(3))
    torch.save({"model_state": state, "lr": np.float32(0.5), "mean": np.ones(2)},
               tmp_path / "zip.pkl")  # a torch zip under a pickle's name
    got = read_checkpoint(tmp_path / "zip.pkl")
    assert torch.equal(got["model_state"]["w"], state["w"]) and got["lr"] == np.float32(0.5)
    torch.save({"model_state": state}, tmp_path / "legacy.pth",
               _use_new_zipfile_serialization=False)
    assert torch.equal(read_checkpoint(tmp_path / "legacy.pth")["model_state"]["n"], state["n"])
    blobs = {"conv1_w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    (tmp_path / "pickle.pyth").write_bytes(  # a plain pickle under a torch name
        pickle.dumps({"blobs": blobs, "model_iter": np.int64(7)}, protocol=2))
    sd = extract_state_dict(read_checkpoint(tmp_path / "pickle.pyth"))
    assert sd["conv1_w"].tolist() == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_detectron2_and_caffe2_pickles_read_as_data(tmp_path: Path, protocol: int) -> None:
    model = OrderedDict(w=np.ones((2, 2), np.float32), b=np.zeros(2, np.float64))
    payload = {"model": model, "__author__": "Detectron2 Model Zoo", "matching_heuristics": True,
               "extra": [1, 2.5, 3j, b"raw", (4, 5), {6}, frozenset({7}), None]}
    path = tmp_path / "d2.pkl"
    path.write_bytes(pickle.dumps(payload, protocol=protocol))
    got = read_checkpoint(path)
    assert got["__author__"] == "Detectron2 Model Zoo" and got["extra"] == payload["extra"]
    assert np.array_equal(got["model"]["w"], model["w"]) and got["model"]["b"].dtype == np.float64


@pytest.mark.parametrize(("payload", "builds"), [
    (Path("/etc"), "pathlib.PosixPath"),
    (torch.ones(2), "torch."),  # plain-pickled tensors rebuild through torch.load
    (argparse.Namespace(), "argparse.Namespace"),
    (np.array([1, argparse.Namespace()], dtype=object), "argparse.Namespace"),
])
def test_pickle_of_anything_else_is_refused_by_name(tmp_path: Path, payload, builds) -> None:
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"blobs": {"a": np.ones(1)}, "x": payload}, protocol=2))
    with pytest.raises(UnsafeCheckpointError, match=builds) as info:
        read_checkpoint(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg and "model.trust_checkpoint=true" in msg


def test_codec_lookups_are_refused(tmp_path: Path) -> None:
    """``_codecs.encode`` is admitted for Python 3's protocol-2 bytes, with latin1 only."""
    path = tmp_path / "codec.pkl"
    path.write_bytes(b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00idna"
                     b"\x86R.")
    with pytest.raises(UnsafeCheckpointError, match="codec 'idna'"):
        read_checkpoint(path)


def test_torch_file_with_a_foreign_class_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ns.pyth"
    torch.save({"model_state": {"w": torch.ones(1)}, "cfg": argparse.Namespace()}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"'.*ns\.pyth' would build "
                                                    r"argparse\.Namespace"):
        read_checkpoint(path)


# --- wrong model.checkpoint values: one line each ---------------------------------------------

def _zip_of_text(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("weights/readme.txt", "not a tensor")


def _truncated_torch(path: Path) -> None:
    torch.save({"model_state": {"w": torch.ones(1000)}}, path)
    path.write_bytes(path.read_bytes()[:2000])


def _truncated_pickle(path: Path) -> None:
    path.write_bytes(pickle.dumps({"blobs": {"w": np.ones(1000)}}, protocol=2)[:2000])


def _torchscript(path: Path) -> None:
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))


USER_ERRORS = {
    "not_found": (lambda p: None, "checkpoint file not found"),
    "directory": (lambda p: p.mkdir(), "is a directory"),
    "empty": (lambda p: p.write_bytes(b""), "is empty"),
    "text": (lambda p: p.write_text("MODEL:\n  ARCH: slowfast\n"), "is a text file"),
    "zip_not_torch": (_zip_of_text, "is a zip archive but not a torch file"),
    "truncated_torch": (_truncated_torch, "is a truncated or damaged zip archive"),
    "truncated_pickle": (_truncated_pickle, "is truncated"),
    "binary": (lambda p: p.write_bytes(bytes(range(7, 200))), "neither a torch file nor a pickle"),
    "torchscript": (_torchscript, "is a TorchScript archive"),
}


@pytest.mark.parametrize("kind", list(USER_ERRORS))
def test_wrong_checkpoint_is_one_line(tmp_path: Path, kind: str) -> None:
    make, says = USER_ERRORS[kind]
    path = tmp_path / "ckpt.pyth"
    make(path)
    with pytest.raises(CheckpointFileError) as info:
        zoo.load_model(TOY, checkpoint=path)
    msg = str(info.value)
    assert isinstance(info.value, StaticDynError) and "\n" not in msg
    assert says in msg and str(path) in msg


# --- the card's checkpoint facts ---------------------------------------------------------------

def test_card_facts_are_checked_before_building() -> None:
    with pytest.raises(UnknownChoiceError, match="checkpoint_format.*bogus.*slowfast"):
        zoo.load_model(TOY, checkpoint_format="bogus")
    with pytest.raises(StaticDynError, match="trust_checkpoint must be true or false"):
        zoo.load_model(TOY, trust_checkpoint="yes")
    fast = zoo.checkpoint_card("fast_r50")
    assert (fast.family, fast.format, fast.pathway, fast.trust) == ("resnet", "slowfast", 1, False)
    assert fast.slowfast_pathways == {1}
    assert zoo.checkpoint_card("slowfast_r50").slowfast_pathways == {0, 1}
