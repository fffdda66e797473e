"""Reductions over axes, and the softmax family that normalizes along one.

``axis`` is an int, a tuple of ints (negative counts from the end) or None (all
axes); ``keepdims`` keeps reduced axes with size 1, as in numpy. Every VJP first
reshapes the upstream gradient to the kept-dims shape, so it broadcasts back over
the reduced axes: the seeds' "gradient of a sum copies to every summand".
"""

from __future__ import annotations

from typing import Any

from ..core.backend import namespace, sum_rows
from ..core.function import Function
from ..core.grad_mode import is_grad_enabled, watching


def _axes(shape: tuple, axis: Any) -> set:
    """The reduced axes as non-negative ints (``axis`` already validated by the forward call)."""
    if axis is None:
        return set(range(len(shape)))
    return {a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))}


def kept_shape(shape: tuple, axis: Any) -> tuple:
    """The shape of ``x.sum(axis, keepdims=True)`` for ``x`` of ``shape``."""
    axes = _axes(shape, axis)
    return tuple(1 if index in axes else n for index, n in enumerate(shape))


def _count(shape: tuple, axis: Any) -> int:
    """How many elements each output element of the reduction summarizes."""
    count = 1
    for index in _axes(shape, axis):
        count *= shape[index]
    return count


def _unreduce(g: Any, kept: tuple, shape: tuple) -> Any:
    """Spread a reduced gradient back over the reduced axes."""
    xp = namespace(g)
    return xp.broadcast_to(xp.reshape(g, kept), shape)


def _ops() -> Any:
    """The op library, for JVP rules written with ops on Tensors (imported late: it imports this module)."""
    from .. import ops
    return ops


def _weighted_sum(tangent: Any, weights: Any, axis: Any, keepdims: bool) -> Any:
    """sum(tangent * weights) over ``axis``: the JVP of a reduction whose derivative is ``weights``
    (the VJP's factor for an upstream gradient of ones), so that JVP and VJP are each other's transpose."""
    return _ops().sum(tangent * weights, axis=axis, keepdims=keepdims)


class Sum(Function):
    linear = True

    def forward(ctx, x, axis=None, keepdims=False):
        if x.ndim == 2 and axis in (0, -2):  # a batch's sum (a bias's gradient): BLAS is faster
            y = sum_rows(x, keepdims)
        else:
            y = namespace(x).sum(x, axis=axis, keepdims=keepdims)
        ctx.save(x.shape, kept_shape(x.shape, axis))
        return y

    def backward(ctx, upstream):
        shape, kept = ctx.saved
        return _unreduce(upstream, kept, shape)


class Mean(Function):
    linear = True

    def forward(ctx, x, axis=None, keepdims=False):
        y = namespace(x).mean(x, axis=axis, keepdims=keepdims)
        ctx.save(x.shape, kept_shape(x.shape, axis), _count(x.shape, axis))
        return y

    def backward(ctx, upstream):
        shape, kept, count = ctx.saved
        return _unreduce(upstream / count, kept, shape)


class Var(Function):
    """Variance with numpy's ``ddof`` (0 by default; PyTorch's unbiased default is ``ddof=1``)."""

    def forward(ctx, x, axis=None, keepdims=False, ddof=0):
        xp = namespace(x)
        y = xp.var(x, axis=axis, keepdims=keepdims, ddof=ddof)
        # An array, so that no degrees of freedom divide to inf or nan as in PyTorch, not raise.
        ctx.save(x, axis, kept_shape(x.shape, axis), xp.asarray(_count(x.shape, axis) - ddof, dtype=x.dtype))
        return y

    def backward(ctx, upstream):
        x, axis, kept, dof = ctx.saved
        xp = namespace(upstream)
        centered = x - xp.mean(x, axis=axis, keepdims=True)
        return xp.reshape(upstream, kept) * centered * (2 / dof)

    def jvp(primals, tangents, result, axis=None, keepdims=False, ddof=0):
        (x,), (tx,) = primals, tangents
        if tx is None:
            return None
        centered = x - _ops().mean(x, axis=axis, keepdims=True)
        return _weighted_sum(tx, centered, axis, keepdims) * 2 / _dof(x, axis, ddof, result)


