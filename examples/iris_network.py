"""Seed 003's two-layer network on Iris, trained with wengert, and its decision boundary.

The lecture's network (COMP551, "Example: classification"): D = 2 features + 1 bias,
M = 16 sigmoid hidden units, C = 3 classes, softmax output, trained by full-batch
gradient descent on the mean softmax cross-entropy:

    Q = X V        X: N x D, the last column all ones (the bias input); V: D x M
    Z = sigma(Q)   no bias is added to Z: the bias lives only in X's ones column
    U = Z W        W: M x C; U are the logits, softmax(U) the class probabilities

The seed derives dW and dV by hand (tests/test_seed003_iris.py checks wengert against
them); here backward() computes them. Its GD starts from randn * 0.01 and steps with
lr = 0.1 while ||dW|| > 1e-9 and t < 100,000. On this task ||dW|| is still about 1e-4
after 100,000 steps, so the seed's loop runs to its cap. We keep its lr and stopping rule but cap it at
3,000 steps by default, because the predictions have settled long before: train and test
accuracy are the same after 1,000, 3,000, 10,000 and 100,000 steps (measured).
``--max-iters 100000`` runs the seed's full budget (20 to 40 s).

The seed does not name its two features; we take petal length and petal width, the pair
that load_dataset's documentation uses for a 2-feature iris.

    python examples/iris_network.py [--out iris_decision_boundary.png] [--max-iters 3000]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

import wengert as wg
from wengert import nn, optim
from wengert.data import load_dataset
from wengert.nn import functional as F

FEATURES = ["petal length", "petal width"]
COLORS = ["tab:red", "tab:blue", "tab:green"]  # one per class, for regions and points alike


def with_bias(x: wg.Tensor) -> wg.Tensor:
    """Append the constant input 1, so that the first layer's bias is a row of V (the seed's D = 2 + 1)."""
    return wg.concatenate([x, wg.ones(x.shape[0], 1, dtype=x.dtype)], axis=1)


class IrisNetwork(nn.Module):
    """U = sigma(X V) W, with V (D, M) and W (M, C) laid out as in the seed's numpy code."""

    def __init__(self, inputs: int = len(FEATURES) + 1, hidden: int = 16, classes: int = 3,
                 dtype: Any = None) -> None:
        super().__init__()
        # The seed's GD starts both matrices at randn * 0.01: small enough that every sigmoid
        # starts in its linear region, so the first steps are not stalled by saturation.
        self.V = nn.Parameter(wg.randn(inputs, hidden, dtype=dtype) * 0.01)
        self.W = nn.Parameter(wg.randn(hidden, classes, dtype=dtype) * 0.01)

    def forward(self, X: wg.Tensor) -> wg.Tensor:
        return wg.sigmoid(X @ self.V) @ self.W  # the logits U; softmax lives in the loss


def train(model: IrisNetwork, X: wg.Tensor, y: wg.Tensor, lr: float = 0.1, eps: float = 1e-9,
          max_iters: int = 3000) -> int:
    """The seed's GD: full-batch steps while ||dW|| > eps and t < max_iters; returns t."""
    optimizer = optim.SGD(model.parameters(), lr=lr)
    grad_norm, t = np.inf, 0
    while grad_norm > eps and t < max_iters:
        optimizer.zero_grad()
        # mean over the batch = the seed's np.mean(...) in cost() and /N in gradients()
        F.cross_entropy(model(X), y).backward()
        grad_norm = np.linalg.norm(model.W.grad.numpy())
        optimizer.step()
        t += 1
    return t


def accuracy(model: IrisNetwork, X: wg.Tensor, y: wg.Tensor) -> float:
    with wg.no_grad():
        return (model(X).argmax(axis=1) == y).astype(wg.float32).mean().item()


def plot_decision_boundary(model: IrisNetwork, splits: Any, path: str) -> None:
    """Colour the 2-feature plane (in cm) by the predicted class, with the data on top."""
    from matplotlib.figure import Figure  # a Figure made without pyplot draws with Agg: no display needed

    to_cm = [(split.tensors[0].numpy() * splits.std + splits.mean, split.tensors[1].numpy())
             for split in (splits.train, splits.test)]
    points = np.concatenate([cm for cm, _ in to_cm])
    low, high = points.min(axis=0) - 0.5, points.max(axis=0) + 0.5
    g0, g1 = np.meshgrid(np.linspace(low[0], high[0], 300), np.linspace(low[1], high[1], 300))
    grid = np.stack([g0.ravel(), g1.ravel()], axis=1)
    # the model was trained on standardized features: standardize the grid the same way
    grid_input = with_bias(wg.tensor(((grid - splits.mean) / splits.std).astype(model.V.dtype)))
    with wg.no_grad():
        predicted = model(grid_input).argmax(axis=1).numpy().reshape(g0.shape)

    figure = Figure(figsize=(6, 4.5))
    ax = figure.subplots()
    ax.contourf(g0, g1, predicted, levels=[-0.5, 0.5, 1.5, 2.5], colors=COLORS, alpha=0.25)
    (train_cm, train_labels), (test_cm, test_labels) = to_cm
    for k, (colour, name) in enumerate(zip(COLORS, splits.class_names)):
        ax.scatter(*train_cm[train_labels == k].T, color=colour, s=20, label=name)
    test_colours = [COLORS[label] for label in test_labels]
    ax.scatter(*test_cm.T, color=test_colours, s=90, marker="*", edgecolors="k", linewidths=0.6)
    ax.scatter([], [], color="white", s=90, marker="*", edgecolors="k", label="held out (test)")
    ax.set_xlabel(f"{splits.feature_names[0]} (cm)")
    ax.set_ylabel(f"{splits.feature_names[1]} (cm)")
    ax.set_title("seed 003: 16 sigmoid units, softmax output")
    ax.legend(loc="upper left")
    figure.savefig(path, dpi=100, bbox_inches="tight")


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="iris_decision_boundary.png", help="where to save the PNG")
    parser.add_argument("--max-iters", type=int, default=3000, help="the seed's cap is 100000")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    wg.manual_seed(args.seed)
    splits = load_dataset("iris", features=FEATURES)  # standardized with the training split's statistics
    X_train, y_train = with_bias(splits.train.tensors[0]), splits.train.tensors[1]
    X_test, y_test = with_bias(splits.test.tensors[0]), splits.test.tensors[1]

    model = IrisNetwork()
    start = time.perf_counter()
    steps = train(model, X_train, y_train, lr=args.lr, max_iters=args.max_iters)
    seconds = time.perf_counter() - start
    test_accuracy = accuracy(model, X_test, y_test)
    print(f"{steps} gradient-descent steps in {seconds:.1f} s: train accuracy "
          f"{accuracy(model, X_train, y_train):.3f}, test accuracy {test_accuracy:.3f} "
          f"({len(y_test)} held-out flowers)")
    plot_decision_boundary(model, splits, args.out)
    print(f"decision boundary saved to {args.out}")
    return test_accuracy


if __name__ == "__main__":
    main()
