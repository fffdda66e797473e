"""Regression tests for the engine's holes: aliasing, pruning, freeing, per-thread grad mode,
the context object, and the Tensor protocols (numpy arrays, format strings, hooks)."""

import threading
import weakref

import numpy as np
import pytest
import torch

import wengert as wg


def leaf(values, dtype=wg.float64):
    return wg.tensor(np.asarray(values, dtype=float), dtype=dtype, requires_grad=True)


# --- no aliasing after create_graph --------------------------------------------------------

def test_create_graph_gives_each_leaf_its_own_gradient():
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x + y).sum().backward(create_graph=True)  # add hands one gradient to both
    assert x.grad is not y.grad and not np.shares_memory(x.grad.data, y.grad.data)
    (x * 2).sum().backward()  # a later plain backward accumulates into x.grad alone
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    np.testing.assert_allclose(y.grad.numpy(), [1.0, 1.0])


def test_create_graph_never_adopts_the_callers_gradient():
    x = leaf([1.0, 2.0])
    given = wg.tensor([5.0, 7.0], dtype=wg.float64)
    (x + 0).backward(given, create_graph=True)  # add's VJP returns the given gradient itself
    (x * 3).sum().backward()
    np.testing.assert_allclose(given.numpy(), [5.0, 7.0])
    np.testing.assert_allclose(x.grad.numpy(), [8.0, 10.0])


def test_a_read_only_gradient_from_create_graph_can_be_accumulated_into():
    x = leaf([1.0, 2.0, 3.0])
    x.sum().backward(create_graph=True)  # sum's VJP is a read-only broadcast view
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0, 3.0])


# --- autograd.grad walks only what it needs ---------------------------------------------------

def test_grad_does_not_run_or_free_nodes_below_the_requested_input():
    x = leaf([0.5, 1.0])
    hidden = x.exp()  # saves its output: a freed exp node would refuse a second backward
    loss = (hidden * hidden).sum()
    (grad_hidden,) = wg.autograd.grad(loss, hidden)
    np.testing.assert_allclose(grad_hidden.numpy(), 2 * np.exp([0.5, 1.0]))
    assert x.grad is None
    hidden.sum().backward()  # exp's node was neither run nor freed by grad
    np.testing.assert_allclose(x.grad.numpy(), np.exp([0.5, 1.0]))


def test_grad_of_the_same_input_twice():
    x = leaf([1.0, 2.0])
    first, second = wg.autograd.grad((x * x).sum(), [x, x])
    np.testing.assert_allclose(first.numpy(), [2.0, 4.0])
    np.testing.assert_allclose(second.numpy(), [2.0, 4.0])


def test_grad_computes_no_gradient_nobody_asked_for():
    seen = []

    class Product(wg.Function):
        def forward(ctx, a, b):
            ctx.save(a, b)
            return a * b

        def backward(ctx, upstream):
            a, b = ctx.saved
            seen.append(ctx.needs_input_grad)
            need_a, need_b = ctx.needs_input_grad
            return (upstream * b if need_a else None), (upstream * a if need_b else None)

    v, W = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (grad_v,) = wg.autograd.grad(Product.apply(v, W).sum(), v)
    assert seen == [(True, False)]
    np.testing.assert_allclose(grad_v.numpy(), [3.0, 4.0])
    assert v.grad is None and W.grad is None


def test_grad_matches_pytorch_on_a_branching_graph():
    values = np.array([0.3, -1.2, 2.0])
    x, h = leaf(values), None
    h = wg.tanh(x) * x
    out = (h.exp() + h * 3).sum()
    (ours,) = wg.autograd.grad(out, h)
    tx = torch.tensor(values, requires_grad=True)
    th = torch.tanh(tx) * tx
    (theirs,) = torch.autograd.grad((th.exp() + th * 3).sum(), th)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy())


# --- nothing of a step outlives its backward -------------------------------------------------

def test_backward_releases_the_activations_it_saved():
    x = leaf(np.ones(1000))
    hidden = x * 2  # an activation: saved by the multiply below
    loss = (hidden * hidden).sum()
    released = weakref.ref(hidden)
    del hidden
    assert released() is not None  # the graph needs it until backward
    loss.backward()
    assert released() is None  # the caller still holds loss, but not the activation


def test_retain_graph_keeps_saved_values_for_a_second_backward():
    x = leaf([1.0, 2.0])
    loss = (x.exp() * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0]))))
    with pytest.raises(wg.BackwardError, match="second time"):
        loss.backward()


# --- grad mode is per thread ---------------------------------------------------------------

def test_no_grad_in_another_thread_does_not_stop_recording_here():
    inside, release = threading.Event(), threading.Event()

    def evaluate():
        with wg.no_grad():
            inside.set()
            release.wait(10)

    worker = threading.Thread(target=evaluate)
    worker.start()
    try:
        assert inside.wait(10)
        assert wg.is_grad_enabled()
        assert (leaf([1.0]) * 2).requires_grad
    finally:
        release.set()
        worker.join()


