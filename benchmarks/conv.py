"""Convolutional training steps against PyTorch: LeNet-5 and a small ResNet.

Workloads (from the convolutional-networks issue): a LeNet-5 training step (SGD with momentum,
cross-entropy) on a batch of 64 images 1x28x28 float32, and the ResNet step (wengert.models'
default: widths 16-32-64, one BasicBlock each) on a batch of 32. The same initial weights (drawn
by wengert, copied into PyTorch) and the same batch in every framework.

Frameworks: wengert eager, wengert with the whole step compiled (``wg.compile``; batch norm's
running statistics replay as effects in their place), PyTorch eager.
Each runs in its own subprocess with its default threads, alternating wengert, compiled, PyTorch,
wengert...; each round reports the ratio of medians in that round, and the summary is the median
of the per-round ratios. Memory: the peak resident memory above the baseline taken once the
model, optimizer and batch exist, from the first step on (peak reset through /proc/self/clear_refs).

Allocator: glibc malloc. ``--malloc default``: as each framework sets it up, which for wengert means
that importing it raised glibc's mmap and trim thresholds (``mallopt``; ``core.backend.keep_freed_memory``)
so that freed large arrays stay in the heap for the next step, and PyTorch's and numpy's processes have
glibc's defaults. ``--malloc system``: glibc's defaults for every framework (WENGERT_MALLOC=system).
``--malloc tuned``: MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ raised for every framework alike.

    python benchmarks/conv.py [--rounds 9] [--steps 10] [--models lenet5 resnet] [--malloc default|system|tuned]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from resident import MALLOC_SETTINGS, peak_above, start_peak

BATCH = {"lenet5": 64, "resnet": 32}
FRAMEWORKS = ("wengert", "compiled", "torch")


def wengert_model(name: str):
    import wengert as wg

    wg.manual_seed(0)
    return wg.models.MODELS[name](num_classes=10, image_size=28)


def batch(size: int):
    import numpy as np

    rng = np.random.default_rng(1)
    return rng.standard_normal((size, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, size)


def workload(framework: str, name: str):
    """A function doing one training step for ``framework``, returning the loss."""
    model = wengert_model(name)
    x, labels = batch(BATCH[name])
    if framework in ("wengert", "compiled"):
        import wengert as wg
        import wengert.nn.functional as F
        from wengert import optim

        optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        features, targets = wg.tensor(x), wg.tensor(labels)

        def train_step(x, y):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss

        train_step = wg.compile(train_step) if framework == "compiled" else train_step
        return lambda: train_step(features, targets).item()
    import torch

    torch_model = torch_twin(name, model)
    optimizer = torch.optim.SGD(torch_model.parameters(), lr=0.01, momentum=0.9)
    features, targets = torch.from_numpy(x), torch.from_numpy(labels)

    def step():
        loss = torch.nn.functional.cross_entropy(torch_model(features), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def torch_twin(name: str, model):
    """The same architecture in PyTorch, with ``model``'s weights and buffers."""
    import torch
    from torch import nn

    if name == "lenet5":
        twin = nn.Sequential(nn.Identity(),  # wengert's models start with Images (no parameters): keys align
                             nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    else:
        class Block(nn.Module):
            def __init__(self, cin, cout, stride):
                super().__init__()
                self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(cout)
                self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
                self.bn2 = nn.BatchNorm2d(cout)
                self.relu = nn.ReLU()
                self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                                 if stride != 1 or cin != cout else nn.Identity())

            def forward(self, x):
                return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + self.shortcut(x))

        twin = nn.Sequential(nn.Identity(), nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                             Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    state = {key: torch.from_numpy(value.numpy().copy()) for key, value in model.state_dict().items()}
    twin.load_state_dict(state)
    return twin


def worker(framework: str, name: str, steps: int) -> None:
    step = workload(framework, name)
    baseline = start_peak()
    first_loss = step()
    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(json.dumps({"ms": statistics.median(times) * 1e3, "first_loss": first_loss,
                      "peak_mb": peak_above(baseline)}))


def measure(framework: str, name: str, steps: int, env: dict) -> dict:
    output = subprocess.run([sys.executable, __file__, "--worker", framework, "--models", name, "--steps", str(steps)],
                            check=True, capture_output=True, text=True, env=env)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description="convolutional training steps: wengert vs PyTorch")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--models", nargs="+", default=["lenet5", "resnet"], choices=sorted(BATCH))
    parser.add_argument("--malloc", choices=sorted(MALLOC_SETTINGS), default="default")
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.models[0], args.steps)
    env = {**os.environ, **MALLOC_SETTINGS[args.malloc]}
    print(f"malloc: {args.malloc}; {args.rounds} rounds x {args.steps} steps, frameworks alternating in subprocesses")
    for name in args.models:
        frameworks = FRAMEWORKS
        rounds = [{framework: measure(framework, name, args.steps, env) for framework in frameworks}
                  for _ in range(args.rounds)]
        losses = {framework: rounds[0][framework]["first_loss"] for framework in frameworks}
        assert abs(losses["wengert"] - losses["torch"]) < 1e-4 * abs(losses["torch"]), losses
        ratios = {f"{a}/{b}": [r[a]["ms"] / r[b]["ms"] for r in rounds]
                  for a, b in (("wengert", "torch"), ("compiled", "torch"), ("compiled", "wengert"))
                  if a in frameworks}
        print(f"\n{name}, batch {BATCH[name]}, 1x28x28 float32, SGD momentum:")
        for framework in frameworks:
            print(f"  {framework:8s} {statistics.median(r[framework]['ms'] for r in rounds):8.2f} ms/step   peak "
                  f"memory from the first step {statistics.median(r[framework]['peak_mb'] for r in rounds):7.1f} MB")
        summary = [f"{key} {statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"
                   for key, values in ratios.items()]
        print("  median ratios: " + "  ".join(summary)
              + "\n  (LeNet-5: must <= 2.5x PyTorch eager, goal <= 1.5x; peak memory <= 2x PyTorch's)")


if __name__ == "__main__":
    main()
