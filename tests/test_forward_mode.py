"""The forward sweep (wengert.core.forward): elementwise JVPs derived from the VJP table, checked
against central differences and against the VJPs (<v, J u> = <J^T v, u>); nested sweeps; sweeps
over a create_graph backward; the dispatcher's rules (linear ops, missing rules, wrong shapes)."""

import inspect

import numpy as np
import pytest
from conftest import random_array

import wengert as wg
from wengert.core.forward import ForwardModeError, Sweep, tangent_of
from wengert.core.function import OPS, Function
from wengert.core.grad_mode import watch, watching

STEP = 1e-6


def positive(shape, seed):
    return random_array(shape, seed, 0.5, 2.0)


def normal(shape, seed):
    return random_array(shape, seed)


def spread(shape, seed):
    """Values at least 0.1 from 0 and from one another's likely partners: kinks and ties stay away."""
    values = random_array(shape, seed, 0.2, 1.5)
    signs = np.where(random_array(shape, seed + 7, 0, 1) < 0.5, -1.0, 1.0)
    return values * signs


# name -> (function of the differentiated inputs, input samplers); every differentiable elementwise op
CASES = {
    "add": (wg.add, (normal, normal)),
    "subtract": (wg.subtract, (normal, normal)),
    "multiply": (wg.multiply, (normal, normal)),
    "divide": (wg.divide, (normal, positive)),
    "negative": (wg.negative, (normal,)),
    "power": (wg.power, (positive, normal)),
    "exp": (wg.exp, (normal,)),
    "log": (wg.log, (positive,)),
    "log1p": (wg.log1p, (positive,)),
    "expm1": (wg.expm1, (normal,)),
    "sqrt": (wg.sqrt, (positive,)),
    "square": (wg.square, (normal,)),
    "sin": (wg.sin, (normal,)),
    "cos": (wg.cos, (normal,)),
    "tanh": (wg.tanh, (normal,)),
    "sigmoid": (wg.sigmoid, (normal,)),
    "logaddexp": (wg.logaddexp, (normal, normal)),
    "erf": (wg.erf, (normal,)),
    "relu": (wg.relu, (spread,)),
    "absolute": (wg.absolute, (spread,)),
    "leaky_relu": (lambda x: wg.leaky_relu(x, 0.1), (spread,)),
    "gelu": (wg.gelu, (normal,)),
    "gelu_tanh": (lambda x: wg.gelu(x, approximate="tanh"), (normal,)),
    "softplus": (lambda x: wg.softplus(x, beta=2.0, threshold=3.0), (spread,)),
    "maximum": (wg.maximum, (spread, lambda shape, seed: spread(shape, seed) + 0.05)),
    "minimum": (wg.minimum, (spread, lambda shape, seed: spread(shape, seed) + 0.05)),
    "where": (lambda a, b: wg.where(WHERE_CONDITION, a, b), (normal, normal)),
    "clip": (wg.clip, (lambda shape, seed: random_array(shape, seed, -3, 3), lambda shape, seed: np.full(shape, -1.03),
                      lambda shape, seed: np.full(shape, 1.07))),
}
WHERE_CONDITION = np.array([True, False, True, True])  # broadcasts against the last axis of 4


def elementwise_ops():
    """The differentiable ops that the elementwise table defines."""
    return sorted(name for name, op in OPS.items()
                  if op.__module__ == "wengert.ops.elementwise" and op.differentiable)


def inside(low, high):
    return lambda shape, seed: random_array(shape, seed, low, high)


# The rest of the table: the op applied to its inputs, sampled where every one of them is smooth
# (0.2..0.8 suits arcsin, arctanh, log...; piecewise ops meet a jump there with probability ~0).
DOMAINS = {"arccosh": (1.5, 3.0)}
CONSTANTS = {"nan_to_num": {"nan": 0.0, "posinf": 1e6, "neginf": -1e6}, "round": {"decimals": 1}}


def the_op(name):
    op, constants = OPS[name], CONSTANTS.get(name, {})
    return lambda *inputs: op.apply(*inputs, **constants)


for _name in elementwise_ops():
    if _name not in CASES:
        _rule = OPS[_name].rule
        _arity = len([p for p in inspect.signature(_rule).parameters.values()
                      if p.kind == p.POSITIONAL_OR_KEYWORD and p.name != "xp"])
        CASES[_name] = (the_op(_name), (inside(*DOMAINS.get(_name, (0.2, 0.8))),) * _arity)


