"""Second derivatives of every elementwise op, at its special points and at random points.

The gradient of the gradient (``create_graph=True``, then a second ``grad``) against
``torch.autograd.grad`` done the same way: equal wherever PyTorch's is finite, and so never
NaN there. The special points are where a first-derivative rule is tempted to hide an inf
or NaN behind ``where`` (0^0, 0^-1, log 0) or has a kink (0, ties, clip's bounds).
"""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import random_array

import wengert as wg
import wengert.numpy as wnp
from wengert.core.function import OPS

SPECIAL = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]
PAIRS = np.array(list(itertools.product(SPECIAL, SPECIAL))).T  # every pair, ties included


def second_derivatives(library, fn, arrays, v, w):
    """d/dx_j sum_i w_i . d(sum(v * fn(x)))/dx_i for every input j (the Hessian-vector products),
    and the first derivatives; computed by ``library`` ("wengert" or "torch") in float64."""
    if library == "wengert":
        tensor, grad, xp = wg.tensor, wg.autograd.grad, wg
        make = lambda a: wg.tensor(a, requires_grad=True)  # noqa: E731
    else:
        tensor, grad, xp = torch.tensor, torch.autograd.grad, torch
        make = lambda a: torch.tensor(a, requires_grad=True)  # noqa: E731
    inputs = [make(a) for a in arrays]
    out = fn(*inputs)
    firsts = grad((out * tensor(v)).sum(), inputs, create_graph=True, allow_unused=True)
    firsts = [xp.zeros_like(x) if g is None else g for x, g in zip(inputs, firsts)]
    total = sum((g * tensor(weights)).sum() for g, weights in zip(firsts, w))
    if not total.requires_grad:  # the first derivatives are constants
        return [as_array(g) for g in firsts], [np.zeros(a.shape) for a in arrays]
    seconds = grad(total, inputs, allow_unused=True)
    seconds = [np.zeros(a.shape) if g is None else as_array(g) for a, g in zip(arrays, seconds)]
    return [as_array(g) for g in firsts], seconds


def as_array(gradient):
    if isinstance(gradient, torch.Tensor):
        return gradient.detach().numpy(force=True)  # force: PyTorch may return a lazy ZeroTensor
    return gradient.detach().numpy()


