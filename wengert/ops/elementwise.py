"""Elementwise ops: a table of forward rules and their vector-Jacobian products.

Each row reads ``name, forward, one VJP per input``. Parameter names say what a
rule uses: ``xp`` is the array namespace, ``g`` the upstream gradient, ``y`` the
output, other names the inputs as in ``forward``. Forward saves exactly the values
the VJPs name. Inputs broadcast as in numpy; the engine sums each gradient back to
its input's shape and casts it to its input's dtype. A ``None`` VJP means the input
takes no gradient.

A forward rule whose last parameter is ``out`` writes its result there when given an array: a
compiled program passes an input that no other step reads (``relu`` over the matmul it follows).

Inputs are promoted to one dtype before the forward rule runs (PyTorch's rule, see
``wengert.core.dtypes``); an input named ``condition`` keeps its own. ``floating=True``
marks ops whose result is a float even for integer inputs (true division, exp...).

The VJPs use only operators and ``xp`` functions, so they run on raw arrays in a
plain backward and on Tensors (recording a graph) for higher-order derivatives.
A VJP never hides an inf or NaN behind ``where``: the branch that ``where`` discards
still gets differentiated (with a zero upstream gradient, and 0 * inf is NaN), so its
input is made safe first (the "double where").
"""

from __future__ import annotations

import inspect
import math
import operator
from collections.abc import Callable
from typing import Any

from ..core.backend import namespace
from ..core.dtypes import cast, promotion, unchanged_dtypes
from ..core.errors import BackwardError
from ..core.function import Function
from ..core.tensor import Tensor


