"""Seed 001's vectorized minibatch softmax regression, with wengert's training API, on real digits.

The lecture vectorizes logistic regression over a minibatch X (B x J) and turns it into
softmax (multinomial logistic) regression: one weight column per class, so that

    P(y | x) = exp(x . w^y) / sum_y' exp(x . w^y'),   i.e. prob = softmax(X W),

trained on the mean log-loss, whose gradient the lecture writes by hand as
X^T (prob - onehot) / B, with a fixed learning rate of 0.1. Here ``nn.Linear`` holds W,
``F.cross_entropy`` fuses softmax and log-loss (its backward is that same prob - onehot),
``optim.SGD`` takes the step and the ``DataLoader`` cuts the shuffled minibatches.
The data are scikit-learn's 8x8 handwritten digits (64 features, 10 classes).

examples/logistic_regression.py is the same model written with the core alone
(tensors, backward, a hand-written update), full-batch on the lecture's Gaussian clusters.

    python examples/softmax_regression.py [--epochs 10] [--batch-size 32] [--lr 0.1]
"""

from __future__ import annotations

import argparse
import time

import wengert as wg
from wengert import nn, optim
from wengert.data import DataLoader, load_dataset
from wengert.nn import functional as F
from wengert.training import evaluate  # (mean loss, accuracy) over a DataLoader, recording no graph


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1, help="the lecture's fixed learning rate")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    wg.manual_seed(args.seed)  # the initial W and the shuffling order
    splits = load_dataset("digits")  # pixels standardized with the training split's mean and std
    # The lecture's model is X W with no bias term (a constant feature would supply one).
    model = nn.Linear(splits.num_features, splits.num_classes, bias=False)
    optimizer = optim.SGD(model.parameters(), lr=args.lr)
    loader = DataLoader(splits.train, batch_size=args.batch_size, shuffle=True)
    # evaluation in one batch per split: no shuffling, no graph
    train, val, test = (DataLoader(split, batch_size=len(split)) for split in (splits.train, splits.val, splits.test))

    start = time.perf_counter()
    for epoch in range(args.epochs):
        for X, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(X), y)  # mean over the minibatch: the lecture's 1/B
            loss.backward()
            optimizer.step()
        train_loss, train_accuracy = evaluate(model, train)
        print(f"epoch {epoch + 1:2d}  training loss {train_loss:.4f}  training accuracy {train_accuracy:.3f}  "
              f"validation accuracy {evaluate(model, val)[1]:.3f}")
    seconds = time.perf_counter() - start
    test_accuracy = evaluate(model, test)[1]
    print(f"trained {args.epochs} epochs in {seconds:.1f} s: test accuracy {test_accuracy:.3f} "
          f"({len(splits.test)} held-out digits)")
    return test_accuracy


if __name__ == "__main__":
    main()
