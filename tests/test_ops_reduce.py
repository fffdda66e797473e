"""Reductions and the softmax family: numpy's semantics, gradients against finite differences and PyTorch."""

import numpy as np
import pytest
import torch
from conftest import check_op, compare_with_torch, random_array

import wengert as wg


def case(name, wg_fn, torch_fn, *arrays, marks=(), **tolerances):
    """One table row: ``wg_fn`` and ``torch_fn`` applied to ``arrays`` (shapes become random float64 arrays)."""
    arrays = [random_array(a, seed=index) if isinstance(a, tuple) else np.asarray(a, dtype=np.float64)
              for index, a in enumerate(arrays)]
    return pytest.param(wg_fn, torch_fn, arrays, tolerances, id=name, marks=marks)


def dims(ndim, axis):
    """numpy's ``axis`` as torch's ``dim``: a tuple of axes (None: all of them)."""
    if axis is None:
        return tuple(range(ndim))
    return tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)


def torch_prod(x, dim, keepdim):
    """torch.prod over several axes: move them last, flatten them, take the product of the last axis."""
    dim = tuple(d % x.ndim for d in dim)
    moved = x.movedim(dim, tuple(range(x.ndim - len(dim), x.ndim)))
    out = moved.reshape(*moved.shape[:x.ndim - len(dim)], -1).prod(-1)
    return out.reshape([1 if d in dim else n for d, n in enumerate(x.shape)]) if keepdim else out


TORCH_REDUCTIONS = {
    "sum": torch.sum, "mean": torch.mean, "max": torch.amax, "min": torch.amin, "amax": torch.amax,
    "amin": torch.amin, "logsumexp": torch.logsumexp, "prod": torch_prod,
    "var": lambda x, dim, keepdim, ddof: torch.var(x, dim, correction=ddof, keepdim=keepdim),
    "std": lambda x, dim, keepdim, ddof: torch.std(x, dim, correction=ddof, keepdim=keepdim),
}


def reduction(name, axis, keepdims, form="function", **kwargs):
    """wengert's reduction ``name`` (function or Tensor method) and PyTorch's, both with ``axis`` and ``keepdims``."""
    def ours(x):
        if form == "method":
            return getattr(x, name)(axis=axis, keepdims=keepdims, **kwargs)
        return getattr(wg, name)(x, axis, keepdims, **kwargs)

    def theirs(x):
        return TORCH_REDUCTIONS[name](x, dims(x.ndim, axis), keepdims, **kwargs)

    return ours, theirs


def numpy_axis(axis):
    """wengert takes a list of axes too; numpy wants a tuple."""
    return tuple(axis) if isinstance(axis, list) else axis


def count(shape, axis):
    return int(np.prod([shape[d] for d in dims(len(shape), axis)]))


OPS = [("sum", {}), ("mean", {}), ("var", {"ddof": 0}), ("var", {"ddof": 1}), ("std", {"ddof": 0}),
       ("std", {"ddof": 2}), ("max", {}), ("min", {}), ("amax", {}), ("amin", {}), ("prod", {}), ("logsumexp", {})]
AXES = [((2, 3, 4), None), ((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), -1), ((2, 3, 4), (0, 2)),
        ((2, 3, 4), (-1, -3)), ((2, 3, 4), [1, 2]), ((2, 3, 4), (0, 1, 2)), ((1, 3, 1), 0), ((1, 3, 1), (0, -1)),
        ((5,), 0), ((5,), -1), ((), None)]
METHOD_AXES = [((2, 3, 4), None), ((2, 3, 4), -2), ((2, 3, 4), (2, 0))]


def keeps_spread(name, kwargs, shape, axis):
    """var/std need more elements than ddof; std's gradient at zero spread is tested on its own below."""
    ddof = kwargs.get("ddof", 0)
    return name not in ("var", "std") or count(shape, axis) > max(ddof, name == "std")


def label(name, kwargs, shape, axis, keepdims, form=""):
    extra = "".join(f"-{k}{v}" for k, v in kwargs.items())
    return f"{form}{name}{extra}-{shape}-axis{axis}-keepdims{keepdims}"


