"""Forward-mode rules (JVPs) of the non-elementwise ops: every op's tangent against central finite
differences of the whole function and against its own VJP (<v, J u> = <J^T v, u>), on the shape
grids of the ops' gradient tests.

The harness traces a function once (``wg.tracing``), then walks the recorded applications in order,
giving each result its tangent with ``tangent_of`` (the op's ``jvp``, or for a ``linear`` op the op
applied to the tangents). Elementwise ops, whose rules are derived elsewhere, get theirs here by
central differences of that single application, so that these tests check the rules of this file's
ops alone.
"""

import numpy as np
import pytest
import test_graph
import test_nn_functional
import test_ops_indexing
import test_ops_linalg
import test_ops_reduce
import test_ops_shape
from conftest import random_array

import wengert as wg
import wengert.nn.functional as F
from wengert.core.forward import tangent_of
from wengert.core.function import OPS, Function
from wengert.ops.reduce import _cumprod_jvp_by_position

STEP, COARSE_STEP = 1e-6, 1e-3  # the coarse one where float32 rounding would swamp a fine difference


# --- the harness ----------------------------------------------------------------------------------

def floating(value):
    return isinstance(value, np.ndarray) and value.dtype.kind == "f"


def outputs_of(value):
    """A function's outputs as a flat list of Tensors (split and sort give several)."""
    if isinstance(value, wg.Tensor):
        return [value]
    return [tensor for part in value for tensor in outputs_of(part)]


def elementwise_by_differences(function, inputs, tangents, constants, result):
    """The tangent of one elementwise application, by central differences in float64."""
    if not function.differentiable or result.dtype.kind != "f":
        return None

    def moved(step):
        shifted = [value if tangent is None else value.data.astype(np.float64) + step * tangent.data
                   for value, tangent in zip(inputs, tangents)]
        return function.apply(*shifted, **constants).data

    return wg.tensor(((moved(STEP) - moved(-STEP)) / (2 * STEP)).astype(result.dtype))


def forward_sweep(fn, arrays, directions):
    """fn's outputs, each with its tangent along ``directions`` (one per array, None for none)."""
    inputs = [wg.tensor(array) if isinstance(array, np.ndarray) else array for array in arrays]
    with wg.tracing() as trace:
        outputs = outputs_of(fn(*inputs))
    table = {id(tensor): wg.tensor(direction) for tensor, direction in zip(inputs, directions)
             if direction is not None}
    for function, primals, constants, result in trace:
        tangents = tuple(table.get(id(value)) if isinstance(value, wg.Tensor) else None for value in primals)
        if all(tangent is None for tangent in tangents):
            continue
        if "rule" in vars(function):  # an op made by ``elementwise``
            tangent = elementwise_by_differences(function, primals, tangents, constants, result)
        else:
            tangent = tangent_of(function, primals, tangents, result, constants)
        if tangent is not None:
            table[id(result)] = tangent
    return [(output, table.get(id(output))) for output in outputs]


