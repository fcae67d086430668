"""pool_output: every output shape a hooked layer returns becomes (batch, channels) by hand-known
means (METHOD.md section 2: the global average over every non-channel axis)."""

from __future__ import annotations

import pytest
import torch

from staticdyn.probe.pooling import pool_output


def _arange(*shape: int) -> torch.Tensor:
    return torch.arange(float(torch.Size(shape).numel())).reshape(shape)


def test_5d_conv_map_is_averaged_over_time_and_space() -> None:
    # (B=2, C=3, T=2, H=2, W=2): the 8 values of (b, c) are 24b + 8c + 0..7, mean 24b + 8c + 3.5
    out = pool_output(_arange(2, 3, 2, 2, 2))
    assert out.shape == (2, 3)
    assert out.tolist() == [[3.5, 11.5, 19.5], [27.5, 35.5, 43.5]]


def test_5d_mean_covers_t_h_and_w_not_only_some() -> None:
    x = torch.zeros(1, 1, 2, 3, 4)
    x[0, 0, 1, 2, 3] = 24.0  # one hot cell in the last frame, last row, last column
    assert pool_output(x).tolist() == [[1.0]]  # 24 / (2 * 3 * 4)


def test_4d_image_map_is_averaged_over_space() -> None:
    # (B=2, C=3, H=2, W=2): values 12b + 4c + 0..3, mean 12b + 4c + 1.5
    out = pool_output(_arange(2, 3, 2, 2))
    assert out.tolist() == [[1.5, 5.5, 9.5], [13.5, 17.5, 21.5]]


def test_3d_tokens_are_averaged_with_the_class_token() -> None:
    # (B=1, N=3, C=2): class token [10, 0], patch tokens [1, 2] and [4, 4]
    x = torch.tensor([[[10.0, 0.0], [1.0, 2.0], [4.0, 4.0]]])
    out = pool_output(x)
    assert out.tolist() == [[5.0, 2.0]]  # without the class token it would be [2.5, 3.0]


def test_3d_pools_tokens_not_channels() -> None:
    x = _arange(2, 4, 3)  # (B, N, C): channels stay the last axis
    out = pool_output(x)
    assert out.shape == (2, 3)
    # b=0: tokens rows 0..3 of [[0,1,2],[3,4,5],...] -> column means 4.5, 5.5, 6.5
    assert out[0].tolist() == [4.5, 5.5, 6.5]
    assert out[1].tolist() == [16.5, 17.5, 18.5]


def test_2d_is_returned_as_a_copy() -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = pool_output(x)
    assert out.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    x += 100.0  # a later in-place change of the layer output must not reach the feature
    assert out.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert out.data_ptr() != x.data_ptr()


@pytest.mark.parametrize("shape", [(2, 3, 2, 2, 2), (2, 3, 2, 2), (2, 4, 3), (2, 3)])
def test_pooled_feature_does_not_alias_the_output(shape: tuple[int, ...]) -> None:
    x = _arange(*shape)
    out = pool_output(x)
    before = out.clone()
    x.mul_(-1.0).add_(7.0)
    assert torch.equal(out, before)


def test_tuple_output_pools_its_first_tensor() -> None:
    # MViT blocks return (x, thw): the token tensor is pooled, the shape list ignored
    x = torch.tensor([[[10.0, 0.0], [1.0, 2.0], [4.0, 4.0]]])
    assert pool_output((x, [1, 1, 3])).tolist() == [[5.0, 2.0]]


def test_nested_tuple_takes_the_first_tensor_recursively() -> None:
    x = torch.tensor([[2.0, 3.0]])
    assert pool_output(((x, "ignored"), torch.zeros(1, 9))).tolist() == [[2.0, 3.0]]


def test_list_output_pools_each_pathway_and_concatenates_channels() -> None:
    # a fused two-pathway stage: slow (B=2, C=2, T=1, H=2, W=2) and fast (B=2, C=1, T=2, H=1, W=2)
    slow = _arange(2, 2, 1, 2, 2)  # means 8b + 4c + 1.5
    fast = _arange(2, 1, 2, 1, 2) + 100.0  # means 4b + 101.5
    out = pool_output([slow, fast])
    assert out.shape == (2, 3)
    assert out.tolist() == [[1.5, 5.5, 101.5], [9.5, 13.5, 105.5]]


def test_list_of_mixed_ranks_and_tuples() -> None:
    tokens = torch.tensor([[[1.0], [3.0]]])  # (1, 2, 1) -> [2]
    vec = torch.tensor([[7.0, 8.0]])  # (1, 2) -> as is
    assert pool_output([(tokens, None), vec]).tolist() == [[2.0, 7.0, 8.0]]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64, torch.int64])
def test_output_is_float32(dtype: torch.dtype) -> None:
    x = torch.tensor([[[[1.0, 2.0], [3.0, 6.0]]]]).to(dtype)  # (1, 1, 2, 2), mean 3
    out = pool_output(x)
    assert out.dtype == torch.float32
    assert out.tolist() == [[3.0]]


def test_half_precision_is_averaged_to_float32_precision() -> None:
    # mean 2048 (1 + 2^-10) / 2049 = 1.00048...: float16 can only say 1.0 or 1.00098, so an
    # exact float32 mean shows the map was upcast before pooling, not after
    v = 1.0 + 2.0**-10
    x = torch.full((1, 1, 1, 2049), v, dtype=torch.float16)
    x[..., -1] = 0.0
    assert abs(pool_output(x).item() - 2048 * v / 2049) < 1e-6


def test_non_tensor_output_is_refused_by_type() -> None:
    with pytest.raises(TypeError, match="of type dict"):
        pool_output({"x": torch.zeros(1, 2)})


@pytest.mark.parametrize("shape", [(4,), ()])
def test_outputs_without_a_channel_axis_are_refused_by_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"of shape \(" + ", ".join(map(str, shape))):
        pool_output(torch.zeros(shape))