def test_every_differentiable_elementwise_op_has_a_case():
    found = elementwise_ops()
    assert len(found) >= 28
    assert set(found) == set(CASES)
    keyword_constants = {name for name in found if any(
        p.kind == p.KEYWORD_ONLY for p in inspect.signature(OPS[name].rule).parameters.values())}
    assert keyword_constants <= {"leaky_relu", "softplus", *CONSTANTS}, "give the new op's constants in CONSTANTS"


UNARY_SHAPES = [(), (4,), (3, 1), (2, 3, 4)]
BINARY_SHAPES = [((), ()), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 4)), ((1, 4), (3, 1))]
TERNARY_SHAPES = [((4,), (), (4,)), ((3, 4), (4,), (1, 4)), ((2, 3, 4), (3, 1), ())]


def case_grid():
    for name, (_, samplers) in CASES.items():
        grid = {1: [(shape,) for shape in UNARY_SHAPES], 2: BINARY_SHAPES, 3: TERNARY_SHAPES}[len(samplers)]
        for shapes in grid:
            if name == "where" and shapes[0][-1:] != (4,) and shapes[1][-1:] != (4,):
                continue  # the condition needs an axis of 4 to broadcast against
            yield pytest.param(name, shapes, id=f"{name}-{'x'.join(map(str, shapes))}")


def central_difference(function, arrays, tangents):
    ahead = function(*[array + STEP * tangent for array, tangent in zip(arrays, tangents)])
    behind = function(*[array - STEP * tangent for array, tangent in zip(arrays, tangents)])
    return (np.asarray(ahead.data) - np.asarray(behind.data)) / (2 * STEP)


@pytest.mark.parametrize(("name", "shapes"), list(case_grid()))
def test_elementwise_jvp_matches_finite_differences_and_its_vjp(name, shapes):
    function, samplers = CASES[name]
    arrays = [sample(shape, seed) for seed, (sample, shape) in enumerate(zip(samplers, shapes))]
    tangents = [random_array(shape, 10 + seed) for seed, shape in enumerate(shapes)]

    out, tangent_out = wg.jvp(function, tuple(arrays), tuple(tangents))

    assert isinstance(tangent_out, np.ndarray) and tangent_out.shape == out.shape
    expected = central_difference(function, arrays, tangents)
    np.testing.assert_allclose(tangent_out, expected, rtol=1e-6, atol=1e-7)
    # the JVP is the transpose of the VJP: <v, J u> = <J^T v, u>, which catches a mishandled broadcast
    cotangent = random_array(out.shape, 99)
    _, vjp_fn = wg.vjp(function, *arrays)
    pulled = vjp_fn(cotangent)
    assert np.sum(cotangent * tangent_out) == pytest.approx(
        sum(np.sum(gradient * tangent) for gradient, tangent in zip(pulled, tangents)), rel=1e-10, abs=1e-12)


def test_jvp_of_each_input_alone_adds_up_to_the_jvp_of_all():
    a, b = random_array((3, 4), 1), positive((4,), 2)
    ta, tb = random_array((3, 4), 3), random_array((4,), 4)
    both = wg.jvp(wg.divide, (a, b), (ta, tb))[1]
    only_a = wg.jvp(lambda x: wg.divide(x, b), (a,), (ta,))[1]
    only_b = wg.jvp(lambda y: wg.divide(a, y), (b,), (tb,))[1]
    np.testing.assert_allclose(both, only_a + only_b, rtol=1e-12)
    np.testing.assert_allclose(only_b, -tb * a / b ** 2, rtol=1e-12)


def test_python_number_operands_and_power_of_a_number():
    x, t = positive((3,), 0), random_array((3,), 1)
    np.testing.assert_allclose(wg.jvp(lambda x: 3.0 ** x, (x,), (t,))[1], 3.0 ** x * np.log(3.0) * t, rtol=1e-12)
    np.testing.assert_allclose(wg.jvp(lambda x: x ** 2.5, (x,), (t,))[1], 2.5 * x ** 1.5 * t, rtol=1e-12)
    np.testing.assert_allclose(wg.jvp(lambda x: 2.0 / x, (x,), (t,))[1], -2.0 / x ** 2 * t, rtol=1e-12)


