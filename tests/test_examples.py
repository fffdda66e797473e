"""The examples run, reach their accuracy, and agree with the lecture's hand-derived gradients."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

import wengert as wg

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


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


# --- each example as its user runs it: a subprocess, from another folder --------------------

def run_example(name: str, cwd: Path, *args: str) -> float:
    """Run examples/<name>.py; return the test accuracy it prints."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))  # this checkout's wengert
    result = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), *args], cwd=cwd, capture_output=True,
                            text=True, timeout=120, env={**os.environ, "PYTHONPATH": path})
    assert result.returncode == 0, result.stderr
    found = re.findall(r"test accuracy (\d\.\d+)", result.stdout)
    assert len(found) == 1, result.stdout
    return float(found[0])


def test_edf_mlp_example_learns_mnist(tmp_path):
    # seed 000's MLP, 5 epochs of minibatch SGD on 3,500 MNIST images: measured 0.936 on the
    # 750 held-out ones (chance is 0.1)
    assert run_example("edf_mlp", tmp_path) >= 0.9


def test_softmax_regression_example_learns_digits(tmp_path):
    # seed 001's softmax regression, 10 epochs on the 8x8 digits: measured 0.970 (258 of 266)
    assert run_example("softmax_regression", tmp_path) >= 0.95


def test_iris_network_example_classifies_and_draws_its_decision_boundary(tmp_path):
    # seed 003's network on petal length and width: measured 0.905 (19 of 21 held-out flowers),
    # the same from 1,000 to 100,000 iterations; 0.9 allows no third mistake.
    assert run_example("iris_network", tmp_path) >= 0.9
    png = tmp_path / "iris_decision_boundary.png"  # the default --out, in the current folder
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    image = imread(png)
    assert image.shape[0] > 100 and image.shape[1] > 100
    # three class regions and the points on them: far more than a blank canvas's colours
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 20
