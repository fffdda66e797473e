"""Every path in nn and optim that writes into a tensor's array in place counts the write
(``bump_version``), so that a graph that saved the old values refuses to backpropagate instead of
giving a silently wrong gradient. One case per path; each is also run without the write, where the
same graph must backpropagate to the hand-computed gradient."""

import inspect

import numpy as np
import pytest
from conftest import random_array

import wengert as wg
from wengert import nn, optim
from wengert.nn import init
from wengert.nn.utils import clip_grad_norm_

# --- writes into a parameter's array, which Linear's graph saved --------------------------------

INIT_CALLS = {
    "uniform_": lambda p: init.uniform_(p, -1.0, 1.0),
    "normal_": lambda p: init.normal_(p),
    "constant_": lambda p: init.constant_(p, 0.5),
    "zeros_": init.zeros_,
    "ones_": init.ones_,
    "xavier_uniform_": init.xavier_uniform_,
    "xavier_normal_": init.xavier_normal_,
    "kaiming_uniform_": init.kaiming_uniform_,
    "kaiming_normal_": init.kaiming_normal_,
}

OPTIMIZERS = {
    "SGD": lambda params: optim.SGD(params, lr=0.1),
    "SGD-momentum": lambda params: optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True),
    "Adam": lambda params: optim.Adam(params, lr=0.1),
    "AdamW": lambda params: optim.AdamW(params, lr=0.1),
    "RMSprop": lambda params: optim.RMSprop(params, lr=0.1),
    "Adagrad": lambda params: optim.Adagrad(params, lr=0.1),
}


def optimizer_step(make):
    def step(layer):
        optimizer = make(layer.parameters())
        for p in layer.parameters():
            p.grad = wg.ones_like(p)
        optimizer.step()
    return step


def load_other_values(layer):
    result = layer.load_state_dict({key: value.numpy() + 1.0 for key, value in layer.state_dict().items()})
    assert result == ([], [])


def on_weight(call):
    return lambda layer: call(layer.weight)


PARAMETER_WRITES = {
    **{f"init.{name}": on_weight(call) for name, call in INIT_CALLS.items()},
    "Linear.reset_parameters": lambda layer: layer.reset_parameters(),
    "Module.load_state_dict": load_other_values,
    "Module.to": lambda layer: layer.to(wg.float64),
    **{f"{name}.step": optimizer_step(make) for name, make in OPTIMIZERS.items()},
}


@pytest.mark.parametrize("write", [True, False], ids=["written", "untouched"])
@pytest.mark.parametrize("path", PARAMETER_WRITES.values(), ids=PARAMETER_WRITES.keys())
def test_a_write_into_a_saved_parameter_stops_backward(path, write):
    layer = nn.Linear(3, 2)
    x = wg.tensor(random_array((4, 3), dtype=np.float32), requires_grad=True)
    weight_before = layer.weight.detach().numpy().copy()
    y = layer(x)
    loss = (y**2).sum()
    if write:
        path(layer)
        with pytest.raises(wg.BackwardError, match="modified in place"):
            loss.backward()
        assert x.grad is None
    else:
        loss.backward()
        expected = 2 * y.detach().numpy() @ weight_before  # d/dx sum((x W^T + b)^2)
        np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-5)


# --- writes into a gradient's array, which a graph saved (say, a gradient penalty) ---------------

def module_zero_grad(layer, parameters):
    layer.zero_grad(set_to_none=False)


def optimizer_zero_grad(layer, parameters):
    optim.SGD(parameters, lr=0.1).zero_grad(set_to_none=False)


def clip(layer, parameters):
    norm = clip_grad_norm_(parameters, max_norm=1e-3)
    assert norm > 1e-3  # so that clipping writes


GRAD_WRITES = {
    "Module.zero_grad": module_zero_grad,
    "Optimizer.zero_grad": optimizer_zero_grad,
    "clip_grad_norm_": clip,
}


