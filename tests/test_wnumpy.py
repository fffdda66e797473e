"""wengert.numpy: numpy's names give numpy's results on arrays, and differentiable Tensors on Tensors.

Each case of the sweep runs one function three ways: on numpy arrays through wengert.numpy
(numpy's own result, plain arrays out), on Tensors (the same values, as Tensors), and through
``wg.gradcheck`` (backward against finite differences). The linear-algebra ops are compared
with PyTorch's gradients as well, and their forward-mode rules (JVPs) with their VJPs.
"""

import numpy
import pytest
import torch

import wengert as wg
import wengert.numpy as wnp
from wengert.ops import decompositions

rng = numpy.random.default_rng(0)


def uniform(low, high, *shape):
    return rng.uniform(low, high, shape)


def normal(*shape):
    return rng.standard_normal(shape)


def away_from_integers(*shape):  # piecewise-constant functions: no step within finite differences' reach
    return rng.integers(-3, 3, shape) + rng.uniform(0.2, 0.8, shape)


def positive(*shape):
    return uniform(0.5, 2.0, *shape)


def well_conditioned(n):
    return normal(n, n) + n * numpy.eye(n)


def spd(n):
    a = normal(n, n)
    return a @ a.T + n * numpy.eye(n)


# name, function of (module, *inputs), inputs (numpy float64; all differentiated)
CASES = [
    # elementwise, one input
    ("negative", lambda m, x: m.negative(x), [normal(3, 4)]),
    ("absolute", lambda m, x: m.absolute(x), [normal(3, 4)]),
    ("abs", lambda m, x: m.abs(x), [normal(3, 4)]),
    ("fabs", lambda m, x: m.fabs(x), [normal(3, 4)]),
    ("exp", lambda m, x: m.exp(x), [normal(3, 4)]),
    ("expm1", lambda m, x: m.expm1(x), [normal(3, 4)]),
    ("exp2", lambda m, x: m.exp2(x), [normal(3, 4)]),
    ("log", lambda m, x: m.log(x), [positive(3, 4)]),
    ("log1p", lambda m, x: m.log1p(x), [positive(3, 4)]),
    ("log2", lambda m, x: m.log2(x), [positive(3, 4)]),
    ("log10", lambda m, x: m.log10(x), [positive(3, 4)]),
    ("sqrt", lambda m, x: m.sqrt(x), [positive(3, 4)]),
    ("cbrt", lambda m, x: m.cbrt(x), [positive(3, 4)]),
    ("square", lambda m, x: m.square(x), [normal(3, 4)]),
    ("reciprocal", lambda m, x: m.reciprocal(x), [positive(3, 4)]),
    ("sin", lambda m, x: m.sin(x), [normal(3, 4)]),
    ("cos", lambda m, x: m.cos(x), [normal(3, 4)]),
    ("tan", lambda m, x: m.tan(x), [uniform(-1.2, 1.2, 3, 4)]),
    ("arcsin", lambda m, x: m.arcsin(x), [uniform(-0.9, 0.9, 3, 4)]),
    ("arccos", lambda m, x: m.arccos(x), [uniform(-0.9, 0.9, 3, 4)]),
    ("arctan", lambda m, x: m.arctan(x), [normal(3, 4)]),
    ("sinh", lambda m, x: m.sinh(x), [normal(3, 4)]),
    ("cosh", lambda m, x: m.cosh(x), [normal(3, 4)]),
    ("tanh", lambda m, x: m.tanh(x), [normal(3, 4)]),
    ("arcsinh", lambda m, x: m.arcsinh(x), [normal(3, 4)]),
    ("arccosh", lambda m, x: m.arccosh(x), [uniform(1.2, 3.0, 3, 4)]),
    ("arctanh", lambda m, x: m.arctanh(x), [uniform(-0.9, 0.9, 3, 4)]),
    ("deg2rad", lambda m, x: m.deg2rad(x), [normal(3, 4)]),
    ("radians", lambda m, x: m.radians(x), [normal(3, 4)]),
    ("rad2deg", lambda m, x: m.rad2deg(x), [normal(3, 4)]),
    ("degrees", lambda m, x: m.degrees(x), [normal(3, 4)]),
    ("sinc", lambda m, x: m.sinc(x), [numpy.array([0.0, 0.3, -1.7, 2.5])]),
    ("floor", lambda m, x: m.floor(x) * x, [away_from_integers(3, 4)]),
    ("ceil", lambda m, x: m.ceil(x) * x, [away_from_integers(3, 4)]),
    ("round", lambda m, x: m.round(x) + m.round(x, 1) * x, [away_from_integers(3, 4) * 0.1 + 0.013]),
    ("around", lambda m, x: m.around(x) * x, [away_from_integers(3, 4)]),
    ("rint", lambda m, x: m.rint(x) * x, [away_from_integers(3, 4)]),
    ("trunc", lambda m, x: m.trunc(x) * x, [away_from_integers(3, 4)]),
    ("fix", lambda m, x: m.fix(x) * x, [away_from_integers(3, 4)]),
    ("sign", lambda m, x: m.sign(x) * x, [normal(3, 4)]),
    ("positive", lambda m, x: m.positive(x), [normal(3, 4)]),
    ("nan_to_num", lambda m, x: m.nan_to_num(x + numpy.array([numpy.nan, numpy.inf, -numpy.inf, 1.0]),
                                             posinf=10.0, neginf=-10.0), [positive(3, 4)]),
    # elementwise, two inputs (broadcasting)
    ("add", lambda m, a, b: m.add(a, b), [normal(3, 4), normal(4)]),
    ("subtract", lambda m, a, b: m.subtract(a, b), [normal(3, 4), normal(3, 1)]),
    ("multiply", lambda m, a, b: m.multiply(a, b), [normal(3, 4), normal(4)]),
    ("divide", lambda m, a, b: m.divide(a, b), [normal(3, 4), positive(4)]),
    ("true_divide", lambda m, a, b: m.true_divide(a, b), [normal(3, 4), positive(4)]),
    ("power", lambda m, a, b: m.power(a, b), [positive(3, 4), normal(4)]),
    ("float_power", lambda m, a, b: m.float_power(a, b), [positive(3, 4), normal(4)]),
    ("maximum", lambda m, a, b: m.maximum(a, b), [normal(3, 4), normal(4)]),
    ("minimum", lambda m, a, b: m.minimum(a, b), [normal(3, 4), normal(4)]),
    ("fmax", lambda m, a, b: m.fmax(a, b), [normal(3, 4), normal(4)]),
    ("fmin", lambda m, a, b: m.fmin(a, b), [normal(3, 4), normal(4)]),
    ("logaddexp", lambda m, a, b: m.logaddexp(a, b), [normal(3, 4), normal(4)]),
    ("logaddexp2", lambda m, a, b: m.logaddexp2(a, b), [normal(3, 4), normal(4)]),
    ("hypot", lambda m, a, b: m.hypot(a, b), [normal(3, 4), normal(4)]),
    ("arctan2", lambda m, a, b: m.arctan2(a, b), [normal(3, 4), normal(4)]),
    ("mod", lambda m, a, b: m.mod(a, b), [uniform(-5, 5, 3, 4), uniform(0.7, 1.3, 4)]),
    ("remainder", lambda m, a, b: m.remainder(a, b), [uniform(-5, 5, 3, 4), -uniform(0.7, 1.3, 4)]),
    ("fmod", lambda m, a, b: m.fmod(a, b), [uniform(-5, 5, 3, 4), uniform(0.7, 1.3, 4)]),
    ("clip", lambda m, x: m.clip(x, -0.5, 0.5), [normal(3, 4)]),
    ("where", lambda m, a, b: m.where(a > b, a, b) + m.where(a > 0, a, 2.0), [normal(3, 4), normal(4)]),
    # reductions and scans
    ("sum", lambda m, x: m.sum(x, axis=1), [normal(3, 4)]),
    ("sum_keepdims", lambda m, x: m.sum(x, axis=(0, 2), keepdims=True), [normal(2, 3, 4)]),
    ("mean", lambda m, x: m.mean(x, axis=0), [normal(3, 4)]),
    ("prod", lambda m, x: m.prod(x, axis=-1, keepdims=True), [normal(3, 4)]),
    ("var", lambda m, x: m.var(x, axis=1, ddof=1), [normal(3, 4)]),
    ("std", lambda m, x: m.std(x, axis=0, keepdims=True), [normal(3, 4)]),
    ("max", lambda m, x: m.max(x, axis=1), [normal(3, 4)]),
    ("amax", lambda m, x: m.amax(x), [normal(3, 4)]),
    ("min", lambda m, x: m.min(x, 0, keepdims=True), [normal(3, 4)]),
    ("amin", lambda m, x: m.amin(x, axis=(0, 1)), [normal(3, 4)]),
    ("cumsum", lambda m, x: m.cumsum(x, axis=1), [normal(3, 4)]),
    ("cumsum_flat", lambda m, x: m.cumsum(x), [normal(3, 4)]),
    ("cumprod", lambda m, x: m.cumprod(x, axis=0), [normal(3, 4)]),
    ("average", lambda m, x, w: m.average(x, axis=1, weights=w), [normal(3, 4), positive(4)]),
    # shapes
    ("reshape", lambda m, x: m.reshape(x, (4, 3)), [normal(3, 4)]),
    ("ravel", lambda m, x: m.ravel(x), [normal(3, 4)]),
    ("transpose", lambda m, x: m.transpose(x, (1, 2, 0)), [normal(2, 3, 4)]),
    ("moveaxis", lambda m, x: m.moveaxis(x, 0, -1), [normal(2, 3, 4)]),
    ("moveaxis_many", lambda m, x: m.moveaxis(x, [0, 1], [2, 0]), [normal(2, 3, 4)]),
    ("rollaxis", lambda m, x: m.rollaxis(x, 2, 1), [normal(2, 3, 4)]),
    ("swapaxes", lambda m, x: m.swapaxes(x, 0, 2), [normal(2, 3, 4)]),
    ("expand_dims", lambda m, x: m.expand_dims(x, 1), [normal(3, 4)]),
    ("squeeze", lambda m, x: m.squeeze(x, 1), [normal(3, 1, 4)]),
    ("broadcast_to", lambda m, x: m.broadcast_to(x, (2, 3, 4)), [normal(3, 1)]),
    ("flip", lambda m, x: m.flip(x, 1), [normal(3, 4)]),
    ("fliplr", lambda m, x: m.fliplr(x), [normal(3, 4)]),
    ("flipud", lambda m, x: m.flipud(x), [normal(3, 4)]),
    ("rot90", lambda m, x: m.rot90(x), [normal(3, 4)]),
    ("rot90_k", lambda m, x: m.rot90(x, 3, axes=(1, 2)) + m.rot90(x, -2, axes=(1, 2)).sum(), [normal(2, 3, 3)]),
    ("roll", lambda m, x: m.roll(x, 2, axis=1), [normal(3, 4)]),
    ("atleast_1d", lambda m, x: m.atleast_1d(x), [numpy.array(1.5)]),
    ("atleast_2d", lambda m, x, y: m.atleast_2d(x, y)[0] * m.atleast_2d(x, y)[1], [normal(4), normal(4)]),
    ("atleast_3d", lambda m, x: m.atleast_3d(x), [normal(3, 4)]),
    ("concatenate", lambda m, a, b: m.concatenate([a, b], axis=1), [normal(3, 4), normal(3, 2)]),
    ("concatenate_none", lambda m, a, b: m.concatenate((a, b), axis=None), [normal(3, 4), normal(2)]),
    ("stack", lambda m, a, b: m.stack([a, b], axis=1), [normal(3, 4), normal(3, 4)]),
    ("hstack", lambda m, a, b: m.hstack([a, b]), [normal(3), normal(2)]),
    ("vstack", lambda m, a, b: m.vstack([a, b]), [normal(4), normal(2, 4)]),
    ("dstack", lambda m, a, b: m.dstack([a, b]), [normal(3, 4), normal(3, 4)]),
    ("column_stack", lambda m, a, b: m.column_stack([a, b]), [normal(3), normal(3, 2)]),
    ("split", lambda m, x: tuple(m.split(x, 2, axis=1)), [normal(3, 4)]),
    ("split_indices", lambda m, x: tuple(m.split(x, [1, 3])), [normal(5, 2)]),
    ("array_split", lambda m, x: tuple(m.array_split(x, 3, axis=1)), [normal(2, 5)]),
    ("hsplit", lambda m, x: tuple(m.hsplit(x, 2)), [normal(3, 4)]),
    ("vsplit", lambda m, x: tuple(m.vsplit(x, [1])), [normal(3, 4)]),
    ("dsplit", lambda m, x: tuple(m.dsplit(x, 2)), [normal(2, 3, 4)]),
    ("append", lambda m, a, b: m.append(a, b), [normal(3, 4), normal(2)]),
    ("append_axis", lambda m, a, b: m.append(a, b, axis=0), [normal(3, 4), normal(1, 4)]),
    ("diagonal", lambda m, x: m.diagonal(x, 1), [normal(4, 5)]),
    ("diagonal_axes", lambda m, x: m.diagonal(x, -1, 2, 0), [normal(4, 3, 5)]),
    ("trace", lambda m, x: m.trace(x), [normal(4, 5)]),
    ("tril", lambda m, x: m.tril(x, -1), [normal(4, 4)]),
    ("triu", lambda m, x: m.triu(x, 1), [normal(4, 4)]),
    ("diag", lambda m, x: m.diag(x, 1), [normal(3)]),
    ("diag_of_matrix", lambda m, x: m.diag(x), [normal(3, 4)]),
    ("kron", lambda m, a, b: m.kron(a, b), [normal(2, 3), normal(3, 2)]),
    ("kron_mixed", lambda m, a, b: m.kron(a, b), [normal(3), normal(2, 2)]),
    ("repeat", lambda m, x: m.repeat(x, 2, axis=0), [normal(3, 4)]),
    ("tile", lambda m, x: m.tile(x, (2, 1)), [normal(3, 4)]),
    ("pad", lambda m, x: m.pad(x, 1), [normal(3, 4)]),
    ("take", lambda m, x: m.take(x, [0, 2, 2], axis=1), [normal(3, 4)]),
    ("array_of_list", lambda m, a, b: m.array([a, b]) * 2, [normal(3), normal(3)]),
    ("r_", lambda m, a, b: m.r_[a, b, 0:2], [normal(3), normal(2)]),
    ("c_", lambda m, a, b: m.c_[a, b], [normal(3), normal(3)]),
    # products
    ("dot", lambda m, a, b: m.dot(a, b), [normal(3, 4), normal(4, 2)]),
    ("dot_vector", lambda m, a, b: m.dot(a, b), [normal(4), normal(4)]),
    ("dot_nd", lambda m, a, b: m.dot(a, b), [normal(2, 3, 4), normal(5, 4, 2)]),
    ("vdot", lambda m, a, b: m.vdot(a, b), [normal(2, 3), normal(2, 3)]),
    ("tensordot", lambda m, a, b: m.tensordot(a, b), [normal(2, 3, 4), normal(3, 4, 5)]),
    ("tensordot_axes", lambda m, a, b: m.tensordot(a, b, axes=([0, 2], [2, 1])), [normal(2, 3, 4), normal(5, 4, 2)]),
    ("inner", lambda m, a, b: m.inner(a, b), [normal(2, 3), normal(4, 3)]),
    ("outer", lambda m, a, b: m.outer(a, b), [normal(3), normal(2, 2)]),
    ("matmul", lambda m, a, b: m.matmul(a, b), [normal(2, 3, 4), normal(4, 2)]),
    ("einsum", lambda m, a, b: m.einsum("ij,jk->ik", a, b), [normal(3, 4), normal(4, 2)]),
    ("einsum_sublist", lambda m, a, b: m.einsum(a, [0, 1], b, [1, 2], [0, 2]), [normal(3, 4), normal(4, 2)]),
    ("cross", lambda m, a, b: m.cross(a, b), [normal(4, 3), normal(3)]),
    ("cross_axis", lambda m, a, b: m.cross(a, b, axis=0), [normal(3, 2), normal(3, 2)]),
    # sorting
    ("sort", lambda m, x: m.sort(x, axis=0), [normal(3, 4)]),
    ("sort_flat", lambda m, x: m.sort(x, axis=None), [normal(3, 4)]),
    ("partition", lambda m, x: m.partition(x, 2, axis=1)[:, 2], [normal(3, 5)]),
    # linear algebra
    ("linalg.inv", lambda m, a: m.linalg.inv(a), [well_conditioned(3)]),
    ("linalg.inv_stack", lambda m, a: m.linalg.inv(a), [numpy.stack([well_conditioned(3), well_conditioned(3)])]),
    ("linalg.det", lambda m, a: m.linalg.det(a), [well_conditioned(3)]),
    ("linalg.slogdet", lambda m, a: m.linalg.slogdet(a)[1], [well_conditioned(3) - 6 * numpy.eye(3)]),
    ("linalg.solve", lambda m, a, b: m.linalg.solve(a, b), [well_conditioned(3), normal(3, 2)]),
    ("linalg.solve_vector", lambda m, a, b: m.linalg.solve(a, b), [well_conditioned(3), normal(3)]),
    ("linalg.pinv", lambda m, a: m.linalg.pinv(a), [normal(4, 3)]),
    ("linalg.cholesky", lambda m, b: m.linalg.cholesky(m.dot(b, b.T) + 3 * numpy.eye(3)), [normal(3, 3)]),
    ("linalg.eigh", lambda m, b: (m.linalg.eigh(b + b.T)[0], m.linalg.eigh(b + b.T)[1] ** 2), [normal(3, 3)]),
    ("linalg.eigvalsh", lambda m, b: m.linalg.eigvalsh(b + b.T), [normal(3, 3)]),
    ("linalg.svd", lambda m, a: (m.linalg.svd(a, full_matrices=False)[1], m.abs(m.linalg.svd(a)[0])),
     [normal(3, 3)]),
    ("linalg.svd_tall", lambda m, a: tuple(p ** 2 for p in m.linalg.svd(a, full_matrices=False)), [normal(4, 2)]),
    ("linalg.svd_values", lambda m, a: m.linalg.svd(a, compute_uv=False), [normal(2, 4)]),
    ("linalg.qr", lambda m, a: tuple(m.linalg.qr(a)), [normal(4, 3)]),
    ("linalg.qr_r", lambda m, a: m.linalg.qr(a, mode="r"), [normal(3, 3)]),
    ("linalg.norm", lambda m, x: m.linalg.norm(x), [normal(2, 3, 4)]),
    ("linalg.multi_dot", lambda m, a, b, c: m.linalg.multi_dot([a, b, c]), [normal(2, 3), normal(3, 4), normal(4)]),
    ("linalg.matrix_power", lambda m, a: m.linalg.matrix_power(a, 3), [normal(3, 3)]),
]