CASES = [
    *[case(label(name, kwargs, shape, axis, keepdims), *reduction(name, axis, keepdims, **kwargs), shape)
      for name, kwargs in OPS for shape, axis in AXES for keepdims in (False, True)
      if keeps_spread(name, kwargs, shape, axis)],
    *[case(label(name, kwargs, shape, axis, keepdims, "method-"),
           *reduction(name, axis, keepdims, "method", **kwargs), shape)
      for name, kwargs in OPS if not name.startswith("a") for shape, axis in METHOD_AXES for keepdims in (False, True)],
    # defaults: all axes, keepdims False (var/std: ddof=0)
    *[case(f"default-{name}", getattr(wg, name), reduction(name, None, False, **kwargs)[1], (2, 3))
      for name, kwargs in [("sum", {}), ("mean", {}), ("var", {"ddof": 0}), ("std", {"ddof": 0}), ("max", {}),
                           ("min", {}), ("prod", {}), ("logsumexp", {})]],
    # prod with zeros: one zero gets the product of the others, two zeros give no gradient (exact, as PyTorch)
    case("prod-one-zero", wg.prod, torch.prod, [2.0, 0.0, 3.0]),
    case("prod-two-zeros", wg.prod, torch.prod, [0.0, 5.0, 0.0, 2.0]),
    case("prod-only-zero", wg.prod, torch.prod, [0.0]),
    case("prod-0d-zero", wg.prod, torch.prod, 0.0),
    case("prod-zeros-per-row", lambda x: wg.prod(x, axis=1), lambda x: torch.prod(x, 1),
         [[1.5, 0.0, 2.0, -3.0], [0.0, 2.0, 0.0, 4.0], [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]]),
    case("prod-zeros-per-column-keepdims", lambda x: x.prod(axis=0, keepdims=True),
         lambda x: torch.prod(x, 0, keepdim=True),
         [[1.5, 0.0, 2.0, -3.0], [0.0, 2.0, 0.0, 4.0], [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]]),
    case("prod-zeros-tuple-axes", *reduction("prod", (0, 2), False),
         [[[0.0, 1.0], [2.0, 3.0]], [[4.0, 0.0], [0.0, 5.0]], [[1.5, 2.0], [-1.0, 0.5]]]),
    # empty reductions that numpy defines: an empty gradient of the input's shape
    case("sum-empty-axis", *reduction("sum", 1, False), (2, 0, 3)),
    case("sum-empty-all", *reduction("sum", None, False), (0,)),
    case("sum-empty-keepdims", *reduction("sum", 0, True), (0, 2)),
    case("sum-of-empty-along-full-axis", *reduction("sum", 1, False), (0, 3)),
    case("prod-empty-axis", *reduction("prod", -1, True), (2, 0)),
    case("prod-empty-all", *reduction("prod", None, False), (0, 3)),
    case("max-of-empty-along-full-axis", *reduction("max", 1, False), (0, 3)),
    case("min-of-empty-along-full-axis", *reduction("min", -1, True), (0, 3)),
    case("logsumexp-empty-axis", *reduction("logsumexp", 1, False), (2, 0)),
]


@pytest.mark.parametrize("wg_fn, torch_fn, arrays, tolerances", CASES)
def test_reduction_matches_torch_and_finite_differences(wg_fn, torch_fn, arrays, tolerances):
    check_op(wg_fn, torch_fn, *arrays, **tolerances)


def torch_softmax(axis, log=False):
    """torch's (log_)softmax, over several axes too (x minus logsumexp over them)."""
    def softmax(x):
        if isinstance(axis, int):
            return torch.log_softmax(x, axis) if log else torch.softmax(x, axis)
        shifted = x - torch.logsumexp(x, dims(x.ndim, axis), keepdim=True)
        return shifted if log else shifted.exp()
    return softmax


SOFTMAX_AXES = [((2, 3, 4), -1), ((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), -2), ((5,), 0), ((1, 4), 0),
                ((2, 3), None), ((2, 3, 4), (0, 2)),
                ((17, 5), -1), ((17, 5), 1), ((17, 1), -1)]  # a batch of short rows: normalized down its transpose


