"""Shape ops (reshape to astype): numpy's semantics, gradients against finite differences and PyTorch."""

import numpy as np
import pytest
import torch
from conftest import check_op, random_array

import wengert as wg


def case(name, wg_fn, torch_fn, *shapes, marks=(), **tolerances):
    """One table row: ``wg_fn`` and ``torch_fn`` applied to random float64 arrays of ``shapes``."""
    arrays = [random_array(shape, seed=index) for index, shape in enumerate(shapes)]
    return pytest.param(wg_fn, torch_fn, arrays, tolerances, id=name, marks=marks)


def torch_pad(widths, value=0.0):
    """numpy's ``pad_width`` (int, (before, after) or one pair per axis) as torch's F.pad."""
    def pad(x):
        pairs = np.broadcast_to(np.asarray(widths), (x.ndim, 2))[::-1]
        return torch.nn.functional.pad(x, tuple(int(n) for pair in pairs for n in pair), value=value)
    return pad


def reverse_axes(x):
    return x.permute(*reversed(range(x.ndim)))


CASES = [
    # reshape: function and method forms, -1, 0-d and size-1 axes
    case("reshape-fn", lambda x: wg.reshape(x, (4, 3)), lambda x: x.reshape(4, 3), (3, 4)),
    case("reshape-fn-int-minus1", lambda x: wg.reshape(x, -1), lambda x: x.reshape(-1), (2, 3, 4)),
    case("reshape-method-args", lambda x: x.reshape(2, -1), lambda x: x.reshape(2, -1), (3, 4)),
    case("reshape-method-tuple", lambda x: x.reshape((2, 1, -1)), lambda x: x.reshape(2, 1, -1), (3, 4)),
    case("reshape-method-list", lambda x: x.reshape([6, 2]), lambda x: x.reshape(6, 2), (3, 4)),
    case("reshape-0d-to-1x1", lambda x: x.reshape(1, 1), lambda x: x.reshape(1, 1), ()),
    case("reshape-fn-to-0d", lambda x: wg.reshape(x, ()), lambda x: x.reshape(()), (1, 1)),
    case("reshape-method-to-0d", lambda x: x.reshape(()), lambda x: x.reshape(()), (1, 1)),
    # transpose: axes given (negative too), None reverses, .T and .mT
    case("transpose-axes", lambda x: wg.transpose(x, (2, 0, 1)), lambda x: x.permute(2, 0, 1), (2, 3, 4)),
    case("transpose-negative-axes", lambda x: x.transpose(-1, 0, -2), lambda x: x.permute(2, 0, 1), (2, 3, 4)),
    case("transpose-method-tuple", lambda x: x.transpose((1, 0)), lambda x: x.permute(1, 0), (3, 1)),
    case("transpose-none-reverses", wg.transpose, reverse_axes, (2, 3, 4)),
    case("transpose-method-no-args", lambda x: x.transpose(), reverse_axes, (2, 1, 4)),
    case("transpose-0d", wg.transpose, lambda x: x, ()),
    case("T-2d", lambda x: x.T, lambda x: x.T, (3, 4)),
    case("T-3d", lambda x: x.T, reverse_axes, (2, 3, 4)),
    case("T-1d", lambda x: x.T, lambda x: x, (3,)),
    case("mT-2d", lambda x: x.mT, lambda x: x.mT, (3, 4)),
    case("mT-4d", lambda x: x.mT, lambda x: x.mT, (2, 1, 3, 4)),
    case("matrix_transpose", wg.matrix_transpose, lambda x: x.mT, (2, 3, 4)),
    # swapaxes
    case("swapaxes", lambda x: wg.swapaxes(x, 0, 2), lambda x: x.swapaxes(0, 2), (2, 3, 4)),
    case("swapaxes-negative", lambda x: x.swapaxes(-1, 0), lambda x: x.swapaxes(-1, 0), (2, 1, 4)),
    case("swapaxes-same-axis", lambda x: x.swapaxes(1, -2), lambda x: x, (2, 3, 4)),
    # expand_dims
    case("expand_dims-int", lambda x: wg.expand_dims(x, 1), lambda x: x.unsqueeze(1), (2, 3)),
    case("expand_dims-negative", lambda x: wg.expand_dims(x, -1), lambda x: x.unsqueeze(-1), (2, 3)),
    case("expand_dims-tuple", lambda x: wg.expand_dims(x, (0, -1)), lambda x: x[None, ..., None], (2, 3)),
    case("expand_dims-list", lambda x: wg.expand_dims(x, [0, 2]), lambda x: x[None, :, None], (3,)),
    case("expand_dims-0d", lambda x: wg.expand_dims(x, 0), lambda x: x.unsqueeze(0), ()),
    # squeeze
    case("squeeze-all", lambda x: x.squeeze(), lambda x: x.squeeze(), (1, 3, 1, 2)),
    case("squeeze-axis", lambda x: wg.squeeze(x, 0), lambda x: x.squeeze(0), (1, 3, 1)),
    case("squeeze-negative-axis", lambda x: x.squeeze(-1), lambda x: x.squeeze(-1), (1, 3, 1)),
    case("squeeze-tuple", lambda x: wg.squeeze(x, (0, 2)), lambda x: x.squeeze((0, 2)), (1, 3, 1)),
    case("squeeze-to-0d", wg.squeeze, torch.squeeze, (1, 1)),
    case("squeeze-nothing", wg.squeeze, torch.squeeze, (2, 3)),
    # broadcast_to
    case("broadcast_to-new-axes", lambda x: wg.broadcast_to(x, (4, 2, 3)), lambda x: x.expand(4, 2, 3), (2, 3)),
    case("broadcast_to-size1", lambda x: wg.broadcast_to(x, (4, 2, 3)), lambda x: x.expand(4, 2, 3), (2, 1)),
    case("broadcast_to-0d", lambda x: wg.broadcast_to(x, (2, 3)), lambda x: x.expand(2, 3), ()),
    case("broadcast_to-int", lambda x: wg.broadcast_to(x, 3), lambda x: x.expand(3), (1,)),
    # flatten: numpy's (all axes) by default, or start_dim..end_dim
    case("flatten-default", lambda x: x.flatten(), torch.flatten, (2, 3, 4)),
    case("flatten-0d", wg.flatten, torch.flatten, ()),
    case("flatten-start", lambda x: x.flatten(1), lambda x: x.flatten(1), (2, 3, 4, 5)),
    case("flatten-start-end", lambda x: wg.flatten(x, 1, 2), lambda x: x.flatten(1, 2), (2, 3, 4, 5)),
    case("flatten-negative", lambda x: x.flatten(-2), lambda x: x.flatten(-2), (2, 3, 4)),
    case("flatten-end-only", lambda x: wg.flatten(x, end_dim=-2), lambda x: x.flatten(0, -2), (2, 1, 4)),
    case("flatten-start-equals-end", lambda x: wg.flatten(x, 1, 1), lambda x: x.flatten(1, 1), (2, 3, 4)),
    # concatenate: any axis, axis=None flattens, different lengths, three inputs
    case("concatenate-axis0", lambda a, b: wg.concatenate([a, b]), lambda a, b: torch.cat([a, b]), (2, 3), (1, 3)),
    case("concatenate-axis1", lambda a, b: wg.concatenate([a, b], axis=1),
         lambda a, b: torch.cat([a, b], 1), (2, 3), (2, 4)),
    case("concatenate-negative", lambda a, b: wg.concatenate((a, b), axis=-1),
         lambda a, b: torch.cat([a, b], -1), (2, 1, 3), (2, 1, 1)),
    case("concatenate-none", lambda a, b: wg.concatenate([a, b], axis=None),
         lambda a, b: torch.cat([a.flatten(), b.flatten()]), (2, 3), (4,)),
    case("concatenate-three", lambda a, b, c: wg.concatenate([a, b, c], axis=-2),
         lambda a, b, c: torch.cat([a, b, c], -2), (2, 3), (1, 3), (4, 3)),
    case("concatenate-one", lambda a: wg.concatenate([a]), lambda a: torch.cat([a]), (3,)),
    pytest.param(lambda a, b: wg.concatenate([a, b], axis=1), lambda a, b: torch.cat([a, b], 1),
                 [random_array((2, 3), dtype=np.float32), random_array((2, 1), seed=1)], {},
                 id="concatenate-float32-float64"),
    # stack
    case("stack-axis0", lambda a, b: wg.stack([a, b]), lambda a, b: torch.stack([a, b]), (2, 3), (2, 3)),
    case("stack-negative", lambda a, b: wg.stack([a, b], axis=-1),
         lambda a, b: torch.stack([a, b], -1), (2, 3), (2, 3)),
    case("stack-middle-three", lambda a, b, c: wg.stack([a, b, c], axis=1),
         lambda a, b, c: torch.stack([a, b, c], 1), (2, 1), (2, 1), (2, 1)),
    case("stack-0d", lambda a, b: wg.stack([a, b]), lambda a, b: torch.stack([a, b]), (), ()),
    pytest.param(lambda a, b: wg.stack([a, b]), lambda a, b: torch.stack([a.double(), b]),
                 [random_array((3,), dtype=np.float32), random_array((3,), seed=1)], {}, id="stack-float32-float64"),
    # split: numpy's semantics (torch.tensor_split agrees); a random weight per piece
    case("split-sections", lambda x: wg.split(x, 3, axis=1), lambda x: torch.tensor_split(x, 3, 1), (2, 6)),
    case("split-sections-negative", lambda x: wg.split(x, 2, axis=-1),
         lambda x: torch.tensor_split(x, 2, -1), (2, 1, 4)),
    case("split-one-section", lambda x: wg.split(x, 1), lambda x: torch.tensor_split(x, 1), (3, 2)),
    case("split-indices", lambda x: wg.split(x, [1, 3], axis=1), lambda x: torch.tensor_split(x, [1, 3], 1), (2, 5)),
    case("split-indices-axis0", lambda x: wg.split(x, [2]), lambda x: torch.tensor_split(x, [2]), (5,)),
    case("split-indices-empty-piece", lambda x: wg.split(x, [2, 2, 4]),
         lambda x: torch.tensor_split(x, [2, 2, 4]), (4, 3)),
    # pad: int, (before, after), per-axis widths, a constant
    case("pad-int", lambda x: wg.pad(x, 1), torch_pad(1), (2, 3)),
    case("pad-pair", lambda x: wg.pad(x, (1, 2)), torch_pad((1, 2)), (2, 3)),
    case("pad-per-axis", lambda x: wg.pad(x, ((1, 2), (0, 1))), torch_pad(((1, 2), (0, 1))), (2, 3)),
    case("pad-3d-size1", lambda x: wg.pad(x, [(0, 0), (2, 1), (1, 0)]), torch_pad([(0, 0), (2, 1), (1, 0)]), (2, 1, 3)),
    case("pad-constant", lambda x: wg.pad(x, (2, 1), constant_values=-3.5), torch_pad((2, 1), -3.5), (4,)),
    case("pad-zero-width", lambda x: wg.pad(x, 0), lambda x: x, (2, 3)),
    case("pad-0d", lambda x: wg.pad(x, 1), lambda x: x, ()),
    # repeat: each element, int or per-element repeats; axis=None flattens first
    case("repeat-int-axis", lambda x: wg.repeat(x, 2, axis=1), lambda x: x.repeat_interleave(2, 1), (2, 3)),
    case("repeat-negative-axis", lambda x: x.repeat(3, axis=-2), lambda x: x.repeat_interleave(3, -2), (2, 1, 3)),
    case("repeat-array", lambda x: wg.repeat(x, np.array([1, 0, 3]), axis=1),
         lambda x: x.repeat_interleave(torch.tensor([1, 0, 3]), 1), (2, 3)),
    case("repeat-list", lambda x: wg.repeat(x, [2, 1], axis=0),
         lambda x: x.repeat_interleave(torch.tensor([2, 1]), 0), (2, 3)),
    case("repeat-axis-none", lambda x: wg.repeat(x, 2), lambda x: x.repeat_interleave(2), (2, 3)),
    case("repeat-axis-none-array", lambda x: wg.repeat(x, [0, 1, 2, 3]),
         lambda x: x.repeat_interleave(torch.tensor([0, 1, 2, 3])), (2, 2)),
    case("repeat-0d", lambda x: wg.repeat(x, 3), lambda x: x.repeat_interleave(3), ()),
    # tile (torch.tile has numpy's rule: the shorter of reps and shape gets leading 1s)
    case("tile-int", lambda x: wg.tile(x, 2), lambda x: x.tile(2), (2, 3)),
    case("tile-reps-shorter", lambda x: wg.tile(x, (3,)), lambda x: x.tile((3,)), (2, 1, 3)),
    case("tile-reps-equal", lambda x: wg.tile(x, (2, 3)), lambda x: x.tile((2, 3)), (2, 3)),
    case("tile-reps-longer", lambda x: wg.tile(x, (2, 1, 3)), lambda x: x.tile((2, 1, 3)), (2, 3)),
    case("tile-0d", lambda x: wg.tile(x, [2, 2]), lambda x: x.tile((2, 2)), ()),
    # flip: numpy's axis (None: all axes); roll: int or tuple shifts, None flattens
    case("flip-all", wg.flip, lambda x: x.flip(tuple(range(x.ndim))), (2, 3, 4)),
    case("flip-axis", lambda x: wg.flip(x, 1), lambda x: x.flip(1), (2, 3)),
    case("flip-negative-tuple", lambda x: wg.flip(x, (0, -1)), lambda x: x.flip((0, -1)), (2, 1, 3)),
    case("flip-list", lambda x: wg.flip(x, [0]), lambda x: x.flip(0), (3,)),
    case("flip-0d", wg.flip, lambda x: x, ()),
    case("roll-flattened", lambda x: wg.roll(x, 2), lambda x: x.roll(2), (2, 3)),
    case("roll-axis", lambda x: wg.roll(x, -1, axis=0), lambda x: x.roll(-1, 0), (3, 2)),
    case("roll-tuples", lambda x: wg.roll(x, (1, 2), axis=(0, -1)), lambda x: x.roll((1, 2), (0, -1)), (2, 1, 3)),
    case("roll-shift-longer-than-axis", lambda x: wg.roll(x, 7, axis=1), lambda x: x.roll(7, 1), (2, 3)),
    case("roll-0d", lambda x: wg.roll(x, 1), lambda x: x, ()),
    # triangles and diagonals: numpy's k (PyTorch's diagonal)
    *[case(f"{name}-fn-k{k}", lambda x, n=name, k=k: getattr(wg, n)(x, k), lambda x, n=name, k=k: getattr(x, n)(k),
           shape) for name in ("tril", "triu") for k, shape in [(0, (3, 3)), (2, (3, 4)), (-1, (4, 2)), (-5, (2, 3))]],
    case("tril-batched", wg.tril, torch.tril, (2, 1, 3, 3)),
    case("triu-diagonal-keyword", lambda x: wg.triu(x, diagonal=1), lambda x: torch.triu(x, diagonal=1), (3, 4)),
    *[case(f"diag-fn-{len(shape)}d-k{k}", lambda x, k=k: wg.diag(x, k), lambda x, k=k: torch.diag(x, k), shape)
      for shape in [(1,), (3,), (3, 4), (4, 2), (1, 1)] for k in (0, 1, -1)],
    # copy: numpy's name for clone
    case("copy", wg.copy, torch.clone, (2, 3)),
    # astype between floating dtypes keeps the gradient (finite differences need a coarse step in float32)
    case("astype-float32-roundtrip", lambda x: x.astype(wg.float32).astype(wg.float64),
         lambda x: x.float().double(), (3, 4), atol=1e-5, eps=1e-3),
    case("astype-fn-float64", lambda x: wg.astype(x, wg.float64), lambda x: x.double(), (2, 1)),
]