def elementwise(name: str, forward: Callable, *vjps: Callable | None, floating: bool = False,
                promotes: bool = True) -> Callable:
    """An op from its forward rule and one VJP per input (no VJPs: not differentiable).

    ``floating``: the result is floating even for bool or integer inputs. ``promotes=False``:
    the inputs keep their dtypes (logical ops, which read only truth values). Keyword-only
    parameters of the rules (``lambda xp, x, *, slope: ...``) are the op's constants: passed to
    ``apply`` by keyword, recorded in the node, and given to the VJPs too.
    """
    constants = _parameters(forward, inspect.Parameter.KEYWORD_ONLY)
    inputs = _parameters(forward)
    takes_out = inputs[-1:] == ["out"]  # an array the result may be written over (compiled code's)
    forward_wants_xp = inputs[:1] == ["xp"]
    inputs = inputs[forward_wants_xp:len(inputs) - takes_out]
    rules = [vjp for vjp in vjps if vjp is not None]
    parameters = _parameters(rules[0]) if rules else ["g"]
    if any(_parameters(vjp) != parameters for vjp in rules):
        raise TypeError(f"{name}: every VJP must take the same parameters")
    vjp_wants_xp = parameters[:1] == ["xp"]
    saved_names = parameters[1 + vjp_wants_xp:]
    if parameters[vjp_wants_xp] != "g" or not set(saved_names) <= {*inputs, "y"}:
        raise TypeError(f"{name}: VJP parameters must be [xp,] g, then inputs or y; got {parameters}")
    picks = tuple(-1 if saved == "y" else inputs.index(saved) for saved in saved_names)
    fixed = 1 if inputs[:1] == ["condition"] else 0  # where's condition stays boolean

    standing, with_number = unchanged_dtypes(floating)
    nothing = frozenset()
    promoted = tuple(position for position, pick in enumerate(picks) if pick >= fixed)  # saved inputs but condition
    take = operator.itemgetter(*picks, -1) if picks else None  # (saved..., y): a tuple even for one pick

    # Forward saves the inputs themselves, not cast copies (create_graph links saved arrays to their
    # tensors), plus the dtype it cast them to, if any: backward casts them the same way.
    def forward_rule(ctx: Any, *arrays: Any, **constants: Any) -> Any:
        dtype = promotion(arrays[fixed:], floating) if promotes else None
        computed = arrays if dtype is None else (*arrays[:fixed], *cast(arrays[fixed:], dtype))
        if forward_wants_xp:
            y = forward(namespace(*computed), *computed, **constants)
        else:
            y = forward(*computed, **constants)
        if picks:
            saved = [y if pick < 0 else arrays[pick] for pick in picks]
            if dtype is not None:
                saved.append(dtype)
            ctx.save(*saved)
        return y

    # The hot cases, unary and binary, check inline that nothing needs a cast (a few lookups).
    if promotes and len(inputs) == 1 and not constants:
        def forward_rule(ctx: Any, x: Any) -> Any:
            dtype = None if getattr(x, "dtype", None) in standing else promotion((x,), floating)
            computed = x if dtype is None else cast((x,), dtype)[0]
            y = forward(namespace(computed), computed) if forward_wants_xp else forward(computed)
            if take is not None:
                saved = take((x, y))[:-1]
                if dtype is None:
                    ctx.save(*saved)
                else:
                    ctx.save(*saved, dtype)
            return y

    elif promotes and len(inputs) == 2 and not constants:
        def forward_rule(ctx: Any, a: Any, b: Any) -> Any:
            a_dtype = getattr(a, "dtype", None)
            accepted = with_number.get(b.__class__)  # a Python number on the right, as in x * 2.0
            if accepted is None:
                b_dtype = getattr(b, "dtype", None)
                accepted = standing if a_dtype is b_dtype else nothing
                if a_dtype is None:
                    a_dtype, accepted = b_dtype, with_number.get(a.__class__, nothing)
            if a_dtype in accepted:
                dtype = None
                y = forward(namespace(a, b), a, b) if forward_wants_xp else forward(a, b)
            else:
                dtype = promotion((a, b), floating)
                cast_a, cast_b = (a, b) if dtype is None else cast((a, b), dtype)
                y = forward(namespace(cast_a, cast_b), cast_a, cast_b) if forward_wants_xp else forward(cast_a, cast_b)
            if take is not None:
                saved = take((a, b, y))[:-1]
                if dtype is None:
                    ctx.save(*saved)
                else:
                    ctx.save(*saved, dtype)
            return y

    def cast_saved(saved: tuple) -> tuple:
        """The saved inputs cast as forward cast them (on Tensors too, recording the cast)."""
        *saved, dtype = saved
        for position in promoted:
            value = saved[position]
            if getattr(value, "dtype", dtype) != dtype:
                saved[position] = value.astype(dtype)
        return tuple(saved)

    saved_count = len(picks)

    rules = tuple(vjp if vjp is not None else _refusal(name, index) for index, vjp in enumerate(vjps))

    def arguments(ctx: Any, upstream: Any) -> tuple:
        """What every VJP of this op takes: ([xp,] g, *saved), the saved inputs cast as in forward."""
        saved = ctx.saved
        if len(saved) != saved_count:
            saved = cast_saved(saved)
        return (namespace(upstream), upstream, *saved) if vjp_wants_xp else (upstream, *saved)

    def backward_rule(ctx: Any, upstream: Any) -> Any:
        given = arguments(ctx, upstream)
        return tuple(None if parent is None else rule(*given) for rule, parent in zip(rules, ctx.parents))

    if constants:  # the node keeps them (by keyword, as apply got them); the VJPs take them too
        def backward_rule(ctx: Any, upstream: Any) -> Any:
            given, kept = arguments(ctx, upstream), ctx.constants
            return tuple(None if parent is None else rule(*given, **kept) for rule, parent in zip(rules, ctx.parents))

    elif len(rules) == 1:  # the hot cases, unary and binary, without a loop
        (only,) = rules

        def backward_rule(ctx: Any, upstream: Any) -> Any:
            return only(*arguments(ctx, upstream))

    elif len(rules) == 2:
        first, second = rules

        def backward_rule(ctx: Any, upstream: Any) -> Any:
            given = arguments(ctx, upstream)
            parent_a, parent_b = ctx.parents
            return (None if parent_a is None else first(*given)), (None if parent_b is None else second(*given))

    jvp_rule = _jvp_from_vjps(vjps, picks, promoted, vjp_wants_xp,
                              lambda values: promotion(values[fixed:], floating) if promotes else None)

    op = type(name, (Function,), {
        "name": name, "broadcasting": True, "differentiable": bool(vjps),
        "forward": staticmethod(forward_rule), "backward": staticmethod(backward_rule),
        "jvp": staticmethod(jvp_rule),
        "__doc__": f"Elementwise {name}, broadcasting as numpy does.",
        # for compiled code, which knows the dtypes in advance: the bare rule and when it may skip the cast
        "rule": staticmethod(forward), "rule_wants_xp": forward_wants_xp, "rule_takes_out": takes_out,
        "promotion": staticmethod(lambda values: promotion(values[fixed:], floating) if promotes else None),
    })
    return op.apply