NORM_FORMS = [  # (ord, axis, keepdims) on a 3 x 4 matrix
    (None, None, False), (None, None, True), ("fro", None, False), ("nuc", None, False), (2, None, False),
    (-2, None, False), (1, None, False), (-1, None, False), (numpy.inf, None, False), (-numpy.inf, None, False),
    (None, 1, False), (2, 0, True), (1, 1, False), (3, 0, False), (0.5, 1, False), (-1, 1, False),
    (numpy.inf, 1, False), (-numpy.inf, 0, False), (0, 1, False), ("fro", (1, 0), True), ("nuc", (0, 1), True),
    (numpy.inf, (1, 0), False), (1, (1, 0), False),
]
for _ord, _axis, _keepdims in NORM_FORMS:
    CASES.append((f"linalg.norm[{_ord},{_axis},{_keepdims}]",
                  lambda m, x, o=_ord, a=_axis, k=_keepdims: m.linalg.norm(x, o, a, k), [normal(3, 4)]))


def as_tuple(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


@pytest.mark.parametrize(("name", "function", "inputs"), CASES, ids=[case[0] for case in CASES])
def test_numpy_inputs_give_numpy_results(name, function, inputs):
    ours = as_tuple(function(wnp, *inputs))
    theirs = as_tuple(function(numpy, *inputs))
    assert len(ours) == len(theirs)
    for mine, reference in zip(ours, theirs):
        assert not isinstance(mine, wg.Tensor)
        assert type(mine) is type(reference)
        numpy.testing.assert_array_equal(mine, reference)


@pytest.mark.parametrize(("name", "function", "inputs"), CASES, ids=[case[0] for case in CASES])
def test_tensor_inputs_give_numpy_values_and_checked_gradients(name, function, inputs):
    tensors = [wg.tensor(value.copy(), requires_grad=True) for value in inputs]
    ours = as_tuple(function(wnp, *tensors))
    theirs = as_tuple(function(numpy, *inputs))
    assert all(isinstance(mine, wg.Tensor) for mine in ours)
    for mine, reference in zip(ours, theirs):
        assert mine.shape == numpy.shape(reference)
        numpy.testing.assert_allclose(mine.detach().numpy(), reference, rtol=1e-10, atol=1e-12)
    assert any(mine.requires_grad for mine in ours)
    assert wg.gradcheck(lambda *xs: as_tuple(function(wnp, *xs)), *tensors, atol=1e-6, rtol=1e-5)


# --- scalars, lists, and what is refused -------------------------------------------------------------

def test_python_scalars_and_lists_go_to_numpy():
    assert wnp.sum(3.0) == numpy.sum(3.0) and type(wnp.sum(3.0)) is type(numpy.sum(3.0))
    assert wnp.mean([1, 2, 4]) == pytest.approx(7 / 3)
    numpy.testing.assert_array_equal(wnp.cumprod([[1, 2], [3, 4]], axis=1), [[1, 2], [3, 12]])
    assert wnp.var([1.0, 2.0, 3.0, 4.0], ddof=1) == pytest.approx(numpy.var([1.0, 2.0, 3.0, 4.0], ddof=1))
    assert isinstance(wnp.exp([0.0, 1.0]), numpy.ndarray)


def test_lists_of_tensors_are_differentiable():
    x = wg.tensor(2.0, dtype=wg.float64, requires_grad=True)
    y = wg.tensor(3.0, dtype=wg.float64, requires_grad=True)
    total = wnp.sum([x * x, y, 1.0]) + wnp.prod([x, y]) + wnp.max([x, y])
    total.backward()
    assert float(total) == pytest.approx(4 + 3 + 1 + 6 + 3)
    assert float(x.grad) == pytest.approx(2 * 2 + 3)
    assert float(y.grad) == pytest.approx(1 + 2 + 1)


def test_tensor_that_needs_no_gradient_still_gives_a_tensor():
    x = wg.tensor(numpy.array([1.0, 2.0]))
    assert isinstance(wnp.exp(x), wg.Tensor)


def test_where_with_one_argument_gives_numpy_indices():
    x = wg.tensor(numpy.array([0.0, 2.0, 0.0, -1.0]), requires_grad=True)
    (indices,) = wnp.where(x != 0)
    numpy.testing.assert_array_equal(indices, [1, 3])
    picked = x[indices]
    picked.sum().backward()
    numpy.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0, 1.0])


