"""The backward engine: seeding, summing at branches, accumulation, freeing, versions, anomalies."""

import sys
import weakref

import numpy as np
import pytest
import torch

import wengert as wg


def leaf(values, dtype=wg.float64):
    return wg.tensor(np.asarray(values, dtype=float), dtype=dtype, requires_grad=True)


def test_gradients_accumulate_over_backward_calls_until_zeroed():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 + 2 * np.array([1.0, 2.0]))
    x.grad.zero_()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    x.grad = None
    (x * 5).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 5.0])


def test_two_leaves_fed_the_same_gradient_do_not_share_it():
    # add passes one upstream array to both inputs; accumulating into one must not touch the other
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x + y).sum().backward()
    assert not np.shares_memory(x.grad.numpy(), y.grad.numpy())
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    np.testing.assert_allclose(y.grad.numpy(), [1.0, 1.0])


def test_leaf_gradient_does_not_alias_other_arrays():
    x = leaf([1.0, 2.0])
    y = x.reshape(2, 1)  # reshape's VJP returns a view of its upstream gradient
    (y * 2).sum().backward()
    before = x.grad.numpy().copy()
    (y * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * before)


def test_a_fresh_leaf_gradient_is_kept_without_a_copy_and_a_shared_one_is_copied():
    # Copying every parameter's gradient would cost a full pass over the model each step.
    returned = []

    class Scale(wg.Function):
        def forward(ctx, x):
            return x * 2

        def backward(ctx, upstream):
            grad = upstream * 2
            returned.append(weakref.ref(grad))  # a weak reference: holding it would force a copy
            return grad

    x = leaf([1.0, 2.0])
    Scale.apply(x).sum().backward()
    assert x.grad.data is returned[0]()
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()  # add hands the same upstream array to both
    assert not np.shares_memory(a.grad.data, b.grad.data)
    (a + b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [2.0, 2.0])
    np.testing.assert_allclose(b.grad.numpy(), [2.0, 2.0])


def test_gradient_has_the_shape_and_dtype_of_its_tensor():
    x = wg.randn(3, 1, requires_grad=True)  # float32
    b = wg.randn(4, requires_grad=True)
    (x * b).tanh().sum().backward()
    assert (x.grad.shape, x.grad.dtype) == ((3, 1), wg.float32)
    assert (b.grad.shape, b.grad.dtype) == ((4,), wg.float32)
    assert not x.grad.requires_grad


def test_mixed_precision_gradients_are_cast_back():
    x32, x64 = wg.randn(3, requires_grad=True), wg.randn(3, dtype=wg.float64, requires_grad=True)
    (x32 * x64).sum().backward()
    assert x32.grad.dtype == wg.float32 and x64.grad.dtype == wg.float64
    np.testing.assert_allclose(x32.grad.numpy(), x64.detach().numpy(), rtol=1e-6)


def test_backward_needs_a_gradient_for_a_non_scalar():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(wg.BackwardError, match=r"one-element.*shape \(2,\).*test_backward.py"):
        y.backward()
    with pytest.raises(wg.BackwardError, match=r"gradient of shape \(3,\)"):
        y.backward(wg.ones(3, dtype=wg.float64))