@pytest.mark.parametrize("wg_fn, torch_fn, arrays, tolerances", [
    *[case(f"{name}-{shape}-axis{axis}", lambda x, name=name, axis=axis: getattr(wg, name)(x, axis=axis),
           torch_softmax(axis, name == "log_softmax"), shape)
      for name in ("softmax", "log_softmax") for shape, axis in SOFTMAX_AXES],
    case("softmax-default-axis", wg.softmax, torch_softmax(-1), (2, 3)),
    case("log_softmax-default-axis", wg.log_softmax, torch_softmax(-1, log=True), (2, 3)),
    case("softmax-method", lambda x: x.softmax(axis=0), torch_softmax(0), (3, 2)),
    case("log_softmax-method", lambda x: x.log_softmax(), torch_softmax(-1, log=True), (3, 2)),
])
def test_softmax_family_matches_torch_and_finite_differences(wg_fn, torch_fn, arrays, tolerances):
    check_op(wg_fn, torch_fn, *arrays, **tolerances)


def test_softmax_family_of_short_rows_equals_the_plain_formula_bit_for_bit():
    # their maximum is found another way (down the transposed batch): the same number, so the same result
    x = np.random.default_rng(3).standard_normal((40, 10)).astype(np.float32)
    x[5, 2:4] = x[5].max() + 1  # a tie for the maximum
    shifted = x - x.max(axis=1, keepdims=True)
    np.testing.assert_array_equal(wg.log_softmax(wg.tensor(x), axis=1).numpy(),
                                  shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))
    e = np.exp(shifted)
    np.testing.assert_array_equal(wg.softmax(wg.tensor(x), axis=-1).numpy(), e / e.sum(axis=1, keepdims=True))


TIES = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [3.0, -1.0, 0.0]])


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin"])
@pytest.mark.parametrize("axis, keepdims", [(None, False), (0, False), (1, True), (-1, False), ((0, 1), True)],
                         ids=str)
def test_max_min_ties_share_the_gradient_equally_as_torch(name, axis, keepdims):
    compare_with_torch(*reduction(name, axis, keepdims), TIES)
    x = wg.tensor(TIES, requires_grad=True)
    getattr(wg, name)(x, axis=axis, keepdims=keepdims).sum().backward()
    winners = TIES == getattr(np, name)(TIES, axis=axis, keepdims=True)
    np.testing.assert_allclose(x.grad.numpy(), winners / winners.sum(axis=axis, keepdims=True), rtol=1e-15)


EXTREME = np.array([[1000.0, -1000.0, 0.0], [1000.0, 1000.0, -1000.0], [-1000.0, -1000.0, -1000.0]])
WITH_INF = np.array([[-np.inf, 0.0, 1.0], [2.0, -np.inf, 0.5]])  # no slice is all -inf


@pytest.mark.parametrize("wg_fn, torch_fn", [
    (lambda x: wg.logsumexp(x, axis=1), lambda x: torch.logsumexp(x, 1)),
    (lambda x: wg.logsumexp(x, axis=0, keepdims=True), lambda x: torch.logsumexp(x, 0, keepdim=True)),
    (wg.logsumexp, lambda x: torch.logsumexp(x, (0, 1))),
    (lambda x: wg.softmax(x, axis=1), lambda x: torch.softmax(x, 1)),
    (lambda x: wg.softmax(x, axis=0), lambda x: torch.softmax(x, 0)),
    (lambda x: wg.log_softmax(x, axis=1), lambda x: torch.log_softmax(x, 1)),
    (lambda x: wg.log_softmax(x, axis=0), lambda x: torch.log_softmax(x, 0)),
], ids=["logsumexp-axis1", "logsumexp-axis0-keepdims", "logsumexp-all", "softmax-axis1", "softmax-axis0",
        "log_softmax-axis1", "log_softmax-axis0"])
