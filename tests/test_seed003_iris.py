"""Seed 003's Iris network: wengert against the seed's hand-derived numpy gradients.

The seed (COMP551, "Example: classification") has D = 2 features + 1 bias, M = 16 sigmoid
hidden units and C = 3 softmax outputs, in its numpy code's layout:

    X: N x D (the last column all ones), V: D x M, W: M x C
    Q = X V,  Z = logistic(Q),  U = Z W,  Yh = softmax(U)
    cost = -mean_n (sum_c U Y - logsumexp(U))            the mean softmax cross-entropy
    dW = Z^T (Yh - Y) / N,  dV = X^T ((Yh - Y) W^T * Z (1 - Z)) / N

The bias is only the ones column of X (a row of V); Z gets no ones column, so the output
layer has no bias. The extracted text of the seed is mangled; the functions below are its
code with the slide-numbering and repeated-frame noise removed.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import wengert as wg
from wengert.nn import functional as F

spec = importlib.util.spec_from_file_location(
    "iris_network", Path(__file__).resolve().parent.parent / "examples" / "iris_network.py")
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)


# --- the seed's numpy code ----------------------------------------------------------------

def logistic(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(u):  # N x C, shifted by the row max so exp never overflows
    u_exp = np.exp(u - np.max(u, 1)[:, None])
    return u_exp / np.sum(u_exp, axis=-1)[:, None]


def logsumexp(Z):  # N x C -> N x 1
    Zmax = np.max(Z, axis=1)[:, None]
    return Zmax + np.log(np.sum(np.exp(Z - Zmax), axis=1))[:, None]


def cost(X, Y, W, V):
    U = np.dot(logistic(np.dot(X, V)), W)
    # The seed writes np.sum(U*Y, 1) - logsumexp(U): shapes (N,) and (N, 1), which broadcast to
    # N x N. The mean of that matrix is mean(sum U*Y) - mean(logsumexp), the right value by
    # luck of linearity; [:, 0] keeps the subtraction row by row.
    return -np.mean(np.sum(U * Y, 1) - logsumexp(U)[:, 0])


def gradients(X, Y, W, V):
    Z = logistic(np.dot(X, V))  # N x M
    N = X.shape[0]  # the seed unpacks N, D; D goes unused
    Yh = softmax(np.dot(Z, W))  # N x K
    dY = Yh - Y  # N x K
    dW = np.dot(Z.T, dY) / N  # M x K
    dZ = np.dot(dY, W.T)  # N x M
    dV = np.dot(X.T, dZ * Z * (1 - Z)) / N  # D x M
    return dW, dV


def gradient_descent(X, Y, W, V, lr=0.1, eps=1e-9, max_iters=100000):
    """The seed's GD(), started from given W, V (the seed draws randn * .01 itself)."""
    dW = np.inf * np.ones_like(W)
    t = 0
    while np.linalg.norm(dW) > eps and t < max_iters:
        dW, dV = gradients(X, Y, W, V)
        W = W - lr * dW
        V = V - lr * dV
        t += 1
    return W, V


# --- fixtures and wengert's side ----------------------------------------------------------

@pytest.fixture(scope="module")
def iris():
    """The 2-feature Iris task in float64: train and test (X with its ones column, labels)."""
    splits = wg.data.load_dataset("iris", dtype=wg.float64, features=example.FEATURES)
    return {name: (example.with_bias(split.tensors[0]).numpy(), split.tensors[1].numpy())
            for name, split in (("train", splits.train), ("test", splits.test))}


