"""Elementwise ops and operators: numpy's semantics, gradients against finite differences and PyTorch."""

import operator

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import check_op, compare_with_torch, random_array
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import wengert as wg

POSITIVE = (0.5, 2.0)  # domain of log, sqrt, divisors and bases raised to tensor powers


def case(name, wg_fn, torch_fn, *shapes, domains=None, marks=(), **tolerances):
    """One table row: ``wg_fn`` and ``torch_fn`` on random float64 arrays of ``shapes``; ``domains``
    gives (low, high) bounds per input (None: normal values)."""
    domains = domains or [None] * len(shapes)
    arrays = [random_array(shape, index, *(domain or ()))
              for index, (shape, domain) in enumerate(zip(shapes, domains, strict=True))]
    return pytest.param(wg_fn, torch_fn, arrays, tolerances, id=name, marks=marks)


def const(shape, seed, domain=()):
    """A numpy constant and the same values as a torch tensor (operands that never need a gradient)."""
    array = random_array(shape, 10 + seed, *domain)
    return array, torch.tensor(array)


A, TA = const((2, 3), 0)
B, TB = const((3,), 1, POSITIVE)
M, TM = const((3, 2), 2)
MASK = random_array((2, 3), seed=3) > 0

UNARY = [
    # name, wengert, torch, domain of the input
    ("negative", wg.negative, torch.neg, None),
    ("exp", wg.exp, torch.exp, None),
    ("log", wg.log, torch.log, POSITIVE),
    ("log1p", wg.log1p, torch.log1p, (-0.9, 3.0)),
    ("expm1", wg.expm1, torch.expm1, None),
    ("sqrt", wg.sqrt, torch.sqrt, POSITIVE),
    ("square", wg.square, torch.square, None),
    ("sin", wg.sin, torch.sin, None),
    ("cos", wg.cos, torch.cos, None),
    ("tanh", wg.tanh, torch.tanh, None),
    ("sigmoid", wg.sigmoid, torch.sigmoid, None),
    ("erf", wg.erf, torch.erf, None),
    ("relu", wg.relu, torch.relu, None),
    ("abs", wg.abs, torch.abs, None),
    ("absolute", wg.absolute, torch.abs, None),
    ("leaky_relu", wg.leaky_relu, F.leaky_relu, None),
    ("leaky_relu-0.2", lambda x: wg.leaky_relu(x, negative_slope=0.2), lambda x: F.leaky_relu(x, 0.2), None),
    ("leaky_relu-1.5", lambda x: wg.leaky_relu(x, 1.5), lambda x: F.leaky_relu(x, 1.5), None),
    ("gelu", wg.gelu, F.gelu, None),
    ("gelu-tanh", lambda x: wg.gelu(x, approximate="tanh"), lambda x: F.gelu(x, approximate="tanh"), None),
    ("softplus", wg.softplus, F.softplus, None),
    ("softplus-beta2-threshold1", lambda x: wg.softplus(x, beta=2.0, threshold=1.0),
     lambda x: F.softplus(x, beta=2.0, threshold=1.0), None),
    ("softplus-beta0.5", lambda x: wg.softplus(x, 0.5), lambda x: F.softplus(x, 0.5), None),
]
BINARY = [
    # name, wengert, operator form, torch, domains of the two inputs
    ("add", wg.add, operator.add, torch.add, None),
    ("subtract", wg.subtract, operator.sub, torch.sub, None),
    ("multiply", wg.multiply, operator.mul, torch.mul, None),
    ("divide", wg.divide, operator.truediv, torch.div, [None, POSITIVE]),
    ("true_divide", wg.true_divide, None, torch.div, [None, POSITIVE]),
    ("power", wg.power, operator.pow, torch.pow, [POSITIVE, None]),
    ("maximum", wg.maximum, None, torch.maximum, None),
    ("minimum", wg.minimum, None, torch.minimum, None),
    ("logaddexp", wg.logaddexp, None, torch.logaddexp, None),
]
PAIRS = [((2, 3), (2, 3)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((3,), ()), ((), (3,)), ((), ()),
         ((2, 1, 3), (1, 4, 1))]

CASES = [
    *[case(f"{name}-{shape}", fn, ref, shape, domains=[domain])
      for name, fn, ref, domain in UNARY for shape in [(2, 3), (), (1, 4, 1)]],
    *[case(f"{name}-{a}-{b}", fn, ref, a, b, domains=domains)
      for name, fn, _, ref, domains in BINARY for a, b in PAIRS],
    *[case(f"operator-{name}-{a}-{b}", op, op, a, b, domains=domains)
      for name, _, op, _, domains in BINARY if op is not None for a, b in [((3, 1), (1, 4)), ((2, 3), ())]],
    # the same tensor on both sides: the two gradients add up
    case("x*x", lambda x: x * x, lambda x: x * x, (2, 3)),
    case("x/x", lambda x: x / x, lambda x: x / x, (2, 3), domains=[POSITIVE]),
    case("x-x", lambda x: x - x, lambda x: x - x, (2, 3)),
    # Python scalars on either side (reflected operators)
    *[case(name, fn, fn, (2, 3), domains=[domain]) for name, fn, domain in [
        ("x+2", lambda x: x + 2, None), ("2+x", lambda x: 2 + x, None),
        ("x-2.5", lambda x: x - 2.5, None), ("2.5-x", lambda x: 2.5 - x, None),
        ("x*-3", lambda x: x * -3, None), ("-3.5*x", lambda x: -3.5 * x, None),
        ("x/4", lambda x: x / 4, None), ("4/x", lambda x: 4 / x, POSITIVE), ("-1.5/x", lambda x: -1.5 / x, POSITIVE),
        ("x**2", lambda x: x ** 2, None), ("x**3", lambda x: x ** 3, None), ("x**-1", lambda x: x ** -1, POSITIVE),
        ("x**0.5", lambda x: x ** 0.5, POSITIVE), ("x**-2.5", lambda x: x ** -2.5, POSITIVE),
        ("x**0", lambda x: x ** 0, None), ("2**x", lambda x: 2 ** x, None), ("0.5**x", lambda x: 0.5 ** x, None),
        ("-x", lambda x: -x, None), ("+x", lambda x: +x, None), ("abs(x)", abs, None),
        ("x.exp", lambda x: x.exp(), None), ("x.log", lambda x: x.log(), POSITIVE),
        ("x.log1p", lambda x: x.log1p(), POSITIVE), ("x.expm1", lambda x: x.expm1(), None),
        ("x.sqrt", lambda x: x.sqrt(), POSITIVE), ("x.square", lambda x: x.square(), None),
        ("x.sin", lambda x: x.sin(), None), ("x.cos", lambda x: x.cos(), None),
        ("x.tanh", lambda x: x.tanh(), None), ("x.sigmoid", lambda x: x.sigmoid(), None),
        ("x.relu", lambda x: x.relu(), None), ("x.abs", lambda x: x.abs(), None),
    ]],
    # numpy arrays and numpy scalars on either side, and numpy's ufuncs applied to tensors
    case("array+x", lambda x: A + x, lambda x: TA + x, (2, 3)),
    case("x+array-broadcast", lambda x: x + B, lambda x: x + TB, (4, 1, 3)),
    case("array-x", lambda x: A - x, lambda x: TA - x, (3,)),
    case("array*x", lambda x: A * x, lambda x: TA * x, (2, 1)),
    case("array/x", lambda x: A / x, lambda x: TA / x, (2, 3), domains=[POSITIVE]),
    case("x/array", lambda x: x / B, lambda x: x / TB, (2, 3)),
    case("array**x", lambda x: B ** x, lambda x: TB ** x, (2, 3)),
    case("x**array", lambda x: x ** A, lambda x: x ** TA, (2, 3), domains=[POSITIVE]),
    case("array@x", lambda x: A @ x, lambda x: TA @ x, (3, 4)),
    case("x@array", lambda x: x @ M, lambda x: x @ TM, (4, 3)),
    case("float64-scalar-x", lambda x: np.float64(2.0) - x, lambda x: 2.0 - x, (2, 3)),
    case("x*float64-scalar", lambda x: x * np.float64(-1.5), lambda x: x * -1.5, (2, 3)),
    case("np.exp", np.exp, torch.exp, (2, 3)),
    case("np.negative", np.negative, torch.neg, (2, 3)),
    case("np.add-array", lambda x: np.add(A, x), lambda x: TA + x, (3,)),
    case("np.maximum-array", lambda x: np.maximum(x, A), lambda x: torch.maximum(x, TA), (2, 3)),
    case("np.power", lambda x: np.power(x, 3), lambda x: x ** 3, (2, 3)),
    # where: the condition takes no gradient; branches broadcast with it and each other
    case("where", lambda c, a, b: wg.where(c > 0, a, b), lambda c, a, b: torch.where(c > 0, a, b),
         (2, 3), (2, 3), (2, 3), requires_grad=[False, True, True]),
    case("where-broadcast", lambda c, a, b: wg.where(c > 0, a, b), lambda c, a, b: torch.where(c > 0, a, b),
         (3, 1), (1, 4), (), requires_grad=[False, True, True]),
    case("where-scalar-branch", lambda c, a: wg.where(c > 0, a, 0.0), lambda c, a: torch.where(c > 0, a, 0.0),
         (2, 3), (3,), requires_grad=[False, True]),
    case("where-numpy-mask", lambda a, b: wg.where(MASK, a, b), lambda a, b: torch.where(torch.tensor(MASK), a, b),
         (2, 3), (3,)),
    # clip: scalar bounds, one-sided, method form, tensor bounds that broadcast and take gradients
    case("clip-scalars", lambda x: wg.clip(x, -0.5, 0.5), lambda x: torch.clamp(x, -0.5, 0.5), (3, 4)),
    case("clip-min-only", lambda x: wg.clip(x, -0.5), lambda x: torch.clamp(x, min=-0.5), (3, 4)),
    case("clip-max-only", lambda x: wg.clip(x, None, 0.5), lambda x: torch.clamp(x, max=0.5), (3, 4)),
    case("clip-method", lambda x: x.clip(-0.5, 0.5), lambda x: torch.clamp(x, -0.5, 0.5), (2, 3)),
    case("clip-0d", lambda x: wg.clip(x, -0.5, 0.5), lambda x: torch.clamp(x, -0.5, 0.5), ()),
    case("clip-tensors", wg.clip, torch.clamp, (3, 4), (3, 1), (4,), domains=[None, (-1, -0.1), (0.1, 1)]),
    case("clip-tensor-min", lambda x, low: x.clip(low), lambda x, low: torch.clamp(x, min=low), (3, 4), (4,)),
    case("clip-tensor-max", lambda x, high: wg.clip(x, None, high), lambda x, high: torch.clamp(x, max=high),
         (2, 3), ()),
]


@pytest.mark.parametrize("wg_fn, torch_fn, arrays, tolerances", CASES)
def test_elementwise_op_matches_torch_and_finite_differences(wg_fn, torch_fn, arrays, tolerances):
    check_op(wg_fn, torch_fn, *arrays, **tolerances)


def kink(name, wg_fn, torch_fn, inputs, expected, marks=()):
    """At a kink: the gradient of sum(output) is PyTorch's documented choice ``expected`` (one list per input)."""
    return pytest.param(wg_fn, torch_fn, [np.array(x, dtype=np.float64) for x in inputs],
                        [np.array(e, dtype=np.float64) for e in expected], id=name, marks=marks)


KINKS = [
    kink("relu-at-0", wg.relu, torch.relu, [[-1.0, 0.0, 2.0]], [[0, 0, 1]]),
    kink("abs-at-0", wg.abs, torch.abs, [[-1.0, 0.0, 2.0]], [[-1, 0, 1]]),
    kink("leaky_relu-at-0", lambda x: wg.leaky_relu(x, 0.2), lambda x: F.leaky_relu(x, 0.2),
         [[-1.0, 0.0, 2.0]], [[0.2, 0.2, 1]]),
    kink("clip-at-scalar-bounds", lambda x: wg.clip(x, 0.0, 1.0), lambda x: torch.clamp(x, 0.0, 1.0),
         [[-1.0, 0.0, 0.5, 1.0, 2.0]], [[0, 1, 1, 1, 0]]),
    kink("clip-at-tensor-bounds", wg.clip, torch.clamp,
         [[0.0, 1.0, 0.5, -1.0, 2.0], [0.0] * 5, [1.0] * 5], [[1, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]]),
    kink("clip-inverted-tensor-bounds", wg.clip, torch.clamp,  # numpy and torch: min > max gives max
         [[0.0, 1.5, 3.0], [2.0] * 3, [1.0] * 3], [[0, 0, 0], [0, 0, 0], [1, 1, 1]]),
    kink("clip-equal-tensor-bounds", wg.clip, torch.clamp,  # PyTorch: the derivatives from above, 0 for both
         [[0.0, 1.0, 2.0], [1.0] * 3, [1.0] * 3], [[0, 1, 0], [0, 0, 0], [0, 0, 1]]),
    kink("maximum-ties", wg.maximum, torch.maximum, [[1.0, 2.0, 3.0], [1.0, 0.0, 3.0]],
         [[0.5, 1, 0.5], [0.5, 0, 0.5]]),
    kink("minimum-ties", wg.minimum, torch.minimum, [[1.0, 2.0, 3.0], [1.0, 0.0, 3.0]],
         [[0.5, 0, 0.5], [0.5, 1, 0.5]]),
    kink("maximum-scalar-tie", lambda x: wg.maximum(x, 0.0), lambda x: torch.maximum(x, torch.tensor(0.0)),
         [[-1.0, 0.0, 1.0]], [[0, 0.5, 1]]),
    kink("maximum-broadcast-ties", wg.maximum, torch.maximum, [[[0.0], [1.0]], [0.0, 1.0]],
         [[[0.5], [1.5]], [0.5, 1.5]]),
    kink("softplus-at-threshold", lambda x: wg.softplus(x, beta=2.0, threshold=4.0),
         lambda x: F.softplus(x, beta=2.0, threshold=4.0), [[2.0, 2.5]], [[1 / (1 + np.exp(-4.0)), 1]]),
    kink("sqrt-at-0", wg.sqrt, torch.sqrt, [[0.0, 4.0]], [[np.inf, 0.25]]),
    kink("x**2-at-0", lambda x: x ** 2, lambda x: x ** 2, [[0.0, 1.0]], [[0, 2]]),
    kink("power-zero-base", wg.power, torch.pow, [[0.0, 0.0], [2.0, 1.0]], [[0, 1], [0, 0]]),
    kink("x**0-at-0", lambda x: x ** 0, lambda x: x ** 0, [[0.0, 2.0]], [[0, 0]]),
    kink("power-0**0", wg.power, torch.pow, [[0.0, 2.0], [0.0, 0.0]], [[0, 0], [0, np.log(2.0)]]),
    kink("power-0**negative", wg.power, torch.pow, [[0.0, 2.0], [-1.0, -1.0]],
         [[-np.inf, -0.25], [-np.inf, 0.5 * np.log(2)]]),
    kink("2**x", lambda x: 2.0 ** x, lambda x: 2.0 ** x, [[0.0, -1.0]], [[np.log(2.0), 0.5 * np.log(2.0)]]),
    kink("0**x", lambda x: 0.0 ** x, lambda x: 0.0 ** x, [[0.0, 1.0, -1.0]], [[0, 0, -np.inf]]),
]


@pytest.mark.parametrize("wg_fn, torch_fn, arrays, expected", KINKS)
def test_gradient_at_kink_is_pytorchs(wg_fn, torch_fn, arrays, expected):
    compare_with_torch(wg_fn, torch_fn, *arrays)
    inputs = [wg.tensor(a, requires_grad=True) for a in arrays]
    wg_fn(*inputs).sum().backward()
    for tensor, grad in zip(inputs, expected, strict=True):
        np.testing.assert_allclose(tensor.grad.numpy(), grad, rtol=1e-12)


EXTREMES = np.array([-1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0])


@pytest.mark.parametrize("wg_fn, torch_fn, arrays", [
    pytest.param(wg.sigmoid, torch.sigmoid, [EXTREMES], id="sigmoid"),
    pytest.param(wg.tanh, torch.tanh, [EXTREMES], id="tanh"),
    pytest.param(wg.softplus, F.softplus, [EXTREMES], id="softplus"),
    pytest.param(lambda x: wg.softplus(x, beta=0.01, threshold=1e6), lambda x: F.softplus(x, 0.01, 1e6),
                 [EXTREMES], id="softplus-no-threshold"),
    pytest.param(wg.gelu, F.gelu, [EXTREMES], id="gelu"),
    pytest.param(lambda x: wg.gelu(x, approximate="tanh"), lambda x: F.gelu(x, approximate="tanh"),
                 [EXTREMES], id="gelu-tanh"),
    pytest.param(wg.logaddexp, torch.logaddexp, [EXTREMES, EXTREMES[::-1]], id="logaddexp"),
    pytest.param(wg.logaddexp, torch.logaddexp, [EXTREMES, EXTREMES], id="logaddexp-equal"),
])
def test_extreme_inputs_give_finite_outputs_and_pytorchs_gradients(wg_fn, torch_fn, arrays):
    inputs = [wg.tensor(a, requires_grad=True) for a in arrays]
    out = wg_fn(*inputs)
    out.sum().backward()
    assert np.isfinite(out.detach().numpy()).all()
    assert all(np.isfinite(t.grad.numpy()).all() for t in inputs)
    compare_with_torch(wg_fn, torch_fn, *arrays)


COMPARE_A = np.array([[-1.0, 0.0, 0.5], [2.0, 1.0, -3.0]])
COMPARE_B = np.array([-1.0, 1.0, 0.5])
SPECIAL = np.array([1.0, -0.0, 0.0, -2.0, np.inf, -np.inf, np.nan])


@pytest.mark.parametrize("wg_fn, np_fn, arrays", [
    *[pytest.param(op, op, [COMPARE_A, COMPARE_B], id=op.__name__)
      for op in (operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne)],
    *[pytest.param(getattr(wg, name), getattr(np, name), [COMPARE_A, COMPARE_B], id=name)
      for name in ("less", "less_equal", "greater", "greater_equal", "equal", "not_equal")],
    pytest.param(lambda x: x < 0.5, lambda x: x < 0.5, [COMPARE_A], id="tensor<scalar"),
    pytest.param(lambda x: 0.5 <= x, lambda x: 0.5 <= x, [COMPARE_A], id="scalar<=tensor"),
    pytest.param(lambda x: COMPARE_B > x, lambda x: COMPARE_B > x, [COMPARE_A], id="array>tensor"),
    pytest.param(lambda x: COMPARE_B == x, lambda x: COMPARE_B == x, [COMPARE_A], id="array==tensor"),
    pytest.param(wg.sign, np.sign, [SPECIAL], id="sign"),
    pytest.param(wg.isfinite, np.isfinite, [SPECIAL], id="isfinite"),
    pytest.param(lambda a, b: wg.logical_and(a > 0, b > 0), lambda a, b: np.logical_and(a > 0, b > 0),
                 [COMPARE_A, COMPARE_B], id="logical_and"),
    pytest.param(lambda a, b: wg.logical_or(a > 0, b > 0), lambda a, b: np.logical_or(a > 0, b > 0),
                 [COMPARE_A, COMPARE_B], id="logical_or"),
    pytest.param(lambda a: wg.logical_not(a > 0), lambda a: np.logical_not(a > 0), [COMPARE_A], id="logical_not"),
    pytest.param(lambda a, b: (a > 0) & (b > 0), lambda a, b: (a > 0) & (b > 0), [COMPARE_A, COMPARE_B], id="&"),
    pytest.param(lambda a, b: (a > 0) | (b > 0), lambda a, b: (a > 0) | (b > 0), [COMPARE_A, COMPARE_B], id="|"),
    pytest.param(lambda a: ~(a > 0), lambda a: ~(a > 0), [COMPARE_A], id="~"),
])
def test_non_differentiable_ops_match_numpy_and_carry_no_gradient(wg_fn, np_fn, arrays):
    out = wg_fn(*[wg.tensor(a, requires_grad=True) for a in arrays])
    expected = np_fn(*arrays)
    assert isinstance(out, wg.Tensor) and not out.requires_grad and out.grad_fn is None
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out.numpy(), expected)


