"""wg.compile: one trace per signature, replayed as straight-line code, with the same values and
gradients as eager code for every op and for a training run; what a replay would get wrong is refused."""

import numpy as np
import pytest
from conftest import random_array
from test_graph import CASES, make

import wengert as wg
import wengert.nn.functional as F
from wengert import nn, optim


def mlp(dtype=wg.float64):
    wg.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype)


def batch(seed, size=5):
    rng = np.random.default_rng(seed)
    return wg.tensor(rng.standard_normal((size, 4))), wg.tensor(rng.integers(0, 3, size))


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_op_compiled_gives_eager_values_and_gradients(name):
    fn, specs = CASES[name]
    weights = None
    arrays = [make(spec, seed) for seed, spec in enumerate(specs)]
    expected = fn(*[wg.tensor(value) for value in arrays])
    if expected.dtype.kind == "f":
        weights = wg.tensor(random_array(tuple(expected.shape), 99))
        compiled = wg.compile(lambda *xs: ((fn(*xs) * weights).sum(), fn(*xs)))
    else:
        compiled = wg.compile(fn)
    for seed in (10, 20):  # traced on the first call, replayed on the second
        values = [make(spec, s) for s, spec in zip(range(seed, seed + len(specs)), specs)]
        leaves = [wg.tensor(v, requires_grad=v.dtype.kind == "f") for v in values]
        twins = [wg.tensor(v, requires_grad=v.dtype.kind == "f") for v in values]
        eager = fn(*twins)
        if weights is None:
            np.testing.assert_array_equal(compiled(*leaves).numpy(), eager.numpy())
            continue
        loss, output = compiled(*leaves)
        np.testing.assert_allclose(output.numpy(), eager.detach().numpy(), rtol=1e-12, atol=1e-12)
        if not loss.requires_grad:  # no gradient flows through this op (sign)
            assert not eager.requires_grad
            continue
        loss.backward()
        (eager * weights).sum().backward()
        for mine, theirs in zip(leaves, twins):
            if theirs.requires_grad and theirs.grad is None:  # no gradient reaches it: .grad stays None
                assert mine.grad is None
            elif theirs.requires_grad:
                np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert compiled.traces == 1


def test_a_compiled_training_run_is_the_eager_one():
    losses = {}
    for compiled in (False, True):
        model = mlp()
        optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        def loss(x, y, model=model):
            return F.cross_entropy(model(x), y)

        loss_of = wg.compile(loss) if compiled else loss
        losses[compiled] = []
        for step in range(30):
            x, y = batch(step % 3)
            loss = loss_of(x, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses[compiled].append(loss.item())
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-12)
    assert losses[True][-1] < losses[True][0]


def test_a_new_signature_traces_again_and_the_old_one_is_kept():
    model = mlp()
    loss_of = wg.compile(lambda x, y: F.cross_entropy(model(x), y))
    for size in (5, 7, 5):
        x, y = batch(0, size)
        assert loss_of(x, y).item() == pytest.approx(F.cross_entropy(model(x), y).item(), rel=1e-12)
    assert loss_of.traces == 2
    with wg.no_grad():  # grad mode is part of the signature: no backward part is built
        assert not loss_of(*batch(0)).requires_grad
    assert loss_of.traces == 3
    model.to(wg.float32)  # the parameters' dtype changed: trace again rather than replay float64
    x, y = batch(0)
    loss = loss_of(x.astype(wg.float32), y)
    assert loss.dtype == wg.float32 and loss_of.traces == 4


def test_only_the_first_output_carries_gradients():
    model = mlp()
    loss_of = wg.compile(lambda x, y: (F.cross_entropy(model(x), y), model(x)))
    loss, logits = loss_of(*batch(0))
    assert loss.requires_grad and not logits.requires_grad and logits.shape == (5, 3)