def test_softmax_family_is_stable_at_extremes(wg_fn, torch_fn):
    x = wg.tensor(EXTREME, requires_grad=True)
    out = wg_fn(x)
    (out * wg.tensor(random_array(out.shape))).sum().backward()
    assert np.isfinite(out.detach().numpy()).all() and np.isfinite(x.grad.numpy()).all()
    for array in (EXTREME, WITH_INF, np.tile(EXTREME, (6, 1)), np.tile(WITH_INF, (8, 1))):  # 18, 16: short rows
        with np.errstate(invalid="ignore"):  # the comparison's own sum(out * v) meets -inf and inf
            compare_with_torch(wg_fn, torch_fn, array)


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin", "argmax", "argmin"])
@pytest.mark.parametrize("requires_grad", [False, True])
def test_max_min_argmax_argmin_over_empty_axis_raise_an_error_naming_the_op(name, requires_grad):
    x = wg.tensor(np.zeros((2, 0)), requires_grad=requires_grad)
    op = {"amax": "max", "amin": "min"}.get(name, name)  # the aliases report the op they alias
    with pytest.raises(wg.OpValueError, match=f"^{op}: ") as error:
        getattr(wg, name)(x, axis=1)
    assert "(2, 0)" in str(error.value)


@pytest.mark.parametrize("name", ["sum", "mean", "var", "max", "prod", "logsumexp", "argmax", "all", "softmax"])
def test_axis_out_of_range_raises_an_error_naming_the_op(name):
    with pytest.raises(wg.OpValueError, match=f"^{name}: .*axis"):
        getattr(wg, name)(wg.ones((2, 3), requires_grad=True), axis=2)


ARGS = random_array((3, 4, 2))
ARG_TIES = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
FLAGS = np.array([[[0.0, 1.0], [2.0, 0.0]], [[1.0, 1.0], [-1.0, 0.5]], [[0.0, 0.0], [0.0, 0.0]]])
EMPTY = np.zeros((2, 0))


@pytest.mark.parametrize("wg_fn, np_fn, array", [
    *[pytest.param(lambda x, n=name, a=axis, k=keepdims: getattr(wg, n)(x, axis=a, keepdims=k),
                   lambda x, n=name, a=axis, k=keepdims: getattr(np, n)(x, axis=a, keepdims=k),
                   data, id=f"{name}-{data.shape}-axis{axis}-keepdims{keepdims}")
      for name in ("argmax", "argmin") for data in (ARGS, ARG_TIES)
      for axis in (None, 0, 1, -1) for keepdims in (False, True)],
    *[pytest.param(lambda x, n=name, a=axis, k=keepdims: getattr(wg, n)(x, axis=a, keepdims=k),
                   lambda x, n=name, a=axis, k=keepdims: getattr(np, n)(x, axis=numpy_axis(a), keepdims=k),
                   data, id=f"{name}-{data.dtype}{data.shape}-axis{axis}-keepdims{keepdims}")
      for name in ("all", "any") for data in (FLAGS, FLAGS > 0, EMPTY)
      for axis in (None, 0, -1, (0, 1), [0, -1]) if data.ndim == 3 or axis in (None, 0, -1)
      for keepdims in (False, True)],
    pytest.param(lambda x: x.argmax(axis=1), lambda x: x.argmax(axis=1), ARGS, id="argmax-method"),
    pytest.param(lambda x: x.argmin(), lambda x: x.argmin(), ARG_TIES, id="argmin-method"),
    pytest.param(lambda x: (x > 0).all(axis=0), lambda x: (x > 0).all(axis=0), FLAGS, id="all-method"),
    pytest.param(lambda x: x.any(axis=(1, 2), keepdims=True), lambda x: x.any(axis=(1, 2), keepdims=True),
                 FLAGS, id="any-method"),
])
def test_non_differentiable_reductions_match_numpy_and_carry_no_gradient(wg_fn, np_fn, array):
    tensor = wg.tensor(array, requires_grad=array.dtype.kind == "f")
    out, expected = wg_fn(tensor), np_fn(array)
    assert isinstance(out, wg.Tensor) and not out.requires_grad and out.grad_fn is None
    assert out.dtype == expected.dtype and out.dtype in (wg.int64, wg.bool_)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out.numpy(), expected)