def _jvp_from_vjps(vjps: tuple, picks: tuple, promoted: tuple, wants_xp: bool, promotion_of: Callable) -> Callable:
    """The forward-mode rule of an elementwise op, from its VJPs: the Jacobian is diagonal (after
    broadcasting), so each VJP with ``g`` replaced by its input's tangent, broadcast to the output's
    shape, is that input's contribution to the output's tangent; the contributions add. The rules get
    the inputs as Tensors (cast as forward cast them) and the output ``y``, so the tangent records
    a graph and is seen by enclosing forward sweeps like any other value."""
    def jvp(primals: tuple, tangents: tuple, result: Any, **constants: Any) -> Any:
        dtype = promotion_of([getattr(value, "data", value) for value in primals])
        saved = [result if pick < 0 else _as_operand(primals[pick]) for pick in picks]
        if dtype is not None:
            for position in promoted:
                if getattr(saved[position], "dtype", dtype) != dtype:
                    saved[position] = saved[position].astype(dtype)
        shape, result_dtype = result.shape, result.dtype
        total = None
        for rule, tangent in zip(vjps, tangents):
            if tangent is None or rule is None:  # no VJP: an input that takes no derivative (where's condition)
                continue
            if tangent.dtype != result_dtype:
                tangent = tangent.astype(result_dtype)
            xp = namespace(tangent)
            if tangent.shape != shape:
                tangent = xp.broadcast_to(tangent, shape)
            term = rule(xp, tangent, *saved, **constants) if wants_xp else rule(tangent, *saved, **constants)
            total = term if total is None else total + term
        return total

    return jvp


def _as_operand(value: Any) -> Any:
    """An input as a JVP rule takes it: Tensors and Python numbers as they are, an array as a Tensor."""
    return Tensor(value) if hasattr(value, "dtype") and not isinstance(value, Tensor) else value


def _refusal(name: str, index: int) -> Callable:
    """The VJP of an input that takes no gradient (a constant such as leaky_relu's slope): refuses."""
    def refuse(*arguments: Any) -> Any:
        raise BackwardError(f"{name} has no gradient with respect to input {index}")

    return refuse


def _parameters(function: Callable, kind: Any = inspect.Parameter.POSITIONAL_OR_KEYWORD) -> list[str]:
    """The names of ``function``'s parameters of ``kind`` (positional by default)."""
    return [name for name, parameter in inspect.signature(function).parameters.items() if parameter.kind == kind]


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


def _power_base_vjp(xp: Any, g: Any, a: Any, b: Any, y: Any) -> Any:
    """d(a^b)/da = b a^(b-1). At a = b = 0 that is 0 * inf, taken as 0 (a^0 = 1 is constant);
    the base is made 1 there first, so that no higher derivative meets the discarded inf.
    Only that point is masked: at b = 0, a != 0 the derivative with respect to b (1/a) survives."""
    singular = xp.logical_and(a == 0, b == 0)
    return xp.where(singular, 0, g * b * xp.where(singular, 1, a) ** (b - 1))


def _power_exponent_vjp(xp: Any, g: Any, a: Any, b: Any, y: Any) -> Any:
    """d(a^b)/db = a^b log a, taken as 0 where a == 0 and b >= 0 (PyTorch's rule: 0^b is constant
    there), with log's input made safe first; 0^b log 0 for b < 0 stays -inf, as in PyTorch."""
    constant = xp.logical_and(a == 0, b >= 0)
    if hasattr(a, "dtype"):
        log_a = xp.log(xp.where(constant, 1, a))
    else:  # a Python number: its log as a Python float keeps g's precision (a Tensor op would be float32)
        log_a = math.log(a) if a > 0 else math.nan if a < 0 else xp.where(constant, 0, -math.inf)
    return xp.where(constant, 0, g * y * log_a)


