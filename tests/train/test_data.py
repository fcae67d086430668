"""Training inputs: seeded, split by video, shuffled variant, planted static cue."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from staticdyn.data.synthetic import SyntheticSource
from staticdyn.errors import DatasetError
from staticdyn.experiments.train_job import output_dir, run_train
from staticdyn.train.data import VAL_EPOCH, ClipDataset, EpochSampler, split_indices
from staticdyn.train.distractor import StaticCueSource
from tests.helpers.configs import compose_cfg, tiny_model

ROOT = Path(__file__).resolve().parents[2]


def _spec():  # noqa: ANN202
    from staticdyn.models.zoo import clip_spec_from

    return clip_spec_from(tiny_model()["clip"], "toy3d")


def _source(**kw) -> SyntheticSource:  # noqa: ANN003
    return SyntheticSource(**{"n_videos": 20, "num_frames": 8, "size": 32, "classes": "motion",
                              **kw})


def test_split_is_by_video_disjoint_and_seeded() -> None:
    tr, va = split_indices(100, 0.2, seed=3)
    assert len(va) == 20 and not set(tr) & set(va) and sorted(tr + va) == list(range(100))
    assert (tr, va) == split_indices(100, 0.2, seed=3)
    assert va != split_indices(100, 0.2, seed=4)[1]


def test_samples_are_a_function_of_seed_epoch_index() -> None:
    src = _source()
    a = ClipDataset(src, range(10), _spec(), seed=1)
    b = ClipDataset(src, range(10), _spec(), seed=1)
    assert torch.equal(a[3][0][0], b[3][0][0]) and a[3][1] == b[3][1]
    b.set_epoch(1)  # another style per sample next epoch (for most of the 10 samples)
    assert sum(not torch.equal(a[i][0][0], b[i][0][0]) for i in range(10)) >= 5


def test_shuffled_clip_is_a_time_permutation_of_the_ordered_one() -> None:
    src = _source()
    ordered = ClipDataset(src, range(10), _spec(), seed=0, epoch=VAL_EPOCH)[2][0][0]
    shuffled = ClipDataset(src, range(10), _spec(), seed=0, shuffle_frames=True,
                           epoch=VAL_EPOCH)[2][0][0]
    assert not torch.equal(ordered, shuffled)
    key = lambda x: sorted(x[:, t].sum().item() for t in range(x.shape[1]))  # noqa: E731
    assert key(ordered) == pytest.approx(key(shuffled))


def test_style_warmup_then_random() -> None:
    ds = ClipDataset(_source(), range(20), _spec(), style="random", warmup_epochs=2,
                     warmup_style=1)
    rng = np.random.default_rng(0)
    assert {ds.style_of(rng) for _ in range(20)} == {1}
    ds.set_epoch(2)
    assert len({ds.style_of(rng) for _ in range(50)}) == 4
    ds.set_epoch(VAL_EPOCH)  # validation always sees the final regime
    assert len({ds.style_of(rng) for _ in range(50)}) == 4


def test_epoch_sampler_skip_resumes_mid_epoch() -> None:
    full = list(EpochSampler(10, seed=0, epoch=2))
    assert list(EpochSampler(10, seed=0, epoch=2, skip=4)) == full[4:]
    assert sorted(full) == list(range(10)) and full != list(EpochSampler(10, 0, 3))


def test_unlabelled_source_is_refused() -> None:
    with pytest.raises(DatasetError, match="classes"):
        ClipDataset(_source(classes=None), range(4), _spec())


def test_static_cue_predicts_class_on_training_videos_only() -> None:
    base = _source(n_videos=200)
    train = base.videos[:100]
    src = StaticCueSource(base, train, correlation=0.9, seed=0)
    agree_train = np.mean([src.cue(v) == base.label(v) for v in train])
    agree_val = np.mean([src.cue(v) == base.label(v) for v in base.videos[100:]])
    assert agree_train > 0.8 and agree_val < 0.3
    frames = src.read(train[0], 0)
    k = int(round(32 * 0.2))
    patch = frames[:, 1:1 + k, 1:1 + k].astype(int)
    assert (patch == patch[0]).all()  # static: identical on every frame
    assert not np.array_equal(src.read(train[0], 1)[0, 2, 2], frames[0, 2, 2])  # styled


def test_plain_training_run_goes_to_train_subfolder(tmp_path: Path) -> None:
    cfg = compose_cfg(tmp_path / "run", train={"max_steps": 2})
    assert output_dir(cfg) == tmp_path / "run" / "train"
    result = run_train(cfg)
    assert (tmp_path / "run" / "train" / "checkpoints" / "step_0000002.pyth").exists()
    assert result.val_top1 is not None


def test_run_py_mode_train_cli(tmp_path: Path) -> None:
    clip = "{frames: 8, sampling_rate: 1, crop: 32, short_side: 32, n_sample_frames: 8}"
    cmd = [sys.executable, "run.py", "mode=train", "model=toy3d", "dataset=synthetic_tiny",
           "dataset.classes=motion", "dataset.size=32", "dataset.num_frames=8",
           "model.builder_kwargs.width=4", f"model.clip={clip}", "train.max_steps=2",
           "train.batch_size=8", "train.progress=false", "train.threads=1",
           f"train.out_dir={tmp_path / 'cli'}", f"hydra.run.dir={tmp_path / 'hydra'}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "cli" / "checkpoints" / "step_0000002.pyth").exists()
    assert "val top-1" in proc.stdout
