"""The functional API (wengert.func): grad, value_and_grad, vjp, jvp, jacobian (jacrev, jacfwd),
hessian, hvp, elementwise_grad, against torch.func / torch.autograd.functional and by hand, on
functions of several and of nested arguments, composed in every order of the two modes."""

import numpy as np
import pytest
import torch
from conftest import random_array

import wengert as wg
import wengert.nn.functional as F
from wengert.func import TransformError, tree_flatten, tree_unflatten


def to_torch(array):
    return torch.tensor(np.asarray(array), dtype=torch.float64)


def close(ours, theirs, rtol=1e-10, atol=1e-12):
    ours = ours.detach().numpy() if isinstance(ours, wg.Tensor) else np.asarray(ours)
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


# --- pytrees ----------------------------------------------------------------------------------

def test_trees_flatten_and_rebuild():
    from collections import namedtuple

    Pair = namedtuple("Pair", "first second")
    tree = {"a": [1, (2, 3)], "b": Pair(4, {"c": 5}), "d": 6}
    leaves, spec = tree_flatten(tree)
    assert leaves == [1, 2, 3, 4, 5, 6]
    rebuilt = tree_unflatten(spec, [leaf * 10 for leaf in leaves])
    assert rebuilt == {"a": [10, (20, 30)], "b": Pair(40, {"c": 50}), "d": 60}
    assert isinstance(rebuilt["b"], Pair) and isinstance(rebuilt["a"], list)
    with pytest.raises(TransformError, match="fewer leaves"):
        tree_unflatten(spec, [1, 2])
    with pytest.raises(TransformError, match="more leaves"):
        tree_unflatten(spec, list(range(7)))


# --- grad -------------------------------------------------------------------------------------

def f_two(x, y):
    return wg.sum(wg.sin(x) * y + wg.exp(y) / (1.0 + x * x))


def t_two(x, y):
    return torch.sum(torch.sin(x) * y + torch.exp(y) / (1.0 + x * x))


def test_grad_of_several_arguments_matches_torch_func():
    x, y = random_array((3, 4), 0), random_array((4,), 1)
    gx, gy = wg.grad(f_two, argnums=(0, 1))(x, y)
    tx, ty = torch.func.grad(t_two, argnums=(0, 1))(to_torch(x), to_torch(y))
    close(gx, tx)
    close(gy, ty)
    close(wg.grad(f_two, argnums=1)(x, y), ty)
    close(wg.grad(f_two, argnums=-1)(x, y), ty)
    assert gx.shape == (3, 4) and gy.shape == (4,)


def test_arrays_in_give_arrays_out_and_tensors_in_give_tensors_out():
    gradient = wg.grad(lambda x: x * x)(3.0)
    assert isinstance(gradient, np.ndarray) and gradient.dtype == np.float64 and gradient == 6.0
    x32 = np.array([1.0, 2.0], np.float32)
    gradient = wg.grad(lambda x: wg.sum(x * x))(x32)
    assert isinstance(gradient, np.ndarray) and gradient.dtype == np.float32
    np.testing.assert_array_equal(gradient, [2.0, 4.0])
    tensor = wg.tensor([1.0, 2.0])
    gradient = wg.grad(lambda x: wg.sum(x * x))(tensor)
    assert isinstance(gradient, wg.Tensor) and not gradient.requires_grad
    np.testing.assert_array_equal(gradient.numpy(), [2.0, 4.0])
    assert tensor.grad is None  # grad returns gradients; it accumulates nothing
    value, gradient = wg.value_and_grad(lambda x: wg.sum(x * x))(np.array([3.0]))
    assert isinstance(value, np.ndarray) and value == 9.0 and gradient[0] == 6.0


def test_grad_of_nested_arguments_matches_torch_func():
    rng = np.random.default_rng(3)
    params = {"w": rng.standard_normal((3, 2)), "layers": [rng.standard_normal(2), (rng.standard_normal(2),)]}
    x = rng.standard_normal((4, 3))

    def ours(params, x):
        hidden = wg.tanh(x @ params["w"] + params["layers"][0])
        return wg.sum(hidden * params["layers"][1][0])

    def theirs(params, x):
        hidden = torch.tanh(x @ params["w"] + params["layers"][0])
        return torch.sum(hidden * params["layers"][1][0])

    gradient = wg.grad(ours)(params, x)
    expected = torch.func.grad(theirs)(
        {"w": to_torch(params["w"]), "layers": [to_torch(params["layers"][0]), (to_torch(params["layers"][1][0]),)]},
        to_torch(x))
    assert set(gradient) == {"w", "layers"} and isinstance(gradient["layers"], list)
    assert isinstance(gradient["layers"][1], tuple)
    close(gradient["w"], expected["w"])
    close(gradient["layers"][0], expected["layers"][0])
    close(gradient["layers"][1][0], expected["layers"][1][0])