def _clip(xp: Any, x: Any, low: Any, high: Any) -> Any:
    """minimum(maximum(x, low), high); a ``None`` bound is absent."""
    if low is None and high is None:
        raise ValueError("clip: at least one of the bounds must be given")
    clipped = x if low is None else xp.maximum(x, low)
    return clipped if high is None else xp.minimum(clipped, high)


def _clip_x_vjp(xp: Any, g: Any, x: Any, low: Any, high: Any) -> Any:
    if low is None:
        return g * (x <= high)
    return g * ((x >= low) if high is None else (x >= low) & (x <= high))


def _clip_low_vjp(xp: Any, g: Any, x: Any, low: Any, high: Any) -> Any:
    return g * ((x < low) if high is None else (x < low) & (low < high))


def _clip_high_vjp(xp: Any, g: Any, x: Any, low: Any, high: Any) -> Any:
    return g * ((x if low is None else xp.maximum(x, low)) > high)


# --- arithmetic (the operators) ---------------------------------------------------------
# name        forward                          VJP for each input
add = elementwise("add", lambda xp, a, b, out=None: xp.add(a, b, out=out), lambda g: g, lambda g: g)
subtract = elementwise("subtract", lambda xp, a, b, out=None: xp.subtract(a, b, out=out), lambda g: g, lambda g: -g)
multiply = elementwise("multiply", lambda xp, a, b, out=None: xp.multiply(a, b, out=out),
                       lambda g, a, b: g * b, lambda g, a, b: g * a)
divide = elementwise("divide", lambda a, b: a / b, lambda g, b, y: g / b, lambda g, b, y: -g * y / b,
                     floating=True)
negative = elementwise("negative", lambda x: -x, lambda g: -g)
power = elementwise("power", lambda a, b: a ** b, _power_base_vjp, _power_exponent_vjp)

# --- one-input math -------------------------------------------------------------------
exp = elementwise("exp", lambda xp, x: xp.exp(x), lambda g, y: g * y, floating=True)
log = elementwise("log", lambda xp, x: xp.log(x), lambda g, x: g / x, floating=True)
log1p = elementwise("log1p", lambda xp, x: xp.log1p(x), lambda g, x: g / (1 + x), floating=True)
expm1 = elementwise("expm1", lambda xp, x: xp.expm1(x), lambda g, y: g * (y + 1), floating=True)
sqrt = elementwise("sqrt", lambda xp, x: xp.sqrt(x), lambda g, y: g / (2 * y), floating=True)
square = elementwise("square", lambda xp, x: xp.square(x), lambda g, x: 2 * g * x)
sin = elementwise("sin", lambda xp, x: xp.sin(x), lambda xp, g, x: g * xp.cos(x), floating=True)
cos = elementwise("cos", lambda xp, x: xp.cos(x), lambda xp, g, x: -g * xp.sin(x), floating=True)
tanh = elementwise("tanh", lambda xp, x: xp.tanh(x), lambda g, y: g * (1 - y * y), floating=True)
sigmoid = elementwise("sigmoid", _sigmoid, lambda g, y: g * y * (1 - y), floating=True)
logaddexp = elementwise("logaddexp", lambda xp, a, b: xp.logaddexp(a, b),
                        lambda xp, g, a, b, y: g * xp.exp(a - y), lambda xp, g, a, b, y: g * xp.exp(b - y),
                        floating=True)
erf = elementwise("erf", lambda xp, x: xp.erf(x),
                  lambda xp, g, x: g * (2 / math.sqrt(math.pi)) * xp.exp(-x * x), floating=True)
# At the kinks the derivative is PyTorch's: relu'(0) = 0, abs'(0) = 0.
relu = elementwise("relu", lambda xp, x, out=None: xp.maximum(x, 0, out=out), lambda g, y: g * (y > 0))
absolute = elementwise("absolute", lambda xp, x: xp.abs(x), lambda xp, g, x: g * xp.sign(x))
leaky_relu_op = elementwise("leaky_relu", lambda xp, x, *, slope: xp.where(x > 0, x, x * slope),
                            lambda xp, g, x, *, slope: xp.where(x > 0, g, g * slope))
