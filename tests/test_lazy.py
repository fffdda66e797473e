"""Define-then-run: placeholders, lazy tensors, and graphs built from them (wengert.lazy)."""

import numpy as np
import pytest

import wengert as wg
import wengert.nn.functional as F
from wengert import nn

RNG = np.random.default_rng(8)


def mlp(seed: int, dtype=wg.float64) -> nn.Sequential:
    generator = wg.Generator(seed)
    return nn.Sequential(nn.Linear(4, 16, dtype=dtype, generator=generator), nn.ReLU(),
                         nn.Linear(16, 3, dtype=dtype, generator=generator))


TEACHER = RNG.normal(size=(4, 3))


def batch(size: int, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Features (size, 4) and the class a fixed linear map of them picks (so there is something to learn)."""
    features = RNG.normal(size=(size, 4))
    return features.astype(dtype), (features @ TEACHER).argmax(axis=1)


# --- the lazy MLP trains as the eager one does ----------------------------------------------------

def test_lazy_mlp_trains_to_the_same_losses_as_eager():
    eager_model, lazy_model = mlp(0), mlp(0)
    x = wg.placeholder((None, 4), wg.float64, name="x")
    y = wg.placeholder((None,), wg.int64, name="y")
    g = wg.Graph(inputs=[x, y], outputs=[F.cross_entropy(lazy_model(x), y)])  # built once
    names = {id(p): name for name, p in g.parameters.items()}
    assert sorted(names) == sorted(id(p) for p in lazy_model.parameters())  # every parameter, read from the model
    lr, eager_losses, lazy_losses = 0.5, [], []
    for size in [5, 8, 3, 16, 1, 7, 32, 2] * 3:  # minibatches of many sizes through the one graph
        features, labels = batch(size)
        loss = F.cross_entropy(eager_model(wg.tensor(features)), wg.tensor(labels))
        eager_model.zero_grad()
        loss.backward()
        eager_losses.append(loss.item())
        for p in eager_model.parameters():
            p.data = p.data - lr * p.grad.data

        lazy_losses.append(g({"x": features, "y": labels}).item())
        gradients = g.gradients({"x": features, "y": labels})
        for name, p in g.parameters.items():
            p.data = p.data - lr * gradients[name]
    assert np.mean(eager_losses[-4:]) < np.mean(eager_losses[:4]) / 2  # it did train
    np.testing.assert_allclose(lazy_losses, eager_losses, rtol=1e-6)
    for eager, lazy in zip(eager_model.parameters(), lazy_model.parameters()):
        np.testing.assert_allclose(lazy.data, eager.data, rtol=1e-6, atol=1e-12)


def test_gradients_reach_floating_placeholders_and_not_integer_ones():
    model = mlp(1)
    x = wg.placeholder((None, 4), wg.float64, name="x")
    y = wg.placeholder((None,), wg.int64, name="y")
    g = wg.Graph([x, y], [F.cross_entropy(model(x), y)])
    features, labels = batch(6)
    gradients = g.gradients({x: features, y: labels})
    assert "y" not in gradients
    eager_x = wg.tensor(features, requires_grad=True)
    F.cross_entropy(model(eager_x), wg.tensor(labels)).backward()
    np.testing.assert_allclose(gradients["x"], eager_x.grad.data, rtol=1e-10)
    np.testing.assert_allclose(gradients["w1"], model[0].weight.grad.data, rtol=1e-10)


# --- building: shapes, dtypes, errors at the user's line -------------------------------------------

def test_shapes_show_none_where_the_batch_is():
    x = wg.placeholder((None, 4), name="x")
    w = wg.ones((4, 5))
    assert x.shape == (None, 4) and x.dtype == wg.get_default_dtype() and x.ndim == 2
    assert (x @ w).shape == (None, 5)
    assert x.sum(axis=0).shape == (4,)  # the batch reduced away
    assert x.sum().shape == ()
    assert wg.reshape(x, (-1,)).shape == (None,)  # follows the batch, 4 times as long
    assert x.size is None and wg.placeholder((2, 3)).size == 6
    assert "LazyTensor" in repr(x @ w) and "matmul" in repr(x @ w)


def test_a_bad_shape_raises_at_the_line_that_built_it_naming_op_and_shapes():
    x = wg.placeholder((None, 3))
    w = wg.ones((4, 5))
    with pytest.raises(wg.OpValueError) as caught:
        x @ w  # the line that builds the bad op
    message = str(caught.value)
    assert message.startswith("matmul")
    assert "(None, 3)" in message and "(4, 5)" in message
    assert f"{__file__}:" in message and "test_a_bad_shape_raises" in message


def test_a_layer_refuses_a_placeholder_of_the_wrong_width():
    with pytest.raises(wg.OpValueError, match=r"Linear.*\(None, 3\)"):
        mlp(0)(wg.placeholder((None, 3), wg.float64))


def test_a_placeholder_with_no_batch_dimension_builds_and_runs():
    model = mlp(2)
    x = wg.placeholder((3, 4), wg.float64)
    out = model(x)
    assert out.shape == (3, 3)
    g = wg.Graph([x], [out])
    features, _ = batch(3)
    np.testing.assert_allclose(g(features).data, model(wg.tensor(features)).data, rtol=1e-12)
    with pytest.raises(wg.OpValueError, match=r"input x1 is a placeholder of shape \(3, 4\).*\(4, 4\)"):
        g(batch(4)[0])  # its shape is fixed


def test_a_fed_value_must_fit_its_placeholder():
    x = wg.placeholder((None, 4), wg.float64, name="x")
    g = wg.Graph([x], [(x * 2.0).sum()])
    assert g(np.ones((7, 4))).item() == 56.0
    for wrong in (np.ones((7, 5)), np.ones(4), np.ones((2, 4, 1))):
        with pytest.raises(wg.OpValueError, match=r"input x is a placeholder of shape \(None, 4\)"):
            g(wrong)


def test_placeholder_refuses_a_bad_dimension():
    with pytest.raises(wg.OpValueError, match="placeholder"):
        wg.placeholder((None, -1))
    with pytest.raises(wg.OpValueError, match="placeholder"):
        wg.placeholder((None, 2.5))


# --- a lazy tensor has no value --------------------------------------------------------------------

@pytest.mark.parametrize("read", [lambda t: t.item(), lambda t: t.numpy(), lambda t: bool(t), lambda t: float(t),
                                  lambda t: np.asarray(t), lambda t: t.tolist(), lambda t: f"{t:.3f}",
                                  lambda t: t.backward(), lambda t: t.detach()],
                         ids=["item", "numpy", "bool", "float", "asarray", "tolist", "format", "backward", "detach"])
def test_reading_a_lazy_tensors_value_raises(read):
    loss = (wg.placeholder((None, 2)) * 2.0).sum()
    with pytest.raises(wg.LazyError, match="no value until its graph runs"):
        read(loss)


def test_a_lazy_tensor_refuses_in_place_changes_and_len_of_the_batch():
    x = wg.placeholder((None, 2))
    with pytest.raises(wg.LazyError):
        x += 1.0
    with pytest.raises(wg.LazyError):
        len(x)
    assert len(wg.placeholder((3, None))) == 3


# --- constants made from the stand-ins are refused -----------------------------------------------

class ScaleByRows(wg.Function):
    """x / rows, the number of rows passed in (wrong in a graph: it is fixed when the graph is built)."""

    def forward(ctx, x, rows=1):
        return x / rows


class MeanOverRows(wg.Function):
    """x summed over rows and divided by the rows counted in forward (right in a graph)."""

    def forward(ctx, x):
        return x.sum(axis=0) / x.shape[0]


def test_a_constant_computed_from_the_batch_size_is_refused_naming_the_op():
    x = wg.placeholder((None, 4))
    with pytest.raises(wg.OpValueError, match=r"(?s)scalebyrows.*batch size 2"):
        ScaleByRows.apply(x, rows=x.data.shape[0])
    with pytest.raises(wg.OpValueError, match=r"(?s)reshape.*batch size"):
        wg.reshape(x, (x.data.shape[0] * 2, -1))  # arithmetic keeps the mark
    with pytest.raises(wg.OpValueError, match=r"(?s)multiply.*computed from its values"):
        x * np.exp(x.data)


def test_an_array_sized_by_the_stand_in_batch_is_refused():
    x = wg.placeholder((None, 4))
    with pytest.raises(wg.OpValueError, match=r"(?s)^add: works with a batch of 2 but not of 3"):
        x + np.ones((2, 4), dtype=x.dtype)


def test_a_count_taken_inside_forward_follows_the_fed_batch():
    x = wg.placeholder((None, 2), wg.float64)
    g = wg.Graph([x], [MeanOverRows.apply(x)])
    for size in (1, 4, 9):
        features = RNG.normal(size=(size, 2))
        np.testing.assert_allclose(g(features).data, features.mean(axis=0), rtol=1e-12)


# --- losses and layers built lazily equal their eager values at any batch size ----------------------

LOSSES = {
    "cross_entropy": lambda z, y, p: F.cross_entropy(z, y),
    "cross_entropy_sum": lambda z, y, p: F.cross_entropy(z, y, reduction="sum"),
    "cross_entropy_weighted": lambda z, y, p: F.cross_entropy(z, y, weight=np.array([1.0, 2.0, 0.5])),
    "cross_entropy_smoothed": lambda z, y, p: F.cross_entropy(z, y, label_smoothing=0.1),
    "cross_entropy_probabilities": lambda z, y, p: F.cross_entropy(z, p),
    "nll_loss": lambda z, y, p: F.nll_loss(F.log_softmax(z), y),
    "nll_loss_weighted": lambda z, y, p: F.nll_loss(F.log_softmax(z), y, weight=np.array([1.0, 2.0, 0.5])),
    "mse_loss": lambda z, y, p: F.mse_loss(F.softmax(z), p),
}


@pytest.mark.parametrize("loss", LOSSES.values(), ids=LOSSES.keys())
def test_a_lazy_loss_equals_the_eager_one_at_any_batch_size(loss):
    z = wg.placeholder((None, 3), wg.float64, name="z")
    y = wg.placeholder((None,), wg.int64, name="y")
    p = wg.placeholder((None, 3), wg.float64, name="p")
    g = wg.Graph([z, y, p], [loss(z, y, p)], allow_unused=True)
    for size in (1, 4, 7):
        logits, labels = RNG.normal(size=(size, 3)), RNG.integers(0, 3, size)
        probabilities = RNG.dirichlet(np.ones(3), size)
        feed = {"z": logits, "y": labels, "p": probabilities}
        eager_z = wg.tensor(logits, requires_grad=True)
        expected = loss(eager_z, wg.tensor(labels), wg.tensor(probabilities))
        expected.backward()
        np.testing.assert_allclose(g(feed).data, expected.data, rtol=1e-12)
        np.testing.assert_allclose(g.gradients(feed)["z"], eager_z.grad.data, rtol=1e-10, atol=1e-15)


def test_flatten_keeps_the_batch_free():
    x = wg.placeholder((None, 1, 2, 3), wg.float64)
    flat = nn.Flatten()(x)
    assert flat.shape == (None, 6)
    g = wg.Graph([x], [flat])
    images = RNG.normal(size=(5, 1, 2, 3))
    np.testing.assert_array_equal(g(images).data, images.reshape(5, 6))
    # the function form too, with the batch outside the merged axes or inside them
    assert wg.flatten(x, 1).shape == (None, 6) and wg.flatten(x, -2).shape == (None, 1, 6)
    assert wg.flatten(x, 0, 1).shape == (None, 2, 3)
    np.testing.assert_array_equal(wg.Graph([x], [wg.flatten(x, 1)])(images).data, images.reshape(5, 6))
    np.testing.assert_array_equal(wg.Graph([x], [wg.flatten(x, -2)])(images).data, images.reshape(5, 1, 6))
    np.testing.assert_array_equal(wg.Graph([x], [wg.flatten(x, 0, 1)])(images).data, images.reshape(5, 2, 3))


# --- the graph: printing, feeding, errors -----------------------------------------------------------

def test_a_lazy_graph_prints_none_for_the_batch():
    model = mlp(3, wg.float32)
    x = wg.placeholder((None, 4), name="x")
    y = wg.placeholder((None,), wg.int64, name="y")
    text = str(wg.Graph([x, y], [F.cross_entropy(model(x), y)]))
    assert text.splitlines()[0] == "# inputs: x (None, 4) float32, y (None,) int64"
    assert "z1 = linear(x, w1, w2)" in text and "# (None, 16) float32" in text
    assert "cross_entropy(" in text and "# () float32" in text


def test_feeding_by_placeholder_by_name_and_by_position_agree():
    model = mlp(4)
    x = wg.placeholder((None, 4), wg.float64)  # unnamed: x1, x2 by position
    y = wg.placeholder((None,), wg.int64)
    g = wg.Graph([x, y], [F.cross_entropy(model(x), y)])
    assert g.inputs == ["x1", "x2"]
    features, labels = batch(5)
    by_object, by_name = g({x: features, y: labels}), g({"x1": features, "x2": labels})
    by_position, by_keyword = g(features, labels), g(x1=features, x2=labels)
    assert by_object.item() == by_name.item() == by_position.item() == by_keyword.item()
    assert set(g.gradients({x: features, y: labels})) == {"x1", "w1", "w2", "w3", "w4"}


def test_graph_errors_name_what_is_missing():
    x = wg.placeholder((None, 4), name="x")
    y = wg.placeholder((None,), wg.int64, name="labels")
    loss = F.cross_entropy(mlp(0, wg.float32)(x), y)
    with pytest.raises(wg.GraphError, match=r"placeholder labels \(None,\) int64, which is not among the inputs"):
        wg.Graph([x], [loss])
    with pytest.raises(wg.GraphError, match="no recorded history"):  # eager tensors with no graph behind them
        wg.Graph([wg.tensor([1.0])], [wg.tensor([2.0])])
    with pytest.raises(wg.GraphError, match="must be a placeholder"):
        wg.Graph([x * 2.0], [loss])
    with pytest.raises(wg.GraphError, match="two inputs are named 'x'"):
        wg.Graph([x, y, wg.placeholder((None,), name="x")], [loss], allow_unused=True)


def test_a_tensor_computed_eagerly_from_parameters_is_refused():
    w = wg.tensor(np.ones((4, 2)), requires_grad=True)
    doubled = w * 2.0  # eager: its value would be kept, and no gradient would reach w
    x = wg.placeholder((None, 4), wg.float64)
    with pytest.raises(wg.GraphError, match="computed eagerly from parameters"):
        wg.Graph([x], [(x @ doubled).sum()])


def test_eager_ops_are_untouched_by_lazy_ones():
    x = wg.placeholder((None, 2))
    lazy_sum = (x * 3.0).sum()
    eager = wg.tensor([1.0, 2.0], requires_grad=True)
    (eager * 3.0).sum().backward()
    assert eager.grad.tolist() == [3.0, 3.0]
    assert isinstance(lazy_sum, wg.LazyTensor) and not isinstance(eager * 3.0, wg.LazyTensor)


def test_dropout_in_a_lazy_graph_draws_a_new_mask_at_each_run_as_eager_code_would():
    net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 2)).double()
    x = wg.placeholder((None, 4), wg.float64, name="x")
    state = wg.core.creation.default_generator.get_state()
    graph = wg.Graph([x], [net(x)])
    assert wg.core.creation.default_generator.get_state() == state  # building drew nothing
    batch = RNG.normal(size=(7, 4))
    wg.manual_seed(11)
    runs = [graph(batch).detach().numpy().copy() for _ in range(3)]
    wg.manual_seed(11)
    eager = [net(wg.tensor(batch)).detach().numpy() for _ in range(3)]
    for replayed, expected in zip(runs, eager):
        np.testing.assert_array_equal(replayed, expected)
    assert not np.array_equal(runs[0], runs[1])