FLOAT_REDUCTIONS = {
    "sum": wg.sum, "mean": lambda x: x.mean(axis=0), "var": lambda x: wg.var(x, axis=1, ddof=1),
    "std": lambda x: x.std(axis=-1, keepdims=True), "prod": lambda x: wg.prod(x, axis=(0, 1)),
    "logsumexp": lambda x: wg.logsumexp(x, axis=1), "softmax": wg.softmax, "log_softmax": wg.log_softmax,
    "max": lambda x: wg.max(x, axis=1), "min": lambda x: x.min(), "amax": wg.amax,
}


@pytest.mark.parametrize("fn, dtype", [
    pytest.param(fn, dtype, id=f"{name}-{np.dtype(dtype).name}")
    for name, fn in FLOAT_REDUCTIONS.items() for dtype in (np.float32, np.float64)])
def test_float_dtype_is_kept_by_output_and_gradient(fn, dtype):
    array = random_array((2, 3), low=0.5, high=2.0, dtype=dtype)
    x = wg.tensor(array, requires_grad=True)
    out = fn(x)
    (out * wg.tensor(random_array(out.shape).astype(dtype))).sum().backward()
    assert out.dtype == dtype and x.grad.dtype == dtype
    x64 = wg.tensor(array.astype(np.float64), requires_grad=True)
    (fn(x64) * wg.tensor(random_array(out.shape))).sum().backward()
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out.detach().numpy(), fn(x64).detach().numpy(), rtol=tolerance)
    np.testing.assert_allclose(x.grad.numpy(), x64.grad.numpy(), rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "max", "min", "prod"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_], ids=lambda d: np.dtype(d).name)
def test_reductions_of_int_and_bool_tensors_follow_numpy(name, dtype):
    array = np.array([[1, 0, 3], [4, 5, 0]], dtype=dtype)
    out, expected = getattr(wg, name)(wg.tensor(array), axis=1), getattr(np, name)(array, axis=1)
    assert out.dtype == expected.dtype and not out.requires_grad
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("axis, ddof, array", [
    (None, 0, [1.0, 1.0, 1.0]),
    (1, 1, [[1.0, 2.0, 4.0], [3.0, 3.0, 3.0]]),
    (0, 0, [[1.0, 2.0, 4.0]]),
], ids=["all-equal", "one-constant-row", "size1-axis"])
def test_std_gradient_at_zero_spread_is_zero_like_torch(axis, ddof, array):
    compare_with_torch(*reduction("std", axis, False, ddof=ddof), np.array(array))


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
@pytest.mark.parametrize("name, ddof, shape, axis", [
    ("var", 1, (3, 1), 1), ("std", 1, (3, 1), -1), ("var", 2, (2,), None), ("var", 0, (2, 0), 1),
    ("std", 0, (0,), None),
], ids=str)
def test_var_std_without_degrees_of_freedom_give_nan_gradients_like_torch(name, ddof, shape, axis):
    compare_with_torch(*reduction(name, axis, False, ddof=ddof), random_array(shape))


def flat(torch_fn):
    """numpy's axis=None: the op on the flattened array."""
    return lambda x: torch_fn(x.flatten(), 0)