def test_backward_with_an_explicit_gradient():
    x = leaf([1.0, 2.0, 3.0])
    (x * x).backward(wg.tensor([1.0, 0.0, -1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, -6.0])


def test_one_element_tensors_backward_without_a_gradient():
    x = leaf([[2.0]])
    (x * x).backward()  # shape (1, 1), like PyTorch's numel() == 1 rule
    assert x.grad.item() == 4.0


def test_backward_of_a_tensor_that_needs_no_grad_is_an_error():
    with pytest.raises(wg.BackwardError, match="does not require grad"):
        (wg.ones(2) * 2).sum().backward()


def test_graph_is_freed_after_backward_unless_retained():
    x = leaf([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])
    with pytest.raises(wg.BackwardError, match=r"multiply node a second time.*retain_graph=True"):
        loss.backward()


def test_nodes_that_saved_nothing_can_be_traversed_again():
    x = leaf([1.0])
    y = x + 1  # add saves nothing, as in PyTorch this graph survives backward
    y.sum().backward()
    y.sum().backward()
    assert x.grad.item() == 2.0


def test_a_chain_of_100000_ops():
    x = wg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0
    assert sys.getrecursionlimit() < 100_000  # so the engine cannot be recursing


def test_only_branches_that_lead_to_the_loss_are_visited():
    x, unused = leaf([1.0]), leaf([2.0])
    _ = unused * 3
    (x * 2).sum().backward()
    assert unused.grad is None and x.grad.item() == 2.0


def test_retain_grad_keeps_an_intermediate_gradient():
    x = leaf([1.0, -2.0])
    hidden = x * 3
    hidden.retain_grad()
    (hidden * hidden).sum().backward()
    np.testing.assert_allclose(hidden.grad.numpy(), 2 * hidden.detach().numpy())
    x2 = leaf([1.0])
    middle = x2 * 2
    (middle * 5).sum().backward()
    assert middle.grad is None  # not retained


def test_no_grad_records_nothing():
    x = leaf([1.0])
    with wg.no_grad():
        y = x * 2
    assert y.node is None and not y.requires_grad

    @wg.no_grad()
    def double(t):
        return t * 2

    assert double(x).node is None
    with wg.no_grad(), wg.enable_grad():
        assert (x * 2).requires_grad
    with wg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert wg.is_grad_enabled()


def test_ops_without_grad_inputs_make_no_node():
    y = wg.ones(3) * 2 + 1
    assert y.node is None and not y.requires_grad and y.is_leaf


def test_detach_and_requires_grad_():
    x = leaf([1.0, 2.0])
    y = (x * 2).detach()
    assert not y.requires_grad and y.node is None
    z = wg.tensor([1.0]).requires_grad_()
    assert z.requires_grad
    with pytest.raises(wg.OpTypeError, match="floating"):
        wg.tensor([1, 2]).requires_grad_()
    with pytest.raises(wg.OpTypeError, match="floating"):
        wg.tensor([1, 2], requires_grad=True)


def test_autograd_grad_returns_gradients_without_touching_dot_grad():
    x, y = leaf([1.0, 2.0]), leaf([3.0])
    loss = (x * y).sum()
    gx, gy = wg.autograd.grad(loss, [x, y])
    np.testing.assert_allclose(gx.numpy(), [3.0, 3.0])
    np.testing.assert_allclose(gy.numpy(), [3.0])
    assert x.grad is None and y.grad is None


# --- in-place changes -------------------------------------------------------------------

def test_in_place_on_a_tensor_that_requires_grad_is_refused():
    x = leaf([1.0])
    with pytest.raises(wg.BackwardError, match=r"in-place.*test_backward.py"):
        x += 1
    with wg.no_grad():
        x -= 1
    assert x.item() == 0.0


def test_modifying_a_saved_input_in_place_is_caught_at_backward():
    x, w = leaf([1.0, 2.0]), wg.tensor([3.0, 4.0])
    y = (x * w).sum()  # multiply saved w
    w += 1
    with pytest.raises(wg.BackwardError, match=r"multiply.*modified in place"):
        y.backward()


def test_modifying_a_view_of_a_saved_input_is_caught():
    x, w = leaf([1.0, 2.0]), wg.tensor([3.0, 4.0])
    view = w.reshape(2, 1)
    y = (x * w).sum()
    view[0, 0] = 10.0
    with pytest.raises(wg.BackwardError, match="modified in place"):
        y.backward()


def test_modifying_a_saved_output_is_caught():
    x = leaf([1.0, 2.0])
    y = x.exp()  # exp saves its output
    with wg.no_grad():
        y *= 2
    with pytest.raises(wg.BackwardError, match=r"exp: its output.*modified in place"):
        y.sum().backward()


def test_in_place_changes_to_unsaved_tensors_are_fine():
    x, w = leaf([1.0, 2.0]), wg.tensor([3.0, 4.0])
    y = (x + w).sum()  # add saves nothing
    w += 1
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_parameter_update_between_steps_under_no_grad():
    W = leaf([[1.0, 2.0]])
    for _ in range(3):
        loss = (W * W).sum()
        loss.backward()
        with wg.no_grad():
            W -= 0.1 * W.grad
        W.grad = None
    np.testing.assert_allclose(W.detach().numpy(), np.array([[1.0, 2.0]]) * 0.8 ** 3)


# --- anomaly mode ------------------------------------------------------------------------

def test_detect_anomaly_names_the_op_and_the_line():
    x = leaf([0.0, 1.0])
    with wg.detect_anomaly(), np.errstate(divide="ignore"):
        y = wg.sqrt(x)  # sqrt'(0) = inf
        with pytest.raises(wg.BackwardError, match=r"sqrt produced NaN or inf.*test_backward.py"):
            y.sum().backward()


def test_without_anomaly_mode_nan_gradients_pass_silently():
    x = leaf([0.0, 1.0])
    with np.errstate(divide="ignore"):
        wg.sqrt(x).sum().backward()
    assert np.isinf(x.grad.numpy()[0])


# --- higher order --------------------------------------------------------------------------

def test_second_derivative_of_a_cube():
    x = leaf(2.0)
    (first,) = wg.autograd.grad(x ** 3, x, create_graph=True)
    (second,) = wg.autograd.grad(first, x)
    assert first.item() == pytest.approx(12.0) and second.item() == pytest.approx(12.0)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "exp", "log", "softmax", "matmul", "max", "getitem",
                                  "divide", "logsumexp", "gelu"])
