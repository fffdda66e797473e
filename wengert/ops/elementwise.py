"""Elementwise ops: a table of forward rules and their vector-Jacobian products.

Each row reads ``name, forward, one VJP per input``. Parameter names say what a
rule uses: ``xp`` is the array namespace, ``g`` the upstream gradient, ``y`` the
output, other names the inputs as in ``forward``. Forward saves exactly the values
the VJPs name. Inputs broadcast as in numpy; the engine sums each gradient back to
its input's shape. A ``None`` VJP means the input takes no gradient.

The VJPs use only operators and ``xp`` functions, so they run on raw arrays in a
plain backward and on Tensors (recording a graph) for higher-order derivatives.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

from ..core.backend import namespace
from ..core.errors import BackwardError
from ..core.function import Function


def elementwise(name: str, forward: Callable, *vjps: Callable | None) -> Callable:
    """An op from its forward rule and one VJP per input (no VJPs: not differentiable)."""
    inputs = _parameters(forward)
    forward_wants_xp = inputs[:1] == ["xp"]
    inputs = inputs[forward_wants_xp:]
    rules = [vjp for vjp in vjps if vjp is not None]
    parameters = _parameters(rules[0]) if rules else ["g"]
    if any(_parameters(vjp) != parameters for vjp in rules):
        raise TypeError(f"{name}: every VJP must take the same parameters")
    vjp_wants_xp = parameters[:1] == ["xp"]
    saved_names = parameters[1 + vjp_wants_xp:]
    if parameters[vjp_wants_xp] != "g" or not set(saved_names) <= {*inputs, "y"}:
        raise TypeError(f"{name}: VJP parameters must be [xp,] g, then inputs or y; got {parameters}")
    picks = tuple(-1 if saved == "y" else inputs.index(saved) for saved in saved_names)

    def forward_rule(ctx: Any, *arrays: Any) -> Any:
        y = forward(namespace(*arrays), *arrays) if forward_wants_xp else forward(*arrays)
        if picks:
            ctx.save(*[y if pick < 0 else arrays[pick] for pick in picks])
        return y

    def backward_rule(ctx: Any, upstream: Any) -> Any:
        arguments = (namespace(upstream), upstream, *ctx.saved) if vjp_wants_xp else (upstream, *ctx.saved)
        grads = []
        for vjp, parent in zip(vjps, ctx.parents):
            if parent is None:
                grads.append(None)
            elif vjp is None:
                raise BackwardError(f"{name} has no gradient with respect to input {len(grads)}")
            else:
                grads.append(vjp(*arguments))
        return tuple(grads)

    if len(vjps) == 1:  # the common unary case, without the loop
        (vjp,) = vjps

        def backward_rule(ctx: Any, upstream: Any) -> Any:
            if vjp_wants_xp:
                return vjp(namespace(upstream), upstream, *ctx.saved)
            return vjp(upstream, *ctx.saved)

    op = type(name, (Function,), {
        "name": name, "broadcasting": True, "differentiable": bool(vjps),
        "forward": staticmethod(forward_rule), "backward": staticmethod(backward_rule),
        "__doc__": f"Elementwise {name}, broadcasting as numpy does.",
    })
    return op.apply


def _parameters(function: Callable) -> list[str]:
    return list(inspect.signature(function).parameters)


def _sigmoid(xp: Any, x: Any) -> Any:
    return xp.exp(-xp.logaddexp(0, -x))  # exact in both tails, no overflow


def _normal_cdf(xp: Any, x: Any) -> Any:
    return 0.5 * (1 + xp.erf(x * (1 / math.sqrt(2))))


_TANH_GELU_SCALE = math.sqrt(2 / math.pi)


def _gelu_tanh_inner(xp: Any, x: Any) -> Any:
    return xp.tanh(_TANH_GELU_SCALE * (x + 0.044715 * x * x * x))


def _gelu_tanh_vjp(xp: Any, g: Any, x: Any) -> Any:
    t = _gelu_tanh_inner(xp, x)
    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _TANH_GELU_SCALE * (1 + 3 * 0.044715 * x * x))


# --- arithmetic (the operators) ---------------------------------------------------------
# name        forward                          VJP for each input
add = elementwise("add", lambda a, b: a + b, lambda g: g, lambda g: g)
subtract = elementwise("subtract", lambda a, b: a - b, lambda g: g, lambda g: -g)
multiply = elementwise("multiply", lambda a, b: a * b, lambda g, a, b: g * b, lambda g, a, b: g * a)
divide = elementwise("divide", lambda a, b: a / b, lambda g, b, y: g / b, lambda g, b, y: -g * y / b)
negative = elementwise("negative", lambda x: -x, lambda g: -g)
power = elementwise("power", lambda a, b: a ** b,
                    # b a^(b-1), taken as 0 where b == 0 (x^0 is constant, even at x = 0)
                    lambda xp, g, a, b, y: xp.where(b == 0, 0, g * b * a ** (b - 1)),
                    # d(a^b)/db = a^b log a; taken as 0 where a == 0 (PyTorch's rule)
                    lambda xp, g, a, b, y: g * y * xp.log(xp.where(a == 0, 1, a)))

# --- one-input math -------------------------------------------------------------------
exp = elementwise("exp", lambda xp, x: xp.exp(x), lambda g, y: g * y)
log = elementwise("log", lambda xp, x: xp.log(x), lambda g, x: g / x)
log1p = elementwise("log1p", lambda xp, x: xp.log1p(x), lambda g, x: g / (1 + x))
expm1 = elementwise("expm1", lambda xp, x: xp.expm1(x), lambda g, y: g * (y + 1))
sqrt = elementwise("sqrt", lambda xp, x: xp.sqrt(x), lambda g, y: g / (2 * y))
square = elementwise("square", lambda xp, x: xp.square(x), lambda g, x: 2 * g * x)
sin = elementwise("sin", lambda xp, x: xp.sin(x), lambda xp, g, x: g * xp.cos(x))
cos = elementwise("cos", lambda xp, x: xp.cos(x), lambda xp, g, x: -g * xp.sin(x))
tanh = elementwise("tanh", lambda xp, x: xp.tanh(x), lambda g, y: g * (1 - y * y))
sigmoid = elementwise("sigmoid", _sigmoid, lambda g, y: g * y * (1 - y))
logaddexp = elementwise("logaddexp", lambda xp, a, b: xp.logaddexp(a, b),
                        lambda xp, g, a, b, y: g * xp.exp(a - y), lambda xp, g, a, b, y: g * xp.exp(b - y))
erf = elementwise("erf", lambda xp, x: xp.erf(x),
                  lambda xp, g, x: g * (2 / math.sqrt(math.pi)) * xp.exp(-x * x))
# At the kinks the derivative is PyTorch's: relu'(0) = 0, abs'(0) = 0.
relu = elementwise("relu", lambda xp, x: xp.maximum(x, 0), lambda g, x: g * (x > 0))
absolute = elementwise("absolute", lambda xp, x: xp.abs(x), lambda xp, g, x: g * xp.sign(x))
leaky_relu_op = elementwise("leaky_relu", lambda xp, x, slope: xp.where(x > 0, x, x * slope),
                            lambda xp, g, x, slope: xp.where(x > 0, g, g * slope), None)
gelu_op = elementwise("gelu", lambda xp, x: x * _normal_cdf(xp, x),
                      lambda xp, g, x: g * (_normal_cdf(xp, x)
                                            + x * xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))))
gelu_tanh_op = elementwise("gelu_tanh", lambda xp, x: 0.5 * x * (1 + _gelu_tanh_inner(xp, x)), _gelu_tanh_vjp)
softplus_op = elementwise(
    "softplus",
    lambda xp, x, beta, threshold: xp.where(x * beta > threshold, x, xp.logaddexp(0, x * beta) / beta),
    lambda xp, g, x, beta, threshold: xp.where(x * beta > threshold, g, g * _sigmoid(xp, x * beta)),
    None, None)

# --- several inputs -------------------------------------------------------------------
# max and min route the gradient to the larger (smaller) input; ties share it equally.
maximum = elementwise("maximum", lambda xp, a, b: xp.maximum(a, b),
                      lambda xp, g, a, b: xp.where(a == b, g / 2, g * (a > b)),
                      lambda xp, g, a, b: xp.where(a == b, g / 2, g * (b > a)))
minimum = elementwise("minimum", lambda xp, a, b: xp.minimum(a, b),
                      lambda xp, g, a, b: xp.where(a == b, g / 2, g * (a < b)),
                      lambda xp, g, a, b: xp.where(a == b, g / 2, g * (b < a)))
where_op = elementwise("where", lambda xp, condition, a, b: xp.where(condition, a, b),
                       None,
                       lambda xp, g, condition: xp.where(condition, g, 0),
                       lambda xp, g, condition: xp.where(condition, 0, g))
# clip = minimum(maximum(x, low), high) and passes the gradient at its bounds (PyTorch's clamp);
# tensor bounds get it beyond them, and high wins where low > high.
clip_op = elementwise("clip", lambda xp, x, low, high: xp.minimum(xp.maximum(x, low), high),
                      lambda xp, g, x, low, high: g * ((x >= low) & (x <= high)),
                      lambda xp, g, x, low, high: g * ((x < low) & (low <= high)),
                      lambda xp, g, x, low, high: g * (xp.maximum(x, low) > high))

# --- comparisons: boolean results that carry no gradient -------------------------------
less = elementwise("less", lambda a, b: a < b)
less_equal = elementwise("less_equal", lambda a, b: a <= b)
greater = elementwise("greater", lambda a, b: a > b)
greater_equal = elementwise("greater_equal", lambda a, b: a >= b)
equal = elementwise("equal", lambda a, b: a == b)
not_equal = elementwise("not_equal", lambda a, b: a != b)
sign = elementwise("sign", lambda xp, x: xp.sign(x))
isfinite = elementwise("isfinite", lambda xp, x: xp.isfinite(x))
logical_and = elementwise("logical_and", lambda xp, a, b: xp.logical_and(a, b))
logical_or = elementwise("logical_or", lambda xp, a, b: xp.logical_or(a, b))
logical_not = elementwise("logical_not", lambda xp, x: xp.logical_not(x))