class Std(Function):
    """Standard deviation with numpy's ``ddof`` (0 by default)."""

    def forward(ctx, x, axis=None, keepdims=False, ddof=0):
        xp = namespace(x)
        y = xp.std(x, axis=axis, keepdims=keepdims, ddof=ddof)
        ctx.save(x, y, axis, kept_shape(x.shape, axis), xp.asarray(_count(x.shape, axis) - ddof, dtype=x.dtype))
        return y

    def backward(ctx, upstream):
        x, y, axis, kept, dof = ctx.saved
        xp = namespace(upstream)
        centered = x - xp.mean(x, axis=axis, keepdims=True)
        # Where the spread is 0 its gradient is taken as 0 (PyTorch's rule), not 0/0.
        scale = upstream / xp.where(y == 0, float("inf"), y)
        return xp.reshape(scale, kept) * centered * (1 / dof)

    def jvp(primals, tangents, result, axis=None, keepdims=False, ddof=0):
        (x,), (tx,) = primals, tangents
        if tx is None:
            return None
        ops = _ops()
        centered = x - ops.mean(x, axis=axis, keepdims=True)
        # d std = d var / (2 std), taken as 0 where the spread is 0, as the VJP takes it
        spread = ops.where(result == 0, float("inf"), result) * _dof(x, axis, ddof, result)
        return _weighted_sum(tx, centered, axis, keepdims) / spread


def _dof(x: Any, axis: Any, ddof: Any, result: Any) -> Any:
    """n - ddof as a 0-d array of the result's dtype (no degrees of freedom divide to inf or nan, not raise)."""
    return namespace(result.data).asarray(_count(tuple(x.shape), axis) - ddof, dtype=result.dtype)


def _extreme_forward(reduction: str) -> Any:
    """The forward of Max (``reduction="max"``) or Min: one definition for both."""
    def forward(ctx, x, axis=None, keepdims=False):
        y = getattr(namespace(x), reduction)(x, axis=axis, keepdims=keepdims)
        ctx.save(x, y, axis, kept_shape(x.shape, axis))
        return y

    return forward


class Max(Function):
    """Largest element; the gradient goes to the largest, shared equally among ties."""

    forward = _extreme_forward("max")

    def backward(ctx, upstream):
        return _route_to_extremes(upstream, *ctx.saved)

    def jvp(primals, tangents, result, axis=None, keepdims=False):
        (x,), (tx,) = primals, tangents
        if tx is None:
            return None
        # The mean of the tangent over the tied extremes: the transpose of the VJP's equal split.
        ops = _ops()
        winners = ops.astype(x == ops.reshape(result, kept_shape(tuple(x.shape), axis)), tx.dtype)
        return _weighted_sum(tx, winners, axis, keepdims) / ops.sum(winners, axis=axis, keepdims=keepdims)


class Min(Max):
    """Smallest element; the gradient goes to the smallest, shared equally among ties."""

    forward = _extreme_forward("min")


def _route_to_extremes(g: Any, x: Any, y: Any, axis: Any, kept: tuple) -> Any:
    xp = namespace(g)
    winners = x == xp.reshape(y, kept)
    ties = xp.astype(xp.sum(winners, axis=axis, keepdims=True), g.dtype)  # keep g's dtype
    return xp.reshape(g, kept) * winners / ties


class Prod(Function):
    """Product of elements. Zeros are handled exactly: with one zero in a slice only that
    element gets a gradient (the product of the others); with two or more, none does."""

    def forward(ctx, x, axis=None, keepdims=False):
        y = namespace(x).prod(x, axis=axis, keepdims=keepdims)
        ctx.save(x, y, axis, kept_shape(x.shape, axis))
        return y

    def backward(ctx, upstream):
        x, y, axis, kept = ctx.saved
        xp = namespace(upstream)
        return xp.reshape(upstream, kept) * _product_of_others(xp, x, y, axis, kept)

    def jvp(primals, tangents, result, axis=None, keepdims=False):
        (x,), (tx,) = primals, tangents
        if tx is None:
            return None
        others = _product_of_others(_ops(), x, result, axis, kept_shape(tuple(x.shape), axis))
        return _weighted_sum(tx, others, axis, keepdims)