def check_jvp(fn, arrays, coarse=False, seed=0, differences=True):
    """(a) the swept tangent against central differences of fn (``differences``: not at a kink),
    (b) <v, J u> against <J^T v, u>."""
    arrays = [np.asarray(array, dtype=np.float64) if isinstance(array, (list, float)) else array for array in arrays]
    coarse = coarse or any(floating(array) and array.dtype != np.float64 for array in arrays)
    step, tolerance = (COARSE_STEP, 2e-3) if coarse else (STEP, 1e-6)
    directions = [random_array(array.shape, seed=seed + 100 + index) if floating(array) else None
                  for index, array in enumerate(arrays)]
    swept = forward_sweep(fn, arrays, directions)

    def shifted(sign):
        moved = [np.asarray(array.astype(np.float64) + sign * step * direction) if direction is not None else array
                 for array, direction in zip(arrays, directions)]
        return [output.numpy().astype(np.float64) for output in outputs_of(fn(*[
            wg.tensor(value) if isinstance(value, np.ndarray) else value for value in moved]))]

    # (a) finite differences of the whole function
    for (output, tangent), plus, minus in zip(swept, *([shifted(+1), shifted(-1)] if differences
                                                         else [[None] * len(swept)] * 2), strict=True):
        if output.dtype.kind != "f":
            assert tangent is None, "a non-floating output has no tangent"
            continue
        if tangent is not None:
            assert tangent.shape == output.shape and tangent.dtype == output.dtype
        got = np.zeros(output.shape) if tangent is None else tangent.numpy().astype(np.float64)
        if not differences:
            continue
        finite = np.isfinite(output.numpy())  # (logsumexp of nothing is -inf, whose difference is nan)
        with np.errstate(invalid="ignore"):
            quotients = (plus - minus) / (2 * step)
        np.testing.assert_allclose(got[finite], quotients[finite], rtol=tolerance, atol=tolerance,
                                   err_msg="JVP against finite differences")

    # (b) the VJP's transpose: sum over outputs of <v, J u> equals sum over inputs of <J^T v, u>
    leaves = [wg.tensor(array, requires_grad=floating(array)) if isinstance(array, np.ndarray) else array
              for array in arrays]
    differentiable = [(output, tangent) for output, (_, tangent) in zip(outputs_of(fn(*leaves)), swept)
                      if output.requires_grad]
    if not differentiable:
        return
    assert any(tangent is not None for _, tangent in differentiable), "outputs with gradients but no tangent"
    rng = np.random.default_rng(seed + 7)
    weights = [rng.standard_normal(output.shape).astype(output.dtype) for output, _ in differentiable]
    with_grad = [(leaf, direction) for leaf, direction in zip(leaves, directions) if direction is not None]
    grads = wg.autograd.grad([output for output, _ in differentiable], [leaf for leaf, _ in with_grad],
                             grad_outputs=[wg.tensor(w) for w in weights], allow_unused=True)
    forward = sum(float(np.sum(w * tangent.numpy())) for w, (_, tangent) in zip(weights, differentiable)
                  if tangent is not None)
    backward = sum(float(np.sum(grad.numpy() * direction)) for grad, (_, direction) in zip(grads, with_grad)
                   if grad is not None)
    assert forward == pytest.approx(backward, rel=tolerance, abs=tolerance), "<v, J u> != <J^T v, u>"


# --- the grids of the gradient tests ----------------------------------------------------------------

def grid(params, prefix):
    """(fn, arrays, coarse) rows from a gradient test's table of pytest.param(wg_fn, torch_fn, arrays, tolerances)."""
    return [pytest.param(wg_fn, arrays, "eps" in tolerances, id=f"{prefix}-{param.id}")
            for param in params for wg_fn, _, arrays, tolerances in [param.values]]


def softmax_rows():
    return [pytest.param(lambda x, n=name, a=axis: getattr(wg, n)(x, axis=a), [random_array(shape)], False,
                         id=f"{name}-{shape}-axis{axis}")
            for name in ("softmax", "log_softmax") for shape, axis in test_ops_reduce.SOFTMAX_AXES]


def linalg_rows():
    rows = [pytest.param(wg.matmul, [random_array(a, seed=0), random_array(b, seed=1)], False, id=f"matmul-{name}")
            for name, (a, b) in test_ops_linalg.MATMUL_SHAPES.items()]
    rows += [pytest.param(lambda *xs, s=param.values[0]: wg.einsum(s, *xs),
                          [random_array(shape, seed=index) for index, shape in enumerate(param.values[1])], False,
                          id=f"einsum-{param.id}") for param in test_ops_linalg.EINSUM_CASES]
    return rows


def indexing_rows():
    rows = [pytest.param(lambda x, key=param.values[1]: x[key], [random_array(param.values[0])], False,
                         id=f"getitem-{param.id}") for param in test_ops_indexing.KEYS]
    rows += [pytest.param(lambda v: wg.scatter_add(v, ([0, 2, 0], slice(None)), (4, 3)), [random_array((3, 3))],
                          False, id="scatter_add-repeated-rows"),
             pytest.param(lambda v: wg.scatter_add(v, [1, 1], (3,)), [random_array(())], False,
                          id="scatter_add-broadcast-0d")]
    return rows