@pytest.mark.parametrize("write", [True, False], ids=["written", "untouched"])
@pytest.mark.parametrize("path", GRAD_WRITES.values(), ids=GRAD_WRITES.keys())
def test_a_write_into_a_saved_gradient_stops_backward(path, write):
    layer = nn.Linear(3, 2)
    (layer(wg.tensor(random_array((4, 3), dtype=np.float32))) ** 2).sum().backward()
    grad = layer.weight.grad
    grad_before = grad.numpy().copy()
    scale = wg.tensor(random_array((2, 3), seed=1, dtype=np.float32), requires_grad=True)
    penalty = (grad * scale).sum()  # saves the gradient's array
    if write:
        path(layer, list(layer.parameters()))
        with pytest.raises(wg.BackwardError, match="modified in place"):
            penalty.backward()
        assert scale.grad is None
    else:
        penalty.backward()
        np.testing.assert_allclose(scale.grad.numpy(), grad_before)


# --- the lists above are complete -----------------------------------------------------------------

def test_every_initializer_and_every_optimizer_is_enumerated():
    initializers = {name for name, value in vars(init).items()
                    if name.endswith("_") and not name.startswith("_") and inspect.isfunction(value)}
    assert {getattr(init, name).__name__ for name in initializers} == set(INIT_CALLS)  # aliases count once
    optimizers = {name for name in optim.__all__
                  if inspect.isclass(getattr(optim, name)) and getattr(optim, name) is not optim.Optimizer}
    assert optimizers <= {name.split("-")[0] for name in OPTIMIZERS}



# --- the tensor's own in-place operations, and views that share its count --------------------------

def with_no_grad(write):
    def run(tensor):
        with wg.no_grad():  # in place on a tensor that requires grad is refused while recording
            write(tensor)
    return run


def setitem(tensor):
    tensor[0] = 5.0


TENSOR_WRITES = {
    "+=": lambda t: t.__iadd__(1.0),
    "-=": lambda t: t.__isub__(1.0),
    "*=": lambda t: t.__imul__(2.0),
    "/=": lambda t: t.__itruediv__(2.0),
    "__setitem__": setitem,
    "copy_": lambda t: t.copy_(wg.ones_like(t)),
    "fill_": lambda t: t.fill_(0.5),
    "zero_": lambda t: t.zero_(),
}
WRITTEN_THROUGH = {  # the same writes, into the tensor itself, or into a view of it
    "itself": lambda t: t,
    "basic index": lambda t: t[1:],
    "numpy integer index": lambda t: t.reshape(1, 3)[np.int64(0)],
    "reshape": lambda t: t.reshape(3, 1),
    "detach": lambda t: t.detach(),
}


@pytest.mark.parametrize("write", [True, False], ids=["written", "untouched"])
@pytest.mark.parametrize("through", WRITTEN_THROUGH.values(), ids=WRITTEN_THROUGH.keys())
@pytest.mark.parametrize("operation", TENSOR_WRITES.values(), ids=TENSOR_WRITES.keys())
def test_an_in_place_tensor_operation_on_a_saved_tensor_stops_backward(operation, through, write):
    x = wg.tensor([1.0, 2.0, 3.0], dtype=wg.float64, requires_grad=True)
    w = wg.tensor([5.0, 7.0, 9.0], dtype=wg.float64, requires_grad=True)
    loss = (x * w).sum()  # saves both arrays
    if write:
        with_no_grad(operation)(through(w))
        with pytest.raises(wg.BackwardError, match="modified in place"):
            loss.backward()
    else:
        loss.backward()
        np.testing.assert_allclose(x.grad.numpy(), [5.0, 7.0, 9.0])


def test_a_numpy_integer_index_is_a_view_sharing_the_count():
    # The case: X[np.int64(0)] was recorded as a copy with a count of its own, so a write
    # into it went unnoticed by a graph that saved X: W's gradient came out [105, 107, 109].
    X = wg.tensor([[1.0, 2.0, 3.0]], dtype=wg.float64, requires_grad=True)
    W = wg.tensor([5.0, 7.0, 9.0], dtype=wg.float64, requires_grad=True)
    loss = (X * W).sum()  # saves X
    row = X[np.int64(0)]
    assert np.shares_memory(row.data, X.data)
    with wg.no_grad():
        row += 100.0
    with pytest.raises(wg.BackwardError, match="modified in place"):
        loss.backward()