def test_has_aux_and_a_constant_output():
    (value, aux), gradient = wg.value_and_grad(lambda x: (wg.sum(x * x), {"mean": wg.mean(x)}), has_aux=True)(
        np.array([1.0, 3.0]))
    assert value == 10.0 and aux["mean"] == 2.0 and isinstance(aux["mean"], np.ndarray)
    np.testing.assert_array_equal(gradient, [2.0, 6.0])
    gradient, aux = wg.grad(lambda x: (wg.sum(x), "note"), has_aux=True)(np.ones(2))
    assert aux == "note" and np.all(gradient == 1.0)
    np.testing.assert_array_equal(wg.grad(lambda x: wg.tensor(5.0))(np.ones(3)), np.zeros(3))


def test_grad_errors():
    with pytest.raises(TransformError, match=r"scalar.*shape \(3,\)"):
        wg.grad(lambda x: x * 2.0)(np.ones(3))
    with pytest.raises(TransformError, match="argnums=2 is out of range for a call with 2"):
        wg.grad(f_two, argnums=2)(np.ones(2), np.ones(2))
    with pytest.raises(TransformError, match="out of range"):
        wg.grad(f_two, argnums=(0, -3))(np.ones(2), np.ones(2))
    with pytest.raises(TypeError, match="argnums must be an int"):
        wg.grad(f_two, argnums="0")(np.ones(2), np.ones(2))
    with pytest.raises(TransformError, match="twice"):
        wg.grad(f_two, argnums=(0, 0))(np.ones(2), np.ones(2))
    with pytest.raises(TransformError, match="dtype int64"):
        wg.grad(lambda x: wg.sum(x))(np.array([1, 2]))
    with pytest.raises(TransformError, match="pair"):
        wg.grad(lambda x: wg.sum(x), has_aux=True)(np.ones(2))


def test_grad_of_grad_is_the_second_derivative():
    def f(x):
        return wg.sin(x) * x * x

    x = 0.7
    second = wg.grad(wg.grad(f))(x)
    assert second == pytest.approx(-np.sin(x) * x * x + 4 * x * np.cos(x) + 2 * np.sin(x), rel=1e-12)
    third = wg.grad(wg.grad(wg.grad(f)))(x)
    expected = torch.func.grad(torch.func.grad(torch.func.grad(lambda t: torch.sin(t) * t * t)))(to_torch(x))
    assert third == pytest.approx(expected.item(), rel=1e-12)


def test_grad_through_a_closure_over_the_outer_argument():
    # d/dw of (d/dx sum(tanh(w x)) at x0): the inner gradient depends on w through the closure (MAML's case)
    x0, w0 = random_array((3,), 0), random_array((3,), 1)
    outer = wg.grad(lambda w: wg.sum(wg.grad(lambda x: wg.sum(wg.tanh(w * x)))(x0) ** 2))(w0)
    expected = torch.func.grad(lambda w: torch.sum(torch.func.grad(lambda x: torch.sum(torch.tanh(w * x)))(
        to_torch(x0)) ** 2))(to_torch(w0))
    close(outer, expected)


def test_elementwise_grad():
    x = random_array((2, 3), 0)
    np.testing.assert_allclose(wg.elementwise_grad(wg.tanh)(x), 1 - np.tanh(x) ** 2, rtol=1e-12)
    np.testing.assert_allclose(wg.elementwise_grad(lambda a, b: a * b, argnums=1)(x, 2 * x), x, rtol=1e-12)


# --- vjp and jvp ------------------------------------------------------------------------------

