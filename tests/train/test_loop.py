"""The training loop: it learns, it checkpoints in the probe's layout, it resumes exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from staticdyn.errors import StaticDynError
from staticdyn.train import prepare, train_run
from staticdyn.train.checkpoints import list_checkpoints, load_training_state
from staticdyn.train.data import VAL_EPOCH, ClipDataset
from staticdyn.train.loop import LOG_COLUMNS, evaluate, make_loader
from staticdyn.train.optim import lr_at
from staticdyn.train.settings import TrainSettings
from tests.helpers.configs import tiny_dataset, tiny_model, tiny_train


def _prep(**train):  # noqa: ANN202
    return prepare(tiny_model(), tiny_dataset(), tiny_train(**train))


def _train_loss(prep) -> float:  # noqa: ANN001
    """Loss on the training videos in a fixed style, in eval mode (no batch noise)."""
    ds = ClipDataset(prep.source, [prep.source.videos.index(v) for v in prep.train_set.videos],
                     prep.model.clip_spec, seed=0, style=0, epoch=VAL_EPOCH)
    return evaluate(prep.model.module, make_loader(ds, 16, 0), torch.device("cpu"))[0]


def test_training_reduces_loss(tmp_path: Path) -> None:
    prep = _prep(max_steps=25, style=0, lr=0.01, schedule="constant")
    before = _train_loss(prep)
    result = train_run(prep, tmp_path / "run")
    after = _train_loss(prep)
    assert result.steps == 25
    assert after < 0.8 * before, (before, after)


def test_checkpoints_every_k_steps_in_pytorchvideo_layout(tmp_path: Path) -> None:
    result = train_run(_prep(max_steps=7, ckpt_every=3, save_initial=True), tmp_path / "run")
    steps = [s for s, _ in list_checkpoints(tmp_path / "run" / "checkpoints")]
    assert steps == [0, 3, 6, 7]  # every 3 steps, the initialisation and the last step
    state = load_training_state(result.checkpoints[-1])
    assert set(state["model_state"]) == set(result_model_keys())
    assert state["step"] == 7 and "optimizer_state" in state
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert list(rows[0]) == LOG_COLUMNS
    assert rows[-1]["step"] == "7" and rows[-1]["val_top1"] != ""


def result_model_keys() -> list[str]:
    from staticdyn.models.zoo import from_config
    from staticdyn.train.build import model_config

    return list(from_config(model_config(tiny_model(), 10)).module.state_dict())


def test_checkpoint_loads_strictly_into_zoo_and_probe(tmp_path: Path) -> None:
    from staticdyn.experiments.training.probing import probe_checkpoint
    from staticdyn.models.zoo import from_config

    prep = _prep(max_steps=3)
    result = train_run(prep, tmp_path / "run")
    ckpt = result.checkpoints[-1]
    card = {**prep.model_cfg, "checkpoint": str(ckpt)}
    loaded = from_config(card)
    for k, v in prep.model.module.state_dict().items():
        assert torch.equal(loaded.module.state_dict()[k], v), k
    out = probe_checkpoint(prep.model_cfg, ckpt, tiny_dataset(classes=None, seed=1),
                           {"n_pairs": 12, "batch_size": 12, "progress": False,
                            "sampler": "shared", "seed": 0, "lambda": 0.5,
                            "estimator": "pooled", "task": "action", "layers": None,
                            "num_workers": 0, "device": "cpu", "dtype": "float32",
                            "amp": False, "clip_start": "first", "shard": 0,
                            "num_shards": 1}, tmp_path / "probe")
    assert out["rows"] == 12
    assert list(out["tables"].layerwise["layer"]) == ["stage1", "stage2", "stage3", "stage4"]


def test_resume_is_bit_exact(tmp_path: Path) -> None:
    full = _prep(max_steps=8, ckpt_every=4)
    train_run(full, tmp_path / "full")
    # the same run "killed" after step 4: its later checkpoint never got written
    part = _prep(max_steps=8, ckpt_every=4)
    train_run(part, tmp_path / "part")
    (tmp_path / "part" / "checkpoints" / "step_0000008.pyth").unlink()
    resumed = _prep(max_steps=8, ckpt_every=4)
    res = train_run(resumed, tmp_path / "part")
    assert res.resumed_from == 4
    a = full.model.module.state_dict()
    b = resumed.model.module.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    steps = [r["step"] for r in csv.DictReader((tmp_path / "part" / "log.csv").open())]
    assert len(steps) == len(set(steps))  # rows past step 4 were replaced, not duplicated


def test_resume_refuses_another_configuration(tmp_path: Path) -> None:
    train_run(_prep(max_steps=2), tmp_path / "run")
    with pytest.raises(StaticDynError, match="lr"):
        train_run(_prep(max_steps=2, lr=0.5), tmp_path / "run")


def test_same_init_seed_gives_same_initial_weights() -> None:
    a, b = _prep(seed=1, init_seed=7), _prep(seed=2, init_seed=7)
    c = _prep(seed=1, init_seed=8)
    wa, wb, wc = (p.model.module.blocks[0][0].weight for p in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_lr_schedule() -> None:
    s = TrainSettings(lr=0.1, schedule="cosine", warmup_steps=2)
    assert lr_at(0, 10, s) == pytest.approx(0.05)
    assert lr_at(2, 10, s) == pytest.approx(0.1)
    assert lr_at(9, 10, s) < 0.01
    step = TrainSettings(lr=0.1, schedule="step", milestones=[3], gamma=0.5)
    assert [lr_at(i, 10, step) for i in (2, 3)] == pytest.approx([0.1, 0.05])


def test_bad_settings_fail_early() -> None:
    with pytest.raises(StaticDynError, match="optimizer"):
        TrainSettings.from_mapping({"optimizer": "sgdd"})
    with pytest.raises(StaticDynError, match="train key"):
        TrainSettings.from_mapping({"epoch": 3})