def test_what_a_replay_would_get_wrong_is_refused():
    model = mlp()
    with pytest.raises(wg.core.errors.TraceError, match="item"):
        wg.compile(lambda x, y: F.cross_entropy(model(x), y) * (2 if x.sum().item() > 0 else 1))(*batch(0))
    with pytest.raises(wg.CompileError, match="random numbers outside wengert's ops"):  # wg.rand is no op
        wg.compile(lambda x: (x * wg.rand(*x.shape, dtype=wg.float64)).sum())(batch(0)[0])
    with pytest.raises(wg.CompileError, match="type object"):
        wg.compile(lambda x, o: x.sum())(batch(0)[0], object())


def test_a_parameter_changed_in_place_before_backward_is_caught():
    model = mlp()
    loss = wg.compile(lambda x, y: F.cross_entropy(model(x), y))(*batch(0))
    with wg.no_grad():
        model[0].weight += 1.0
    with pytest.raises(wg.BackwardError, match="modified in place"):
        loss.backward()


def test_compiled_functions_give_first_derivatives_only():
    x = wg.tensor([1.0, 2.0], dtype=wg.float64, requires_grad=True)
    cube = wg.compile(lambda t: (t * t * t).sum())
    (first,) = wg.autograd.grad(cube(x), x)
    np.testing.assert_allclose(first.numpy(), [3.0, 12.0])
    with pytest.raises(wg.CompileError, match="first derivatives"):
        wg.autograd.grad(cube(x), x, create_graph=True)


def eager_and_compiled_steps(make_optimizer, body, steps=6, dtype=wg.float64):
    """The losses and final parameters of ``steps`` training steps, run eagerly and compiled whole."""
    runs = {}
    for compiled in (False, True):
        model = mlp(dtype)
        optimizer = make_optimizer(model.parameters())

        def step(x, y, model=model, optimizer=optimizer):
            return body(model, optimizer, x, y)

        run = wg.compile(step) if compiled else step
        losses = [run(*batch(seed % 3)).item() for seed in range(steps)]
        runs[compiled] = losses, [p.detach().numpy().copy() for p in model.parameters()], run
    return runs


def plain(model, optimizer, x, y):
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def clipped(model, optimizer, x, y):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y) + 0.01 * (model[0].weight ** 2).sum()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 0.5)
    optimizer.step()
    return loss


def accumulated(model, optimizer, x, y):  # zero_grad(set_to_none=False), two backwards summed into .grad
    model.zero_grad(set_to_none=False)
    first = F.cross_entropy(model(x[:2]), y[:2])
    first.backward()
    second = F.cross_entropy(model(x[2:]), y[2:])
    second.backward()
    optimizer.step()
    return first + second


@pytest.mark.parametrize("body", [plain, clipped, accumulated])
@pytest.mark.parametrize("make_optimizer", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                                            lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1)])
def test_a_whole_training_step_compiled_is_the_eager_one(body, make_optimizer):
    runs = eager_and_compiled_steps(make_optimizer, body)
    (eager_losses, eager_params, _), (losses, params, compiled) = runs[False], runs[True]
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-12)  # the first call steps once, not twice
    assert len(set(losses)) == len(losses)  # the parameters did move every step
    for mine, theirs in zip(params, eager_params):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-14)
    assert compiled.traces == 1


def test_a_compiled_step_reads_the_learning_rate_when_it_runs():
    model = mlp()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    step = wg.compile(lambda x, y: plain(model, optimizer, x, y))
    step(*batch(0))
    before = [p.detach().numpy().copy() for p in model.parameters()]
    optimizer.param_groups[0]["lr"] = 0.0  # a scheduler's change: the next replay must follow it
    step(*batch(1))
    for p, old in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.detach().numpy(), old)