def test_index_and_shape_functions_carry_no_gradient_and_return_numpy():
    x = wg.tensor(numpy.array([[3.0, 1.0], [0.5, 4.0]]), requires_grad=True)
    assert wnp.shape(x) == (2, 2) and wnp.ndim(x) == 2 and wnp.size(x) == 4
    numpy.testing.assert_array_equal(wnp.argmax(x, axis=1), [0, 1])
    numpy.testing.assert_array_equal(wnp.argsort(x, axis=1), [[1, 0], [0, 1]])
    zeros = wnp.zeros_like(x)
    assert isinstance(zeros, numpy.ndarray) and zeros.shape == (2, 2)


@pytest.mark.parametrize("name", ["median", "percentile", "convolve", "interp", "unwrap", "nanmean"])
def test_uncovered_names_raise_naming_the_function(name):
    with pytest.raises(NotImplementedError, match=rf"wengert\.numpy\.{name}\b"):
        getattr(wnp, name)


@pytest.mark.parametrize("name", ["eig", "eigvals", "lstsq", "matrix_rank"])
def test_uncovered_linalg_names_raise_naming_the_function(name):
    with pytest.raises(NotImplementedError, match=rf"wengert\.numpy\.linalg\.{name}\b"):
        getattr(wnp.linalg, name)


