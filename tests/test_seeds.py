"""The lecture notes' worked examples, with the gradients the notes derive by hand."""

import math

import numpy as np
import pytest

import wengert as wg


def test_sum_then_product_distributes_and_switches():
    # seed 004: f(x, y, z) = (x + y) z at x = -2, y = 5, z = -4
    x, y, z = (wg.tensor(v, requires_grad=True) for v in (-2.0, 5.0, -4.0))
    f = (x + y) * z
    f.backward()
    assert f.item() == -12.0
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (-4.0, -4.0, 3.0)


@pytest.mark.parametrize("x1, x2", [(1.0, 2.0), (-0.5, 3.0), (0.0, 0.0)])
def test_square_of_linear_combination(x1, x2):
    # f(x1, x2) = (2 x1 + x2)^2, df/dx1 = 8 x1 + 4 x2, df/dx2 = 4 x1 + 2 x2
    a, b = wg.tensor(x1, requires_grad=True), wg.tensor(x2, requires_grad=True)
    ((2 * a + b) ** 2).backward()
    assert a.grad.item() == pytest.approx(8 * x1 + 4 * x2)
    assert b.grad.item() == pytest.approx(4 * x1 + 2 * x2)


class SeedSigmoid(wg.Function):
    """The notes' sigmoid as a custom op: forward saves its output, backward uses s (1 - s)."""

    def forward(ctx, x):
        s = 1 / (1 + wg.namespace(x).exp(-x))
        ctx.save(s)
        return s

    def backward(ctx, upstream):
        (s,) = ctx.saved
        return upstream * s * (1 - s)


@pytest.mark.parametrize("sigmoid", [wg.sigmoid, SeedSigmoid.apply, lambda y: 1 / (1 + wg.exp(-y))],
                         ids=["builtin", "custom-op", "composed"])
def test_sigmoid_of_a_neuron(sigmoid):
    # seed 004: f(w, x) = 1 / (1 + exp(-(w0 x + w1))) at w0 = 2, x = -1, w1 = -3
    w0, x, w1 = (wg.tensor(v, dtype=wg.float64, requires_grad=True) for v in (2.0, -1.0, -3.0))
    f = sigmoid(w0 * x + w1)
    f.backward()
    s = 1 / (1 + math.exp(-(2.0 * -1.0 - 3.0)))
    local = s * (1 - s)  # the notes' dsigma/dy = sigma (1 - sigma), about 0.2
    assert f.item() == pytest.approx(s)
    assert w0.grad.item() == pytest.approx(local * -1.0)
    assert x.grad.item() == pytest.approx(local * 2.0)
    assert w1.grad.item() == pytest.approx(local)


def test_squared_norm_of_matrix_vector_product():
    # seed 004: f(W, x) = ||W x||^2 with grads 2 W x x^T and 2 W^T W x
    rng = np.random.default_rng(0)
    W_value, x_value = rng.standard_normal((4, 3)), rng.standard_normal(3)
    W, x = wg.tensor(W_value, requires_grad=True), wg.tensor(x_value, requires_grad=True)
    q = W @ x
    (q * q).sum().backward()
    np.testing.assert_allclose(W.grad.numpy(), 2 * np.outer(W_value @ x_value, x_value))
    np.testing.assert_allclose(x.grad.numpy(), 2 * W_value.T @ W_value @ x_value)


def test_distance_from_origin():
    # seed 000: l = sqrt(x^2 + y^2), backprop in reverse order gives dl/dx = x / l
    x, y = wg.tensor(3.0, requires_grad=True), wg.tensor(4.0, requires_grad=True)
    length = wg.sqrt(x ** 2 + y ** 2)
    length.backward()
    assert (length.item(), x.grad.item(), y.grad.item()) == pytest.approx((5.0, 0.6, 0.8))


def test_gradients_add_at_branches():
    # seed 000: y = f(x), z = g(y, x): x's gradient collects both uses
    x = wg.tensor(1.5, requires_grad=True)
    y = x * x
    z = y * x + x  # z = x^3 + x
    z.backward()
    assert x.grad.item() == pytest.approx(3 * 1.5 ** 2 + 1)


def test_max_routes_the_gradient_to_the_winner():
    # seed 004: "max routes": only the larger input gets the upstream gradient
    a, b = wg.tensor(2.0, requires_grad=True), wg.tensor(-1.0, requires_grad=True)
    (wg.maximum(a, b) * 3.0).backward()
    assert (a.grad.item(), b.grad.item()) == (3.0, 0.0)


def test_parameters_sum_gradients_over_the_batch():
    # seed 000: minibatching: the bias gradient is the batch sum of the output gradients
    rng = np.random.default_rng(1)
    x = wg.tensor(rng.standard_normal((5, 3)))
    W = wg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    b = wg.tensor(np.zeros(2), requires_grad=True)
    y = x @ W + b
    upstream = rng.standard_normal((5, 2))
    y.backward(wg.tensor(upstream))
    np.testing.assert_allclose(b.grad.numpy(), upstream.sum(axis=0))
    # the swap rule: W.grad[j, i] = x[b, j] y.grad[b, i]
    np.testing.assert_allclose(W.grad.numpy(), np.einsum("bj,bi->ji", x.numpy(), upstream))
