"""Seed 003's numpy code runs unchanged on ``wengert.numpy`` (issue 9, point 5).

The seed's cost, with its own logsumexp and logistic helpers, is written as in the seed, with
``import wengert.numpy as np`` in place of numpy. ``wg.grad(cost, argnums=(2, 3))`` must give
the seed's hand-derived ``gradients(X, Y, W, V)``. (As in the seed, ``np.sum(U*Y, 1)`` of shape
(N,) minus ``logsumexp(U)`` of shape (N, 1) broadcasts to N x N; its mean is still the mean
cross-entropy, by linearity, so the gradients agree.)
"""

import numpy
import pytest

import wengert as wg
import wengert.numpy as np

# --- the seed's code, unchanged but for the import -----------------------------------------------

def logsumexp(Z):
    Zmax = np.max(Z, axis=1)[:, None]
    lse = Zmax + np.log(np.sum(np.exp(Z - Zmax), axis=1))[:, None]
    return lse


def logistic(z):
    return 1. / (1 + np.exp(-z))


def softmax(u):
    u_exp = np.exp(u - np.max(u, 1)[:, None])
    return u_exp / np.sum(u_exp, axis=-1)[:, None]


def cost(X, Y, W, V):
    Q = np.dot(X, V)
    Z = logistic(Q)
    U = np.dot(Z, W)
    Yh = softmax(U)  # noqa: F841 - the seed computes it and leaves it unused
    nll = - np.mean(np.sum(U*Y, 1) - logsumexp(U))
    return nll


def gradients(X, Y, W, V):
    Z = logistic(np.dot(X, V))
    N, D = X.shape  # noqa: RUF059 - as the seed writes it
    Yh = softmax(np.dot(Z, W))
    dY = Yh - Y
    dW = np.dot(Z.T, dY)/N
    dZ = np.dot(dY, W.T)
    dV = np.dot(X.T, dZ * Z * (1 - Z))/N
    return dW, dV


# --- the checks ------------------------------------------------------------------------------------

@pytest.fixture
def problem():
    """Iris-shaped: N = 30 examples, D = 2 features + 1 bias column, M = 16 hidden, C = 3 classes."""
    rng = numpy.random.default_rng(3)
    X = numpy.hstack([rng.standard_normal((30, 2)), numpy.ones((30, 1))])
    Y = numpy.eye(3)[rng.integers(0, 3, 30)]
    W = rng.standard_normal((16, 3)) * 0.5
    V = rng.standard_normal((3, 16)) * 0.5
    return X, Y, W, V


def test_on_numpy_arrays_the_seed_computes_with_numpy(problem):
    value = cost(*problem)
    dW, dV = gradients(*problem)
    assert isinstance(dW, numpy.ndarray) and isinstance(dV, numpy.ndarray)
    assert numpy.ndim(value) == 0 and numpy.isfinite(value)


def test_wg_grad_of_the_seed_cost_equals_its_hand_derived_gradients(problem):
    dW, dV = wg.grad(cost, argnums=(2, 3))(*problem)
    hand_dW, hand_dV = gradients(*problem)
    assert isinstance(dW, numpy.ndarray) and dW.dtype == numpy.float64
    numpy.testing.assert_allclose(dW, hand_dW, rtol=0, atol=1e-10)
    numpy.testing.assert_allclose(dV, hand_dV, rtol=0, atol=1e-10)


def test_backward_through_the_seed_cost_on_tensors_equals_the_hand_derived_gradients(problem):
    X, Y, W, V = problem
    W_tensor, V_tensor = wg.tensor(W, requires_grad=True), wg.tensor(V, requires_grad=True)
    loss = cost(X, Y, W_tensor, V_tensor)
    assert isinstance(loss, wg.Tensor)
    dW, dV = wg.autograd.grad(loss, (W_tensor, V_tensor))
    hand_dW, hand_dV = gradients(X, Y, W, V)
    numpy.testing.assert_allclose(dW.numpy(), hand_dW, rtol=0, atol=1e-10)
    numpy.testing.assert_allclose(dV.numpy(), hand_dV, rtol=0, atol=1e-10)
    assert float(loss) == pytest.approx(cost(X, Y, W, V), rel=1e-12)


def test_a_wrong_hand_gradient_would_be_caught(problem):
    X, Y, W, V = problem
    dW, _ = wg.grad(cost, argnums=(2, 3))(X, Y, W, V)
    wrong_dW = numpy.dot(logistic(numpy.dot(X, V)).T, softmax(numpy.dot(logistic(numpy.dot(X, V)), W)) - Y)
    assert numpy.abs(dW - wrong_dW).max() > 1e-3  # the hand gradient without its 1/N differs