def test_a_new_thread_starts_with_grad_enabled():
    results = []
    with wg.no_grad():
        worker = threading.Thread(target=lambda: results.append(wg.is_grad_enabled()))
        worker.start()
        worker.join()
    assert results == [True]


# --- the context object --------------------------------------------------------------------

class ScaleBy(wg.Function):
    """x * s, PyTorch style: save_for_backward, saved_tensors, needs_input_grad in forward."""

    def forward(ctx, x, s):
        ScaleBy.needs = ctx.needs_input_grad
        ctx.save_for_backward(x, s)
        return x * s

    def backward(ctx, upstream):
        x, s = ctx.saved_tensors
        return upstream * s, (upstream * x).sum()


def test_saved_tensors_reads_back_what_save_for_backward_kept():
    x, s = leaf([1.0, 2.0]), leaf(3.0)
    ScaleBy.apply(x, s).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    assert s.grad.item() == pytest.approx(3.0)
    assert ScaleBy.needs == (True, True)


def test_needs_input_grad_has_one_entry_per_input_under_no_grad():
    with wg.no_grad():
        out = ScaleBy.apply(leaf([1.0]), 2.0)
    assert ScaleBy.needs == (False, False) and out.item() == 2.0
    ScaleBy.apply(wg.tensor([1.0]), 2.0)  # nothing requires grad
    assert ScaleBy.needs == (False, False)


# --- tensors as numbers and as numpy arrays ------------------------------------------------

def test_scalar_tensors_format_like_numbers():
    loss = wg.tensor(1.23456)
    assert f"{loss:.3f}" == "1.235" and f"{loss:>8.2f}" == "    1.23"
    assert f"{wg.tensor(3)}" == "3"  # as PyTorch: the number, for an empty format too
    with pytest.raises(TypeError):
        f"{wg.tensor([1.0, 2.0]):.3f}"  # as PyTorch: only 0-d tensors take a number format


def test_numpy_array_protocol_honours_copy():
    t = wg.tensor([1.0, 2.0])
    copied = np.array(t)
    copied[0] = 9.0
    assert t.data[0] == 1.0  # np.array copies
    assert np.shares_memory(np.asarray(t), t.data)  # np.asarray does not
    assert np.array(t, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match="without a copy"):
        np.array(t, dtype=np.float64, copy=False)


# --- hooks -----------------------------------------------------------------------------------

def test_tensor_hooks_see_and_replace_gradients():
    x = leaf([1.0, 2.0])
    hidden = x * 3
    seen = []
    hidden.register_hook(lambda grad: seen.append(grad.numpy().copy()))
    handle = x.register_hook(lambda grad: grad * 10)
    (hidden * hidden).sum().backward()
    np.testing.assert_allclose(seen[0], 2 * 3 * np.array([1.0, 2.0]))
    np.testing.assert_allclose(x.grad.numpy(), 10 * 18 * np.array([1.0, 2.0]))
    handle.remove()
    x.grad = None
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])
    with pytest.raises(wg.BackwardError, match="does not require grad"):
        wg.tensor([1.0]).register_hook(print)


def test_hooks_match_pytorch():
    values = np.array([0.5, -1.0, 2.0])
    x = leaf(values)
    h = x.tanh()
    h.register_hook(lambda grad: grad * grad)
    (h * x).sum().backward()
    tx = torch.tensor(values, requires_grad=True)
    th = tx.tanh()
    th.register_hook(lambda grad: grad * grad)
    (th * tx).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


# --- errors -----------------------------------------------------------------------------------

def test_an_op_error_is_one_traceback_naming_the_op():
    with pytest.raises(wg.OpValueError, match="add") as caught:
        wg.ones(2, 3) + wg.ones(4)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_detect_anomaly_reports_a_nan_made_in_forward_with_its_line():
    x = leaf([-1.0, 1.0])
    with wg.detect_anomaly(), np.errstate(invalid="ignore"):
        with pytest.raises(wg.BackwardError, match=r"log produced NaN.*test_core_hardening.py"):
            wg.log(x)
        with pytest.raises(wg.BackwardError, match="sqrt produced NaN"):
            wg.sqrt(wg.tensor([-1.0]))  # also where nothing requires grad
        assert np.isnan(wg.log(wg.tensor([np.nan])).item())  # a NaN given is not the op's doing


def test_a_complex_value_in_a_computation_that_requires_grad_is_refused_where_it_enters():
    x = wg.tensor([1.0, 2.0], requires_grad=True)
    for make in (lambda: x * 1j, lambda: x + np.array([1j, 2j]), lambda: wg.multiply(x, wg.tensor([1j, 1j]))):
        with pytest.raises(TypeError, match=r"complex value \(complex.*requires grad"):
            make()
    assert (wg.tensor([1.0, 2.0]) * 1j).dtype.kind == "c"  # without a gradient, complex stays numpy's
