"""The Wengert list: the lectures' example as written, traced graphs that rerun every op of the
library on new inputs as eager code does, gradients and backward graphs, and clear refusals."""

import numpy as np
import pytest
import torch
from conftest import random_array

import wengert as wg
import wengert.nn.functional as F
from wengert import nn
from wengert.core.function import OPS
from wengert.ops import decompositions
from wengert.ops.conv import conv_weight
from wengert.ops.elementwise import nan_to_num_op as nan_to_num
from wengert.ops.elementwise import round_op

SEED_LIST = [("z1", "add", ("x1", "x1")), ("z2", "add", ("z1", "x2")), ("f", "square", ("z2",))]


# --- the lectures' example ---------------------------------------------------------------------

def test_the_lectures_list_runs_as_written_and_gives_the_algebras_values():
    g = wg.Graph.from_list(SEED_LIST, inputs=["x1", "x2"])
    assert str(g).splitlines()[1:4] == ["z1 = add(x1, x1)", "z2 = add(z1, x2)", "f = square(z2)"]
    assert g({"x1": 3.0, "x2": 5.0}).item() == 121.0  # f = (2 x1 + x2)^2
    gradients = g.gradients({"x1": 3.0, "x2": 5.0})
    assert (gradients["x1"].item(), gradients["x2"].item()) == (44.0, 22.0)  # 4 (2 x1 + x2), 2 (2 x1 + x2)
    assert g.to_list() == SEED_LIST
    assert wg.Graph.from_list(g.to_list(), inputs=["x1", "x2"])(3.0, 5.0).item() == 121.0


def test_the_backward_pass_is_a_wengert_list_too_and_differentiates_again():
    g = wg.Graph.from_list(SEED_LIST, inputs=["x1", "x2"])
    backward = g.backward_graph({"x1": 3.0, "x2": 5.0})
    text = str(backward)
    assert "# inputs: x1 () float64, x2 () float64, df () float64" in text
    assert "dx1 = add(dz2, dz2)" in text  # z1 = x1 + x1 sums its two uses' gradients
    dx1, dx2 = backward(x1=3.0, x2=5.0, df=1.0)
    assert (dx1.item(), dx2.item()) == (44.0, 22.0)
    assert backward(x1=1.0, x2=0.5, df=2.0)[0].item() == 2 * 4 * (2 * 1.0 + 0.5)  # reruns on new values
    # second derivatives: d(dx1)/dx1 = 8, d(dx1)/dx2 = 4, through a backward graph of the backward graph
    second = backward.select("dx1").backward_graph(x1=3.0, x2=5.0, df=1.0)
    d2x1, d2x2, _ = second(x1=3.0, x2=5.0, df=1.0, ddx1=1.0)
    assert (d2x1.item(), d2x2.item()) == (8.0, 4.0)



def test_a_backward_graph_runs_at_its_traced_shapes_and_refuses_others():
    """The VJPs write the trace's shapes into the list (here the mean's count, the batch): a lazy
    graph's backward graph, traced at the stand-in batch, would otherwise be silently wrong at another."""
    x, y = wg.placeholder((None, 4), dtype="float64", name="x"), wg.placeholder((None,), dtype="int64", name="y")
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    g = wg.Graph([x, y], [F.cross_entropy(model(x), y)])
    rng = np.random.default_rng(0)
    feeds = {n: {"x": rng.standard_normal((n, 4)), "y": rng.integers(0, 2, n)} for n in (2, 5)}
    traced = g.backward_graph()  # at the placeholders' stand-ins: the batch is 2 long
    for label, value in zip(traced.labels, traced({**feeds[2], "df": 1.0})):
        np.testing.assert_allclose(value.detach().numpy(), g.gradients(feeds[2])[label[1:]], rtol=1e-12)
    with pytest.raises(wg.GraphError, match=r"traced with x of shape \(2, 4\) and is fed one of shape \(5, 4\)"):
        traced({**feeds[5], "df": 1.0})
    with pytest.raises(wg.GraphError, match="traced with x of shape"):
        traced.select("dx")({**feeds[5], "df": 1.0})
    at_five = g.backward_graph(feeds[5])
    expected = g.gradients(feeds[5])
    for label, value in zip(at_five.labels, at_five({**feeds[5], "df": 1.0})):
        np.testing.assert_allclose(value.detach().numpy(), expected[label[1:]], rtol=1e-12)

