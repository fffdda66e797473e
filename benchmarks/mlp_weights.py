"""The MLP 784-512-512-10 that benchmarks/mlp.py and benchmarks/distributed.py train, and its initial
weights (PyTorch's default uniform initialisation, drawn by numpy with a fixed seed, float32)."""

from __future__ import annotations

import itertools

SIZES = (784, 512, 512, 10)


def initial_weights() -> list:
    """[(W (out, in), b (out,)) per layer], the same in every framework and process."""
    import numpy as np

    rng = np.random.default_rng(0)
    layers = []
    for fan_in, fan_out in itertools.pairwise(SIZES):
        bound = 1 / np.sqrt(fan_in)
        layers.append((rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                       rng.uniform(-bound, bound, fan_out).astype(np.float32)))
    return layers