def _product_of_others(xp: Any, x: Any, y: Any, axis: Any, kept: tuple) -> Any:
    """d prod / d x_i: the product of the other elements of x_i's slice, exact with zeros (y = prod(x))."""
    is_zero = x == 0
    zeros = xp.sum(is_zero, axis=axis, keepdims=True)
    nonzero_x = xp.where(is_zero, 1, x)
    return xp.where(zeros == 0, xp.reshape(y, kept) / nonzero_x,
                    xp.where(is_zero & (zeros == 1), xp.prod(nonzero_x, axis=axis, keepdims=True), 0))


class Norm(Function):
    """Vector p-norm over ``axis``, (sum |x|^p)^(1/p), for a finite ``ord`` >= 0 (PyTorch's
    ``vector_norm``; ord=0 counts non-zeros, with gradient 0). Where the norm is 0 its gradient
    is 0, as in PyTorch, not 0/0."""

    def forward(ctx, x, ord=2, axis=None, keepdims=False):
        xp = namespace(x)
        if ord == 2:
            y = xp.sqrt(xp.sum(x * x, axis=axis, keepdims=keepdims))
        elif ord == 1:
            y = xp.sum(xp.abs(x), axis=axis, keepdims=keepdims)
        elif ord == 0:
            y = xp.sum(x != 0, axis=axis, keepdims=keepdims).astype(x.dtype)
        else:
            y = xp.sum(xp.abs(x) ** ord, axis=axis, keepdims=keepdims) ** (1 / ord)
        ctx.save(x, y, ord, kept_shape(x.shape, axis))
        return y

    def backward(ctx, upstream):
        x, y, ord, kept = ctx.saved
        xp = namespace(upstream)
        g = xp.reshape(upstream, kept)
        if ord == 0:  # a count: piecewise constant
            return xp.broadcast_to(0 * g, x.shape)
        return g * _norm_derivative(xp, x, xp.reshape(y, kept), ord)

    def jvp(primals, tangents, result, ord=2, axis=None, keepdims=False):
        (x,), (tx,) = primals, tangents
        if tx is None:
            return None
        if ord == 0:  # a count: piecewise constant
            return _weighted_sum(tx, 0, axis, keepdims)
        ops = _ops()
        derivative = _norm_derivative(ops, x, ops.reshape(result, kept_shape(tuple(x.shape), axis)), ord)
        return _weighted_sum(tx, derivative, axis, keepdims)


def _norm_derivative(xp: Any, x: Any, norm: Any, ord: Any) -> Any:
    """d norm / d x_i for ord > 0, ``norm`` in the kept-dims shape; 0 where the norm is 0 (as PyTorch)."""
    if ord == 1:
        return xp.sign(x)
    # Where the norm is 0 so is every numerator below: dividing by 1 there gives PyTorch's 0.
    safe_norm = xp.where(norm == 0, 1, norm)
    if ord == 2:
        return x / safe_norm
    # d/dx_i = sign(x_i) |x_i|^(p-1) / norm^(p-1), taken as 0 at x_i = 0 (as PyTorch) even for p < 1,
    # where the power alone would be inf: sign(0) = 0 times 1.
    scaled = xp.sign(x) * xp.where(x == 0, 1, xp.abs(x)) ** (ord - 1)
    return scaled / safe_norm ** (ord - 1)


# --- scans: running sums and products along one axis --------------------------------------
def _reverse_cumsum(g: Any, axis: int) -> Any:
    """Running sums from the far end: out[i] = sum over j >= i of g[j], along ``axis``."""
    xp = namespace(g)
    return xp.flip(xp.cumsum(xp.flip(g, axis=axis), axis=axis), axis=axis)


class Cumsum(Function):
    """Running sum along ``axis`` (an int); each element's gradient is the sum of the upstream
    gradient from its position on."""

    linear = True

    def forward(ctx, x, axis):
        ctx.save(axis)
        return namespace(x).cumsum(x, axis=axis)

    def backward(ctx, upstream):
        (axis,) = ctx.saved
        return _reverse_cumsum(upstream, axis)