def test_vjp_of_several_primals_matches_torch_and_can_be_called_twice():
    x, y = random_array((3, 4), 0), random_array((4,), 1)

    def ours(x, y):
        return wg.sin(x) * y, wg.exp(y)

    out, vjp_fn = wg.vjp(ours, x, y)
    t_out, t_vjp = torch.func.vjp(lambda x, y: (torch.sin(x) * y, torch.exp(y)), to_torch(x), to_torch(y))
    cotangents = (random_array((3, 4), 5), random_array((4,), 6))
    for _ in range(2):
        gx, gy = vjp_fn(cotangents)
        tx, ty = t_vjp(tuple(to_torch(c) for c in cotangents))
        close(gx, tx)
        close(gy, ty)
    close(out[0], t_out[0])
    with pytest.raises(TransformError, match="cotangent 1 has shape"):
        vjp_fn((cotangents[0], np.ones(3)))
    with pytest.raises(TransformError, match="structure"):
        vjp_fn(cotangents[0])


def test_jvp_of_several_primals_matches_torch_func():
    x, y = random_array((3, 4), 0), random_array((4,), 1)
    tx, ty = random_array((3, 4), 2), random_array((4,), 3)

    out, tangent = wg.jvp(lambda x, y: wg.tanh(x * y) / (1.0 + y * y), (x, y), (tx, ty))
    t_out, t_tangent = torch.func.jvp(lambda x, y: torch.tanh(x * y) / (1.0 + y * y), (to_torch(x), to_torch(y)),
                                      (to_torch(tx), to_torch(ty)))
    close(out, t_out)
    close(tangent, t_tangent)
    assert isinstance(tangent, np.ndarray)
    out, tangent = wg.jvp(lambda x: x * 2.0, (wg.tensor(x),), (wg.tensor(tx),))
    assert isinstance(out, wg.Tensor) and isinstance(tangent, wg.Tensor)
    np.testing.assert_array_equal(tangent.numpy(), 2 * tx)


def test_jvp_of_nested_arguments_and_outputs():
    params = {"a": random_array((3,), 0), "b": [random_array((3,), 1)]}
    tangents = {"a": random_array((3,), 2), "b": [random_array((3,), 3)]}

    def f(params):
        return {"product": params["a"] * params["b"][0], "pair": (wg.exp(params["a"]), params["b"][0])}

    out, tangent = wg.jvp(f, (params,), (tangents,))
    a, b, ta, tb = params["a"], params["b"][0], tangents["a"], tangents["b"][0]
    np.testing.assert_allclose(tangent["product"], ta * b + a * tb, rtol=1e-12)
    np.testing.assert_allclose(tangent["pair"][0], np.exp(a) * ta, rtol=1e-12)
    np.testing.assert_array_equal(tangent["pair"][1], tb)
    np.testing.assert_allclose(out["product"], a * b, rtol=1e-12)


def test_jvp_of_an_output_that_does_not_depend_on_the_input_is_zero_and_errors_are_clear():
    _, tangent = wg.jvp(lambda x: wg.tensor(np.ones(2)) * 3.0, (np.ones(3),), (np.ones(3),))
    np.testing.assert_array_equal(tangent, np.zeros(2))
    with pytest.raises(TransformError, match="tangent 0 has shape"):
        wg.jvp(wg.sin, (np.ones(3),), (np.ones(2),))
    with pytest.raises(TransformError, match="structure"):
        wg.jvp(wg.sin, (np.ones(3),), (np.ones(3), np.ones(3)))
    with pytest.raises(TypeError, match="tuples"):
        wg.jvp(wg.sin, np.ones(3), np.ones(3))


# --- Jacobians --------------------------------------------------------------------------------

W = random_array((3, 4), 7)


JACOBIAN_CASES = {
    "elementwise": (lambda x: wg.sin(x) * wg.exp(x), lambda x: torch.sin(x) * torch.exp(x), (4,)),
    "matmul": (lambda x: wg.tanh(wg.matmul(wg.tensor(W), x)), lambda x: torch.tanh(to_torch(W) @ x), (4,)),
    "matrix_in_scalar_out": (lambda x: wg.sum(x * x * x), lambda x: torch.sum(x * x * x), (2, 3)),
    "reductions_and_broadcasts": (lambda x: wg.mean(x, axis=0) * wg.sum(x), lambda x: x.mean(0) * x.sum(), (3, 2)),
    "softmax": (lambda x: wg.softmax(x, axis=-1), lambda x: torch.softmax(x, -1), (2, 3)),
}