def test_a_compiled_step_reuses_a_dropped_gradients_buffer_but_never_a_held_one():
    import weakref

    model = nn.Sequential(nn.Linear(64, 300), nn.Tanh(), nn.Linear(300, 3)).to(wg.float64)  # a 300x64 gradient
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    x, y = wg.tensor(np.random.default_rng(0).standard_normal((4, 64))), wg.tensor(np.array([0, 1, 2, 0]))
    step = wg.compile(lambda x, y: plain(model, optimizer, x, y))
    step(x, y)
    step(x, y)
    last = weakref.ref(model[0].weight.grad.data)  # not a reference: the buffer stays free to reuse
    step(x, y)  # zero_grad inside drops .grad: the matmul writes into the array it wrote last call
    assert model[0].weight.grad.data is last()
    held = model[0].weight.grad  # now the user holds it: the next call must write elsewhere
    kept = held.numpy().copy()
    optimizer.param_groups[0]["lr"] = 0.5  # so that the next gradient differs
    step(x, y)
    np.testing.assert_array_equal(held.numpy(), kept)
    assert model[0].weight.grad is not held and not np.shares_memory(model[0].weight.grad.data, held.data)
    grads = [p.grad.data for p in model.parameters()]  # no two gradients share memory
    assert not any(np.shares_memory(a, b) for i, a in enumerate(grads) for b in grads[i + 1:])


def test_a_slice_the_caller_keeps_of_a_compiled_result_is_never_written_over():
    # a batch through a wide layer is computed column-major: the transpose of a row-major array, which
    # the caller's slice refers to instead of the result itself
    rng = np.random.default_rng(0)
    W = wg.tensor(rng.standard_normal((600, 300)))
    layer = wg.compile(lambda t: F.linear(t, W))
    first, second = (wg.tensor(rng.standard_normal((100, 300))) for _ in range(2))
    with wg.no_grad():
        layer(first)
        result = layer(first).numpy()
        assert result.flags.f_contiguous and result.base is not None
        kept = result[:2, :3]
        expected = kept.copy()
        del result
        layer(second)
        layer(second)
    np.testing.assert_array_equal(kept, expected)


def test_what_a_compiled_step_cannot_replay_is_refused():
    model = mlp()
    optimizer = optim.SGD(model.parameters(), lr=0.1)

    def with_closure(x, y):
        return optimizer.step(lambda: plain(model, optimizer, x, y))

    with pytest.raises(wg.core.errors.TraceError, match="closure"):
        wg.compile(with_closure)(*batch(0))

    def twice(x, y):
        loss = F.cross_entropy(model(x), y)
        loss.backward(retain_graph=True)
        return loss

    with pytest.raises(wg.core.errors.TraceError, match="retain_graph"):
        wg.compile(twice)(*batch(0))
    x, y = batch(0)
    with pytest.raises(wg.CompileError, match="inputs that do not require grad"):
        wg.compile(lambda x, y: plain(model, optimizer, x, y))(x.requires_grad_(), y)


def test_a_compiled_step_computes_no_gradient_for_the_batch():
    model = mlp()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    step = wg.compile(lambda x, y: plain(model, optimizer, x, y))
    step(*batch(0))
    (program,) = step.programs.values()
    ops = [assignment.op for assignment in program.assignments]
    # forward: 2 linears; backward: each weight's matmul, and the gradient of the hidden layer's
    # input (a linear) -- but none for the batch's, which nothing asks for
    assert ops.count("linear") == 3 and ops.count("matmul") == 2
    assert not any(a.shape == (5, 4) and a.op in ("linear", "matmul") for a in program.assignments)


def test_common_subexpressions_are_computed_once_but_not_across_a_step():
    x = wg.tensor([1.0, -2.0, 3.0], dtype=wg.float64, requires_grad=True)
    twice = wg.compile(lambda t: (wg.exp(t) * 2).sum() + (wg.exp(t) * 2).sum())
    value = twice(x)
    program = next(iter(twice.programs.values()))
    assert len(program.assignments) < program.traced_steps
    np.testing.assert_allclose(value.item(), 4 * np.exp([1.0, -2.0, 3.0]).sum())
    value.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.exp([1.0, -2.0, 3.0]))

    w = wg.tensor([1.0, 2.0], dtype=wg.float64, requires_grad=True)
    optimizer = optim.SGD([w], lr=0.5)

    def before_and_after(z):
        before = (w * 3).sum()
        optimizer.zero_grad()
        (before * z).sum().backward()
        optimizer.step()
        return before, (w * 3).sum()  # the same op on w, which the step changed

    step = wg.compile(before_and_after)
    z = wg.tensor([1.0], dtype=wg.float64)
    step(z)
    first, second = step(z)  # replayed: each step moves w by -0.5 * 3 = -1.5: [1, 2] -> [-0.5, 0.5] -> [-2, -1]
    np.testing.assert_allclose([first.item(), second.item()], [3 * (-0.5 + 0.5), 3 * (-2 - 1)])