class Cumprod(Function):
    """Running product along ``axis`` (an int). The gradient reverse_cumsum(g * y) / x would divide
    by zero where x has zeros, so slices with zeros take exact forms instead (below)."""

    def forward(ctx, x, axis):
        y = namespace(x).cumprod(x, axis=axis)  # checks the axis, before it is normalized
        ctx.save(x, y, axis % x.ndim)
        return y

    def backward(ctx, upstream):
        x, y, axis = ctx.saved
        xp = namespace(upstream)
        if is_grad_enabled():  # recording for higher derivatives: one form, exact with zeros, whose own
            return _cumprod_vjp_by_position(upstream, x, axis)  # derivative is right (no branch on values)
        is_zero = x == 0
        if not bool(xp.any(is_zero)):
            return _reverse_cumsum(upstream * y, axis) / x
        # O(n) with zeros (first order only; its own derivative is wrong past the first zero, as
        # PyTorch's): before a slice's first zero the no-zero formula holds; at the first zero, the
        # same sum with that zero taken as 1 in the products; after it, every product that holds the
        # element also holds the first zero: no gradient.
        zeros_so_far = xp.cumsum(is_zero, axis=axis)
        before_first_zero = zeros_so_far == 0
        first_zero = is_zero & (zeros_so_far == 1)
        grad = xp.where(before_first_zero,
                        _reverse_cumsum(upstream * y, axis) / xp.where(before_first_zero, x, 1), 0)
        products_without_it = xp.cumprod(xp.where(first_zero, 1, x), axis=axis)
        return xp.where(first_zero, _reverse_cumsum(upstream * products_without_it, axis), grad)

    def jvp(primals, tangents, result, axis):
        (x,), (tx,) = primals, tangents
        if tx is None:
            return None
        ops = _ops()
        axis = axis % x.ndim
        data = getattr(x, "data", x)
        watch = watching()
        # A trace replays on other values, so it gets the form that is exact with zeros anywhere.
        if (watch is None or watch.trace is None) and not bool(namespace(data).any(data == 0)):
            # y_j sum_{k <= j} tx_k / x_k: exact, to every order, near a point without zeros
            return result * ops.cumsum(tx / x, axis=axis)
        return _cumprod_jvp_by_position(ops, tx, x, axis)


def _cumprod_vjp_by_position(g: Any, x: Any, axis: int) -> Any:
    """grad[k] = sum over j >= k of g[j] * (product of x[m] for m <= j, m != k), one k at a time
    (O(n^2)): exact with zeros anywhere, and its derivative is cumprod's second derivative."""
    xp = namespace(g)
    before = (slice(None),) * axis
    grads = []
    for k in range(x.shape[axis]):
        until_k = xp.prod(x[(*before, slice(0, k))], axis=axis, keepdims=True)
        after_k = xp.cumprod(x[(*before, slice(k + 1, None))], axis=axis)
        omitted = xp.concatenate([until_k, until_k * after_k], axis=axis)
        grads.append(xp.sum(g[(*before, slice(k, None))] * omitted, axis=axis))
    return xp.stack(grads, axis=axis)


def _cumprod_jvp_by_position(xp: Any, t: Any, x: Any, axis: int) -> Any:
    """ty[j] = sum over k <= j of t[k] * (product of x[m] for m <= j, m != k), one k at a time
    (O(n^2)): exact with zeros anywhere; the transpose of ``_cumprod_vjp_by_position``."""
    before = (slice(None),) * axis
    n = x.shape[axis]
    total = None
    for k in range(n):
        until_k = xp.prod(x[(*before, slice(0, k))], axis=axis, keepdims=True)
        after_k = xp.cumprod(x[(*before, slice(k + 1, None))], axis=axis)
        # positions j >= k get t[k] times the products without x[k]; positions before k get nothing
        term = t[(*before, slice(k, k + 1))] * xp.concatenate([until_k, until_k * after_k], axis=axis)
        if k:
            term = xp.pad(term, [(k, 0) if d == axis else (0, 0) for d in range(x.ndim)])
        total = term if total is None else total + term
    return total if total is not None else t


class LogSumExp(Function):
    """log(sum(exp(x))) along ``axis``, computed without overflow."""

    def forward(ctx, x, axis=None, keepdims=False):
        xp = namespace(x)
        if x.dtype.kind not in "fc":  # integers and bools: exp and log give floats, as numpy's do
            x = xp.astype(x, xp.result_type(x, 1.0))
        top = xp.max(x, axis=axis, keepdims=True, initial=-float("inf"))  # empty slices: log(0) = -inf
        top = xp.where(xp.isfinite(top), top, 0)  # all -inf (or inf) slices: let exp/log decide
        y = xp.log(xp.sum(xp.exp(x - top), axis=axis, keepdims=keepdims))
        y = y + (top if keepdims else xp.reshape(top, y.shape))
        ctx.save(x, y, kept_shape(x.shape, axis))
        return y

    def backward(ctx, upstream):
        x, y, kept = ctx.saved
        xp = namespace(upstream)
        return xp.reshape(upstream, kept) * xp.exp(x - xp.reshape(y, kept))

    def jvp(primals, tangents, result, axis=None, keepdims=False):
        (x,), (tx,) = primals, tangents
        if tx is None:
            return None
        ops = _ops()
        weights = ops.exp(x - ops.reshape(result, kept_shape(tuple(x.shape), axis)))  # softmax(x)
        return _weighted_sum(tx, weights, axis, keepdims)


