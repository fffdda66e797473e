"""Memory over a training run: no growth from step to step, and after backward nothing but the
gradients holds a step's memory, even while the caller keeps the loss (as training loops do)."""

import gc
import tracemalloc

import numpy as np

import wengert as wg
from wengert import nn, optim
from wengert.nn import functional as F

BATCH, FEATURES, HIDDEN, CLASSES = 512, 64, 256, 10


def test_a_thousand_training_steps_hold_no_more_than_parameters_and_gradients():
    rng = np.random.default_rng(0)
    x = wg.tensor(rng.standard_normal((BATCH, FEATURES)).astype(np.float32))
    y = wg.tensor(rng.integers(0, CLASSES, BATCH))
    model = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                          nn.Linear(HIDDEN, CLASSES))
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    parameter_bytes = sum(p.data.nbytes for p in model.parameters())
    activation_bytes = BATCH * HIDDEN * 4  # one hidden layer's activations, float32

    def step():
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    tracemalloc.start()
    try:
        step()  # the optimizer's state and scratch buffers are made on the first step
        optimizer.zero_grad()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        loss = step()  # the caller keeps the loss, and with it the graph's nodes
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
        usage = []
        for index in range(1000):
            loss = step()
            if index in (99, 999):
                gc.collect()  # empties Python's free lists of small objects (tuples...), which only look held
                usage.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert loss.item() < 0.1  # it trained: the steps did real work
    # gradients, plus the graph's bookkeeping, but no activation (each is BATCH x HIDDEN)
    assert retained < parameter_bytes + activation_bytes // 4, (retained, parameter_bytes)
    assert usage[1] - usage[0] < 64 * 1024, usage  # nothing accumulates from step to step