def test_constants_are_folded_into_literals():
    scale = wg.tensor([2.0, 3.0], dtype=wg.float64)
    graph = wg.Graph.trace(lambda x: x * wg.exp(scale) + wg.sqrt(scale * 4), np.ones(2))
    assert [step.op for step in graph.assignments] == ["multiply", "add"]  # exp(scale), sqrt(4 scale): constants
    np.testing.assert_allclose(graph(np.array([1.0, 2.0])).numpy(), [1, 2] * np.exp([2.0, 3.0]) + np.sqrt([8, 12]))


def test_an_elementwise_step_writes_over_an_input_only_it_reads_never_over_one_read_again():
    import re

    rng = np.random.default_rng(0)
    W = wg.tensor(rng.standard_normal((6, 6)))
    x = rng.standard_normal((5, 6))
    kept = x.copy()
    chained = wg.compile(lambda t: wg.relu(t @ W) * 2 + 1)  # each result read by the next step only
    read_twice = wg.compile(lambda t: wg.relu(t @ W) + t @ W)  # the product (computed once) read again
    of_input = wg.compile(lambda t: wg.relu(t) * 2)  # the caller's array is never written over
    with wg.no_grad():
        for compiled, eager, written_over in [(chained, np.maximum(x @ W.numpy(), 0) * 2 + 1, 3),
                                              # the add over relu's result, not relu over the product:
                                              # else the sum would be twice relu's (the product has negatives)
                                              (read_twice, np.maximum(x @ W.numpy(), 0) + x @ W.numpy(), 1),
                                              (of_input, np.maximum(x, 0) * 2, 1)]:
            for _ in range(2):  # the trace, then a replay
                np.testing.assert_allclose(compiled(wg.tensor(x)).numpy(), eager, rtol=1e-15)
            (program,) = compiled.programs.values()
            assert len(re.findall(r"out=v\d+", program.sources[0])) == written_over
    np.testing.assert_array_equal(x, kept)


def test_a_reshape_to_the_shape_its_input_has_is_no_step():
    compiled = wg.compile(lambda t: (t.reshape(5, 4) * 2).reshape(4, 5).sum(axis=0))
    x = np.arange(20.0).reshape(5, 4)
    with wg.no_grad():
        np.testing.assert_allclose(compiled(wg.tensor(x)).numpy(), (x * 2).reshape(4, 5).sum(axis=0))
    (program,) = compiled.programs.values()
    assert [step.op for step in program.assignments] == ["multiply", "reshape", "sum"]
    assert program.traced_steps == 4


def test_a_compiled_calls_backward_frees_as_it_goes_so_it_runs_once():
    model = mlp()
    loss = wg.compile(lambda x, y: F.cross_entropy(model(x), y))(*batch(0))
    loss.backward(retain_graph=True)
    with pytest.raises(wg.CompileError, match="backward has run already"):
        loss.backward()


def _convolutional_step(compiled: bool):
    wg.manual_seed(0)
    model = wg.nn.Sequential(wg.nn.Conv2d(1, 4, 3, padding=1), wg.nn.ReLU(), wg.nn.MaxPool2d(2),
                             wg.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), wg.nn.Flatten(),
                             wg.nn.Linear(24, 3)).double()
    optimizer = wg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def step(x, y):
        loss = wg.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    return model, (wg.compile(step) if compiled else step)


