"""The examples run, reach their accuracy, and agree with the lecture's hand-derived gradients."""

import importlib.util
from pathlib import Path

import numpy as np

import wengert as wg

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_logistic_regression_demo_reaches_its_accuracy(capsys):
    test_accuracy = load("logistic_regression").main([])
    assert test_accuracy >= 0.95
    assert "test accuracy" in capsys.readouterr().out


def test_logistic_regression_gradient_is_the_lectures_formula():
    # seed 001: dw = x^T (prob - label) / num_samples
    example = load("logistic_regression")
    points, labels = example.make_clusters(50, 7, 3)
    x, W = points.astype(np.float64), np.random.default_rng(0).standard_normal((7, 3))
    W_tensor = wg.tensor(W, requires_grad=True)
    log_prob = wg.log_softmax(wg.tensor(x) @ W_tensor, axis=1)
    (-log_prob[wg.arange(50), wg.tensor(labels)].mean()).backward()
    scores = np.exp(x @ W - (x @ W).max(axis=1, keepdims=True))
    prob = scores / scores.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(W_tensor.grad.numpy(), x.T @ (prob - np.eye(3)[labels]) / 50, atol=1e-12)