def random_weights(scale, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((16, 3)) * scale, rng.standard_normal((3, 16)) * scale  # W: M x C, V: D x M


def seed_cost_in_wengert(X, Y, W, V):
    """The seed's cost() line for line, in wengert ops: autodiff through logsumexp."""
    U = wg.sigmoid(X @ V) @ W
    return -(wg.sum(U * Y, axis=1) - wg.logsumexp(U, axis=1)).mean()


def example_model(W, V):
    """examples/iris_network.py's network holding the given float64 weights."""
    model = example.IrisNetwork(dtype=wg.float64)
    model.W.data[...], model.V.data[...] = W, V
    return model


# --- (a) wengert's gradients are the seed's hand-derived ones ------------------------------

@pytest.mark.parametrize("scale", [0.01, 1.0], ids=["seed-init", "bent-sigmoids"])
def test_backward_equals_the_seeds_hand_derived_gradients(iris, scale):
    # scale 0.01 is the seed's initialization (sigmoids nearly linear); 1.0 saturates some units
    X, labels = iris["train"]
    Y = np.eye(3)[labels]
    W, V = random_weights(scale)
    dW, dV = gradients(X, Y, W, V)
    assert np.abs(dW).max() > 1e-3 and np.abs(dV).max() > 1e-5  # 1e-10 below is far below these

    # the example's model with the fused cross-entropy, and the seed's cost() composed of ops
    model = example_model(W, V)
    fused = F.cross_entropy(model(wg.tensor(X)), wg.tensor(labels))
    fused.backward()
    W_t, V_t = wg.tensor(W, requires_grad=True), wg.tensor(V, requires_grad=True)
    composed = seed_cost_in_wengert(wg.tensor(X), wg.tensor(Y), W_t, V_t)
    composed.backward()

    for loss, grad_W, grad_V in ((fused, model.W.grad, model.V.grad), (composed, W_t.grad, V_t.grad)):
        assert loss.item() == pytest.approx(cost(X, Y, W, V), rel=1e-12)
        assert grad_W.dtype == grad_V.dtype == wg.float64
        np.testing.assert_allclose(grad_W.numpy(), dW, rtol=0, atol=1e-10)
        np.testing.assert_allclose(grad_V.numpy(), dV, rtol=0, atol=1e-10)


# --- (b) training the seed's network reaches its accuracy ----------------------------------

def test_training_follows_the_seeds_gradient_descent_and_classifies_held_out_flowers(iris):
    # Judged on load_dataset's held-out test split (21 flowers): the seed defines no
    # evaluation of its own; it only draws the decision boundary over the data it trained on.
    X, labels = iris["train"]
    X_test, test_labels = iris["test"]
    wg.manual_seed(0)
    model = example.IrisNetwork(dtype=wg.float64)
    W0, V0 = model.W.detach().numpy().copy(), model.V.detach().numpy().copy()
    iterations = 2000
    steps = example.train(model, wg.tensor(X), wg.tensor(labels), lr=0.1, max_iters=iterations)
    assert steps == iterations  # the seed's ||dW|| > 1e-9 rule does not stop it this early

    # the same start, trained by the seed's own GD with its hand-derived gradients
    W, V = gradient_descent(X, np.eye(3)[labels], W0, V0, lr=0.1, max_iters=iterations)
    np.testing.assert_allclose(model.W.detach().numpy(), W, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.V.detach().numpy(), V, rtol=0, atol=1e-12)

    predictions = np.argmax(np.dot(logistic(np.dot(X_test, V)), W), axis=1)
    assert (predictions == test_labels).mean() >= 0.9
    assert example.accuracy(model, wg.tensor(X_test), wg.tensor(test_labels)) >= 0.9


# --- (c) the seed's finite-difference check ------------------------------------------------

def test_loss_gradients_pass_finite_differences(iris):
    X, labels = iris["train"]
    X_t, y_t, Y_t = wg.tensor(X), wg.tensor(labels), wg.tensor(np.eye(3)[labels])
    W, V = random_weights(1.0)  # away from the near-linear start, so second-order terms show
    W_t, V_t = wg.tensor(W, requires_grad=True), wg.tensor(V, requires_grad=True)
    assert wg.gradcheck(lambda W, V: F.cross_entropy(wg.sigmoid(X_t @ V) @ W, y_t), W_t, V_t)
    assert wg.gradcheck(lambda W, V: seed_cost_in_wengert(X_t, Y_t, W, V), W_t, V_t)


class HandDerivedCost(wg.Function):
    """The seed's cost() as one op whose backward is a hand-derived gradients() function."""

    def forward(ctx, W, V, X=None, Y=None, gradients=gradients):
        ctx.save(W, V, X, Y, gradients)
        return np.asarray(cost(X, Y, W, V))

    def backward(ctx, upstream):
        W, V, X, Y, gradients = ctx.saved
        dW, dV = gradients(X, Y, W, V)
        return upstream * dW, upstream * dV


def gradients_without_sigmoid_derivative(X, Y, W, V):
    """A plausible slip in the hand derivation: dV without the Z (1 - Z) factor."""
    Z = logistic(np.dot(X, V))
    dY = softmax(np.dot(Z, W)) - Y
    return np.dot(Z.T, dY) / len(X), np.dot(X.T, np.dot(dY, W.T)) / len(X)


def test_finite_differences_confirm_the_seeds_gradients_and_catch_a_slip(iris):
    # the seed's advice: check your gradient function with finite differences of the cost
    X, labels = iris["train"]
    Y = np.eye(3)[labels]
    W_t, V_t = (wg.tensor(a, requires_grad=True) for a in random_weights(1.0))

    def checked(gradient_function):
        return wg.gradcheck(lambda W, V: HandDerivedCost.apply(W, V, X=X, Y=Y, gradients=gradient_function),
                            W_t, V_t, raise_exception=False)

    assert checked(gradients)
    assert not checked(gradients_without_sigmoid_derivative)