def test_a_compiled_conv_step_reads_its_forwards_columns_and_pool_winners_again_not_recomputes_them():
    rng = np.random.default_rng(0)
    batches = [(wg.tensor(rng.standard_normal((5, 1, 8, 8))), wg.tensor(rng.integers(0, 3, 5))) for _ in range(4)]
    runs = []
    for compiled in (False, True):
        model, step = _convolutional_step(compiled)
        runs.append(([step(x, y).item() for x, y in batches], [p.detach().numpy().copy() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    for eager, replayed in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(replayed, eager)
    ops = [assignment.op for assignment in next(iter(step.programs.values())).assignments]
    assert "conv_weight" not in ops and "max_pool2d_backward" not in ops and "conv" not in ops
    assert ops.count("conv_columns") == 2 and ops.count("conv_weight_from_columns") == 2
    assert ops.count("max_pool2d_winners") == 1 and ops.count("max_pool2d_scatter") == 1



def _wide_mlp_step(compiled, differentiated_outside):
    """An MLP step whose middle layer's gradients are large enough to run side by side: the step,
    the model, and the compiled function (None when eager)."""
    wg.manual_seed(0)
    model = nn.Sequential(nn.Linear(100, 400), nn.ReLU(), nn.Linear(400, 400), nn.ReLU(), nn.Linear(400, 10))
    model = model.to(wg.float64)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    if not differentiated_outside:
        whole = (wg.compile if compiled else (lambda fn: fn))(lambda x, y: plain(model, optimizer, x, y))
        return whole, model, whole if compiled else None
    loss = (wg.compile if compiled else (lambda fn: fn))(lambda x, y: F.cross_entropy(model(x), y))

    def step(x, y):
        value = loss(x, y)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        return value
    return step, model, loss if compiled else None


@pytest.mark.parametrize("differentiated_outside", [False, True])
def test_a_layers_two_gradients_run_side_by_side_in_one_step_with_eagers_values(differentiated_outside):
    """The input's and the weight's gradient of the middle layer (large enough to pay) become one
    ``products`` step; the first layer's input gradient is not computed, so its weight's stays alone."""
    from wengert.core import blas

    rng = np.random.default_rng(0)
    batches = [(wg.tensor(rng.standard_normal((128, 100))), wg.tensor(rng.integers(0, 10, 128))) for _ in range(3)]
    runs = []
    for compiled in (False, True):
        step, model, function = _wide_mlp_step(compiled, differentiated_outside)
        runs.append(([step(x, y).item() for x, y in batches], [p.detach().numpy().copy() for p in model.parameters()]))
    # equal up to rounding: the compiled function's first call is its trace, whose products run one by one
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-13)
    for eager, replayed in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(replayed, eager, rtol=1e-13, atol=1e-15)
    ops = [assignment.op for assignment in next(iter(function.programs.values())).assignments]
    assert ops.count("products") == 1 and ops.count("part") == 2
    # alone: the first layer's weight gradient (its input needs none), the last layer's two (too small to pay)
    assert ops.count("matmul") == 2 and ops.count("linear") == 4  # and the three forward products
    assert blas.WORTHWHILE <= 128 * 400 * 400 and 128 >= blas.SHORTEST  # the middle layer's pair is large enough



def test_a_products_step_computes_each_product_alone_where_blas_runs_one_thread():
    threadpoolctl = pytest.importorskip("threadpoolctl")  # installed with scikit-learn, in the test extra
    rng = np.random.default_rng(2)
    batches = [(wg.tensor(rng.standard_normal((128, 100))), wg.tensor(rng.integers(0, 10, 128))) for _ in range(3)]
    runs = []
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        for compiled in (False, True):
            step, model, function = _wide_mlp_step(compiled, False)
            losses = [step(x, y).item() for x, y in batches]
            runs.append((losses, [p.detach().numpy().copy() for p in model.parameters()]))
    assert [step.op for step in next(iter(function.programs.values())).assignments].count("products") == 1
    assert runs[0][0] == runs[1][0]  # one thread: every product by numpy, eagerly and in the products step alike
    for eager, replayed in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(replayed, eager)

def test_a_compiled_conv_loss_differentiated_outside_keeps_the_columns_for_its_backward():
    model, _ = _convolutional_step(False)
    x = wg.tensor(np.random.default_rng(1).standard_normal((5, 1, 8, 8)))
    loss_of = wg.compile(lambda x: model(x).square().sum())
    for _ in range(2):  # the trace, then a replay
        model.zero_grad()
        loss_of(x).backward()
        replayed = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    model(x).square().sum().backward()
    for parameter, gradient in zip(model.parameters(), replayed):
        np.testing.assert_allclose(gradient, parameter.grad.numpy(), rtol=1e-12, atol=1e-12)
    ops = [assignment.op for assignment in next(iter(loss_of.programs.values())).assignments]
    assert ops.count("conv_columns") == 2 and "conv_weight" not in ops and "max_pool2d_backward" not in ops


def test_a_conv_of_a_parameter_is_not_split_an_optimizer_step_may_change_it():
    from wengert.compile import _shared_forward_work
    from wengert.graph import Assignment
    from wengert.ops.conv import Convolution, ConvolutionWeight

    geometry = {"stride": (1, 1), "padding": ((0, 0), (0, 0)), "dilation": (1, 1), "groups": 1}
    steps = [Assignment("y", "conv", ("w1", "w2"), geometry, (1, 1, 2, 2), np.float64, Convolution),
             Assignment("g", "conv_weight", ("w1", "df"), {"kernel": (2, 2), **geometry}, (1, 1, 2, 2), np.float64,
                        ConvolutionWeight)]
    shapes = {"w1": (1, 1, 3, 3), "w2": (1, 1, 2, 2), "df": (1, 1, 2, 2)}
    assert _shared_forward_work(steps, shapes, {"w1": None, "w2": None}) == steps
    assert [step.op for step in _shared_forward_work(steps, shapes, {"w2": None})] == [
        "conv_columns", "conv_from_columns", "conv_weight_from_columns"]


def test_dropout_compiles_and_each_replay_draws_new_masks_as_eager_code_would():
    dropping = nn.Sequential(nn.Linear(4, 6), nn.Dropout(0.5), nn.Linear(6, 1), nn.Dropout2d(0.3)).to(wg.float64)
    x = wg.tensor(batch(0)[0])
    runs = []
    for compiled in (False, True):
        wg.manual_seed(7)
        step = wg.compile(lambda t: dropping(t)) if compiled else dropping
        runs.append([step(x).detach().numpy().copy() for _ in range(4)])
    for eager, replayed in zip(*runs):
        np.testing.assert_array_equal(replayed, eager)  # the same draws, in the same order
    assert not np.array_equal(runs[1][1], runs[1][2])  # a new mask each call, not the traced one again
    dropping.eval()
    np.testing.assert_array_equal(wg.compile(lambda t: dropping(t))(x).detach().numpy(), dropping(x).detach().numpy())


def test_two_dropouts_of_one_tensor_are_two_masks_in_a_compiled_program():
    x = wg.tensor(np.ones((50, 8)))
    twice = wg.compile(lambda t: wg.nn.functional.dropout(t, 0.5) - wg.nn.functional.dropout(t, 0.5))
    twice(x)
    assert np.abs(twice(x).numpy()).sum() > 0  # merged as one subexpression they would cancel


def test_dropout_compiled_without_grad_draws_as_eager_code_from_the_first_call():
    x = wg.tensor(np.ones((6, 5)))
    runs = []
    for compiled in (False, True):
        wg.manual_seed(3)
        step = wg.compile(lambda t: wg.nn.functional.dropout(t, 0.5)) if compiled else (
            lambda t: wg.nn.functional.dropout(t, 0.5))
        with wg.no_grad():
            runs.append([step(x).numpy().copy() for _ in range(3)])
    for eager, replayed in zip(*runs):
        np.testing.assert_array_equal(replayed, eager)