def test_a_backward_graph_wrt_some_names_differentiates_those_alone():
    g = wg.Graph.from_list(SEED_LIST, inputs=["x1", "x2"])
    only_x2 = g.backward_graph({"x1": 3.0, "x2": 5.0}, wrt=["x2"])
    assert only_x2.labels == ["dx2"] and "dx1" not in str(only_x2)
    assert only_x2(x1=3.0, x2=5.0, df=1.0).item() == 22.0
    # a training step's backward pass: the parameters' gradients, none for the batch, and fewer steps
    x, y = wg.placeholder((None, 4), dtype="float64", name="x"), wg.placeholder((None,), dtype="int64", name="y")
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    g = wg.Graph([x, y], [F.cross_entropy(model(x), y)])
    everything, parameters = g.backward_graph(), g.backward_graph(wrt=list(g.parameters))
    assert everything.labels == ["dx", *parameters.labels] and "dx" not in parameters.labels
    assert len(parameters.assignments) < len(everything.assignments)
    feed = {"x": np.linspace(-1, 1, 8).reshape(2, 4), "y": np.array([0, 1]), "df": 1.0}
    for label, expected, value in zip(parameters.labels, everything(feed)[1:], parameters(feed)):
        np.testing.assert_array_equal(value.detach().numpy(), expected.detach().numpy(), err_msg=label)
    with pytest.raises(wg.GraphError, match=r"wrt names 'y', 'w', which are not a floating input or a parameter; "
                                            r"those are x, w1, w2, w3, w4 \(at .*test_graph\.py"):
        g.backward_graph(wrt=["y", "w"])
    with pytest.raises(wg.GraphError, match=r"wrt names nothing to differentiate; give some of x, w1, w2, w3, w4"):
        g.backward_graph(wrt=[])


# --- every op, traced once and rerun on other inputs -----------------------------------------------

def floats(*shape, low=None, high=None):
    return ("float", shape, low, high)


def labels(size, classes):
    return ("labels", (size,), classes, None)


POSITIVE = dict(low=0.5, high=2.0)
V = random_array((3,), seed=7)  # constants inside traced functions (literals of the graph)
EYE = np.eye(3)

