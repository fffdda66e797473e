"""Per-op overhead against PyTorch, and the memory of a long chain.

Workload (from the core issue): x of shape (16,), float32; 200 times
``y = tanh(y * 1.01 + 0.1)``, then ``sum`` and backward: 600 ops. Each framework
runs in its own subprocess (numpy's and PyTorch's threads would otherwise fight
for the cores), alternating wengert, PyTorch, wengert, PyTorch...; each round
reports the ratio of medians measured in that round, and the summary is the
median of the per-round ratios, because the machine's speed drifts between rounds.

Also measured: the same function through ``wg.compile`` (traced once, replayed as
straight-line code), hand-written numpy forward + backward (the floor for a numpy
engine) and, if installed, HIPS autograd; and a 100,000-op chain whose backward
must complete with memory growing linearly in the chain's length.

Allocator: glibc malloc with its default settings (no MALLOC_* variables are set
here; the arrays are far too small for its trim threshold to matter).

    python benchmarks/overhead.py [--rounds 7] [--repeats 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

OPS = 600  # 200 x (multiply, add, tanh)


def workload(framework: str):
    """A function running forward + backward once, for ``framework``."""
    if framework == "wengert":
        import wengert as wg

        x0 = wg.randn(16)

        def run():
            x = wg.tensor(x0.data, requires_grad=True)
            y = x
            for _ in range(200):
                y = wg.tanh(y * 1.01 + 0.1)
            y.sum().backward()
            return x.grad

    elif framework == "torch":
        import torch

        torch.set_num_threads(1)
        x0 = torch.randn(16)

        def run():
            x = x0.clone().requires_grad_()
            y = x
            for _ in range(200):
                y = torch.tanh(y * 1.01 + 0.1)
            y.sum().backward()
            return x.grad

    elif framework == "compiled":  # wg.compile: traced once, replayed as straight-line code
        import wengert as wg

        x0 = wg.randn(16)

        @wg.compile
        def chain(x):
            y = x
            for _ in range(200):
                y = wg.tanh(y * 1.01 + 0.1)
            return y.sum()

        def run():
            x = wg.tensor(x0.data, requires_grad=True)
            chain(x).backward()
            return x.grad

    elif framework == "numpy":
        import numpy as np

        x0 = np.random.default_rng(0).standard_normal(16).astype(np.float32)

        def run():  # the floor: forward keeps each tanh output, backward applies the chain rule by hand
            outputs, y = [], x0
            for _ in range(200):
                y = np.tanh(y * np.float32(1.01) + np.float32(0.1))
                outputs.append(y)
            grad = np.ones_like(y)
            for y in reversed(outputs):
                grad = grad * (1 - y * y) * np.float32(1.01)
            return grad

    elif framework == "autograd":
        import autograd.numpy as anp
        from autograd import grad as autograd_grad

        x0 = anp.array(__import__("numpy").random.default_rng(0).standard_normal(16), dtype="float32")

        def loss(x):
            y = x
            for _ in range(200):
                y = anp.tanh(y * 1.01 + 0.1)
            return anp.sum(y)

        gradient = autograd_grad(loss)

        def run():
            return gradient(x0)

    else:
        raise ValueError(framework)
    return run


def worker(framework: str, repeats: int) -> None:
    run = workload(framework)
    for _ in range(20):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    print(json.dumps({"us_per_op": statistics.median(times) / OPS * 1e6}))


def chain_worker(length: int) -> None:
    """Peak traced memory of a chain's forward + backward, per op."""
    import tracemalloc

    import wengert as wg

    tracemalloc.start()
    x = wg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(length):
        y = y * 1.0
    held = tracemalloc.get_traced_memory()[0]
    y.backward()
    peak = tracemalloc.get_traced_memory()[1]
    assert x.grad.item() == 1.0
    print(json.dumps({"graph_bytes_per_op": held / length, "peak_bytes_per_op": peak / length}))


def measure(*arguments: str) -> dict:
    output = subprocess.run([sys.executable, __file__, *arguments], check=True, capture_output=True, text=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def available(module: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description="per-op overhead of wengert against PyTorch")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--worker")
    parser.add_argument("--chain", type=int)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.repeats)
    if args.chain:
        return chain_worker(args.chain)

    others = ["compiled", "numpy"] + (["autograd"] if available("autograd") else [])
    print(f"per-op overhead: 200 x tanh(y * 1.01 + 0.1) on float32 (16,), sum, backward ({OPS} ops)")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, glibc malloc defaults; "
          "each framework in its own subprocess, alternating")
    ratios: dict[str, list[float]] = {name: [] for name in ["wengert", *others]}
    for round_number in range(args.rounds):
        times = {}
        for name in ["wengert", "torch", *others]:  # wengert and PyTorch back to back: their ratio is paired
            times[name] = measure("--worker", name, "--repeats", str(args.repeats))["us_per_op"]
        for name in ratios:
            ratios[name].append(times[name] / times["torch"])
        print(f"round {round_number + 1}: " + ", ".join(f"{name} {us:.2f} us/op" for name, us in times.items())
              + f"  -> wengert/torch {ratios['wengert'][-1]:.2f}")
    print("median ratio to PyTorch (per-round pairs): " +
          ", ".join(f"{name} {statistics.median(values):.2f}x" for name, values in ratios.items()))
    verdict = statistics.median(ratios["wengert"])
    print(f"eager: must <= 1.5x: {'yes' if verdict <= 1.5 else 'NO'}; "
          f"goal <= 1.0x: {'yes' if verdict <= 1.0 else 'no'}")
    compiled = statistics.median(ratios["compiled"])
    print(f"compiled (rounds {min(ratios['compiled']):.2f}-{max(ratios['compiled']):.2f}): "
          f"must <= 0.5x: {'yes' if compiled <= 0.5 else 'NO'}; goal <= 0.25x: {'yes' if compiled <= 0.25 else 'no'}")

    print("\nchain of y = y * 1.0, forward + backward, memory per op (tracemalloc):")
    for length in (25_000, 50_000, 100_000):
        result = measure("--chain", str(length))
        print(f"  {length:>7} ops: graph {result['graph_bytes_per_op']:.0f} B/op, "
              f"peak {result['peak_bytes_per_op']:.0f} B/op")


if __name__ == "__main__":
    main()
