"""Function transformations: what ``wg.grad``, ``wg.jacobian`` and ``wg.hvp`` cost.

Three questions from the transformations issue, each answered by ratios measured in the same
run (one process: both sides are wengert, so no two thread pools compete), alternating the
two sides within each round and reporting the median of the per-round ratios and their range:

1. ``wg.grad(loss)`` against calling the loss and ``backward()`` by hand (MLP 64-256-256-10,
   tanh, cross-entropy, float64, batch 128): the functional layer's overhead.
2. Forward against reverse mode for a Jacobian, as seed 002 predicts: few inputs and many
   outputs (3 -> 1,000) favour forward mode (3 JVPs against 1,000 VJPs); many inputs and one
   output (1,000 -> 1) favour reverse mode (1 VJP against 1,000 JVPs).
3. ``wg.hvp`` (forward-over-reverse) against one gradient of the same loss.

Allocator: glibc malloc with its default settings.

    python benchmarks/transforms.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import numpy as np

import wengert as wg
import wengert.nn.functional as F


def timed(fn, repeats: int) -> float:
    """The median time of ``repeats`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def mlp_problem():
    rng = np.random.default_rng(0)
    sizes = (64, 256, 256, 10)
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        params += [rng.standard_normal((fan_out, fan_in)) / np.sqrt(fan_in), np.zeros(fan_out)]
    x, labels = rng.standard_normal((128, sizes[0])), rng.integers(0, sizes[-1], 128)
    X, Y = wg.tensor(x), wg.tensor(labels)

    def loss(W1, b1, W2, b2, W3, b3):
        h = wg.tanh(F.linear(X, W1, b1))
        h = wg.tanh(F.linear(h, W2, b2))
        return F.cross_entropy(F.linear(h, W3, b3), Y)

    return loss, params


def compare(name: str, first, second, rounds: int, repeats: int, expect: str) -> None:
    first(), second()  # warm up
    ratios = []
    for _ in range(rounds):
        a = timed(first, repeats)
        b = timed(second, repeats)
        ratios.append(a / b)
    print(f"{name}: median {statistics.median(ratios):.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f}); {expect}")


def main() -> None:
    parser = argparse.ArgumentParser(description="costs of wg.grad, wg.jacobian and wg.hvp")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    loss, params = mlp_problem()
    argnums = tuple(range(len(params)))
    gradient = wg.grad(loss, argnums=argnums)

    def by_hand():
        tensors = [wg.tensor(p, requires_grad=True) for p in params]
        loss(*tensors).backward()
        return [t.grad.numpy() for t in tensors]

    compare("1. wg.grad / loss + backward() by hand", lambda: gradient(*params), by_hand, args.rounds, 20,
            "must be <= 1.10")

    rng = np.random.default_rng(1)
    A = rng.standard_normal((1000, 3))
    wide = lambda x: wg.tanh(wg.matmul(A, x))  # noqa: E731  3 inputs -> 1,000 outputs
    x3 = rng.standard_normal(3)
    compare("2a. 3 -> 1,000: jacobian forward / reverse", lambda: wg.jacobian(wide, mode="fwd")(x3),
            lambda: wg.jacobian(wide, mode="rev")(x3), args.rounds, 3, "forward mode should win (< 1)")
    B = rng.standard_normal((50, 1000))
    narrow = lambda x: (wg.tanh(wg.matmul(B, x)) ** 2).sum()  # noqa: E731  1,000 inputs -> 1 output
    x1000 = rng.standard_normal(1000)
    compare("2b. 1,000 -> 1: jacobian forward / reverse", lambda: wg.jacobian(narrow, mode="fwd")(x1000),
            lambda: wg.jacobian(narrow, mode="rev")(x1000), args.rounds, 1, "reverse mode should win (> 1)")

    first = lambda *ps: loss(*ps)  # noqa: E731
    vector = [rng.standard_normal(p.shape) for p in params]
    hvp = lambda: wg.hvp(lambda *ps: first(*ps), params, vector)  # noqa: E731
    compare("3. wg.hvp / one gradient", hvp, lambda: gradient(*params), args.rounds, 10, "must be <= 4")


if __name__ == "__main__":
    main()