def nn_rows():
    rows = [pytest.param(F.linear, [random_array(shape), random_array((5, 4), seed=1), random_array((5,), seed=2)]
                         [:3 if bias else 2], False, id=f"linear-{name}-{'bias' if bias else 'no-bias'}")
            for name, shape in test_nn_functional.LINEAR_X_SHAPES.items() for bias in (True, False)]
    rows += [pytest.param(F.linear, [random_array(shape, seed=i, dtype=dtype) for i, (shape, dtype) in
                                     enumerate(zip([(3, 4), (5, 4), (5,)], dtypes))], True, id=f"linear-{name}")
             for name, dtypes in test_nn_functional.MIXED.items()]
    labels, probabilities = test_nn_functional.LABELS, test_nn_functional.probabilities((5, 4), seed=1)
    for reduction in test_nn_functional.REDUCTIONS:
        for name, options in test_nn_functional.CE_OPTIONS.items():
            rows.append(pytest.param(lambda z, r=reduction, o=options: F.cross_entropy(z, labels, reduction=r, **o),
                                     [random_array((5, 4))], False, id=f"cross_entropy-labels-{name}-{reduction}"))
            rows.append(pytest.param(lambda z, t, r=reduction, o=options: F.cross_entropy(z, t, reduction=r, **o),
                                     [random_array((5, 4)), probabilities], False,
                                     id=f"cross_entropy-probabilities-{name}-{reduction}"))
        rows.append(pytest.param(lambda z, t, r=reduction: F.cross_entropy(z, t, reduction=r),
                                 [random_array((4,)), probabilities[0]], False, id=f"cross_entropy-1d-{reduction}"))
        rows.append(pytest.param(lambda p, y, r=reduction: F.binary_cross_entropy(p, y, reduction=r),
                                 [random_array((2, 3), low=0.05, high=0.95), random_array((2, 3), 1, 0.0, 1.0)],
                                 False, id=f"binary_cross_entropy-{reduction}"))
    return rows


def extra_rows():
    """What the gradient tables leave out: norms, reductions at ties and zeros, views of tangents."""
    return [
        *[pytest.param(lambda x, p=p, d=dim, k=keep: x.norm(p, dim=d, keepdim=k), [random_array((2, 3, 4))], False,
                       id=f"norm-p{p}-dim{dim}-keepdim{keep}")
          for p in (2, 1, 3, 0.5, 0, float("inf"), -float("inf"))
          for dim, keep in [(None, False), (-1, True), ((0, 2), False)]],
        pytest.param(lambda x: x.norm(), [np.zeros((2, 3))], False, id="norm-at-zero"),
        pytest.param(lambda x: wg.std(x, axis=1), [np.array([[1.0, 1.0, 1.0], [0.5, 2.0, -1.0]])], False,
                     id="std-zero-spread-row"),
        pytest.param(lambda x: wg.cumprod(x, axis=-1), [np.array([[0.0, 2.0, 0.0, 3.0], [1.5, -2.0, 0.5, 0.0]])],
                     False, id="cumprod-zeros-anywhere"),
        pytest.param(lambda x: x.transpose().view(-1), [random_array((1, 4))], False, id="view-of-a-transposed-view"),
        pytest.param(lambda x: wg.pad(x, 1, constant_values=2.5), [random_array((2, 3))], False,
                     id="pad-with-a-constant"),
        pytest.param(lambda x: x.astype(wg.float32), [random_array((2, 3))], True, id="astype-to-float32"),
        pytest.param(lambda x: wg.take_along_axis(x, np.array([[2, 0], [1, 1]]), axis=1), [random_array((2, 3))],
                     False, id="take_along_axis"),
        pytest.param(lambda x: x.topk(2).values, [random_array((2, 5))], False, id="topk"),
        pytest.param(lambda x: x.max(dim=0).values, [random_array((3, 2))], False, id="max-with-dim"),
        pytest.param(lambda x: wg.diag(x), [random_array((3,))], False, id="diag-of-a-vector"),
    ]


