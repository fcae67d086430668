"""Released checkpoint formats round-trip strictly: random weights are written in each
family's format and read back into a freshly built (differently initialised) model."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

import staticdyn
from staticdyn.errors import (
    CheckpointFileError,
    CheckpointMismatchError,
    StaticDynError,
    UnsafeCheckpointError,
)
from staticdyn.models.checkpoints.reader import read_checkpoint
from staticdyn.models.checkpoints.vos_release import (
    MATNET_UNUSED,
    load_vos_checkpoint,
    matnet_files,
    save_release_checkpoint,
)
from staticdyn.models.nets.vos.fusionseg import fusionseg
from staticdyn.models.nets.vos.matnet import matnet
from staticdyn.models.nets.vos.rtnet import rtnet
from tests.helpers.vos import REDUCED

SMALL = {"builder_kwargs": {"blocks": REDUCED}}


def _same_weights(a: torch.nn.Module, b: torch.nn.Module, skip: tuple[str, ...] = ()) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa if k not in skip)


@pytest.fixture(scope="module")
def matnet_small() -> torch.nn.Module:
    return matnet(blocks=REDUCED)


@pytest.mark.parametrize(("entry", "build"), [
    ("fusionseg", lambda: fusionseg(blocks=REDUCED)),
    ("rtnet_r34", lambda: rtnet("r34", blocks=REDUCED)),
])
def test_single_file_release_loads_through_load_model(tmp_path: Path, entry: str,
                                                      build) -> None:
    source = build()
    path = save_release_checkpoint(source, tmp_path / f"{entry}.pth")
    raw = read_checkpoint(path)
    if entry == "fusionseg":
        assert "model_state" in raw and not any(k.startswith("module.") for k in
                                                raw["model_state"])
    else:
        assert all(k.startswith("module.") for k in raw["state_dict"])
    model = staticdyn.load_model(entry, checkpoint=path, **SMALL)
    assert not model.untrained and model.checkpoint == str(path)
    assert _same_weights(model.module, source)


def test_matnet_directory_round_trip(tmp_path: Path, matnet_small) -> None:
    ckpt = save_release_checkpoint(matnet_small, tmp_path / "matnet", epoch=3)
    save_release_checkpoint(matnet_small, ckpt, epoch=1)  # an older epoch beside it
    assert matnet_files(ckpt) == (ckpt / "encoder_3.pt", ckpt / "decoder_3.pt")
    enc = read_checkpoint(ckpt / "encoder_3.pt")
    assert all(k.startswith("module.") for k in enc) and "module.conv1_1.weight" in enc
    fresh = matnet(blocks=REDUCED)
    assert not _same_weights(fresh, matnet_small)
    fresh.load_release_checkpoint(ckpt, "matnet")
    assert _same_weights(fresh, matnet_small)


def test_matnet_encoder_file_path_and_unprefixed_keys(tmp_path: Path, matnet_small) -> None:
    ckpt = save_release_checkpoint(matnet_small, tmp_path / "m", epoch=7, data_parallel=False)
    fresh = matnet(blocks=REDUCED)
    load_vos_checkpoint(fresh, ckpt / "encoder_7.pt", "matnet")
    assert _same_weights(fresh, matnet_small)


def test_matnet_training_layout_without_unused_decoder_tensors(tmp_path: Path,
                                                               matnet_small) -> None:
    """The Kowal training repository omits 18 decoder tensors the forward never uses."""
    ckpt = save_release_checkpoint(matnet_small, tmp_path / "msiam", epoch=0)
    dec = read_checkpoint(ckpt / "decoder_0.pt")
    dropped = {"module." + k.removeprefix("decoder.") for k in MATNET_UNUSED}
    assert dropped <= dec.keys()
    torch.save({k: v for k, v in dec.items() if k not in dropped}, ckpt / "decoder_0.pt")
    fresh = matnet(blocks=REDUCED)
    load_vos_checkpoint(fresh, ckpt, "matnet")
    assert _same_weights(fresh, matnet_small, skip=MATNET_UNUSED)


def test_matnet_missing_used_tensor_is_refused(tmp_path: Path, matnet_small) -> None:
    ckpt = save_release_checkpoint(matnet_small, tmp_path / "bad", epoch=0)
    enc = read_checkpoint(ckpt / "encoder_0.pt")
    del enc["module.coa_res3.proja.weight"]
    torch.save(enc, ckpt / "encoder_0.pt")
    with pytest.raises(CheckpointMismatchError, match="coa_res3.proja.weight"):
        load_vos_checkpoint(matnet(blocks=REDUCED), ckpt, "matnet")


def test_matnet_without_decoder_file_is_refused(tmp_path: Path, matnet_small) -> None:
    ckpt = save_release_checkpoint(matnet_small, tmp_path / "half", epoch=2)
    (ckpt / "decoder_2.pt").unlink()
    with pytest.raises(StaticDynError, match="decoder_2.pt"):
        load_vos_checkpoint(matnet(blocks=REDUCED), ckpt, "matnet")


def test_wrong_family_is_refused(tmp_path: Path) -> None:
    path = save_release_checkpoint(fusionseg(blocks=REDUCED), tmp_path / "fs.pth")
    with pytest.raises(CheckpointMismatchError):
        load_vos_checkpoint(rtnet("r34", blocks=REDUCED), path, "rtnet_r34")


def test_matnet_directory_through_load_model(tmp_path: Path, matnet_small) -> None:
    ckpt = save_release_checkpoint(matnet_small, tmp_path / "matnet", epoch=5)
    model = staticdyn.load_model("matnet", checkpoint=ckpt, **SMALL)
    assert _same_weights(model.module, matnet_small)


def test_release_files_go_through_the_safe_reader(tmp_path: Path, matnet_small) -> None:
    """A release file holding an object beyond weights is refused by name, and loads once the
    user vouches for it (model.trust_checkpoint); a missing MATNet directory is one line."""
    source = fusionseg(blocks=REDUCED)
    path = save_release_checkpoint(source, tmp_path / "fs.pth")
    raw = read_checkpoint(path)
    torch.save({**raw, "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(UnsafeCheckpointError, match="argparse.Namespace.*trust_checkpoint=true"):
        staticdyn.load_model("fusionseg", checkpoint=path, **SMALL)
    with pytest.warns(UserWarning, match="argparse.Namespace"):
        model = staticdyn.load_model("fusionseg", checkpoint=path, trust_checkpoint=True,
                                     **SMALL)
    assert _same_weights(model.module, source)
    ckpt = save_release_checkpoint(matnet_small, tmp_path / "m", epoch=0)
    torch.save({"x": argparse.Namespace()}, ckpt / "decoder_0.pt")
    with pytest.raises(UnsafeCheckpointError, match="decoder_0.pt"):
        load_vos_checkpoint(matnet(blocks=REDUCED), ckpt, "matnet")
    with pytest.raises(CheckpointFileError, match="checkpoint not found: .*nowhere"):
        staticdyn.load_model("matnet", checkpoint=tmp_path / "nowhere", **SMALL)