gelu_op = elementwise("gelu", lambda xp, x: x * _normal_cdf(xp, x),
                      lambda xp, g, x: g * (_normal_cdf(xp, x)
                                            + x * xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))),
                      floating=True)
gelu_tanh_op = elementwise("gelu_tanh", lambda xp, x: 0.5 * x * (1 + _gelu_tanh_inner(xp, x)), _gelu_tanh_vjp,
                           floating=True)
softplus_op = elementwise(
    "softplus",
    lambda xp, x, *, beta, threshold: xp.where(x * beta > threshold, x, xp.logaddexp(0, x * beta) / beta),
    lambda xp, g, x, *, beta, threshold: xp.where(x * beta > threshold, g, g * _sigmoid(xp, x * beta)),
    floating=True)

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
# tensor bounds get it beyond them, and high wins where low >= high (PyTorch's choice: at
# low == high these are the derivatives from above). A None bound is absent, so that an
# integer tensor clipped on one side stays integer.
clip_op = elementwise("clip", _clip, _clip_x_vjp, _clip_low_vjp, _clip_high_vjp)

# --- comparisons: boolean results that carry no gradient -------------------------------
less = elementwise("less", lambda a, b: a < b)
less_equal = elementwise("less_equal", lambda a, b: a <= b)
greater = elementwise("greater", lambda a, b: a > b)
greater_equal = elementwise("greater_equal", lambda a, b: a >= b)
equal = elementwise("equal", lambda a, b: a == b)
not_equal = elementwise("not_equal", lambda a, b: a != b)
sign = elementwise("sign", lambda xp, x: xp.sign(x))
isfinite = elementwise("isfinite", lambda xp, x: xp.isfinite(x))
logical_and = elementwise("logical_and", lambda xp, a, b: xp.logical_and(a, b), promotes=False)
logical_or = elementwise("logical_or", lambda xp, a, b: xp.logical_or(a, b), promotes=False)
logical_not = elementwise("logical_not", lambda xp, x: xp.logical_not(x), promotes=False)

# --- numpy's further elementwise math (for wengert.numpy) ----------------------------------------
tan = elementwise("tan", lambda xp, x: xp.tan(x), lambda g, y: g * (1 + y * y), floating=True)
arcsin = elementwise("arcsin", lambda xp, x: xp.arcsin(x), lambda xp, g, x: g / xp.sqrt(1 - x * x), floating=True)
arccos = elementwise("arccos", lambda xp, x: xp.arccos(x), lambda xp, g, x: -g / xp.sqrt(1 - x * x), floating=True)
arctan = elementwise("arctan", lambda xp, x: xp.arctan(x), lambda g, x: g / (1 + x * x), floating=True)
sinh = elementwise("sinh", lambda xp, x: xp.sinh(x), lambda xp, g, x: g * xp.cosh(x), floating=True)
cosh = elementwise("cosh", lambda xp, x: xp.cosh(x), lambda xp, g, x: g * xp.sinh(x), floating=True)
arcsinh = elementwise("arcsinh", lambda xp, x: xp.arcsinh(x), lambda xp, g, x: g / xp.sqrt(x * x + 1),
                      floating=True)
arccosh = elementwise("arccosh", lambda xp, x: xp.arccosh(x), lambda xp, g, x: g / xp.sqrt(x * x - 1),
                      floating=True)
arctanh = elementwise("arctanh", lambda xp, x: xp.arctanh(x), lambda g, x: g / (1 - x * x), floating=True)
log2 = elementwise("log2", lambda xp, x: xp.log2(x), lambda g, x: g / (x * math.log(2)), floating=True)
log10 = elementwise("log10", lambda xp, x: xp.log10(x), lambda g, x: g / (x * math.log(10)), floating=True)
exp2 = elementwise("exp2", lambda xp, x: xp.exp2(x), lambda g, y: g * y * math.log(2), floating=True)
cbrt = elementwise("cbrt", lambda xp, x: xp.cbrt(x), lambda g, y: g / (3 * y * y), floating=True)
reciprocal = elementwise("reciprocal", lambda x: 1 / x, lambda g, y: -g * y * y, floating=True)
deg2rad = elementwise("deg2rad", lambda xp, x: xp.deg2rad(x), lambda g: g * (math.pi / 180), floating=True)
rad2deg = elementwise("rad2deg", lambda xp, x: xp.rad2deg(x), lambda g: g * (180 / math.pi), floating=True)
# sinc(x) = sin(pi x) / (pi x); its derivative (cos(pi x) - sinc(x)) / x is 0 at x = 0.
sinc = elementwise("sinc", lambda xp, x: xp.sinc(x),
                   lambda xp, g, x, y: xp.where(x == 0, 0, g * (xp.cos(math.pi * x) - y) / xp.where(x == 0, 1, x)),
                   floating=True)
