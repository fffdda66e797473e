"""Indexing (``x[key]``) and its VJP, ``scatter_add``: a pair of ops, each the other's VJP.

Keys are numpy's: ints, slices (negative steps too), ``None``, ``...``, integer
arrays and boolean masks. An element picked twice gets both gradients summed.
"""

from __future__ import annotations

from ..core.backend import namespace
from ..core.function import Function


class Index(Function):
    name = "getitem"

    def forward(ctx, x, key):
        ctx.save(x.shape, key)
        return x[key]

    def backward(ctx, upstream):
        shape, key = ctx.saved
        return namespace(upstream).scatter_add(upstream, key, shape)


class IndexView(Index):
    """Basic indexing (no integer arrays): the result is a view of ``x``."""

    view = True
    name = "getitem"


class ScatterAdd(Function):
    """Zeros of ``shape`` with ``values`` added at ``key`` (repeated indices accumulate)."""

    name = "scatter_add"
    broadcasting = True  # values broadcast to the shape of x[key], as in numpy

    def forward(ctx, values, key, shape):
        ctx.save(key)
        return namespace(values).scatter_add(values, key, shape)

    def backward(ctx, upstream):
        (key,) = ctx.saved
        return upstream[key]