FLOAT_OPS = {
    "exp": wg.exp, "sigmoid": wg.sigmoid, "softplus": wg.softplus, "gelu": wg.gelu, "erf": wg.erf,
    "leaky_relu": wg.leaky_relu, "x*2.5": lambda x: x * 2.5, "3/x": lambda x: 3 / x, "2-x": lambda x: 2 - x,
    "x**2": lambda x: x ** 2, "2**x": lambda x: 2 ** x, "maximum-scalar": lambda x: wg.maximum(x, 0.5),
    "where": lambda x: wg.where(x > 1, x, 0.0), "clip": lambda x: wg.clip(x, 0.8, 1.5),
    "logaddexp": lambda x: wg.logaddexp(x, x * x),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("fn", FLOAT_OPS.values(), ids=FLOAT_OPS.keys())
def test_float_dtype_is_kept_by_output_and_gradient(fn, dtype):
    array = random_array((2, 3), low=0.5, high=2.0, dtype=dtype)
    x = wg.tensor(array, requires_grad=True)
    out = fn(x)
    out.sum().backward()
    assert out.dtype == dtype and x.grad.dtype == dtype
    x64 = wg.tensor(array.astype(np.float64), requires_grad=True)
    fn(x64).sum().backward()
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out.detach().numpy(), fn(x64).detach().numpy(), rtol=tolerance)
    np.testing.assert_allclose(x.grad.numpy(), x64.grad.numpy(), rtol=tolerance)