CASES = {
    # name: (function of tensors, its inputs)
    "absolute": (wg.abs, [floats(2, 3)]),
    "add": (wg.add, [floats(2, 3), floats(3)]),
    "all": (lambda x: wg.all(x > 0, axis=1), [floats(2, 3)]),
    "any": (lambda x: wg.any(x > 0, axis=0), [floats(2, 3)]),
    "argmax": (lambda x: wg.argmax(x, axis=1), [floats(2, 3)]),
    "argmin": (lambda x: wg.argmin(x, axis=0), [floats(2, 3)]),
    "argsort": (lambda x: wg.argsort(x, axis=-1), [floats(2, 3)]),
    "astype": (lambda x: x.astype(wg.float32) * 2, [floats(2, 3)]),
    "binary_cross_entropy": (lambda z, t: F.binary_cross_entropy(wg.sigmoid(z), t),
                             [floats(4), floats(4, low=0.0, high=1.0)]),
    "broadcast_to": (lambda x: wg.broadcast_to(x, (4, 3)), [floats(3)]),
    "clip": (lambda x: wg.clip(x, -0.5, 0.5), [floats(2, 3)]),
    "clone": (lambda x: x.clone() * 3, [floats(2, 3)]),
    "concatenate": (lambda a, b: wg.concatenate([a, b], axis=0), [floats(2, 3), floats(1, 3)]),
    "cos": (wg.cos, [floats(2, 3)]),
    "cross_entropy": (F.cross_entropy, [floats(4, 3), labels(4, 3)]),
    "cumprod": (lambda x: wg.cumprod(x, axis=1), [floats(2, 3)]),
    "cumsum": (lambda x: wg.cumsum(x, axis=0), [floats(2, 3)]),
    "divide": (wg.divide, [floats(2, 3), floats(3, **POSITIVE)]),
    "einsum": (lambda a, b: wg.einsum("ij,jk->ik", a, b), [floats(2, 3), floats(3, 4)]),
    "equal": (lambda a, b: wg.equal(a > 0, b > 0), [floats(2, 3), floats(2, 3)]),
    "erf": (wg.erf, [floats(2, 3)]),
    "exp": (wg.exp, [floats(2, 3)]),
    "expand_dims": (lambda x: wg.expand_dims(x, 1) * V, [floats(2, 3)]),
    "expm1": (wg.expm1, [floats(2, 3)]),
    "flip": (lambda x: wg.flip(x, axis=1), [floats(2, 3)]),
    "gelu": (wg.gelu, [floats(2, 3)]),
    "gelu_tanh": (lambda x: wg.gelu(x, approximate="tanh"), [floats(2, 3)]),
    "getitem": (lambda x: x[1:, [0, 2, 2]], [floats(3, 3)]),
    "greater": (wg.greater, [floats(2, 3), floats(3)]),
    "greater_equal": (wg.greater_equal, [floats(2, 3), floats(3)]),
    "isfinite": (lambda x: wg.isfinite(wg.log(x)), [floats(2, 3)]),
    "isinf": (lambda x: wg.isinf(1 / x), [floats(2, 3)]),
    "isnan": (lambda x: wg.isnan(wg.sqrt(x)), [floats(2, 3)]),
    "leaky_relu": (lambda x: wg.leaky_relu(x, 0.1), [floats(2, 3)]),
    "less": (wg.less, [floats(2, 3), floats(3)]),
    "less_equal": (wg.less_equal, [floats(2, 3), floats(3)]),
    "linear": (F.linear, [floats(4, 3), floats(2, 3), floats(2)]),
    "log": (wg.log, [floats(2, 3, **POSITIVE)]),
    "log1p": (wg.log1p, [floats(2, 3, **POSITIVE)]),
    "logaddexp": (wg.logaddexp, [floats(2, 3), floats(2, 3)]),
    "logical_and": (lambda a, b: wg.logical_and(a > 0, b > 0), [floats(2, 3), floats(2, 3)]),
    "logical_not": (lambda a: wg.logical_not(a > 0), [floats(2, 3)]),
    "logical_or": (lambda a, b: wg.logical_or(a > 0, b > 0), [floats(2, 3), floats(2, 3)]),
    "logsoftmax": (lambda x: wg.log_softmax(x, axis=1), [floats(2, 3)]),
    "logsumexp": (lambda x: wg.logsumexp(x, axis=1), [floats(2, 3)]),
    "matmul": (wg.matmul, [floats(2, 3), floats(3, 4)]),
    "max": (lambda x: wg.max(x, axis=1), [floats(2, 3)]),
    "maximum": (wg.maximum, [floats(2, 3), floats(3)]),
    "mean": (lambda x: wg.mean(x, axis=0), [floats(2, 3)]),
    "min": (lambda x: wg.min(x, axis=0), [floats(2, 3)]),
    "minimum": (wg.minimum, [floats(2, 3), floats(2, 3)]),
    "multiply": (wg.multiply, [floats(2, 3), floats(3)]),
    "negative": (wg.negative, [floats(2, 3)]),
    "norm": (lambda x: x.norm(), [floats(2, 3)]),
    "not_equal": (lambda a, b: wg.not_equal(a > 0, b > 0), [floats(2, 3), floats(2, 3)]),
    "pad": (lambda x: wg.pad(x, 1) * 2, [floats(2, 3)]),
    "power": (wg.power, [floats(2, 3, **POSITIVE), floats(3)]),
    "prod": (lambda x: wg.prod(x, axis=1), [floats(2, 3)]),
    "relu": (wg.relu, [floats(2, 3)]),
    "repeat": (lambda x: wg.repeat(x, 2, axis=0), [floats(2, 3)]),
    "reshape": (lambda x: x.reshape(3, 2), [floats(2, 3)]),
    "roll": (lambda x: wg.roll(x, 1, axis=1), [floats(2, 3)]),
    "scatter_add": (lambda x: wg.scatter_add(x, [0, 2, 0], (4, 3)), [floats(3, 3)]),
    "sigmoid": (wg.sigmoid, [floats(2, 3)]),
    "sign": (wg.sign, [floats(2, 3)]),
    "sin": (wg.sin, [floats(2, 3)]),
    "softmax": (lambda x: wg.softmax(x, axis=1), [floats(2, 3)]),
    "softplus": (lambda x: wg.softplus(x, beta=2.0), [floats(2, 3)]),
    "sqrt": (wg.sqrt, [floats(2, 3, **POSITIVE)]),
    "square": (wg.square, [floats(2, 3)]),
    "squeeze": (lambda x: wg.squeeze(x, 1), [floats(2, 1, 3)]),
    "stack": (lambda a, b: wg.stack([a, b], axis=1), [floats(2, 3), floats(2, 3)]),
    "std": (lambda x: wg.std(x, axis=1), [floats(2, 3)]),
    "subtract": (wg.subtract, [floats(2, 3), floats(3)]),
    "sum": (lambda x: wg.sum(x, axis=1, keepdims=True), [floats(2, 3)]),
    "swapaxes": (lambda x: wg.swapaxes(x, 0, 1), [floats(2, 3)]),
    "tanh": (wg.tanh, [floats(2, 3)]),
    "tile": (lambda x: wg.tile(x, (2, 1)), [floats(2, 3)]),
    "transpose": (lambda x: x.T, [floats(2, 3)]),
    "triangle": (lambda x: wg.tril(x) + wg.triu(x, 1) * 2, [floats(3, 3)]),
    "var": (lambda x: wg.var(x, axis=0), [floats(2, 3)]),
    "view": (lambda x: x.view(3, 2), [floats(2, 3)]),
    "where": (lambda a, b: wg.where(a > 0, a, b), [floats(2, 3), floats(3)]),
}
# numpy's further elementwise math and the linear-algebra ops (for wengert.numpy, issue 9)
UNIT = dict(low=-0.9, high=0.9)
CASES.update({
    "arccos": (wg.arccos, [floats(2, 3, **UNIT)]), "arcsin": (wg.arcsin, [floats(2, 3, **UNIT)]),
    "arctan": (wg.arctan, [floats(2, 3)]), "arctanh": (wg.arctanh, [floats(2, 3, **UNIT)]),
    "arccosh": (wg.arccosh, [floats(2, 3, low=1.5, high=3.0)]), "arcsinh": (wg.arcsinh, [floats(2, 3)]),
    "arctan2": (wg.arctan2, [floats(2, 3), floats(3)]), "cbrt": (wg.cbrt, [floats(2, 3, **POSITIVE)]),
    "ceil": (lambda x: wg.ceil(x) * x, [floats(2, 3)]), "floor": (lambda x: wg.floor(x) * x, [floats(2, 3)]),
    "trunc": (lambda x: wg.trunc(x) * x, [floats(2, 3)]), "rint": (lambda x: wg.rint(x) * x, [floats(2, 3)]),
    "round": (lambda x: round_op(x, decimals=1) * x, [floats(2, 3)]), "cosh": (wg.cosh, [floats(2, 3)]),
    "sinh": (wg.sinh, [floats(2, 3)]), "tan": (wg.tan, [floats(2, 3, **UNIT)]),
    "deg2rad": (wg.deg2rad, [floats(2, 3)]), "rad2deg": (wg.rad2deg, [floats(2, 3)]),
    "exp2": (wg.exp2, [floats(2, 3)]), "log2": (wg.log2, [floats(2, 3, **POSITIVE)]),
    "log10": (wg.log10, [floats(2, 3, **POSITIVE)]), "logaddexp2": (wg.logaddexp2, [floats(2, 3), floats(3)]),
    "floor_divide": (lambda a, b: wg.floor_divide(a, b) * a, [floats(2, 3), floats(3, **POSITIVE)]),
    "fmax": (wg.fmax, [floats(2, 3), floats(3)]), "fmin": (wg.fmin, [floats(2, 3), floats(3)]),
    "fmod": (wg.fmod, [floats(2, 3), floats(3, **POSITIVE)]), "mod": (wg.mod, [floats(2, 3), floats(3, **POSITIVE)]),
    "hypot": (wg.hypot, [floats(2, 3), floats(3)]), "reciprocal": (wg.reciprocal, [floats(2, 3, **POSITIVE)]),
    "sinc": (wg.sinc, [floats(2, 3)]),
    "nan_to_num": (lambda x: nan_to_num(wg.log(x), nan=0.0, posinf=5.0, neginf=-5.0), [floats(2, 3)]),
    "inv": (lambda a: decompositions.Inv.apply(a + 3 * EYE), [floats(3, 3)]),
    "det": (lambda a: decompositions.Det.apply(a + 3 * EYE), [floats(3, 3)]),
    "logabsdet": (lambda a: decompositions.LogAbsDet.apply(a + 3 * EYE), [floats(3, 3)]),
    "solve": (lambda a, b: decompositions.Solve.apply(a + 3 * EYE, b), [floats(3, 3), floats(3, 2)]),
    "pinv": (decompositions.Pinv.apply, [floats(4, 3)]),
    "cholesky": (lambda a: decompositions.Cholesky.apply(a @ a.T + 3 * EYE), [floats(3, 3)]),
    "eigh": (lambda a: decompositions.Eigh.apply(a + a.T) ** 2, [floats(3, 3)]),
    "svd": (lambda a: decompositions.Svd.apply(a) ** 2, [floats(4, 3)]),
    "qr": (lambda a: decompositions.Qr.apply(a) ** 2, [floats(4, 3)]),
})