@pytest.mark.parametrize("name", JACOBIAN_CASES)
def test_jacfwd_equals_jacrev_equals_torch(name):
    ours, theirs, shape = JACOBIAN_CASES[name]
    x = random_array(shape, 1)
    reverse, forward = wg.jacrev(ours)(x), wg.jacfwd(ours)(x)
    expected = torch.func.jacrev(theirs)(to_torch(x))
    assert reverse.shape == forward.shape == tuple(expected.shape)
    close(reverse, expected)
    close(forward, expected)
    close(wg.jacobian(ours, mode="fwd")(x), expected)


def test_jacobian_of_several_arguments_and_outputs():
    x, y = random_array((2,), 0), random_array((3,), 1)

    def f(x, y):
        return {"outer": wg.sin(x)[:, None] * y, "sum": wg.sum(x) * y}

    for mode in ("rev", "fwd"):
        found = wg.jacobian(f, argnums=(0, 1), mode=mode)(x, y)
        expected = torch.func.jacrev(lambda x, y: {"outer": torch.sin(x)[:, None] * y, "sum": torch.sum(x) * y},
                                     argnums=(0, 1))(to_torch(x), to_torch(y))
        for key in ("outer", "sum"):
            assert isinstance(found[key], tuple) and len(found[key]) == 2
            for ours, theirs in zip(found[key], expected[key]):
                assert ours.shape == tuple(theirs.shape)
                close(ours, theirs)


def test_jacobian_has_aux_and_errors():
    jacobian, aux = wg.jacfwd(lambda x: (x * 2.0, wg.sum(x)), has_aux=True)(np.ones(2))
    np.testing.assert_array_equal(jacobian, 2 * np.eye(2))
    assert aux == 2.0
    with pytest.raises(TransformError, match="mode"):
        wg.jacobian(wg.sin, mode="backward")
    empty = wg.jacfwd(lambda x: wg.sum(x) + wg.tensor(np.ones(2)))(np.zeros(0))
    assert empty.shape == (2, 0)


# --- second order -----------------------------------------------------------------------------

def test_every_composition_of_the_modes_gives_the_hessian():
    def f(x):
        return wg.sum(wg.tanh(x) * wg.sin(x[::-1]))

    x = random_array((4,), 2)
    expected = torch.autograd.functional.hessian(lambda t: torch.sum(torch.tanh(t) * torch.sin(t.flip(0))),
                                                 to_torch(x))
    close(wg.hessian(f)(x), expected)
    close(wg.jacfwd(wg.jacrev(f))(x), expected)  # forward over reverse
    close(wg.jacrev(wg.jacfwd(f))(x), expected)  # reverse over forward
    close(wg.jacrev(wg.jacrev(f))(x), expected)  # reverse over reverse
    close(wg.jacfwd(wg.jacfwd(f))(x), expected)  # forward over forward
    close(wg.jacrev(wg.grad(f))(x), expected)