@pytest.mark.parametrize("wg_fn, torch_fn, arrays, tolerances", CASES)
def test_shape_op_matches_torch_and_finite_differences(wg_fn, torch_fn, arrays, tolerances):
    check_op(wg_fn, torch_fn, *arrays, **tolerances)


@pytest.mark.parametrize("indices_or_sections, axis", [
    (3, 1), (2, -1), (1, 0), ([1, 3], 1), ([2, 2], -1), ([4], 1), (np.array([0, 5]), 1),
], ids=str)
def test_split_pieces_match_numpy_and_each_gets_its_own_gradient(indices_or_sections, axis):
    array = random_array((2, 6, 1)).reshape(2, 6)
    x = wg.tensor(array, requires_grad=True)
    pieces = wg.split(x, indices_or_sections, axis=axis)
    expected = np.split(array, indices_or_sections, axis=axis)
    assert len(pieces) == len(expected)
    for piece, reference in zip(pieces, expected, strict=True):
        np.testing.assert_array_equal(piece.detach().numpy(), reference)
    # piece k weighted by k + 1: each element of x gets its own piece's weight
    loss = pieces[0].sum() * 1.0
    for weight, piece in enumerate(pieces[1:], start=2):
        loss = loss + piece.sum() * float(weight)
    loss.backward()
    weights = np.split(np.zeros_like(array), indices_or_sections, axis=axis)
    expected_grad = np.concatenate([w + k for k, w in enumerate(weights, start=1)], axis=axis)
    np.testing.assert_array_equal(x.grad.numpy(), expected_grad)