hypot = elementwise("hypot", lambda xp, a, b: xp.hypot(a, b), lambda g, a, b, y: g * a / y,
                    lambda g, a, b, y: g * b / y, floating=True)
# at a = b = 0 the angle has no derivative: 0 there, as PyTorch (b / r^2 with r^2 made 1 keeps it finite, to any order)
arctan2 = elementwise("arctan2", lambda xp, a, b: xp.arctan2(a, b),
                      lambda xp, g, a, b: g * b / xp.where(a * a + b * b == 0, 1, a * a + b * b),
                      lambda xp, g, a, b: -g * a / xp.where(a * a + b * b == 0, 1, a * a + b * b), floating=True)
logaddexp2 = elementwise("logaddexp2", lambda xp, a, b: xp.logaddexp2(a, b),
                         lambda xp, g, a, b, y: g * xp.exp((a - y) * math.log(2)),
                         lambda xp, g, a, b, y: g * xp.exp((b - y) * math.log(2)), floating=True)
# numpy's mod (remainder) takes the divisor's sign: a - floor(a / b) b; fmod the dividend's: a - trunc(a / b) b.
# The quotients come from floor_divide, whose own gradient is 0, so that a second derivative does
# not meet 0 * inf through a / b at b = 0 (trunc(q) is floor(q), or -floor(-q) for negative q).
mod = elementwise("mod", lambda xp, a, b: xp.mod(a, b), lambda xp, g, a, b: g,
                  lambda xp, g, a, b: -g * xp.floor_divide(a, b))
fmod = elementwise("fmod", lambda xp, a, b: xp.fmod(a, b), lambda xp, g, a, b: g,
                   lambda xp, g, a, b: -g * xp.where((a < 0) != (b < 0), -xp.floor_divide(-a, b),
                                                     xp.floor_divide(a, b)))
# fmax/fmin: maximum/minimum that prefer a number to a NaN; at a tie the first input takes the
# gradient, as in PyTorch (maximum/minimum share it).
fmax = elementwise("fmax", lambda xp, a, b: xp.fmax(a, b),
                   lambda xp, g, a, b: g * ((a >= b) | xp.isnan(b)),
                   lambda xp, g, a, b: g * ~((a >= b) | xp.isnan(b)))
fmin = elementwise("fmin", lambda xp, a, b: xp.fmin(a, b),
                   lambda xp, g, a, b: g * ((a <= b) | xp.isnan(b)),
                   lambda xp, g, a, b: g * ~((a <= b) | xp.isnan(b)))
nan_to_num_op = elementwise(
    "nan_to_num", lambda xp, x, *, nan, posinf, neginf: xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf),
    lambda xp, g, x, *, nan, posinf, neginf: g * xp.isfinite(x))
# Piecewise constant: a zero gradient (autograd's and PyTorch's choice), so the result stays in the graph.
floor = elementwise("floor", lambda xp, x: xp.floor(x), lambda g: 0 * g)
ceil = elementwise("ceil", lambda xp, x: xp.ceil(x), lambda g: 0 * g)
trunc = elementwise("trunc", lambda xp, x: xp.trunc(x), lambda g: 0 * g)
rint = elementwise("rint", lambda xp, x: xp.rint(x), lambda g: 0 * g)
round_op = elementwise("round", lambda xp, x, *, decimals: xp.round(x, decimals), lambda g, *, decimals: 0 * g)
floor_divide = elementwise("floor_divide", lambda xp, a, b: xp.floor_divide(a, b), lambda g: 0 * g,
                           lambda g: 0 * g)
