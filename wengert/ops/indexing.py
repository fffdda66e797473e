"""Indexing (``x[key]``) and its VJP, ``scatter_add``: a pair of ops, each the other's VJP.

Keys are numpy's: ints, slices (negative steps too), ``None``, ``...``, integer
arrays and boolean masks. An element picked twice gets both gradients summed.
Gathering along an axis (``gather``, ``take_along_axis``, ``sort``, ``topk``, ``diag``)
is indexing with a key built by ``along_axis_key``, so it needs no VJP of its own.
"""

from __future__ import annotations

from typing import Any

from ..core.backend import namespace
from ..core.function import Function


def along_axis_key(index: Any, axis: int, sizes: tuple) -> tuple:
    """The key that picks, at each position of ``index``, the element ``index`` names along ``axis``:
    ``x[key][..., i, ...] == x[..., index[..., i, ...], ...]``. Every other axis d gets an arange of
    ``sizes[d]`` shaped to broadcast (``index.shape`` for PyTorch's gather, ``x.shape`` for numpy's
    take_along_axis). ``index`` is an integer array with ``len(sizes)`` axes, ``axis`` non-negative."""
    xp = namespace(index)
    ndim = len(sizes)
    key = []
    for d, size in enumerate(sizes):
        if d == axis:
            key.append(index)
        else:
            key.append(xp.reshape(xp.arange(size), (1,) * d + (size,) + (1,) * (ndim - d - 1)))
    return tuple(key)


class Index(Function):
    name = "getitem"
    linear = True

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
    linear = True
    broadcasting = True  # values broadcast to the shape of x[key], as in numpy

    def forward(ctx, values, key, shape):
        ctx.save(key)
        return namespace(values).scatter_add(values, key, shape)

    def backward(ctx, upstream):
        (key,) = ctx.saved
        return upstream[key]