def test_split_refuses_unequal_sections():
    with pytest.raises(ValueError, match="equal sections"):
        wg.split(wg.ones(5), 2)


def test_split_refuses_zero_sections():
    with pytest.raises(ValueError):
        wg.split(wg.ones(4), 0)


def test_flatten_refuses_start_after_end():
    with pytest.raises(ValueError):
        wg.flatten(wg.ones((2, 3, 4)), 2, 1)


@pytest.mark.parametrize("source, target", [(wg.float64, wg.float32), (wg.float32, wg.float64)],
                         ids=["float64-to-float32", "float32-to-float64"])
def test_astype_between_floats_keeps_gradient_in_input_dtype(source, target):
    x = wg.tensor(np.array([1.0, -2.0, 3.0], dtype=source), requires_grad=True)
    y = x.astype(target)
    assert y.dtype == target and y.requires_grad
    (y * wg.tensor(np.array([1.0, 2.0, 3.0], dtype=target))).sum().backward()
    assert x.grad.dtype == source
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 3.0])


@pytest.mark.parametrize("dtype", [wg.int64, wg.int32, wg.bool_], ids=lambda dtype: np.dtype(dtype).name)
def test_astype_to_non_float_has_no_gradient(dtype):
    x = wg.tensor(np.array([1.7, -2.2, 0.0]), requires_grad=True)
    y = wg.astype(x, dtype) if dtype is wg.int32 else x.astype(dtype)
    assert y.dtype == dtype and not y.requires_grad and y.grad_fn is None
    np.testing.assert_array_equal(y.numpy(), np.array([1.7, -2.2, 0.0]).astype(dtype))


