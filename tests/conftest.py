"""Shared checks: an op's gradient against finite differences and against PyTorch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import settings

import wengert as wg

torch.set_default_dtype(torch.float64)


def random_array(shape: tuple, seed: int = 0, low: float | None = None, high: float | None = None,
                 dtype: Any = np.float64) -> np.ndarray:
    """Normal values, or uniform on [low, high) when bounds are given; spread apart so kinks and
    ties are not hit by accident (finite differences are meaningless there)."""
    rng = np.random.default_rng(seed)
    if low is not None:
        return rng.uniform(low, high, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def compare_with_torch(wg_fn: Callable, torch_fn: Callable, *arrays: Any,
                       requires_grad: Sequence[bool] | None = None, atol: float = 1e-6, rtol: float = 1e-6,
                       seed: int = 0) -> None:
    """Run ``wg_fn`` and ``torch_fn`` on copies of ``arrays``; assert equal outputs and equal
    gradients of sum(v * output) for a random v. Non-array arguments pass through unchanged."""
    if requires_grad is None:
        requires_grad = [isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in arrays]
    wg_inputs = [wg.tensor(a.copy(), requires_grad=r) if isinstance(a, np.ndarray) else a
                 for a, r in zip(arrays, requires_grad)]
    torch_inputs = [torch.tensor(a.copy(), requires_grad=r) if isinstance(a, np.ndarray) else a
                    for a, r in zip(arrays, requires_grad)]
    ours, theirs = wg_fn(*wg_inputs), torch_fn(*torch_inputs)
    ours_list = list(ours) if isinstance(ours, (list, tuple)) else [ours]
    theirs_list = list(theirs) if isinstance(theirs, (list, tuple)) else [theirs]
    assert len(ours_list) == len(theirs_list)
    rng = np.random.default_rng(seed + 1)
    ours_loss = theirs_loss = None
    for out, expected in zip(ours_list, theirs_list):
        expected_array = expected.detach().numpy()
        assert tuple(out.shape) == tuple(expected_array.shape), (out.shape, expected_array.shape)
        np.testing.assert_allclose(np.asarray(out.detach().numpy(), dtype=expected_array.dtype),
                                   expected_array, atol=atol, rtol=rtol, err_msg="forward")
        # A gradient comparison skipped because one side lost the graph would pass anything.
        assert out.requires_grad == expected.requires_grad, ("requires_grad", out.requires_grad,
                                                             expected.requires_grad)
        if out.requires_grad:
            v = rng.standard_normal(expected_array.shape)
            ours_term = (out * wg.tensor(v.astype(out.dtype))).sum()
            theirs_term = (expected * torch.tensor(v, dtype=expected.dtype)).sum()
            ours_loss = ours_term if ours_loss is None else ours_loss + ours_term
            theirs_loss = theirs_term if theirs_loss is None else theirs_loss + theirs_term
    if ours_loss is None:
        return
    ours_loss.backward()
    theirs_loss.backward()
    for index, (mine, reference) in enumerate(zip(wg_inputs, torch_inputs)):
        if not isinstance(mine, wg.Tensor) or not mine.requires_grad:
            continue
        expected = np.zeros(mine.shape) if reference.grad is None else reference.grad.numpy()
        got = np.zeros(mine.shape) if mine.grad is None else mine.grad.numpy()
        assert got.shape == expected.shape, (index, got.shape, expected.shape)
        assert mine.grad is None or mine.grad.dtype == mine.dtype
        np.testing.assert_allclose(got, expected, atol=atol, rtol=rtol, err_msg=f"gradient of input {index}")


def check_gradients(wg_fn: Callable, *arrays: Any, requires_grad: Sequence[bool] | None = None,
                    **tolerances: Any) -> None:
    """``wg.gradcheck`` on float64 tensors made from ``arrays`` (non-arrays pass through)."""
    if requires_grad is None:
        requires_grad = [isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in arrays]
    inputs = [wg.tensor(a.copy(), requires_grad=r) if isinstance(a, np.ndarray) else a
              for a, r in zip(arrays, requires_grad)]
    assert wg.gradcheck(wg_fn, *inputs, **tolerances)


def check_op(wg_fn: Callable, torch_fn: Callable, *arrays: Any, requires_grad: Sequence[bool] | None = None,
             gradcheck: bool = True, atol: float = 1e-6, rtol: float = 1e-6, **tolerances: Any) -> None:
    """Both checks: finite differences and PyTorch."""
    if gradcheck:
        check_gradients(wg_fn, *arrays, requires_grad=requires_grad, **tolerances)
    compare_with_torch(wg_fn, torch_fn, *arrays, requires_grad=requires_grad, atol=atol, rtol=rtol)


settings.register_profile("deterministic", derandomize=True, deadline=None)
settings.load_profile("deterministic")  # the same examples every run: a red CI is reproducible


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Each test starts with grad mode on, anomaly mode off, the default dtype float32, and
    wengert's and PyTorch's generators seeded, so that every run draws the same numbers."""
    wg.manual_seed(0)
    torch.manual_seed(0)
    yield
    wg.core.grad_mode.set_grad_mode(True)
    wg.core.grad_mode._watch.set(None)
    wg.set_default_dtype(wg.float32)