def test_tangent_takes_the_output_dtype_when_inputs_promote():
    x32 = random_array((3,), 0, dtype=np.float32)
    y64 = wg.tensor(random_array((3,), 1))
    out, tangent = wg.jvp(lambda x: x * y64, (x32,), (np.ones(3, np.float32),))
    assert out.dtype == tangent.dtype == np.float64
    np.testing.assert_allclose(tangent, y64.numpy(), rtol=1e-12)
    out, tangent = wg.jvp(lambda x: x * 2.0, (x32,), (np.ones(3, np.float32),))
    assert tangent.dtype == np.float32 and np.all(tangent == 2)


def test_an_integer_input_takes_no_tangent_and_a_comparison_gives_none():
    x = random_array((4,), 0)
    counts = wg.tensor(np.array([1, 2, 3, 4]))
    _, tangent = wg.jvp(lambda x: x * counts, (x,), (np.ones(4),))
    np.testing.assert_array_equal(tangent, [1.0, 2.0, 3.0, 4.0])
    result = wg.tensor(x) > 0
    assert tangent_of(OPS["greater"], (wg.tensor(x), 0.0), (wg.tensor(np.ones(4)), None), result, {}) is None
    # the where on a comparison of x: the comparison itself carries nothing, the branches do
    _, tangent = wg.jvp(lambda x: wg.where(x > 0, x * 2.0, x * -3.0), (x,), (np.ones(4),))
    np.testing.assert_array_equal(tangent, np.where(x > 0, 2.0, -3.0))


def test_values_can_be_read_inside_a_forward_sweep():
    def f(x):
        total = wg.sum(x).item()  # a value read: no trace refuses it
        if x[0] > 0:
            return x * total
        return -x

    x = np.array([1.0, 2.0, 3.0])
    _, tangent = wg.jvp(f, (x,), (np.array([1.0, 0.0, 0.0]),))
    np.testing.assert_array_equal(tangent, [6.0, 0.0, 0.0])  # the read value is a constant, as in a JVP by hand


def test_the_sweep_is_gone_after_jvp_even_when_f_raises():
    assert watching() is None
    wg.jvp(wg.sin, (np.ones(2),), (np.ones(2),))
    assert watching() is None
    with pytest.raises(ZeroDivisionError):
        wg.jvp(lambda x: 1 / 0, (np.ones(2),), (np.ones(2),))
    assert watching() is None


def test_a_sweep_keeps_the_other_watches():
    with wg.detect_anomaly():
        _, tangent = wg.jvp(wg.exp, (np.zeros(2),), (np.ones(2),))
        assert watching().anomaly and watching().tangents is None
    np.testing.assert_array_equal(tangent, [1.0, 1.0])
    with wg.detect_anomaly(), pytest.raises(wg.BackwardError, match="produced NaN"):
        wg.jvp(wg.log, (np.array([-1.0]),), (np.ones(1),))


# --- composition ----------------------------------------------------------------------------------

def f_exp_sin(x):
    return wg.exp(wg.sin(x)) * x


def second_derivative_exp_sin(x):
    s, c, e = np.sin(x), np.cos(x), np.exp(np.sin(x))
    return e * c * c * x - e * s * x + 2 * e * c


def test_forward_over_forward_gives_the_second_derivative():
    x, ones = np.array([0.3, 1.2, -0.8]), np.ones(3)
    _, second = wg.jvp(lambda y: wg.jvp(f_exp_sin, (y,), (ones,))[1], (x,), (ones,))
    np.testing.assert_allclose(second, second_derivative_exp_sin(x), rtol=1e-12)


def test_nested_sweeps_keep_their_perturbations_apart():
    # d/dy [ d/dx (x * y) along 1 ] = d/dy y = 1, not 2: the inner sweep must not see the outer's tangent as its own
    def inner(y):
        return wg.jvp(lambda x: x * y, (np.array(2.0),), (np.array(1.0),))[1]

    _, outer = wg.jvp(inner, (wg.tensor(3.0, dtype=wg.float64),), (wg.tensor(1.0, dtype=wg.float64),))
    assert outer.item() == 1.0
    # and the same tensor as both the inner and the outer primal
    x = wg.tensor(np.array([0.5, 1.5]))
    _, mixed = wg.jvp(lambda x: wg.jvp(lambda z: z * x, (x,), (wg.tensor(np.ones(2)),))[1], (x,),
                      (wg.tensor(np.ones(2)),))
    np.testing.assert_array_equal(mixed.numpy(), [1.0, 1.0])  # d/dx [ x ] along 1


