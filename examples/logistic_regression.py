"""Seed 001's softmax (multinomial) logistic regression, trained with wengert's core alone.

The lecture trains ``prob = softmax(x W)`` by gradient descent on Gaussian clusters
(10,000 samples, 500 features, 5 classes), with the gradient ``x^T (prob - label)``
worked out by hand. Here backward() works it out, and we report held-out accuracy.

    python examples/logistic_regression.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import wengert as wg


def make_clusters(samples: int, features: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters: each class has a random centre; points are centre + unit noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, features)) * 0.15
    labels = rng.integers(0, classes, samples)
    points = centres[labels] + rng.standard_normal((samples, features))
    return points.astype(np.float32), labels


def train(x: wg.Tensor, labels: wg.Tensor, classes: int, steps: int, lr: float, log_every: int = 10) -> wg.Tensor:
    """Full-batch gradient descent on the mean cross-entropy, as in the lecture."""
    W = wg.zeros(x.shape[1], classes, requires_grad=True)
    for step in range(steps):
        log_prob = wg.log_softmax(x @ W, axis=1)
        loss = -log_prob[wg.arange(len(labels)), labels].mean()
        loss.backward()
        with wg.no_grad():
            W -= lr * W.grad
        W.grad = None
        if log_every and step % log_every == 0:
            print(f"step {step:4d}  training loss {loss.item():.4f}")
    return W


def accuracy(W: wg.Tensor, x: wg.Tensor, labels: wg.Tensor) -> float:
    """Fraction of samples whose highest-scoring class is their label."""
    with wg.no_grad():
        predictions = (x @ W).argmax(axis=1)
    return (predictions == labels).astype(wg.float32).mean().item()


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=500)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args(argv)

    points, labels = make_clusters(args.samples, args.features, args.classes)
    split = int(0.8 * args.samples)
    x_train, y_train = wg.tensor(points[:split]), wg.tensor(labels[:split])
    x_test, y_test = wg.tensor(points[split:]), wg.tensor(labels[split:])
    start = time.perf_counter()
    W = train(x_train, y_train, args.classes, args.steps, args.lr)
    seconds = time.perf_counter() - start
    train_accuracy, test_accuracy = accuracy(W, x_train, y_train), accuracy(W, x_test, y_test)
    print(f"trained {args.steps} steps in {seconds:.1f} s: train accuracy {train_accuracy:.3f}, "
          f"test accuracy {test_accuracy:.3f} ({len(y_test)} held-out samples)")
    return test_accuracy


if __name__ == "__main__":
    main()
