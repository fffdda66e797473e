"""Indexing x[key], iteration and scatter_add: numpy's semantics, gradients against finite differences and PyTorch."""

import numpy as np
import pytest
import torch
from conftest import check_gradients, check_op, random_array

import wengert as wg

MASK = random_array((3, 4), seed=7) > 0


def as_numpy_key(key):
    """The key with wengert tensors replaced by their arrays."""
    if isinstance(key, tuple):
        return tuple(as_numpy_key(part) for part in key)
    return key.numpy() if isinstance(key, wg.Tensor) else key


def torch_gather(key):
    """PyTorch's reference for ``x[key]``: gather the elements numpy's indexing picks, by flat
    position (torch has no negative steps); elements picked twice accumulate in torch's gradient."""
    def gather(x):
        positions = np.arange(x.numel()).reshape(tuple(x.shape))[as_numpy_key(key)]
        return x.reshape(-1)[torch.tensor(np.array(positions))]
    return gather


def case(name, shape, key, marks=()):
    return pytest.param(shape, key, id=name, marks=marks)


KEYS = [
    case("int", (3, 4), 1),
    case("negative-int", (3, 4), -1),
    case("two-ints", (2, 3, 4), (1, -2)),
    case("all-ints-to-0d", (2, 3), (-1, 2)),
    case("slice", (5, 2), slice(1, 4)),
    case("slice-step", (6,), slice(None, None, 2)),
    case("slice-negative-step", (3, 4), (slice(1, None), slice(None, None, -2))),
    case("slice-negative-bounds", (5, 3), (slice(-1, 0, -1), slice(-2, None))),
    case("slice-size1-axis", (1, 4), (slice(None), slice(2, None))),
    case("none", (3, 4), None),
    case("none-middle", (3, 4), (slice(None), None, 1)),
    case("newaxis-ellipsis-int", (3, 4), (np.newaxis, ..., 1)),
    case("ellipsis-last-axis", (2, 3, 4), (..., -1)),
    case("ellipsis-first-axis", (2, 3, 4), (0, ...)),
    case("ellipsis-none", (2, 3), (..., None)),
    case("0d-empty-tuple", (), ()),
    case("0d-none", (), None),
    case("0d-ellipsis", (), ...),
    case("int-list", (3, 4), [2, 0]),
    case("int-list-repeated", (3, 4), [0, 0, 1]),
    case("int-array-2d", (4,), np.array([[0, 3], [3, 3]])),
    case("int-array-negative", (3, 2), np.array([-1, 0, -1])),
    case("int-arrays-paired", (3, 4), ([0, 2, 0], [1, 1, 1])),
    case("int-arrays-broadcast", (3, 4), (np.array([[0], [2]]), [1, 3, 1])),
    case("int64-tensor", (3, 4), wg.tensor(np.array([2, 2, 0]))),
    case("int64-tensor-0d", (3, 4), wg.tensor(1)),
    case("int64-tensors-in-tuple", (3, 4), (slice(None), wg.tensor([3, 0, 3]))),
    case("bool-array", (3, 4), MASK),
    case("bool-array-rows", (3, 4), np.array([True, False, True])),
    case("bool-list", (2, 3), [False, True]),
    case("bool-tensor", (3, 4), wg.tensor(MASK)),
    case("bool-tensor-then-slice", (3, 4), (wg.tensor(np.array([False, True, True])), slice(None, 2))),
    case("mixed-slice-list", (3, 4), (slice(None), [0, 2])),
    case("mixed-list-slice-none", (2, 3, 4), ([0, 1], slice(None), None)),
    case("mixed-int-list-reversed", (2, 3, 4), (1, [0, 2, 0], slice(None, None, -1))),
    case("mixed-lists-split-by-slice", (2, 3, 4), ([1, 0, 1], slice(None), [3, 3, 0])),
    case("mixed-ellipsis-list", (2, 3, 4), (..., [1, 1])),
    case("mixed-bool-int", (3, 4), (np.array([True, False, True]), 2)),
    case("tuple-as-index-array", (3, 4), ((0, 0), slice(None))),
]


@pytest.mark.parametrize("shape, key", KEYS)
def test_getitem_matches_numpy_torch_and_finite_differences(shape, key):
    array = random_array(shape)
    np.testing.assert_array_equal(wg.tensor(array)[key].numpy(), array[as_numpy_key(key)])
    check_op(lambda x: x[key], torch_gather(key), array)


@pytest.mark.parametrize("shape, key, expected_grad", [
    ((3,), [0, 0, 1], [2, 1, 0]),
    ((3, 2), [0, 0, 1], [[2, 2], [1, 1], [0, 0]]),
    ((3, 2), ([2, 2, 2], [1, 1, 0]), [[0, 0], [0, 0], [1, 2]]),
    ((4,), np.array([[3, 3], [3, -1]]), [0, 0, 0, 4]),
    ((2, 2), (slice(None), [1, 1, 1]), [[0, 3], [0, 3]]),
    ((3,), wg.tensor([1, 1]), [0, 2, 0]),
    ((3, 2), ([0, 0, 1], slice(None), None), [[2, 2], [1, 1], [0, 0]]),
], ids=["1d", "rows", "pairs", "2d-index-with-negative", "slice-then-list", "tensor-index", "list-slice-none"])
def test_repeated_indices_accumulate_gradients(shape, key, expected_grad):
    x = wg.tensor(np.zeros(shape), requires_grad=True)
    x[key].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), expected_grad)