# convolutions (issue 10): conv2d and conv_transpose2d, and the op of conv's weight gradient
CASES.update({
    "conv": (lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
             [floats(2, 4, 5, 6), floats(6, 2, 3, 2), floats(6)]),
    "conv_transpose": (lambda y, w, b: F.conv_transpose2d(y, w, b, stride=2, padding=1, output_padding=(1, 0),
                                                          groups=2),
                       [floats(2, 4, 3, 4), floats(4, 3, 3, 2), floats(6)]),
    "conv_weight": (lambda x, y: conv_weight(x, y, kernel=(3, 2), stride=(2, 1), padding=((1, 0), (0, 0)),
                                             dilation=(1, 2), groups=2), [floats(2, 4, 6, 6), floats(2, 6, 3, 4)]),
})

# pooling (issue 10): max_pool2d with its VJP and JVP ops, avg_pool2d with its VJP op (normalization is
# composed of ops above)
MAX_POOL = dict(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1), ceil_mode=True)
AVG_POOL = dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), ceil_mode=True, count_include_pad=False,
                divisor_override=None)
CASES.update({
    "max_pool2d": (lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True), [floats(2, 3, 5, 6)]),
    "max_pool2d_backward": (lambda g, x: OPS["max_pool2d_backward"].apply(g, x, **MAX_POOL),
                            [floats(2, 3, 3, 4), floats(2, 3, 5, 6)]),
    "max_pool2d_gather": (lambda t, x: OPS["max_pool2d_gather"].apply(t, x, **MAX_POOL),
                          [floats(2, 3, 5, 6), floats(2, 3, 5, 6)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, (3, 2), stride=(2, 1), padding=1, ceil_mode=True,
                                          count_include_pad=False), [floats(2, 3, 5, 6)]),
    "avg_pool2d_backward": (lambda g: OPS["avg_pool2d_backward"].apply(g, in_shape=(5, 6), **AVG_POOL),
                            [floats(2, 3, 3, 7)]),
})