def test_fft_is_refused():
    with pytest.raises(NotImplementedError, match="fft"):
        wnp.fft.fft  # noqa: B018


def test_constants_dtypes_and_random_are_numpys():
    assert wnp.pi == numpy.pi and wnp.e == numpy.e and wnp.inf == numpy.inf and numpy.isnan(wnp.nan)
    assert wnp.newaxis is None
    assert wnp.float64 is numpy.float64 and wnp.int64 is numpy.int64 and wnp.float32 is numpy.float32
    assert wnp.random is numpy.random
    assert wnp.finfo(wnp.float32).eps == numpy.finfo(numpy.float32).eps
    numpy.testing.assert_array_equal(wnp.eye(2), numpy.eye(2))


@pytest.mark.parametrize("complex_value", [1j, numpy.array([1 + 2j, 3j]), numpy.complex128(2j)])
def test_complex_values_meeting_a_tensor_are_refused(complex_value):
    x = wg.tensor(numpy.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(NotImplementedError, match="complex"):
        wnp.multiply(x, complex_value)
    with pytest.raises(NotImplementedError, match="complex"):
        wnp.add(complex_value, x)


def test_complex_matrix_into_linalg_with_a_tensor_is_refused():
    a = wg.tensor(numpy.eye(2), requires_grad=True)
    with pytest.raises(NotImplementedError, match="complex"):
        wnp.linalg.solve(a, numpy.array([1j, 0.0]))


def test_unsupported_keywords_are_refused_with_tensors():
    x = wg.tensor(numpy.ones(3), requires_grad=True)
    with pytest.raises(NotImplementedError, match="out="):
        wnp.sum(x, out=numpy.zeros(()))
    with pytest.raises(NotImplementedError, match="where"):
        wnp.exp(x, where=numpy.array([True, False, True]))


def test_svd_full_matrices_of_a_non_square_tensor_is_refused():
    a = wg.tensor(normal(3, 2), requires_grad=True)
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        wnp.linalg.svd(a)


def test_numpy_linalg_results_are_numpys_named_tuples():
    a = spd(3)
    ours, theirs = wnp.linalg.eigh(a), numpy.linalg.eigh(a)
    numpy.testing.assert_array_equal(ours.eigenvalues, theirs.eigenvalues)
    t = wnp.linalg.eigh(wg.tensor(a, requires_grad=True))
    numpy.testing.assert_allclose(t.eigenvalues.detach().numpy(), theirs.eigenvalues, rtol=1e-12)
    sign, logabsdet = wnp.linalg.slogdet(wg.tensor(-a, requires_grad=True))
    assert float(sign) == numpy.linalg.slogdet(-a).sign
    assert float(logabsdet) == pytest.approx(numpy.linalg.slogdet(-a).logabsdet)


# --- linear algebra against PyTorch -------------------------------------------------------------------

def torch_and_wengert_gradients(loss, inputs):
    """The gradients of ``loss(module, linalg, *inputs)`` by wengert (through wengert.numpy) and by torch."""
    tensors = [wg.tensor(value.copy(), requires_grad=True) for value in inputs]
    loss(wnp, wnp.linalg, *tensors).backward()
    torches = [torch.tensor(value, requires_grad=True) for value in inputs]
    loss(torch, torch.linalg, *torches).backward()
    return [t.grad.numpy() for t in tensors], [t.grad.numpy() for t in torches]


LOSSES = {  # gauge-invariant where the decomposition has sign freedom
    "inv": (lambda m, la, a, g: (la.inv(a) * g).sum(), [well_conditioned(4), normal(4, 4)]),
    "det": (lambda m, la, a: la.det(a), [well_conditioned(4)]),
    "slogdet": (lambda m, la, a: la.slogdet(a)[1], [well_conditioned(4)]),
    "solve": (lambda m, la, a, b: (la.solve(a, b) ** 3).sum(), [well_conditioned(4), normal(4, 2)]),
    "pinv": (lambda m, la, a: (la.pinv(a) ** 3).sum(), [normal(5, 3)]),
    "pinv_wide": (lambda m, la, a: (la.pinv(a) ** 3).sum(), [normal(2, 4)]),
    "cholesky": (lambda m, la, b, g: (la.cholesky(b @ b.T + 4 * eye_like(m, b)) * g).sum(),
                 [normal(4, 4), normal(4, 4)]),
    "eigh": (lambda m, la, b, g: ((la.eigh(b + b.T)[0] ** 2).sum()
                                  + (la.eigh(b + b.T)[1] ** 2 * g).sum()), [normal(4, 4), normal(4, 4)]),
    "svd": (lambda m, la, a, g, h: ((m.abs(svd(la, a)[0]) * g).sum() + (svd(la, a)[1] ** 3).sum()
                                    + (svd(la, a)[2] ** 2 * h).sum()), [normal(5, 3), normal(5, 3), normal(3, 3)]),
    "svd_wide": (lambda m, la, a, g: ((svd(la, a)[0] ** 2 * g).sum() + svd(la, a)[1].sum()),
                 [normal(3, 5), normal(3, 3)]),
    "qr": (lambda m, la, a, g, h: (la.qr(a)[0] * g).sum() + (la.qr(a)[1] * h).sum(),
           [normal(5, 3), normal(5, 3), normal(3, 3)]),
    "norm_nuc": (lambda m, la, a: la.norm(a, "nuc"), [normal(4, 3)]),
    "norm_2": (lambda m, la, a: la.norm(a, 2), [normal(4, 3)]),
    "norm_vector_3": (lambda m, la, a: la.norm(a, 3, 1).sum(), [normal(4, 3)]),
}


def eye_like(module, like):
    return numpy.eye(like.shape[-1]) if module is wnp else torch.eye(like.shape[-1], dtype=torch.float64)


def svd(linalg, a):
    return linalg.svd(a, full_matrices=False)


@pytest.mark.parametrize("name", list(LOSSES))
def test_linalg_gradients_equal_pytorchs(name):
    loss, inputs = LOSSES[name]
    ours, theirs = torch_and_wengert_gradients(loss, inputs)
    for mine, reference in zip(ours, theirs):
        numpy.testing.assert_allclose(mine, reference, rtol=1e-8, atol=1e-10)


def test_linalg_second_derivatives_equal_finite_differences_of_the_gradient():
    def gradient(x, create_graph=False):
        loss = wnp.linalg.det(x) + wnp.linalg.slogdet(x)[1] + wnp.sum(wnp.linalg.inv(x) ** 2) \
            + wnp.sum(wnp.linalg.eigvalsh(x + x.T) ** 3) + wnp.sum(wnp.linalg.cholesky(x @ x.T) ** 2)
        return wg.autograd.grad(loss, x, create_graph=create_graph)[0]

    a, direction, eps = well_conditioned(3), normal(3, 3), 1e-6
    x = wg.tensor(a, requires_grad=True)
    (hessian_vector,) = wg.autograd.grad(wnp.sum(gradient(x, create_graph=True) * direction), x)
    above = gradient(wg.tensor(a + eps * direction, requires_grad=True)).numpy()
    below = gradient(wg.tensor(a - eps * direction, requires_grad=True)).numpy()
    numpy.testing.assert_allclose(hessian_vector.numpy(), (above - below) / (2 * eps), rtol=1e-5, atol=1e-6)


# --- forward-mode rules: <VJP(g), t> == <g, JVP(t)> ----------------------------------------------------

JVP_CASES = [
    (decompositions.Inv, [well_conditioned(4)], {}),
    (decompositions.Det, [well_conditioned(4)], {}),
    (decompositions.LogAbsDet, [well_conditioned(4)], {}),
    (decompositions.Solve, [well_conditioned(4), normal(4, 2)], {}),
    (decompositions.Solve, [well_conditioned(4), normal(4)], {}),
    (decompositions.Pinv, [normal(5, 3)], {}),
    (decompositions.Pinv, [normal(3, 5)], {}),
    (decompositions.Cholesky, [spd(4)], {}),
    (decompositions.Eigh, [spd(4)], {"UPLO": "L"}),
    (decompositions.Svd, [normal(5, 3)], {}),
    (decompositions.Svd, [normal(3, 5)], {}),
    (decompositions.Svd, [normal(2, 4, 4)], {}),
    (decompositions.Qr, [normal(5, 3)], {}),
]


@pytest.mark.parametrize(("op", "primals", "constants"), JVP_CASES,
                         ids=[f"{case[0].name}{numpy.shape(case[1][-1])}" for case in JVP_CASES])
def test_jvp_is_the_adjoint_of_the_vjp(op, primals, constants):
    tensors = [wg.tensor(value.copy(), requires_grad=True) for value in primals]
    result = op.apply(*tensors, **constants)
    g = normal(*result.shape)
    tangents = [wg.tensor(normal(*numpy.shape(value))) for value in primals]
    if op in (decompositions.Cholesky, decompositions.Eigh):  # symmetric inputs, symmetric perturbations
        tangents = [wg.tensor((t.numpy() + t.numpy().T) / 2) for t in tangents]
    (result * wg.tensor(g)).sum().backward()
    vjp_side = sum(float((t.grad.numpy() * d.numpy()).sum()) for t, d in zip(tensors, tangents))
    tangent = op.jvp(tuple(tensors), tuple(tangents), result, **constants)
    assert tangent.shape == result.shape
    jvp_side = float((tangent.detach().numpy() * g).sum())
    assert jvp_side == pytest.approx(vjp_side, rel=1e-9, abs=1e-10)


@pytest.mark.parametrize(("op", "primals", "constants"), JVP_CASES[:6] + JVP_CASES[9:10],
                         ids=[case[0].name for case in JVP_CASES[:6] + JVP_CASES[9:10]])
def test_jvp_equals_finite_differences(op, primals, constants):
    tangents = [normal(*numpy.shape(value)) for value in primals]
    eps = 1e-6
    plus = op.apply(*[wg.tensor(p + eps * t) for p, t in zip(primals, tangents)], **constants).numpy()
    minus = op.apply(*[wg.tensor(p - eps * t) for p, t in zip(primals, tangents)], **constants).numpy()
    tensors = [wg.tensor(value) for value in primals]
    tangent = op.jvp(tuple(tensors), tuple(wg.tensor(t) for t in tangents), op.apply(*tensors, **constants),
                     **constants)
    numpy.testing.assert_allclose(tangent.numpy(), (plus - minus) / (2 * eps), rtol=1e-5, atol=1e-7)


def test_jvp_without_tangents_is_none():
    a = wg.tensor(well_conditioned(3))
    assert decompositions.Inv.jvp((a,), (None,), decompositions.Inv.apply(a)) is None
    assert decompositions.Solve.jvp((a, numpy.ones(3)), (None, None), decompositions.Solve.apply(a, numpy.ones(3))) \
        is None


def test_forward_mode_through_wengert_numpy_equals_finite_differences():
    def f(a):
        return (wnp.sum(wnp.linalg.inv(a) ** 2) + wnp.linalg.det(a) + wnp.sum(wnp.tan(a) * wnp.arcsinh(a))
                + wnp.sum(wnp.linalg.svd(a)[1] ** 2) + wnp.linalg.norm(a, "nuc") + wnp.trace(wnp.linalg.qr(a)[1] ** 2))

    a, direction, eps = well_conditioned(3) * 0.3, normal(3, 3), 1e-6
    value, tangent = wg.jvp(f, (a,), (direction,))
    assert float(value) == pytest.approx(float(f(a)), rel=1e-12)
    assert float(tangent) == pytest.approx((f(a + eps * direction) - f(a - eps * direction)) / (2 * eps), rel=1e-6)