GRID = [*grid(test_ops_reduce.CASES, "reduce"), *grid(test_ops_reduce.SCANS_AND_SORTS, "scan"), *softmax_rows(),
        *grid(test_ops_shape.CASES, "shape"), *linalg_rows(), *indexing_rows(), *nn_rows(), *extra_rows()]


@pytest.mark.parametrize("fn, arrays, coarse", GRID)
def test_jvp_matches_finite_differences_and_transposes_to_the_vjp(fn, arrays, coarse):
    check_jvp(fn, arrays, coarse)


@pytest.mark.parametrize("name", sorted(name for name in test_graph.CASES
                                        if "rule" not in vars(OPS[name]) and name != "astype"))
def test_every_non_elementwise_op_of_the_library_has_a_forward_mode_rule(name):
    # the traced-graph tests' table: every op with example inputs
    fn, specs = test_graph.CASES[name]
    check_jvp(fn, [test_graph.make(spec, seed) for seed, spec in enumerate(specs)])


def test_astype_to_float32_and_back_keeps_a_float32_tangent_on_the_way():
    x = random_array((2, 3))
    check_jvp(test_graph.CASES["astype"][0], [x], coarse=True)
    ((y, tangent),) = forward_sweep(lambda t: t.astype(wg.float32), [x], [np.ones((2, 3))])
    assert y.dtype == tangent.dtype == np.float32


def test_every_non_elementwise_op_has_a_jvp_or_is_linear_or_is_not_differentiable():
    mine = ("wengert.ops.reduce", "wengert.ops.shape", "wengert.ops.indexing", "wengert.ops.linalg",
            "wengert.nn.functional")
    ops = [function for function in OPS.values() if function.__module__ in mine]
    assert len(ops) > 40
    missing = [function.name for function in ops
               if function.differentiable and function.jvp is None and not function.linear]
    assert missing == []


# --- values worked out by hand ----------------------------------------------------------------------

def test_max_at_ties_gives_the_mean_tangent_of_the_tied_elements():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [3.0, -1.0, 0.0]])
    u = np.array([[5.0, 1.0, 2.0], [3.0, 6.0, 9.0], [4.0, 7.0, 8.0]])
    ((_, tangent),) = forward_sweep(lambda t: wg.max(t, axis=1), [x], [u])
    np.testing.assert_allclose(tangent.numpy(), [1.5, 6.0, 4.0])  # (1 + 2) / 2, (3 + 6 + 9) / 3, 4
    ((_, tangent),) = forward_sweep(lambda t: wg.min(t), [x], [u])
    assert tangent.item() == 7.0  # the single smallest, -1
    # the VJP splits equally among ties: still each other's transpose (there is no derivative to difference)
    check_jvp(lambda t: wg.max(t, axis=1), [x], differences=False)
    check_jvp(lambda t: wg.amin(t, axis=(0, 1), keepdims=True), [test_ops_reduce.TIES], differences=False)


def test_zero_spread_and_zero_norm_have_zero_tangents_as_their_gradients_are_zero():
    u = np.array([1.0, -2.0, 4.0])
    ((_, std_tangent),) = forward_sweep(wg.std, [np.full(3, 2.0)], [u])
    ((_, norm_tangent),) = forward_sweep(lambda t: t.norm(), [np.zeros(3)], [u])
    assert std_tangent.item() == 0.0 and norm_tangent.item() == 0.0


def test_prod_and_cumprod_with_zeros_are_exact():
    x, u = np.array([2.0, 0.0, 3.0]), np.array([1.0, 10.0, 100.0])
    ((_, tangent),) = forward_sweep(wg.prod, [x], [u])
    assert tangent.item() == 10.0 * 2.0 * 3.0  # only the zero's tangent moves the product
    ((_, tangent),) = forward_sweep(lambda t: wg.cumprod(t, axis=0), [x], [u])
    np.testing.assert_allclose(tangent.numpy(), [1.0, 20.0, 60.0])  # (u0, u0 x1 + x0 u1, 3 (x0 u1))