def check_second_order(wg_fn, torch_fn, arrays, seed=0):
    """wengert's first and second derivatives equal PyTorch's wherever PyTorch's are finite."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    shape = np.broadcast_shapes(*[a.shape for a in arrays])
    v = random_array(shape, seed + 1)
    w = [random_array(a.shape, seed + 2 + index) for index, a in enumerate(arrays)]
    ours = second_derivatives("wengert", wg_fn, arrays, v, w)
    theirs = second_derivatives("torch", torch_fn, arrays, v, w)
    for order, (mine, reference) in enumerate(zip(ours, theirs), start=1):
        for index, (got, expected) in enumerate(zip(mine, reference)):
            finite = np.isfinite(expected)
            message = f"derivative {order} of input {index}, finite in PyTorch at {np.argwhere(finite).tolist()}"
            assert not np.isnan(got[finite]).any(), "NaN where PyTorch's is finite: " + message
            np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-9, atol=1e-12, err_msg=message)


UNARY = {
    "negative": (wg.negative, torch.neg),
    "exp": (wg.exp, torch.exp),
    "log": (wg.log, torch.log),
    "log1p": (wg.log1p, torch.log1p),
    "expm1": (wg.expm1, torch.expm1),
    "sqrt": (wg.sqrt, torch.sqrt),
    "square": (wg.square, torch.square),
    "sin": (wg.sin, torch.sin),
    "cos": (wg.cos, torch.cos),
    "tanh": (wg.tanh, torch.tanh),
    "sigmoid": (wg.sigmoid, torch.sigmoid),
    "erf": (wg.erf, torch.erf),
    "relu": (wg.relu, torch.relu),
    "abs": (wg.abs, torch.abs),
    "leaky_relu": (lambda x: wg.leaky_relu(x, 0.2), lambda x: F.leaky_relu(x, 0.2)),
    "gelu": (wg.gelu, F.gelu),
    "gelu_tanh": (lambda x: wg.gelu(x, approximate="tanh"), lambda x: F.gelu(x, approximate="tanh")),
    "softplus": (wg.softplus, F.softplus),
    "softplus-beta2": (lambda x: wg.softplus(x, beta=2.0, threshold=3.0),
                       lambda x: F.softplus(x, beta=2.0, threshold=3.0)),
    "clip-bounds": (lambda x: wg.clip(x, -1.0, 1.0), lambda x: torch.clamp(x, -1.0, 1.0)),
    "clip-min": (lambda x: wg.clip(x, 0.0), lambda x: torch.clamp(x, min=0.0)),
    "x**0.0": (lambda x: x ** 0.0, lambda x: x ** 0.0),
    "x**0": (lambda x: x ** 0, lambda x: x ** 0),
    "x**1": (lambda x: x ** 1, lambda x: x ** 1),
    "x**2": (lambda x: x ** 2, lambda x: x ** 2),
    "x**3": (lambda x: x ** 3, lambda x: x ** 3),
    "x**0.5": (lambda x: x ** 0.5, lambda x: x ** 0.5),
    "x**1.5": (lambda x: x ** 1.5, lambda x: x ** 1.5),
    "x**-1": (lambda x: x ** -1, lambda x: x ** -1),
    "2**x": (lambda x: 2.0 ** x, lambda x: 2.0 ** x),
    "0**x": (lambda x: 0.0 ** x, lambda x: 0.0 ** x),
    "1**x": (lambda x: 1.0 ** x, lambda x: 1.0 ** x),
    "maximum-0": (lambda x: wg.maximum(x, 0.0), lambda x: torch.maximum(x, torch.tensor(0.0))),
    "minimum-1": (lambda x: wg.minimum(x, 1.0), lambda x: torch.minimum(x, torch.tensor(1.0))),
    "where": (lambda x: wg.where(x > 0, x * x, x ** 3), lambda x: torch.where(x > 0, x * x, x ** 3)),
    # numpy's further math (wengert.numpy's)
    "tan": (wg.tan, torch.tan),
    "arcsin": (wg.arcsin, torch.asin),
    "arccos": (wg.arccos, torch.acos),
    "arctan": (wg.arctan, torch.atan),
    "sinh": (wg.sinh, torch.sinh),
    "cosh": (wg.cosh, torch.cosh),
    "arcsinh": (wg.arcsinh, torch.asinh),
    "arccosh": (wg.arccosh, torch.acosh),
    "arctanh": (wg.arctanh, torch.atanh),
    "log2": (wg.log2, torch.log2),
    "log10": (wg.log10, torch.log10),
    "exp2": (wg.exp2, torch.exp2),
    "cbrt": (wg.cbrt, lambda x: torch.sign(x) * x.abs() ** (1 / 3)),
    "reciprocal": (wg.reciprocal, torch.reciprocal),
    "deg2rad": (wg.deg2rad, torch.deg2rad),
    "rad2deg": (wg.rad2deg, torch.rad2deg),
    "sinc": (wg.sinc, torch.sinc),
    "nan_to_num": (wnp.nan_to_num, torch.nan_to_num),
    "floor": (wg.floor, torch.floor),
    "ceil": (wg.ceil, torch.ceil),
    "trunc": (wg.trunc, torch.trunc),
    "rint": (wg.rint, torch.round),  # both round half to even
    "round": (wnp.round, torch.round),
}
BINARY = {
    "add": (wg.add, torch.add),
    "subtract": (wg.subtract, torch.sub),
    "multiply": (wg.multiply, torch.mul),
    "divide": (wg.divide, torch.div),
    "power": (wg.power, torch.pow),
    "logaddexp": (wg.logaddexp, torch.logaddexp),
    "maximum": (wg.maximum, torch.maximum),
    "minimum": (wg.minimum, torch.minimum),
    "where": (lambda a, b: wg.where(a > b, a * b, b * b), lambda a, b: torch.where(a > b, a * b, b * b)),
    "clip-tensor-low": (lambda x, low: wg.clip(x, low, 1.0), lambda x, low: torch.clamp(x, low, torch.tensor(1.0))),
    "clip-tensor-high": (lambda x, high: wg.clip(x, None, high), lambda x, high: torch.clamp(x, max=high)),
    "hypot": (wg.hypot, torch.hypot),
    "arctan2": (wg.arctan2, torch.atan2),
    "logaddexp2": (wg.logaddexp2, torch.logaddexp2),
    "mod": (wg.mod, torch.remainder),
    "fmod": (wg.fmod, torch.fmod),
    "fmax": (wg.fmax, torch.fmax),
    "fmin": (wg.fmin, torch.fmin),
    "floor_divide": (wg.floor_divide, lambda a, b: torch.div(a, b, rounding_mode="floor")),
}
# every differentiable elementwise op of the library, by its op name, and the entries above that test it
COVERS = {"absolute": "abs", "clip": "clip-bounds", "gelu_tanh": "gelu_tanh", "arccos": "arccos"}


def test_every_differentiable_elementwise_op_has_a_second_derivative_test():
    ops = {name for name, op in OPS.items() if hasattr(op, "rule") and op.differentiable}
    tested = set(UNARY) | set(BINARY)
    assert {name for name in ops if COVERS.get(name, name) not in tested} == set()


@pytest.mark.parametrize("wg_fn, torch_fn", UNARY.values(), ids=UNARY.keys())
@pytest.mark.parametrize("points", ["special", "random"])
def test_unary_second_derivative_matches_torch(wg_fn, torch_fn, points):
    x = np.array(SPECIAL) if points == "special" else random_array((2, 3), seed=7)
    check_second_order(wg_fn, torch_fn, [x])


@pytest.mark.parametrize("wg_fn, torch_fn", BINARY.values(), ids=BINARY.keys())
@pytest.mark.parametrize("points", ["special", "random", "broadcast"])
def test_binary_second_derivative_matches_torch(wg_fn, torch_fn, points):
    if points == "special":
        arrays = list(PAIRS)
        if wg_fn is wg.power:
            # A negative base has no real a^b near non-integer b, so no derivative with respect to b:
            # PyTorch's finite second derivatives there are artifacts of its masks. At b = 0, a != 0
            # PyTorch's d/db of b a^(b-1) is 0, the math's 1/a: tested below against the math.
            arrays = list(PAIRS[:, (PAIRS[0] >= 0) & ((PAIRS[1] != 0) | (PAIRS[0] == 0))])
    elif points == "random":
        arrays = [random_array((2, 3), seed=8, low=0.2, high=2.0), random_array((2, 3), seed=9)]
    else:
        arrays = [random_array((2, 1, 3), seed=10, low=0.2, high=2.0), random_array((4, 1), seed=11)]
    check_second_order(wg_fn, torch_fn, arrays)


def test_clip_with_both_tensor_bounds_at_its_bounds():
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    low, high = np.full(6, -0.5), np.array([1.0, 1.0, 0.0, 0.5, 0.5, -1.0])  # ties, and low > high at the end
    check_second_order(wg.clip, torch.clamp, [x, low, high])


def test_power_second_derivatives_at_zero_follow_the_math():
    """Where the first-derivative rule masks 0 * inf: x^0 and x^1 at x = 0, and d/db of b a^(b-1)."""
    # d^2/dx^2 x^p at 0: 0 for p = 0 and p = 1 (the bug: NaN), 2 for p = 2
    for p, expected in [(0.0, 0.0), (1.0, 0.0), (2.0, 2.0)]:
        x = wg.tensor(0.0, dtype=wg.float64, requires_grad=True)
        (first,) = wg.autograd.grad(x ** p, x, create_graph=True)
        (second,) = wg.autograd.grad(first, x)
        assert second.item() == expected, (p, second.item())
    # d/db d(a^b)/da = a^(b-1) (1 + b log a), which is 1/a at b = 0: the mask at b = 0 must not hide it.
    # (PyTorch masks every b == 0 and gives 0 here.)
    a = wg.tensor([0.5, 2.0, 3.0], dtype=wg.float64, requires_grad=True)
    b = wg.tensor([0.0, 0.0, 1.0], dtype=wg.float64, requires_grad=True)
    (grad_a, _) = wg.autograd.grad((a ** b).sum(), [a, b], create_graph=True)
    (mixed,) = wg.autograd.grad(grad_a.sum(), b)
    expected = [a_ ** (b_ - 1) * (1 + b_ * math.log(a_)) for a_, b_ in zip([0.5, 2.0, 3.0], [0.0, 0.0, 1.0])]
    np.testing.assert_allclose(mixed.numpy(), expected, rtol=1e-12)


def test_softplus_second_derivative_at_its_threshold_is_that_of_the_branch_taken():
    """At beta x == threshold softplus computes log(1 + exp(beta x)) / beta and its derivative
    sigmoid(beta x) (PyTorch too); the second derivative is that branch's, beta s (1 - s).
    (PyTorch's double backward tests beta x < threshold instead and gives 0 there.)"""
    beta, threshold = 2.0, 1.0
    x = wg.tensor([0.5, 0.25, 1.0], dtype=wg.float64, requires_grad=True)  # at, below and above the threshold
    (first,) = wg.autograd.grad(wg.softplus(x, beta, threshold).sum(), x, create_graph=True)
    (second,) = wg.autograd.grad(first.sum(), x)
    s = 1 / (1 + np.exp(-beta * np.array([0.5, 0.25])))
    np.testing.assert_allclose(first.detach().numpy(), [*s, 1.0], rtol=1e-12)
    np.testing.assert_allclose(second.numpy(), [*(beta * s * (1 - s)), 0.0], rtol=1e-12)