def test_hvp_equals_the_hessian_times_v():
    def f(x, y):
        return wg.sum(wg.exp(x) * wg.sin(y) + x * x * y)

    x, y = random_array((3,), 0), random_array((3,), 1)
    v, u = random_array((3,), 2), random_array((3,), 3)
    hx, hy = wg.hvp(f, (x, y), (v, u))
    blocks = wg.hessian(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(hx, blocks[0][0] @ v + blocks[0][1] @ u, rtol=1e-12)
    np.testing.assert_allclose(hy, blocks[1][0] @ v + blocks[1][1] @ u, rtol=1e-12)
    # and by hand: the blocks are diagonal, d2f/dx2 = exp(x) sin(y) + 2y, d2f/dxdy = exp(x) cos(y) + 2x, ...
    np.testing.assert_allclose(hx, (np.exp(x) * np.sin(y) + 2 * y) * v + (np.exp(x) * np.cos(y) + 2 * x) * u,
                               rtol=1e-12)
    np.testing.assert_allclose(hy, (np.exp(x) * np.cos(y) + 2 * x) * v - np.exp(x) * np.sin(y) * u, rtol=1e-12)


def mlp_data():
    rng = np.random.default_rng(0)
    params = (rng.standard_normal((5, 3)) * 0.7, rng.standard_normal(5) * 0.1,
              rng.standard_normal((4, 5)) * 0.7, rng.standard_normal(4) * 0.1)
    inputs, labels = rng.standard_normal((6, 3)), rng.integers(0, 4, size=6)
    return params, inputs, labels


def mlp_loss(w1, b1, w2, b2, inputs, labels):
    return F.cross_entropy(F.linear(wg.tanh(F.linear(inputs, w1, b1)), w2, b2), labels)


def torch_mlp_loss(w1, b1, w2, b2, inputs, labels):
    return torch.nn.functional.cross_entropy(
        torch.nn.functional.linear(torch.tanh(torch.nn.functional.linear(inputs, w1, b1)), w2, b2), labels)


def test_hessian_of_a_small_mlp_loss_matches_torch():
    params, inputs, labels = mlp_data()
    t_inputs, t_labels = to_torch(inputs), torch.tensor(labels)
    expected = torch.autograd.functional.hessian(lambda *p: torch_mlp_loss(*p, t_inputs, t_labels),
                                                 tuple(to_torch(p) for p in params))
    loss = wg.hessian(mlp_loss, argnums=(0, 1, 2, 3))
    found = loss(*params, inputs, labels)
    reverse_over_reverse = wg.jacrev(wg.jacrev(mlp_loss, argnums=(0, 1, 2, 3)), argnums=(0, 1, 2, 3))(
        *params, inputs, labels)
    for i in range(4):
        for j in range(4):
            assert found[i][j].shape == tuple(expected[i][j].shape)
            close(found[i][j], expected[i][j], rtol=1e-8, atol=1e-8)
            close(reverse_over_reverse[i][j], expected[i][j], rtol=1e-8, atol=1e-8)


def test_hvp_of_the_mlp_loss_equals_the_hessian_times_v():
    params, inputs, labels = mlp_data()
    rng = np.random.default_rng(9)
    directions = tuple(rng.standard_normal(p.shape) for p in params)
    products = wg.hvp(lambda *p: mlp_loss(*p, inputs, labels), params, directions)
    t_inputs, t_labels = to_torch(inputs), torch.tensor(labels)
    _, expected = torch.autograd.functional.hvp(lambda *p: torch_mlp_loss(*p, t_inputs, t_labels),
                                                tuple(to_torch(p) for p in params),
                                                tuple(to_torch(d) for d in directions))
    for ours, theirs in zip(products, expected):
        close(ours, theirs, rtol=1e-8, atol=1e-10)


def test_transforms_of_tensors_compose_with_a_model():
    wg.manual_seed(0)
    model = wg.nn.Linear(3, 2)
    x = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)

    def loss(weight):
        return wg.sum(wg.tanh(F.linear(wg.tensor(x), weight, model.bias)) ** 2)

    weight = model.weight.detach()
    gradient = wg.grad(loss)(weight)
    assert isinstance(gradient, wg.Tensor) and gradient.dtype == np.float32 and gradient.shape == (2, 3)
    assert gradient.requires_grad  # it depends on model.bias, which requires grad: an outer backward may follow
    gradient = gradient.detach()
    t_weight = torch.tensor(weight.numpy(), requires_grad=True)
    t_bias = torch.tensor(model.bias.detach().numpy())
    torch.sum(torch.tanh(torch.tensor(x) @ t_weight.T + t_bias) ** 2).backward()
    np.testing.assert_allclose(gradient.numpy(), t_weight.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_composed_transforms_of_arrays_give_arrays():
    # the inner transform keeps Tensors for the outer one; the outermost call, with arrays in and no
    # transform around it, gives arrays back (its results' graphs reach only leaves made inside it)
    x = np.array([0.1, 0.2, 0.3])
    cube = lambda x: (x ** 3).sum()  # noqa: E731
    for transformed in (wg.hessian(cube), wg.jacfwd(wg.jacrev(cube)), wg.jacrev(wg.jacrev(cube)),
                        wg.jacrev(wg.jacfwd(cube))):
        hessian = transformed(x)
        assert type(hessian) is np.ndarray
        np.testing.assert_allclose(hessian, np.diag(6 * x), rtol=1e-12)
    assert type(wg.grad(wg.grad(lambda t: t ** 3))(1.5)) is np.ndarray