def test_cumprod_by_position_agrees_with_the_quotient_form_away_from_zeros():
    x, u = random_array((3, 4), low=0.5, high=2.0), random_array((3, 4), seed=1)
    quotient = np.cumprod(x, axis=1) * np.cumsum(u / x, axis=1)
    by_position = _cumprod_jvp_by_position(wg.ops, wg.tensor(u), wg.tensor(x), 1)
    np.testing.assert_allclose(by_position.numpy(), quotient, rtol=1e-12)


def test_a_view_takes_a_tangent_whose_layout_cannot_be_viewed():
    x = wg.tensor(np.ones((2, 3)))
    result = x.view(6)
    tangent = wg.tensor(random_array((3, 2))).T  # a transposed view: reshaping it needs a copy
    got = tangent_of(wg.ops.View, (x,), (tangent,), result, {"shape": (6,)})
    np.testing.assert_array_equal(got.numpy(), tangent.numpy().reshape(6))


def test_pad_with_a_constant_has_zero_tangent_in_the_padding():
    ((_, tangent),) = forward_sweep(lambda t: wg.pad(t, 1, constant_values=7.0), [np.ones(2)], [np.array([3.0, 4.0])])
    assert tangent.numpy().tolist() == [0.0, 3.0, 4.0, 0.0]


def test_cross_entropy_tangent_in_the_logits_is_softmax_minus_onehot():
    z, u = random_array((3, 4)), random_array((3, 4), seed=1)
    labels = np.array([0, 3, 1])
    ((_, tangent),) = forward_sweep(lambda t: F.cross_entropy(t, labels, reduction="sum"), [z], [u])
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert tangent.item() == pytest.approx(np.sum((p - np.eye(4)[labels]) * u), rel=1e-12)


def test_linear_tangent_is_the_product_rule():
    x, W, b = random_array((3, 4)), random_array((2, 4), seed=1), random_array((2,), seed=2)
    tx, tW, tb = random_array((3, 4), seed=3), random_array((2, 4), seed=4), random_array((2,), seed=5)
    ((_, tangent),) = forward_sweep(F.linear, [x, W, b], [tx, tW, tb])
    np.testing.assert_allclose(tangent.numpy(), tx @ W.T + x @ tW.T + tb, rtol=1e-12)
    ((_, tangent),) = forward_sweep(F.linear, [x, W, b], [None, None, tb])  # the bias alone: broadcast over rows
    np.testing.assert_allclose(tangent.numpy(), np.broadcast_to(tb, (3, 2)))


# --- the rules are themselves differentiable (reverse over forward) ----------------------------------

SINGLE_OPS = {
    "var": (lambda x: wg.var(x, axis=1, ddof=1), [(3, 4)]),
    "std": (lambda x: wg.std(x, axis=0, keepdims=True), [(3, 4)]),
    "max": (lambda x: wg.max(x, axis=-1), [(3, 4)]),
    "prod": (lambda x: wg.prod(x, axis=1), [(3, 4)]),
    "norm-2": (lambda x: x.norm(dim=1), [(3, 4)]),
    "norm-3": (lambda x: x.norm(3), [(3, 4)]),
    "cumprod": (lambda x: wg.cumprod(x, axis=1), [(3, 4)]),
    "logsumexp": (lambda x: wg.logsumexp(x, axis=0), [(3, 4)]),
    "softmax": (lambda x: wg.softmax(x, axis=0), [(3, 4)]),
    "log_softmax": (wg.log_softmax, [(3, 4)]),
    "matmul": (wg.matmul, [(2, 3, 4), (4, 2)]),
    "einsum": (lambda a, b: wg.einsum("ij,jk->ik", a, b), [(3, 4), (4, 2)]),
    "linear": (F.linear, [(3, 4), (2, 4), (2,)]),
    "cross_entropy": (lambda z, t: F.CrossEntropy.apply(z, t, reduction="mean"), [(3, 4), (3, 4)]),
    "binary_cross_entropy": (lambda p, y: F.BinaryCrossEntropy.apply(p, y), [(2, 3), (2, 3)]),
}