def test_mixed_float32_and_float64_promote_and_each_gradient_keeps_its_dtype():
    a, b = random_array((2, 3), dtype=np.float32), random_array((3,), seed=1)
    assert (wg.tensor(a) * wg.tensor(b)).dtype == wg.float64
    check_op(wg.multiply, lambda x, y: x.double() * y, a, b)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_erf_keeps_the_float_dtype_and_matches_torch(dtype):
    array = np.linspace(-4, 4, 9).astype(dtype)
    out = wg.erf(wg.tensor(array))
    assert out.dtype == dtype
    np.testing.assert_allclose(out.numpy(), torch.erf(torch.tensor(array)).numpy(),
                               rtol=1e-3 if dtype == np.float16 else 1e-7, atol=1e-7)


def test_clip_with_an_absent_bound_keeps_an_integer_dtype():
    """A missing bound is None, not -inf or inf, which would make an integer tensor floating."""
    from wengert.ops.elementwise import clip_op

    x = wg.tensor([-3, 0, 5])
    for low, high, expected in [(0, None, torch.clamp(torch.tensor([-3, 0, 5]), min=0)),
                                (None, 2, torch.clamp(torch.tensor([-3, 0, 5]), max=2))]:
        out = clip_op(x, low, high)
        assert out.dtype == wg.int64
        np.testing.assert_array_equal(out.numpy(), expected.numpy())
    with pytest.raises(ValueError, match="clip: at least one of the bounds"):
        clip_op(x, None, None)


def test_gelu_refuses_unknown_approximation():
    with pytest.raises(ValueError, match="gelu"):
        wg.gelu(wg.ones(3), approximate="erf")


@settings(max_examples=30, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       op=st.sampled_from(["add", "multiply", "maximum"]), seed=st.integers(0, 2**16))
def test_broadcasting_binary_ops_match_numpy_and_gradients_keep_input_shapes(shapes, op, seed):
    (shape_a, shape_b), result_shape = shapes
    a, b = random_array(shape_a, seed), random_array(shape_b, seed + 1)
    x, y = wg.tensor(a, requires_grad=True), wg.tensor(b, requires_grad=True)
    out = getattr(wg, op)(x, y)
    assert out.shape == result_shape
    np.testing.assert_allclose(out.detach().numpy(), getattr(np, op)(a, b), rtol=1e-12)
    v = random_array(result_shape, seed + 2)
    (out * wg.tensor(v)).sum().backward()
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (getattr(torch, op)(tx, ty) * torch.tensor(v)).sum().backward()
    for mine, reference, shape in [(x, tx, shape_a), (y, ty, shape_b)]:
        assert mine.grad.shape == shape
        np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), rtol=1e-12, atol=1e-12)