def test_hessian_vector_products_match_pytorch(name):
    rng = np.random.default_rng(3)
    x_value, w_value, v_value = rng.uniform(0.5, 1.5, (3, 4)), rng.standard_normal((4, 2)), rng.standard_normal((3, 4))
    functions = {
        "tanh": (lambda x: x.tanh(), torch.tanh), "sigmoid": (wg.sigmoid, torch.sigmoid),
        "exp": (wg.exp, torch.exp), "log": (wg.log, torch.log),
        "softmax": (lambda x: wg.softmax(x, axis=1), lambda x: torch.softmax(x, 1)),
        "matmul": (lambda x: (x @ wg.tensor(w_value)) ** 2, lambda x: (x @ torch.tensor(w_value)) ** 2),
        "max": (lambda x: (x * x).max(axis=0), lambda x: (x * x).amax(0)),
        "getitem": (lambda x: x[[0, 0, 2], 1:] ** 3, lambda x: x[[0, 0, 2], 1:] ** 3),
        "divide": (lambda x: 1 / x, lambda x: 1 / x),
        "logsumexp": (lambda x: wg.logsumexp(x * x, axis=1), lambda x: torch.logsumexp(x * x, 1)),
        "gelu": (wg.gelu, torch.nn.functional.gelu),
    }
    ours, theirs = functions[name]
    x = wg.tensor(x_value, requires_grad=True)
    (first,) = wg.autograd.grad(ours(x).sum(), x, create_graph=True)
    (first * wg.tensor(v_value)).sum().backward()
    xt = torch.tensor(x_value, requires_grad=True)
    (first_t,) = torch.autograd.grad(theirs(xt).sum(), xt, create_graph=True)
    (first_t * torch.tensor(v_value)).sum().backward()
    np.testing.assert_allclose(first.detach().numpy(), first_t.detach().numpy(), atol=1e-9)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), atol=1e-8)


# --- custom ops ------------------------------------------------------------------------------

class Cube(wg.Function):
    def forward(ctx, x):
        ctx.save(x)
        return x * x * x

    def backward(ctx, upstream):
        (x,) = ctx.saved
        return 3 * upstream * x * x


class ScaledAdd(wg.Function):
    """a + scale * b, with the scale a constant keyword; skips unneeded gradients."""

    calls = []

    def forward(ctx, a, b, scale=1.0):
        ctx.save(scale)
        return a + scale * b

    def backward(ctx, upstream):
        (scale,) = ctx.saved
        ScaledAdd.calls.append(ctx.needs_input_grad)
        return upstream, upstream * scale if ctx.needs_input_grad[1] else None


def test_custom_op_composes_and_passes_gradcheck():
    x = leaf([0.5, -1.0, 2.0])
    assert wg.gradcheck(lambda t: Cube.apply(t.tanh()) * 2, x)
    y = wg.tensor([1.0, 2.0], dtype=wg.float64)
    assert wg.gradcheck(lambda a, b: ScaledAdd.apply(a, b, scale=3.0), leaf([1.0, 2.0]), y)
    assert ScaledAdd.calls[-1] == (True, False)


class WrongShape(wg.Function):
    def forward(ctx, x):
        return x.sum()

    def backward(ctx, upstream):
        return upstream  # forgot to broadcast back to x's shape


class WrongDtype(wg.Function):
    def forward(ctx, x):
        return x * 2

    def backward(ctx, upstream):
        return (upstream * 2).astype("float32")


class WrongCount(wg.Function):
    def forward(ctx, x):
        return x * 2

    def backward(ctx, upstream):
        return upstream, upstream


@pytest.mark.parametrize("op, message", [
    (WrongShape, r"backward of wrongshape returned a gradient of shape \(\)"),
    (WrongDtype, "backward of wrongdtype returned a gradient.*dtype float32.*float64"),
    (WrongCount, "wrongcount returned 2 gradients for 1 inputs"),
])
def test_a_custom_op_with_a_wrong_gradient_is_named(op, message):
    x = leaf([1.0, 2.0])
    with pytest.raises(wg.BackwardError, match=message):
        op.apply(x).sum().backward()


def test_custom_op_errors_in_forward_name_the_op_and_call_site():
    class Broken(wg.Function):
        def forward(ctx, a, b):
            return a @ b

    with pytest.raises(ValueError, match=r"(?s)broken:.*\(2, 3\).*\(2, 3\).*test_backward.py"):
        Broken.apply(wg.ones(2, 3), wg.ones(2, 3))


def test_queued_callback_runs_after_grads_are_accumulated():
    from wengert.core.backward import queue_callback

    w = wg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    w.register_hook(lambda grad: queue_callback(lambda: seen.append(w.grad.numpy().copy())))
    (w * w).sum().backward()
    assert len(seen) == 1 and np.array_equal(seen[0], [2.0, 4.0])
    (w * 3.0).sum().backward()  # a second walk queues afresh; the first's callback does not run again
    assert len(seen) == 2 and np.array_equal(seen[1], [5.0, 7.0])


def test_a_failed_walk_drops_its_queued_callbacks():
    from wengert.core import backward as engine

    w = wg.tensor([1.0, 2.0], requires_grad=True)
    seen = []

    def hook(grad):
        engine.queue_callback(lambda: seen.append(1))
        raise RuntimeError("hook failed")

    w.register_hook(hook)
    with pytest.raises(RuntimeError, match="hook failed"):
        (w * w).sum().backward()
    assert seen == [] and engine._callbacks == [] and w.grad is None
