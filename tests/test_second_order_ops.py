"""Second derivatives of every op of the library: the gradient of the gradient (reverse over
reverse) against central differences of the gradient, and against forward over reverse
(``wg.hvp``), on each op's case from the op sweep in test_graph (float64)."""

import numpy as np
import pytest
from conftest import random_array
from test_graph import CASES, make

import wengert as wg

STEP = 1e-6
# Ops whose gradient is constant or zero almost everywhere still go through: their second
# derivative must come out 0 (finite differences agree). Ops without a gradient are skipped.


def floating_case(name):
    fn, specs = CASES[name]
    arrays = [make(spec, seed) for seed, spec in enumerate(specs)]
    output = fn(*[wg.tensor(a) for a in arrays])
    return fn, arrays, output.dtype.kind == "f" and any(a.dtype.kind == "f" for a in arrays)


DIFFERENTIABLE = sorted(name for name in CASES if floating_case(name)[2])


def gradient(fn, arrays, weights, create_graph=False):
    """d sum(weights * fn(x)) / dx for each floating input x (zeros where fn does not use it)."""
    leaves = [wg.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = fn(*leaves)
    wanted = [leaf for leaf in leaves if leaf.requires_grad]
    if not out.requires_grad:
        return leaves, [wg.zeros_like(leaf) for leaf in wanted]
    found = wg.autograd.grad((out * wg.tensor(weights)).sum(), wanted, create_graph=create_graph, allow_unused=True)
    return leaves, [wg.zeros_like(leaf) if g is None else g for leaf, g in zip(wanted, found)]


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_second_derivative_of_every_op_equals_finite_differences_and_forward_over_reverse(name):
    fn, arrays, _ = floating_case(name)
    weights = random_array(tuple(fn(*[wg.tensor(a) for a in arrays]).shape), 50)
    floating = [index for index, a in enumerate(arrays) if a.dtype.kind == "f"]
    u = {index: random_array(arrays[index].shape, 60 + index) for index in floating}  # a direction
    v = [random_array(arrays[index].shape, 70 + index) for index in floating]  # weights on the gradient
    leaves, firsts = gradient(fn, arrays, weights, create_graph=True)
    total = sum((g * wg.tensor(w)).sum() for g, w in zip(firsts, v))
    wanted = [leaves[index] for index in floating]
    if total.requires_grad:
        seconds = wg.autograd.grad(total, wanted, allow_unused=True)
        seconds = [np.zeros(leaf.shape) if s is None else s.numpy() for leaf, s in zip(wanted, seconds)]
    else:  # the gradient is constant: no second derivative
        seconds = [np.zeros(leaf.shape) for leaf in wanted]
    reverse = sum(float((s * u[index]).sum()) for s, index in zip(seconds, floating))  # u . H v

    def shifted(sign):
        moved = [a + sign * STEP * u[index] if index in u else a for index, a in enumerate(arrays)]
        return sum(float((g.numpy() * w).sum()) for g, w in zip(gradient(fn, moved, weights)[1], v))

    differences = (shifted(1) - shifted(-1)) / (2 * STEP)  # v . H u, H symmetric
    assert np.isfinite(reverse)
    np.testing.assert_allclose(reverse, differences, rtol=1e-5, atol=1e-6)

    def loss(*xs):
        full = list(arrays)
        for index, x in zip(floating, xs):
            full[index] = x
        return (fn(*full) * wg.tensor(weights)).sum()

    forward = wg.hvp(loss, [arrays[index] for index in floating], [u[index] for index in floating])
    np.testing.assert_allclose(sum(float((np.asarray(h) * w).sum()) for h, w in zip(forward, v)), reverse,
                               rtol=1e-8, atol=1e-10)