INTERNAL = {"accumulate_grad", "graph_root", "backward_hook", "compiled",  # the engine's own nodes, no user op
            "effect", "accumulate_into_grad",  # what a trace records of backward() and step(): tested in test_compile
            "running_statistics",  # batch norm's update, an effect: tested in test_pooling_norm
            # the halves a compiled program splits conv and max-pool into (replay only): tested in test_compile
            "conv_columns", "conv_from_columns", "conv_weight_from_columns", "max_pool2d_winners", "part",
            "max_pool2d_scatter", "products",  # and two independent matrix products run side by side
            "dropout_mask"}  # draws anew at each run, so no rerun equals another: tested in test_compile, test_lazy


def make(spec, seed):
    kind, shape, low, high = spec
    if kind == "labels":
        return np.random.default_rng(seed).integers(0, low, shape)
    return random_array(shape, seed, low, high)


def test_the_sweep_covers_every_op_of_the_library():
    library = {name for name, function in OPS.items() if function.__module__.startswith("wengert.")}
    assert library - INTERNAL == set(CASES)  # (other tests' custom ops are in OPS too)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_traced_graph_reruns_like_eager_code_with_the_same_gradients(name):
    fn, specs = CASES[name]
    graph = wg.Graph.trace(fn, *[make(spec, seed) for seed, spec in enumerate(specs)])
    assert any(step.op == name for step in graph.assignments)  # the op itself is in the list
    fresh = [make(spec, seed + 10) for seed, spec in enumerate(specs)]  # other values, same shapes
    expected = fn(*[wg.tensor(value) for value in fresh])
    np.testing.assert_allclose(graph(*fresh).numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)
    if expected.dtype.kind != "f":
        return
    weights = random_array(tuple(expected.shape), 99)
    examples = [make(spec, seed) for seed, spec in enumerate(specs)]
    scalar = wg.Graph.trace(lambda *xs: (fn(*xs) * weights).sum(), *examples)
    leaves = [wg.tensor(value, requires_grad=value.dtype.kind == "f") for value in fresh]
    loss = (fn(*leaves) * wg.tensor(weights)).sum()
    gradients = scalar.gradients(*fresh)
    if not loss.requires_grad:  # a float result without a gradient (sign): none in the graph either
        assert all(value is None for value in gradients.values())
        return
    loss.backward()
    backward = scalar.backward_graph(*fresh)
    replayed = dict(zip(backward.labels, backward(*fresh, 1.0) if len(backward.labels) > 1
                        else [backward(*fresh, 1.0)]))
    for input_name, leaf in zip(scalar.inputs, leaves):
        if not leaf.requires_grad:
            continue
        want = np.zeros(leaf.shape) if leaf.grad is None else leaf.grad.numpy()
        got = gradients[input_name]
        np.testing.assert_allclose(np.zeros(leaf.shape) if got is None else got, want, rtol=1e-10, atol=1e-12)
        if got is not None:
            np.testing.assert_allclose(replayed[f"d{input_name}"].numpy(), want, rtol=1e-10, atol=1e-12)