def _largest(x: Any, axis: Any) -> Any:
    """``x.max(axis, keepdims=True)``: the shift that keeps softmax's exponentials finite. For a batch
    of short rows (logits, 128 x 10) it is the maximum down the columns of the transposed copy:
    numpy reduces a short last axis one row at a time (128 x 10 float32: 7 -> 2 us; log_softmax of
    1024 x 10: 90 -> 37 us), and the maximum is the same number either way."""
    xp = namespace(x)
    if x.ndim == 2 and axis in (-1, 1) and x.shape[0] >= 16 and x.shape[1] <= 64:
        return xp.max(xp.ascontiguousarray(x.T), axis=0)[:, None]
    return xp.max(x, axis=axis, keepdims=True)


class Softmax(Function):
    """exp(x) / sum(exp(x)) along ``axis`` (stable: the max is subtracted first)."""

    def forward(ctx, x, axis=-1):
        xp = namespace(x)
        e = xp.exp(x - _largest(x, axis))
        y = e / xp.sum(e, axis=axis, keepdims=True)
        ctx.save(y, axis)
        return y

    def backward(ctx, upstream):
        y, axis = ctx.saved
        xp = namespace(upstream)
        return y * (upstream - xp.sum(upstream * y, axis=axis, keepdims=True))

    def jvp(primals, tangents, result, axis=-1):
        (tx,) = tangents
        if tx is None:
            return None
        return result * (tx - _weighted_sum(tx, result, axis, True))


class LogSoftmax(Function):
    """x - logsumexp(x) along ``axis`` (stable)."""

    def forward(ctx, x, axis=-1):
        xp = namespace(x)
        shifted = x - _largest(x, axis)
        y = shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
        ctx.save(y, axis)
        return y

    def backward(ctx, upstream):
        y, axis = ctx.saved
        xp = namespace(upstream)
        return upstream - xp.exp(y) * xp.sum(upstream, axis=axis, keepdims=True)

    def jvp(primals, tangents, result, axis=-1):
        (tx,) = tangents
        if tx is None:
            return None
        return tx - _weighted_sum(tx, _ops().exp(result), axis, True)


# --- reductions without gradient ------------------------------------------------------
class Argmax(Function):
    differentiable = False

    def forward(ctx, x, axis=None, keepdims=False):
        return namespace(x).argmax(x, axis=axis, keepdims=keepdims)


class Argmin(Function):
    differentiable = False

    def forward(ctx, x, axis=None, keepdims=False):
        return namespace(x).argmin(x, axis=axis, keepdims=keepdims)


class Argsort(Function):
    """The indices that sort along ``axis`` (None: flattened), stably: equal elements keep their
    order. Descending puts NaN first, as PyTorch does (ascending puts it last)."""

    differentiable = False

    def forward(ctx, x, axis=-1, descending=False):
        xp = namespace(x)
        if not descending:
            return xp.argsort(x, axis=axis, kind="stable")
        # Sorting the reversed array ascending and reversing the result keeps ties in order.
        length = x.size if axis is None else x.shape[axis]
        order_of_reversed = xp.argsort(xp.flip(x, axis=axis), axis=axis, kind="stable")
        return (length - 1) - xp.flip(order_of_reversed, axis=axis)


class AllTrue(Function):
    name, differentiable = "all", False

    def forward(ctx, x, axis=None, keepdims=False):
        return namespace(x).all(x, axis=axis, keepdims=keepdims)


class AnyTrue(Function):
    name, differentiable = "any", False

    def forward(ctx, x, axis=None, keepdims=False):
        return namespace(x).any(x, axis=axis, keepdims=keepdims)