def test_getitem_of_a_computed_bool_mask_routes_gradient_to_picked_elements():
    array = random_array((3, 4))
    x = wg.tensor(array, requires_grad=True)
    (x[x > 0] * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.where(array > 0, 3.0, 0.0))


@pytest.mark.parametrize("shape", [(3,), (3, 2), (1, 2, 2)], ids=str)
def test_iteration_yields_rows_that_carry_gradients(shape):
    array = random_array(shape)
    x = wg.tensor(array, requires_grad=True)
    rows = list(x)
    assert len(x) == len(rows) == shape[0]
    for row, expected in zip(rows, array, strict=True):
        np.testing.assert_array_equal(row.detach().numpy(), expected)
    loss = rows[0].sum()
    for weight, row in enumerate(rows[1:], start=2):
        loss = loss + row.sum() * float(weight)
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.broadcast_to(np.arange(1.0, shape[0] + 1).reshape(
        (-1,) + (1,) * (len(shape) - 1)), shape))


def test_len_and_iteration_of_a_0d_tensor_raise_type_error():
    scalar = wg.tensor(1.0)
    with pytest.raises(TypeError, match="0-d"):
        len(scalar)
    with pytest.raises(TypeError, match="0-d"):
        list(scalar)


def torch_scatter_add(index, shape):
    """Zeros of ``shape`` with rows ``values`` added at ``index`` along axis 0 (accumulating)."""
    return lambda values: torch.zeros(shape).index_put((torch.tensor(index),), values, accumulate=True)


@pytest.mark.parametrize("values_shape, index, shape", [
    ((3, 4), [0, 0, 2], (3, 4)),
    ((4,), [0, 0, 2], (3, 4)),  # values broadcast to the shape of x[key]
    ((5,), [1, 1, 1, 0, 3], (4,)),
    ((2, 1, 2), [2, 2], (3, 3, 2)),
], ids=["rows", "broadcast-values", "1d", "broadcast-middle"])
def test_scatter_add_matches_numpy_torch_and_finite_differences(values_shape, index, shape):
    values = random_array(values_shape)
    expected = np.zeros(shape)
    np.add.at(expected, index, values)
    np.testing.assert_array_equal(wg.scatter_add(wg.tensor(values), index, shape).numpy(), expected)
    check_op(lambda v: wg.scatter_add(v, index, shape), torch_scatter_add(index, shape), values)


@pytest.mark.parametrize("key, shape", [
    ((slice(1, None), slice(None, None, -1)), (3, 2)),
    (np.array([True, False, True]), (3,)),
    ((wg.tensor([0, 2]), 1), (3, 2)),
    ((..., None), (2,)),
], ids=["slices", "bool-mask", "tensor-key", "ellipsis-none"])
def test_scatter_add_is_the_vjp_of_getitem(key, shape):
    values = random_array(np.zeros(shape)[as_numpy_key(key)].shape, seed=3)
    scattered = wg.scatter_add(wg.tensor(values), key, list(shape)).numpy()
    expected = np.zeros(shape)
    expected[as_numpy_key(key)] = values
    np.testing.assert_array_equal(scattered, expected)
    x = wg.tensor(random_array(shape), requires_grad=True)
    (x[key] * wg.tensor(values)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), scattered)
    check_gradients(lambda v: wg.scatter_add(v, key, shape), values)


def along(index):
    return np.asarray(index)


@pytest.mark.parametrize("shape, index, axis", [
    ((3, 4), along([[0, 3, 3], [1, 0, 2], [2, 2, 2]]), 1),
    ((3, 4), along([[0, 2, 1, 0]]), 0),  # a size-1 index axis broadcasts against the array's
    ((3, 4), along([[1], [0], [3]]), -1),
    ((2, 3, 4), along(np.random.default_rng(3).integers(0, 3, size=(2, 5, 4))), 1),
    ((5,), along([4, 0, 0, 2]), 0),
    ((3, 4), along([[-1, -4], [0, -2], [3, 3]]), 1),  # numpy counts negative indices from the end
], ids=["axis1", "broadcast-index", "negative-axis", "3d", "1d", "negative-indices"])
def test_take_along_axis_matches_numpy_torch_and_finite_differences(shape, index, axis):
    array = random_array(shape)
    np.testing.assert_array_equal(wg.take_along_axis(wg.tensor(array), index, axis).numpy(),
                                  np.take_along_axis(array, index, axis))
    check_op(lambda x: wg.take_along_axis(x, wg.tensor(index), axis),
             lambda x: torch.take_along_dim(x, torch.tensor(index % shape[axis]), axis), array)


def test_take_along_axis_none_flattens():
    array = random_array((2, 3))
    index = np.array([5, 0, 0])
    np.testing.assert_array_equal(wg.take_along_axis(wg.tensor(array), index, None).numpy(),
                                  np.take_along_axis(array, index, None))
    check_gradients(lambda x: wg.take_along_axis(x, index, axis=None), array)


@pytest.mark.parametrize("index, error", [
    (np.array([[0.0]]), wg.OpTypeError), (np.array([0, 1]), wg.OpValueError), (np.array([[4]]), wg.OpIndexError),
], ids=["float", "rank", "out-of-range"])
def test_take_along_axis_refuses_bad_indices_naming_the_op(index, error):
    with pytest.raises(error, match=r"^take_along_axis: ") as raised:
        wg.take_along_axis(wg.ones((2, 4), requires_grad=True), index, 1)
    assert "test_ops_indexing.py" in str(raised.value)