# --- models ------------------------------------------------------------------------------------

def test_a_traced_mlp_loss_matches_eager_and_pytorch_on_new_batches():
    wg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    batch = lambda seed: (random_array((5, 4), seed), np.random.default_rng(seed).integers(0, 3, 5))  # noqa: E731
    graph = wg.Graph.trace(lambda x, y: F.cross_entropy(model(x), y), *batch(0), names=["x", "y"])
    assert [name for name in graph.parameters] == ["w1", "w2", "w3", "w4"]
    x, y = batch(1)
    loss = graph(x=x, y=y)
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    theirs.load_state_dict({key: torch.tensor(value.numpy()) for key, value in model.state_dict().items()})
    reference = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
    assert loss.item() == pytest.approx(reference.item(), rel=1e-12)
    reference.backward()
    gradients = graph.gradients(x=x, y=y)
    np.testing.assert_allclose(gradients["w1"], theirs[0].weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(gradients["w4"], theirs[2].bias.grad.numpy(), rtol=1e-10)
    assert model[0].weight.grad is None  # gradients() leaves the parameters' .grad alone
    with wg.no_grad():  # a parameter updated after tracing: the graph reads its current value
        model[2].bias += 1.0
    shifted = F.cross_entropy(model(wg.tensor(x)), wg.tensor(y))
    assert graph(x, y).item() == pytest.approx(shifted.item(), rel=1e-12)


def test_graphs_from_a_tracing_block():
    with wg.tracing() as trace:
        x = wg.tensor([1.0, 2.0], dtype=wg.float64)
        y = wg.exp(x) * 3 + x
    graph = wg.Graph([x], [y], trace, names={x: "x"})
    assert [step.op for step in graph.assignments] == ["exp", "multiply", "add"]
    np.testing.assert_allclose(graph(np.array([0.0, 1.0])).numpy(), np.exp([0.0, 1.0]) * 3 + [0.0, 1.0])


# --- refusals ------------------------------------------------------------------------------------

@pytest.mark.parametrize("reads", [lambda t: t.item(), lambda t: float(t), lambda t: bool(t > 0), lambda t: t.numpy(),
                                   lambda t: np.asarray(t), lambda t: t.tolist(), lambda t: f"{t:.2f}"],
                         ids=["item", "float", "if", "numpy", "asarray", "tolist", "format"])
def test_reading_a_value_while_tracing_is_refused(reads):
    # a replay would keep the value read as a constant, whatever the inputs
    with pytest.raises(wg.core.errors.TraceError, match="while ops are being traced"):
        wg.Graph.trace(lambda x: x * 2 if reads(x.sum()) else x, np.ones(2))


def test_an_input_that_reaches_the_outputs_outside_ops_is_refused():
    # .data leaves the op library unseen: the trace would keep y's values as a constant, silently
    with pytest.raises(wg.GraphError, match="no op uses input x2"):
        wg.Graph.trace(lambda x, y: x * float(y.data.sum()), np.ones(2), np.ones(2))
    graph = wg.Graph.trace(lambda x, y: x * 2, np.ones(2), np.ones(2), allow_unused=True)
    assert graph(np.ones(2), np.zeros(2)).numpy().tolist() == [2.0, 2.0]


@pytest.mark.parametrize("entries, message", [
    ([("z", "no_such_op", ("x",))], "no op named 'no_such_op'"),
    ([("z", "add", ("x", "w"))], "uses 'w' before it is assigned"),
    ([("z", "add")], "is not"),
    ([], "no assignments"),
])
def test_bad_lists_are_refused_clearly(entries, message):
    with pytest.raises(wg.GraphError, match=message):
        wg.Graph.from_list(entries, inputs=["x"])


def test_bad_feeds_name_the_inputs():
    g = wg.Graph.from_list(SEED_LIST, inputs=["x1", "x2"])
    with pytest.raises(wg.GraphError, match="missing: x2"):
        g(x1=1.0)
    with pytest.raises(wg.GraphError, match="unknown: x3"):
        g(x1=1.0, x2=2.0, x3=3.0)
    with pytest.raises(wg.GraphError, match="one output"):
        g.backward_graph(x1=1.0, x2=2.0).backward_graph(x1=1.0, x2=2.0, df=1.0)


def test_a_graph_that_would_leave_out_a_traced_effect_is_refused():
    bn = wg.nn.BatchNorm1d(3).double()
    x = wg.tensor(np.random.default_rng(0).standard_normal((4, 3)))
    with wg.tracing() as trace:
        y = bn(x).sum()
    with pytest.raises(wg.WengertError, match=r"effects \(effect, running_statistics\).*outputs too"):
        wg.Graph([x], [y], trace)


# --- a graph from eager tensors' recorded history ------------------------------------------------------

def test_the_seeds_list_from_eager_history_prints_runs_and_differentiates_as_the_seed_says():
    x1, x2 = wg.tensor(3.0, requires_grad=True), wg.tensor(5.0, requires_grad=True)
    z1 = x1 + x1
    z2 = z1 + x2
    f = z2 ** 2
    graph = wg.Graph(inputs=[x1, x2], outputs=[f])
    assert [line.split("  #")[0] for line in str(graph).splitlines()[1:4]] == [
        "z1 = add(x1, x1)", "z2 = add(z1, x2)", "f = power(z2, 2)"]
    assert graph({"x1": 3.0, "x2": 5.0}).item() == 121.0
    gradients = graph.gradients({"x1": 3.0, "x2": 5.0})
    assert gradients["x1"] == 44.0 and gradients["x2"] == 22.0


def test_an_eager_mlps_history_is_the_traced_graph_and_runs_on_new_batches():
    rng = np.random.default_rng(0)
    net = wg.nn.Sequential(wg.nn.Linear(4, 8), wg.nn.Tanh(), wg.nn.Linear(8, 2)).double()
    x, y = wg.tensor(rng.standard_normal((5, 4))), wg.tensor(rng.standard_normal((5, 2)))
    eager = ((net(x) - y) ** 2).mean()
    history = wg.Graph(inputs=[x, y], outputs=[eager])
    with wg.tracing() as trace:
        traced = ((net(x) - y) ** 2).mean()
    assert [(a.op, a.arguments) for a in history.assignments] == [
        (a.op, a.arguments) for a in wg.Graph(inputs=[x, y], outputs=[traced], trace=trace).assignments]
    new_x, new_y = rng.standard_normal((7, 4)), rng.standard_normal((7, 2))
    expected = ((net(wg.tensor(new_x)) - wg.tensor(new_y)) ** 2).mean()
    np.testing.assert_allclose(history({"x1": new_x, "x2": new_y}).item(), expected.item(), rtol=1e-12)
    gradients = history.gradients({"x1": new_x, "x2": new_y})
    expected.backward()
    for name, parameter in history.parameters.items():
        np.testing.assert_allclose(gradients[name], parameter.grad.numpy(), rtol=1e-10)


def test_eager_history_is_read_before_backward_and_then_lets_go_of_the_batch():
    import gc
    import weakref

    w = wg.tensor(np.ones((3, 2)), requires_grad=True)
    x = wg.tensor(np.ones((4, 3)))
    loss = (x @ w).sum()
    alive = weakref.ref(x)
    del x
    gc.collect()
    assert alive() is not None  # the history holds the batch until backward, as a Graph may still read it
    loss.backward()
    gc.collect()
    assert alive() is None  # backward let it go with the saved values
    with pytest.raises(wg.WengertError, match="freed by backward"):
        wg.Graph(inputs=[w], outputs=[loss])
    with pytest.raises(wg.WengertError, match="no recorded history"):
        wg.Graph(inputs=[], outputs=[wg.tensor(1.0) * 2])
    labels = wg.tensor(np.array([0, 1]))
    logits = wg.tensor(np.zeros((2, 3)), requires_grad=True)
    with pytest.raises(wg.WengertError, match="recorded history has no op on input x2"):
        wg.Graph(inputs=[logits, labels], outputs=[wg.nn.functional.cross_entropy(logits, labels)])