@pytest.mark.parametrize("name", SINGLE_OPS)
def test_a_tangent_differentiates_in_reverse_mode_like_finite_differences(name):
    fn, shapes = SINGLE_OPS[name]
    arrays = [random_array(shape, seed=index, low=0.1, high=0.9) for index, shape in enumerate(shapes)]
    directions = [random_array(shape, seed=10 + index) for index, shape in enumerate(shapes)]
    leaves = [wg.tensor(array, requires_grad=True) for array in arrays]
    function, primals, constants, result = recorded_application(fn, leaves)
    tangents = tuple(wg.tensor(u) for u in directions)
    tangent = tangent_of(function, primals, tangents[:len(primals)], result, constants)
    w = random_array(tuple(tangent.shape), seed=20)
    pairing_of_leaves = (tangent * wg.tensor(w)).sum()
    grads = (wg.autograd.grad(pairing_of_leaves, leaves, allow_unused=True) if pairing_of_leaves.requires_grad
             else [None] * len(leaves))  # (max's tangent does not move with x: its grads are 0)

    def pairing(moved):  # <w, J(moved) u>, the same rule on plain arrays
        function, primals, constants, result = recorded_application(fn, [wg.tensor(a) for a in moved])
        return float(np.sum(w * tangent_of(function, primals, tangents[:len(primals)], result, constants).numpy()))

    for index, (array, grad) in enumerate(zip(arrays, grads)):
        e = random_array(array.shape, seed=30 + index)
        plus, minus = ([a + sign * STEP * e if i == index else a for i, a in enumerate(arrays)] for sign in (1, -1))
        expected = (pairing(plus) - pairing(minus)) / (2 * STEP)
        got = 0.0 if grad is None else float(np.sum(grad.numpy() * e))
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-7)


def recorded_application(fn, inputs):
    """The last op application of ``fn(*inputs)`` (the op under test; earlier ones build its inputs)."""
    with wg.tracing() as trace:
        fn(*inputs)
    return trace[-1]


# --- refusals ------------------------------------------------------------------------------------

class _NoTangentRule(Function):
    def forward(ctx, x):
        return x * 2

    def backward(ctx, upstream):
        return upstream * 2


def test_an_op_without_a_rule_is_refused_by_name():
    x = wg.tensor([1.0, 2.0])
    with wg.tracing() as trace:
        _NoTangentRule.apply(x)
    (application,) = trace
    with pytest.raises(NotImplementedError, match="_notangentrule has no forward-mode rule"):
        tangent_of(application.function, application.inputs, (wg.tensor([1.0, 0.0]),), application.result, {})
    # without a tangent there is nothing to compute: no refusal
    assert tangent_of(application.function, application.inputs, (None,), application.result, {}) is None


# --- the same rules through the public transform ---------------------------------------------------

@pytest.mark.parametrize("fn, arrays, coarse", [row for row in GRID if all(floating(a) for a in row.values[1])])
def test_wg_func_jvp_gives_the_tangents_of_the_harness(fn, arrays, coarse):
    # wg.func.jvp runs the rules as the ops run (elementwise ones too, by their own rules)
    directions = [random_array(array.shape, seed=100 + index) for index, array in enumerate(arrays)]
    _, tangents = wg.func.jvp(fn, tuple(arrays), tuple(directions))
    swept = forward_sweep(fn, arrays, directions)
    tolerance = 2e-3 if coarse or any(a.dtype != np.float64 for a in arrays) else 1e-6
    for (output, expected), got in zip(swept, wg.func.tree_flatten(tangents)[0], strict=True):
        if output.dtype.kind != "f":
            continue
        want = np.zeros(output.shape) if expected is None else expected.numpy()
        np.testing.assert_allclose(np.asarray(got), want, rtol=tolerance, atol=tolerance)
