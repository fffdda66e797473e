"""Reductions over axes, and the softmax family that normalizes along one.

``axis`` is an int, a tuple of ints (negative counts from the end) or None (all
axes); ``keepdims`` keeps reduced axes with size 1, as in numpy. Every VJP first
reshapes the upstream gradient to the kept-dims shape, so it broadcasts back over
the reduced axes: the seeds' "gradient of a sum copies to every summand".
"""

from __future__ import annotations

from typing import Any

from ..core.backend import namespace
from ..core.function import Function


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


class Sum(Function):
    def forward(ctx, x, axis=None, keepdims=False):
        y = namespace(x).sum(x, axis=axis, keepdims=keepdims)
        ctx.save(x.shape, kept_shape(x.shape, axis))
        return y

    def backward(ctx, upstream):
        shape, kept = ctx.saved
        return _unreduce(upstream, kept, shape)


class Mean(Function):
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


class Max(Function):
    """Largest element; the gradient goes to the largest, shared equally among ties."""

    name = "max"

    def forward(ctx, x, axis=None, keepdims=False):
        y = namespace(x).max(x, axis=axis, keepdims=keepdims)
        ctx.save(x, y, axis, kept_shape(x.shape, axis))
        return y

    def backward(ctx, upstream):
        return _route_to_extremes(upstream, *ctx.saved)


class Min(Max):
    """Smallest element; the gradient goes to the smallest, shared equally among ties."""

    name = "min"

    def forward(ctx, x, axis=None, keepdims=False):
        y = namespace(x).min(x, axis=axis, keepdims=keepdims)
        ctx.save(x, y, axis, kept_shape(x.shape, axis))
        return y


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
        is_zero = x == 0
        zeros = xp.sum(is_zero, axis=axis, keepdims=True)
        nonzero_x = xp.where(is_zero, 1, x)
        others = xp.where(zeros == 0, xp.reshape(y, kept) / nonzero_x,
                          xp.where(is_zero & (zeros == 1), xp.prod(nonzero_x, axis=axis, keepdims=True), 0))
        return xp.reshape(upstream, kept) * others


class LogSumExp(Function):
    """log(sum(exp(x))) along ``axis``, computed without overflow."""

    def forward(ctx, x, axis=None, keepdims=False):
        xp = namespace(x)
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


class Softmax(Function):
    """exp(x) / sum(exp(x)) along ``axis`` (stable: the max is subtracted first)."""

    def forward(ctx, x, axis=-1):
        xp = namespace(x)
        e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
        y = e / xp.sum(e, axis=axis, keepdims=True)
        ctx.save(y, axis)
        return y

    def backward(ctx, upstream):
        y, axis = ctx.saved
        xp = namespace(upstream)
        return y * (upstream - xp.sum(upstream * y, axis=axis, keepdims=True))


class LogSoftmax(Function):
    """x - logsumexp(x) along ``axis`` (stable)."""

    def forward(ctx, x, axis=-1):
        xp = namespace(x)
        shifted = x - xp.max(x, axis=axis, keepdims=True)
        y = shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
        ctx.save(y, axis)
        return y

    def backward(ctx, upstream):
        y, axis = ctx.saved
        xp = namespace(upstream)
        return upstream - xp.exp(y) * xp.sum(upstream, axis=axis, keepdims=True)


# --- reductions without gradient ------------------------------------------------------
class Argmax(Function):
    differentiable = False

    def forward(ctx, x, axis=None, keepdims=False):
        return namespace(x).argmax(x, axis=axis, keepdims=keepdims)


class Argmin(Function):
    differentiable = False

    def forward(ctx, x, axis=None, keepdims=False):
        return namespace(x).argmin(x, axis=axis, keepdims=keepdims)


class AllTrue(Function):
    name, differentiable = "all", False

    def forward(ctx, x, axis=None, keepdims=False):
        return namespace(x).all(x, axis=axis, keepdims=keepdims)


class AnyTrue(Function):
    name, differentiable = "any", False

    def forward(ctx, x, axis=None, keepdims=False):
        return namespace(x).any(x, axis=axis, keepdims=keepdims)
