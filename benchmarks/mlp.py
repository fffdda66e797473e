"""An MLP training step against PyTorch and against hand-written numpy.

Workload (from the training issue): MLP 784-512-512-10 with ReLU, cross-entropy and plain SGD
(lr 0.01), float32, at batch 32, 128 and 1024: forward, loss, backward and update, timed per
step. Frameworks: wengert (eager, and the whole step through ``wg.compile``), PyTorch eager, the
same network with forward and backward written by hand in numpy (seed 003's style; the floor
for a numpy engine that allocates on every line), and JAX's jit of the whole step where JAX is
installed (``pip install jax``; it fuses and plans memory ahead).

Each framework runs in its own subprocess with its default threads (numpy's OpenBLAS and
PyTorch's pools would fight for the cores in one process), alternating wengert, numpy,
PyTorch, wengert...; each round reports the ratio of medians measured in that round, and the
summary is the median of the per-round ratios (the machine's speed drifts between rounds).

Memory: the peak resident memory of the training steps above the baseline taken once the
model, optimizer and batch exist (peak reset through /proc/self/clear_refs): activations,
gradients, optimizer state and whatever the allocator keeps, for each framework, from the first
step on (so it includes a compiled function's one-time trace); and a steady step's own peak,
measured by tracemalloc once everything is warm (what numpy and Python allocate; PyTorch's own
allocator is not traced, so its figure there is small by construction).

Allocator: glibc malloc. ``--malloc default``: as each framework sets it up, which for wengert means
that importing it raised glibc's mmap and trim thresholds (``mallopt``; ``core.backend.keep_freed_memory``)
so that freed large arrays stay in the heap for the next step, and PyTorch's and numpy's processes have
glibc's defaults. ``--malloc system``: glibc's defaults for every framework (WENGERT_MALLOC=system).
``--malloc tuned``: MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ raised for every framework alike.

    python benchmarks/mlp.py [--rounds 5] [--steps 30] [--batches 32 128 1024] [--malloc default|system|tuned]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time

from mlp_weights import SIZES, initial_weights
from resident import MALLOC_SETTINGS, peak_above, start_peak

LR = 0.01


FRAMEWORKS = ("wengert", "compiled", "numpy", "torch")
try:  # JAX jit joins where it is installed (pip install jax: it is not a dependency of wengert)
    import jax  # noqa: F401

    FRAMEWORKS += ("jax",)
except ImportError:
    pass


def batch(size: int):
    import numpy as np

    rng = np.random.default_rng(1)
    return rng.standard_normal((size, SIZES[0])).astype(np.float32), rng.integers(0, SIZES[-1], size)


def workload(framework: str, size: int):
    """A function doing one training step for ``framework``, and a function reading the loss."""
    weights, (x, labels) = initial_weights(), batch(size)
    if framework in ("wengert", "compiled"):  # compiled: the loss through wg.compile, the rest as eager
        import wengert as wg
        import wengert.nn.functional as F
        from wengert import nn, optim

        (i, h1), (_, h2), (_, o) = itertools.pairwise(SIZES)
        model = nn.Sequential(nn.Linear(i, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(), nn.Linear(h2, o))
        model.load_state_dict({f"{index * 2}.{name}": value for index, pair in enumerate(weights)
                               for name, value in zip(("weight", "bias"), pair)})
        optimizer = optim.SGD(model.parameters(), lr=LR)
        features, targets = wg.tensor(x), wg.tensor(labels)

        def train_step(x, y):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss

        train_step = wg.compile(train_step) if framework == "compiled" else train_step

        def step():
            return train_step(features, targets).item()

    elif framework == "torch":
        import torch

        (i, h1), (_, h2), (_, o) = itertools.pairwise(SIZES)
        model = torch.nn.Sequential(torch.nn.Linear(i, h1), torch.nn.ReLU(), torch.nn.Linear(h1, h2),
                                    torch.nn.ReLU(), torch.nn.Linear(h2, o))
        with torch.no_grad():
            for layer, (W, b) in zip(model[::2], weights):
                layer.weight.copy_(torch.from_numpy(W))
                layer.bias.copy_(torch.from_numpy(b))
        optimizer = torch.optim.SGD(model.parameters(), lr=LR)
        features, targets = torch.from_numpy(x), torch.from_numpy(labels)

        def step():
            loss = torch.nn.functional.cross_entropy(model(features), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss.item()

    elif framework == "jax":  # the whole step under jax.jit, which fuses (only where JAX is installed)
        import jax
        import jax.numpy as jnp

        params = [jnp.asarray(array) for pair in weights for array in pair]
        features, onehot = jnp.asarray(x), jax.nn.one_hot(jnp.asarray(labels), SIZES[-1], dtype=jnp.float32)

        def loss_of(params):
            W1, b1, W2, b2, W3, b3 = params
            a1 = jax.nn.relu(features @ W1.T + b1)
            a2 = jax.nn.relu(a1 @ W2.T + b2)
            return -(jax.nn.log_softmax(a2 @ W3.T + b3) * onehot).sum(axis=1).mean()

        @jax.jit
        def jitted(params):
            loss, grads = jax.value_and_grad(loss_of)(params)
            return loss, [p - LR * g for p, g in zip(params, grads)]

        def step():
            nonlocal params
            loss, params = jitted(params)
            return float(loss)

    elif framework == "numpy":
        import numpy as np

        params = [array.copy() for pair in weights for array in pair]
        onehot = np.eye(SIZES[-1], dtype=np.float32)[labels]

        def step():  # seed 003's way: forward keeping activations, backward by hand, update in place
            W1, b1, W2, b2, W3, b3 = params
            h1 = x @ W1.T + b1
            a1 = np.maximum(h1, 0)
            h2 = a1 @ W2.T + b2
            a2 = np.maximum(h2, 0)
            z = a2 @ W3.T + b3
            z = z - z.max(axis=1, keepdims=True)
            log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            loss = -(log_probs * onehot).sum() / size
            g = (np.exp(log_probs) - onehot) / np.float32(size)
            grads = [None] * 6
            grads[4], grads[5] = g.T @ a2, g.sum(axis=0)
            g = (g @ W3) * (h2 > 0)
            grads[2], grads[3] = g.T @ a1, g.sum(axis=0)
            g = (g @ W2) * (h1 > 0)
            grads[0], grads[1] = g.T @ x, g.sum(axis=0)
            for param, grad in zip(params, grads):
                param -= np.float32(LR) * grad
            return float(loss)

    else:
        raise ValueError(framework)
    return step


def worker(framework: str, size: int, steps: int) -> None:
    step = workload(framework, size)
    baseline = start_peak()  # model, optimizer and batch exist; no step has run
    first_loss = step()
    for _ in range(10):  # warm-up
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak_mb = peak_above(baseline)
    import tracemalloc  # a steady step's own peak, after everything is warm (a compiled trace included)

    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    step()
    steady_mb = (tracemalloc.get_traced_memory()[1] - start) / 2**20
    tracemalloc.stop()
    print(json.dumps({"ms": statistics.median(times) * 1e3, "first_loss": first_loss, "peak_mb": peak_mb,
                      "steady_mb": steady_mb}))


def measure(framework: str, size: int, steps: int, env: dict) -> dict:
    output = subprocess.run([sys.executable, __file__, "--worker", framework, "--batches", str(size),
                             "--steps", str(steps)], check=True, capture_output=True, text=True, env=env)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description="MLP training step: wengert vs PyTorch vs hand-written numpy")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128, 1024])
    parser.add_argument("--malloc", choices=sorted(MALLOC_SETTINGS), default="default")
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.batches[0], args.steps)
    env = {**os.environ, **MALLOC_SETTINGS[args.malloc]}
    print(f"MLP {'-'.join(map(str, SIZES))}, ReLU, cross-entropy, SGD, float32; malloc: {args.malloc}; "
          f"{args.rounds} rounds x {args.steps} steps, frameworks alternating in subprocesses")
    for size in args.batches:
        rounds = []
        for _ in range(args.rounds):
            rounds.append({name: measure(name, size, args.steps, env) for name in FRAMEWORKS})
        losses = {name: rounds[0][name]["first_loss"] for name in rounds[0]}
        assert abs(losses["wengert"] - losses["torch"]) < 1e-4 * abs(losses["torch"]), losses
        assert losses["compiled"] == losses["wengert"], losses
        ratio = {f"{a}/{b}": [r[a]["ms"] / r[b]["ms"] for r in rounds]
                 for a, b in (("wengert", "torch"), ("wengert", "numpy"), ("compiled", "torch"),
                              ("compiled", "wengert"), ("compiled", "numpy"), ("numpy", "torch"), ("jax", "torch"))
                 if a in FRAMEWORKS}
        print(f"\nbatch {size}: per round wengert/torch " + " ".join(f"{v:.2f}" for v in ratio["wengert/torch"])
              + " | compiled/torch " + " ".join(f"{v:.2f}" for v in ratio["compiled/torch"]))
        for name in FRAMEWORKS:
            print(f"  {name:8s} {statistics.median(r[name]['ms'] for r in rounds):8.2f} ms/step   "
                  f"peak memory from the first step {statistics.median(r[name]['peak_mb'] for r in rounds):7.1f} MB"
                  f"   a steady step's {statistics.median(r[name]['steady_mb'] for r in rounds):6.1f} MB")
        print("  median ratios: " + "  ".join(f"{key} {statistics.median(values):.2f}" for key, values in ratio.items())
              + "\n  (eager must: wengert/numpy <= 1.15; compiled must at batch 32 and 128: compiled/torch <= 1.0,"
              " goal 0.75; compiled never slower than eager)")


if __name__ == "__main__":
    main()