def test_reverse_over_forward():
    x, ones = np.array([0.3, 1.2, -0.8]), np.ones(3)
    gradient = wg.grad(lambda y: wg.sum(wg.jvp(f_exp_sin, (y,), (ones,))[1]))(x)
    np.testing.assert_allclose(gradient, second_derivative_exp_sin(x), rtol=1e-12)


def test_forward_over_a_create_graph_backward():
    x = np.array([0.3, 1.2, -0.8])

    def gradient(y):  # the sweep sees the VJPs' ops, and the outputs backward re-wraps around their nodes
        leaf = y * 1.0
        (found,) = wg.autograd.grad(wg.sum(f_exp_sin(leaf)), [leaf], create_graph=True)
        return found

    _, tangent = wg.jvp(lambda y: gradient(y), (wg.tensor(x, requires_grad=True),), (wg.tensor(np.ones(3)),))
    np.testing.assert_allclose(tangent.detach().numpy(), second_derivative_exp_sin(x), rtol=1e-12)


# --- the dispatcher -------------------------------------------------------------------------------

class _Scale(Function):
    """y = a * k + b, linear in (a, b), with an integer k passed through: the default rule's case."""

    linear = True

    def forward(ctx, a, k, b):
        return a * k + b

    def backward(ctx, upstream):
        return upstream, None, upstream


class _NoRule(Function):
    def forward(ctx, x):
        return x * 2

    def backward(ctx, upstream):
        return upstream * 2


class _BadShape(Function):
    def forward(ctx, x):
        return x * 2

    def backward(ctx, upstream):
        return upstream * 2

    def jvp(primals, tangents, result):
        return wg.sum(tangents[0])


def test_a_linear_op_applies_itself_to_the_tangents_with_zeros_for_missing_ones():
    a, b = wg.tensor(np.array([1.0, 2.0])), wg.tensor(np.array([10.0, 20.0]))
    k = np.array([3, 4])
    result = _Scale.apply(a, k, b)
    tangent = tangent_of(_Scale, (a, k, b), (wg.tensor(np.array([1.0, -1.0])), None, None), result, {})
    np.testing.assert_array_equal(tangent.numpy(), [3.0, -4.0])
    _, tangent = wg.jvp(lambda b: _Scale.apply(a, k, b), (np.array([0.5, 0.25]),), (np.array([1.0, 1.0]),))
    np.testing.assert_array_equal(tangent, [1.0, 1.0])


def test_an_op_without_a_rule_is_named_in_the_error():
    with pytest.raises(NotImplementedError, match="_norule has no forward-mode rule"):
        wg.jvp(lambda x: _NoRule.apply(x) + 1.0, (np.ones(2),), (np.ones(2),))
    with pytest.raises(ForwardModeError, match="_norule"):
        wg.jacfwd(lambda x: _NoRule.apply(x))(np.ones(2))
    # reverse mode does not need the rule
    np.testing.assert_array_equal(wg.jacrev(lambda x: _NoRule.apply(x))(np.ones(2)), 2 * np.eye(2))
    # nor does forward mode where no tangent reaches the op
    _, tangent = wg.jvp(lambda x: x + _NoRule.apply(wg.tensor(np.ones(2))), (np.ones(2),), (np.ones(2),))
    np.testing.assert_array_equal(tangent, [1.0, 1.0])


def test_a_rule_returning_the_wrong_shape_is_an_error_naming_the_op():
    with pytest.raises(ForwardModeError, match=r"_badshape.*shape"):
        wg.jvp(lambda x: _BadShape.apply(x), (np.ones(3),), (np.ones(3),))


def test_sweep_reads_tangents_by_identity_and_by_node():
    x = wg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    sweep = Sweep()
    sweep.seed(x, wg.tensor(np.array([1.0, 1.0])))
    with watch(tangents=sweep):
        y = x * x
    rewrapped = wg.Tensor(y.data, True, y.node)  # as a create_graph backward hands a saved output to a VJP
    np.testing.assert_array_equal(sweep.tangent(rewrapped).detach().numpy(), [2.0, 4.0])
    assert sweep.tangent(y.detach()) is None
    assert sweep.tangent(np.ones(2)) is None