SCANS_AND_SORTS = [
    *[case(f"{name}-axis{axis}-{shape}", lambda x, n=name, a=axis: getattr(wg, n)(x, axis=a),
           (lambda x, n=name: getattr(torch, n)(x.flatten(), 0)) if axis is None
           else (lambda x, n=name, a=axis: getattr(torch, n)(x, a)), shape)
      for name in ("cumsum", "cumprod")
      for shape, axis in [((2, 3), None), ((2, 3), 0), ((2, 3, 4), -1), ((2, 3, 4), 1), ((1, 3), 0), ((), None),
                          ((5,), 0)]],
    case("cumsum-positional", lambda x: wg.cumsum(x, 1), lambda x: torch.cumsum(x, 1), (3, 2)),
    case("cumprod-with-zeros", lambda x: wg.cumprod(x, axis=1), lambda x: torch.cumprod(x, 1),
         [[1.5, 0.0, 2.0, -3.0], [0.0, 2.0, 0.0, 4.0], [0.0, 0.0, 0.0, 0.0], [2.0, 3.0, 0.5, 0.0]]),
    case("cumprod-with-zeros-flattened", wg.cumprod, flat(torch.cumprod), [[1.5, 0.0], [2.0, -3.0]]),
    *[case(f"sort-axis{axis}-{shape}", lambda x, a=axis: wg.sort(x, axis=a),
           (lambda x: torch.sort(x.flatten()).values) if axis is None else (lambda x, a=axis: torch.sort(x, a).values),
           shape) for shape, axis in [((5,), -1), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1), ((3, 4), None),
                                      ((1, 3), 0)]],
    case("sort-default-axis", wg.sort, lambda x: torch.sort(x).values, (2, 3)),
    case("sort-descending", lambda x: wg.sort(x, descending=True), lambda x: torch.sort(x, descending=True).values,
         (2, 5)),
]


@pytest.mark.parametrize("wg_fn, torch_fn, arrays, tolerances", SCANS_AND_SORTS)
def test_scans_and_sorts_match_torch_and_finite_differences(wg_fn, torch_fn, arrays, tolerances):
    check_op(wg_fn, torch_fn, *arrays, **tolerances)


@pytest.mark.parametrize("axis", [-1, 0, 1, None])
@pytest.mark.parametrize("data", [random_array((3, 4)), np.array([[2, 1, 2, 1], [0, 0, 3, 0], [1, 1, 1, 1]])],
                         ids=["float", "int-ties"])
def test_argsort_and_sort_match_numpy_stable_sort(axis, data):
    x = wg.tensor(data)
    order = wg.argsort(x, axis=axis)
    assert order.dtype == wg.int64 and not order.requires_grad
    np.testing.assert_array_equal(order.numpy(), np.argsort(data, axis=axis, kind="stable"))
    np.testing.assert_array_equal(wg.sort(x, axis=axis).numpy(), np.sort(data, axis=axis))
    np.testing.assert_array_equal(x.argsort(dim=0 if axis is None else axis).numpy(),
                                  np.argsort(data, axis=0 if axis is None else axis, kind="stable"))


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_scans_of_int_and_bool_tensors_follow_numpy(name):
    for array in (np.array([[1, 0, 3], [4, 5, 2]], dtype=np.int32), np.array([True, False, True])):
        out, expected = getattr(wg, name)(wg.tensor(array), axis=-1), getattr(np, name)(array, axis=-1)
        assert out.dtype == expected.dtype and not out.requires_grad
        np.testing.assert_array_equal(out.numpy(), expected)


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "sort"])
def test_scan_and_sort_axis_out_of_range_raise_an_error_naming_the_op(name):
    with pytest.raises((wg.OpValueError, wg.OpIndexError), match=f"^{name}: .*(axis|dim)"):
        getattr(wg, name)(wg.ones((2, 3), requires_grad=True), axis=2)


TORCH_NAMED = {"sum": torch.sum, "mean": torch.mean, "logsumexp": torch.logsumexp, "amax": torch.amax,
               "amin": torch.amin, "argmax": torch.argmax, "argmin": torch.argmin, "prod": torch.prod}


@pytest.mark.parametrize("name, dim, keepdim", [
    (name, dim, keepdim) for name in TORCH_NAMED for dim, keepdim in [(0, False), (-1, True), ((0, 2), False)]
    if not (name in ("argmax", "argmin", "prod") and isinstance(dim, tuple))], ids=str)
def test_reductions_take_pytorchs_dim_and_keepdim(name, dim, keepdim):
    array = random_array((2, 3, 4))
    expected = TORCH_NAMED[name](torch.tensor(array), dim=dim, keepdim=keepdim).numpy()
    for out in (getattr(wg, name)(wg.tensor(array), dim=dim, keepdim=keepdim),
                getattr(wg.tensor(array), name)(dim=dim, keepdim=keepdim),
                getattr(wg.tensor(array), name)(dim, keepdim)):
        assert out.shape == expected.shape
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