@pytest.mark.parametrize("make, message", [
    (lambda: wg.ones((3, 4)) + wg.ones((5, 2)), r"add: .*\(3, 4\).*\(5, 2\)"),
    (lambda: wg.broadcast_to(wg.ones((2, 3)), (4, 3)), r"broadcast_to: .*\(2, 3\)"),
    (lambda: wg.reshape(wg.ones((2, 3)), (4, 2)), r"reshape: .*\(2, 3\)"),
    (lambda: wg.concatenate([wg.ones((2, 3)), wg.ones((3, 3))], axis=1), r"concatenate: .*\(2, 3\).*\(3, 3\)"),
], ids=["add", "broadcast_to", "reshape", "concatenate"])
def test_shape_mismatch_error_names_op_shapes_and_call_site(make, message):
    with pytest.raises(ValueError, match="(?s)" + message) as error:
        make()
    assert isinstance(error.value, wg.OpValueError)
    assert "float32" in str(error.value) and "test_ops_shape.py" in str(error.value)


def test_flip_returns_a_copy_as_torch_does():
    x = wg.tensor(np.arange(6.0).reshape(2, 3))
    flipped = wg.flip(x, 0)
    assert not np.shares_memory(flipped.data, x.data)
    np.testing.assert_array_equal(flipped.numpy(), np.flip(np.arange(6.0).reshape(2, 3), 0))


def test_copy_does_not_share_memory():
    x = wg.tensor(np.arange(3.0), requires_grad=True)
    copied = wg.copy(x)
    assert copied.requires_grad and not np.shares_memory(copied.data, x.data)


@pytest.mark.parametrize("make, message", [
    (lambda: wg.tril(wg.ones(3)), r"tril: takes an input of at least 2 dimensions"),
    (lambda: wg.triu(wg.tensor(1.0)), r"triu: takes an input of at least 2 dimensions"),
    (lambda: wg.diag(wg.tensor(1.0)), r"diag: takes a 1-D or 2-D input"),
    (lambda: wg.flip(wg.ones((2, 3)), 2), r"flip: .*axis 2"),
], ids=["tril-1d", "triu-0d", "diag-0d", "flip-axis"])
def test_triangle_diag_flip_errors_name_the_op_and_call_site(make, message):
    with pytest.raises(ValueError, match="(?s)" + message) as error:
        make()
    assert "test_ops_shape.py" in str(error.value)
