"""The op library, under numpy's names and signatures; also the namespace of Tensors.

Gradient rules call ``namespace(g).exp(...)`` and the like. When a rule runs on
Tensors (to record a graph for higher-order derivatives), that namespace is this
module, so every name a rule uses is defined here with numpy's signature.
Tensor's operators and methods are bound here too, keeping the core free of ops.

Functions take numpy's signatures and methods PyTorch's, and where the two disagree the
names decide: spelled with PyTorch's names (``dim``, ``keepdim``, ``correction``, or a
method's positional ``dim``) a call means what it means in PyTorch, with numpy's
(``axis``, ``keepdims``, ``ddof``, or a function's positional ``axis``) what it means in
numpy. So ``x.max(1)`` and ``wg.max(x, dim=1)`` give PyTorch's ``(values, indices)`` while
``wg.max(x, 1)`` and ``x.max(axis=1)`` give numpy's values; ``x.var()`` divides by n - 1
and ``wg.var(x)`` by n; ``x.squeeze(0)`` leaves an axis that is not of size 1 alone and
``wg.squeeze(x, 0)`` refuses it.
"""

from __future__ import annotations

import builtins
import itertools
import math
import operator
import string
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..core.backend import (
    as_dtype,
    bool_,
    float16,
    float32,
    float64,
    int32,
    int64,
    is_basic_key,
    is_floating,
    namespace,
    register_namespace,
)
from ..core.dtypes import as_array
from ..core.errors import OpTypeError, OpValueError, call_site, op_error
from ..core.tensor import Tensor, unwrap_key
from .elementwise import (
    absolute,
    add,
    clip_op,
    cos,
    divide,
    elementwise,
    equal,
    erf,
    exp,
    expm1,
    gelu_op,
    gelu_tanh_op,
    greater,
    greater_equal,
    isfinite,
    leaky_relu_op,
    less,
    less_equal,
    log,
    log1p,
    logaddexp,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    minimum,
    multiply,
    negative,
    not_equal,
    power,
    relu,
    sigmoid,
    sign,
    sin,
    softplus_op,
    sqrt,
    square,
    subtract,
    tanh,
    where_op,
)
from .indexing import Index, IndexView, ScatterAdd, along_axis_key
from .linalg import Einsum, Matmul
from .reduce import (
    AllTrue,
    AnyTrue,
    Argmax,
    Argmin,
    Argsort,
    Cumprod,
    Cumsum,
    LogSoftmax,
    LogSumExp,
    Max,
    Mean,
    Min,
    Norm,
    Prod,
    Softmax,
    Std,
    Sum,
    Var,
)
from .shape import (
    AsType,
    BroadcastTo,
    Clone,
    Concatenate,
    ExpandDims,
    Flip,
    Pad,
    Repeat,
    Reshape,
    Roll,
    Squeeze,
    Stack,
    Swapaxes,
    Tile,
    Transpose,
    Triangle,
    View,
)

abs = absolute
true_divide = divide
matmul = Matmul.apply
isnan = elementwise("isnan", lambda xp, x: xp.isnan(x))
isinf = elementwise("isinf", lambda xp, x: xp.isinf(x))


class ValuesIndices(NamedTuple):
    """What ``max(dim)``, ``min(dim)``, ``sort`` and ``topk`` return, as in PyTorch:
    ``values, indices = x.sort()`` or ``x.max(1).indices``."""

    values: Tensor
    indices: Tensor


# --- arguments ----------------------------------------------------------------------------

def _axis(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


def _array_input(x: Any) -> Any:
    """``x`` as an op input: Python numbers and lists become arrays as ``wg.tensor`` makes them
    (floats in the default dtype), and a list of Tensors is stacked (keeping their gradients)."""
    if isinstance(x, Tensor) or hasattr(x, "shape"):
        return x
    if isinstance(x, (list, tuple)) and builtins.any(isinstance(item, Tensor) for item in x):
        return stack(x)
    return as_array(x)


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _array_namespace(x: Any) -> Any:
    """The namespace of ``x``'s array (numpy's for numpy data), for building index arrays."""
    return namespace(_data(x))


def _error(name: str, message: str, inputs: tuple, kind: type = ValueError) -> Exception:
    """An error naming the op, its inputs' shapes and dtypes, and the caller's line."""
    return op_error(name, inputs, kind(message))


def _torch_names(name: str, axis: Any, keepdims: bool, dim: Any, keepdim: bool | None) -> tuple:
    """numpy's ``axis``/``keepdims`` merged with PyTorch's ``dim``/``keepdim``."""
    if dim is not None:
        if axis is not None:
            raise OpTypeError(f"{name}: got both axis= (numpy's name) and dim= (PyTorch's); pass one "
                              f"(at {call_site()})")
        axis = dim
    return _axis(axis), keepdims if keepdim is None else keepdim


def _one_dim(name: str, x: Any, dim: Any) -> int:
    """``dim`` as a non-negative axis of ``x``; a 0-d tensor takes 0 or -1, as in PyTorch."""
    ndim = builtins.max(x.ndim, 1)
    try:
        axis = operator.index(dim) if not isinstance(dim, bool) else None
    except TypeError:
        axis = None
    if axis is None or not -ndim <= axis < ndim:
        raise _error(name, f"dim must be an int in [{-ndim}, {ndim - 1}], not {dim!r}", (x,), IndexError)
    return axis % ndim


def _shape_tuple(args: tuple) -> tuple:
    """``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


# --- elementwise with constants -----------------------------------------------------------

def where(condition: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``condition`` holds, else ``b`` (all three broadcast)."""
    return where_op(condition, a, b)


def clip(x: Any, a_min: Any = None, a_max: Any = None) -> Tensor:
    """Limit to [a_min, a_max] (None: unbounded). The gradient passes at the bounds, as in PyTorch."""
    return clip_op(x, a_min, a_max)  # None stays None, so an integer tensor stays integer


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu_op(x, slope=negative_slope)


def gelu(x: Any, approximate: str = "none") -> Tensor:
    """x * Phi(x) with the exact normal CDF, or its tanh approximation (``approximate="tanh"``)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
    return gelu_op(x) if approximate == "none" else gelu_tanh_op(x)


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch's definition)."""
    return softplus_op(x, beta=beta, threshold=threshold)


def _masked_fill(self: Tensor, mask: Any, value: Any) -> Tensor:
    """PyTorch's ``masked_fill``: ``value`` where the bool ``mask`` (broadcast to this shape) holds."""
    mask_array = _data(mask)
    if getattr(mask_array, "dtype", None) != bool_:
        raise _error("masked_fill", "the mask must be a bool tensor", (self, mask), TypeError)
    if namespace(mask_array).broadcast_shapes(mask_array.shape, self.shape) != tuple(self.shape):
        raise _error("masked_fill", f"a mask of shape {tuple(mask_array.shape)} does not broadcast to the "
                     f"tensor's shape {tuple(self.shape)}", (self, mask))
    filled = where_op(mask, value, self)
    return filled if filled.dtype == self.dtype else astype(filled, self.dtype)


def _where_method(self: Tensor, condition: Any, other: Any) -> Tensor:
    """PyTorch's ``x.where(condition, y)``: ``x`` where ``condition`` holds, else ``y``."""
    return where_op(condition, self, other)


# --- reductions -------------------------------------------------------------------------------
# Each takes numpy's axis/keepdims and PyTorch's dim/keepdim; Python numbers and lists are arrays.

def _reduction(function: type, doc: str) -> Any:
    """``f(x, axis=None, keepdims=False, *, dim=None, keepdim=None)`` applying the reduction ``function``."""
    def reduce(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
               keepdim: bool | None = None) -> Tensor:
        if dim is not None or keepdim is not None:
            axis, keepdims = _torch_names(function.name, axis, keepdims, dim, keepdim)
        return function.apply(_array_input(x), axis=_axis(axis), keepdims=keepdims)

    reduce.__name__ = reduce.__qualname__ = function.name
    reduce.__doc__ = doc
    return reduce


sum = _reduction(Sum, "Sum over ``axis`` (an int, a tuple, or None for all axes).")
mean = _reduction(Mean, "Mean over ``axis`` (an int, a tuple, or None for all axes).")
prod = _reduction(Prod, "Product over ``axis``; zeros are handled exactly.")
logsumexp = _reduction(LogSumExp, "log(sum(exp(x))) over ``axis``, without overflow.")


def _degrees_of_freedom(name: str, ddof: Any, correction: Any, unbiased: bool | None, default: int) -> Any:
    """numpy's ``ddof``, PyTorch's ``correction`` or its older ``unbiased``: what n is reduced by."""
    given = [value for value in (ddof, correction, unbiased) if value is not None]
    if len(given) > 1:
        raise OpTypeError(f"{name}: pass one of ddof= (numpy), correction= or unbiased= (PyTorch) "
                          f"(at {call_site()})")
    if unbiased is not None:
        return int(bool(unbiased))
    return given[0] if given else default


def var(x: Any, axis: Any = None, keepdims: bool = False, ddof: Any = None, *, dim: Any = None,
        keepdim: bool | None = None, correction: Any = None, unbiased: bool | None = None) -> Tensor:
    """Variance over ``axis``: sum((x - mean)^2) / (n - ddof). The default is numpy's ddof=0, or
    PyTorch's correction=1 when the call uses PyTorch's ``dim``/``keepdim``."""
    torch_style = dim is not None or keepdim is not None
    axis, keepdims = _torch_names("var", axis, keepdims, dim, keepdim)
    ddof = _degrees_of_freedom("var", ddof, correction, unbiased, int(torch_style))
    return Var.apply(_array_input(x), axis=axis, keepdims=keepdims, ddof=ddof)


def std(x: Any, axis: Any = None, keepdims: bool = False, ddof: Any = None, *, dim: Any = None,
        keepdim: bool | None = None, correction: Any = None, unbiased: bool | None = None) -> Tensor:
    """Standard deviation over ``axis``, the square root of ``var`` with the same defaults."""
    torch_style = dim is not None or keepdim is not None
    axis, keepdims = _torch_names("std", axis, keepdims, dim, keepdim)
    ddof = _degrees_of_freedom("std", ddof, correction, unbiased, int(torch_style))
    return Std.apply(_array_input(x), axis=axis, keepdims=keepdims, ddof=ddof)


def _spread_method(function: Any) -> Any:
    """``x.var(dim=None, unbiased=None, keepdim=False, *, correction=None)``, PyTorch's signature and
    default (correction=1); numpy's keywords (axis, keepdims, ddof) bring numpy's default (ddof=0)."""
    def method(self: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool | None = None, *,
               correction: Any = None, axis: Any = None, keepdims: bool | None = None, ddof: Any = None) -> Tensor:
        numpy_style = axis is not None or keepdims is not None or ddof is not None
        if ddof is None and correction is None and unbiased is None:
            ddof = 0 if numpy_style else 1
        return function(self, axis, bool(keepdims), ddof, dim=dim, keepdim=keepdim, correction=correction,
                        unbiased=unbiased)

    method.__name__ = function.__name__
    method.__doc__ = function.__doc__
    return method


def _extreme_along(name: str, arg_op: Any, x: Any, dim: Any, keepdim: bool) -> ValuesIndices:
    """PyTorch's ``max(dim)``/``min(dim)``: the values and their indices along one axis. The values
    are gathered at the indices, so the gradient goes to that one element, as in PyTorch."""
    if isinstance(dim, (tuple, list)):
        raise _error(name, f"dim= takes one axis here, as in PyTorch, not {dim!r}; use amax/amin, or "
                     "axis= for numpy's reduction over several axes", (x,), TypeError)
    x = _array_input(x)
    if x.ndim == 0:
        _one_dim(name, x, dim)
        values, indices = _extreme_along(name, arg_op, reshape(x, (1,)), 0, False)
        return ValuesIndices(reshape(values, ()), reshape(indices, ()))
    axis = _one_dim(name, x, dim)
    indices = arg_op.apply(x, axis=axis, keepdims=True)
    values = Index.apply(x, key=along_axis_key(indices.data, axis, indices.shape))
    if not keepdim:
        values, indices = squeeze(values, axis), squeeze(indices, axis)
    return ValuesIndices(values, indices)


def max(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
        keepdim: bool | None = None) -> Any:
    """numpy's max over ``axis`` (the gradient shared equally among ties). PyTorch's forms:
    ``max(x, dim=d)`` gives ``(values, indices)``, and ``max(a, b)`` with a tensor ``b`` is ``maximum``."""
    if dim is not None:
        _torch_names("max", axis, keepdims, dim, keepdim)  # refuses axis and dim together
        return _extreme_along("max", Argmax, x, dim, bool(keepdim))
    if isinstance(axis, Tensor):
        return maximum(x, axis)
    return Max.apply(_array_input(x), axis=_axis(axis), keepdims=keepdims if keepdim is None else keepdim)


def min(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
        keepdim: bool | None = None) -> Any:
    """numpy's min over ``axis``; ``min(x, dim=d)`` and ``min(a, b)`` as PyTorch's (see ``max``)."""
    if dim is not None:
        _torch_names("min", axis, keepdims, dim, keepdim)
        return _extreme_along("min", Argmin, x, dim, bool(keepdim))
    if isinstance(axis, Tensor):
        return minimum(x, axis)
    return Min.apply(_array_input(x), axis=_axis(axis), keepdims=keepdims if keepdim is None else keepdim)


def _extreme_method(function: Any) -> Any:
    """``x.max(dim=None, keepdim=False)`` with PyTorch's meaning (a positional dim gives values and
    indices); ``axis=``/``keepdims=`` give numpy's."""
    def method(self: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
               keepdims: bool | None = None) -> Any:
        if dim is None or isinstance(dim, Tensor):
            return function(self, dim if axis is None else axis, bool(keepdims))
        if axis is not None or keepdims is not None:
            raise OpTypeError(f"{function.__name__}: got both PyTorch's dim and numpy's axis/keepdims; pass "
                              f"one (at {call_site()})")
        return function(self, dim=dim, keepdim=keepdim)

    method.__name__ = function.__name__
    method.__doc__ = function.__doc__
    return method


def amax(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
         keepdim: bool | None = None) -> Tensor:
    """The largest values over ``axis`` (an int, a tuple, or None), the gradient shared among ties."""
    axis, keepdims = _torch_names("amax", axis, keepdims, dim, keepdim)
    return Max.apply(_array_input(x), axis=axis, keepdims=keepdims)


def amin(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
         keepdim: bool | None = None) -> Tensor:
    """The smallest values over ``axis`` (an int, a tuple, or None), the gradient shared among ties."""
    axis, keepdims = _torch_names("amin", axis, keepdims, dim, keepdim)
    return Min.apply(_array_input(x), axis=axis, keepdims=keepdims)


def softmax(x: Any, axis: Any = -1, *, dim: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis`` (PyTorch's ``dim``)."""
    return Softmax.apply(_array_input(x), axis=_axis(axis if dim is None else dim))


def log_softmax(x: Any, axis: Any = -1, *, dim: Any = None) -> Tensor:
    """x - logsumexp(x) along ``axis`` (PyTorch's ``dim``)."""
    return LogSoftmax.apply(_array_input(x), axis=_axis(axis if dim is None else dim))


def argmax(x: Any, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
           keepdim: bool | None = None) -> Tensor:
    axis, keepdims = _torch_names("argmax", axis, keepdims, dim, keepdim)
    return Argmax.apply(_array_input(x), axis=axis, keepdims=keepdims)


def argmin(x: Any, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
           keepdim: bool | None = None) -> Tensor:
    axis, keepdims = _torch_names("argmin", axis, keepdims, dim, keepdim)
    return Argmin.apply(_array_input(x), axis=axis, keepdims=keepdims)


def all(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: bool | None = None) -> Tensor:
    axis, keepdims = _torch_names("all", axis, keepdims, dim, keepdim)
    return AllTrue.apply(_array_input(x), axis=axis, keepdims=keepdims)


def any(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: bool | None = None) -> Tensor:
    axis, keepdims = _torch_names("any", axis, keepdims, dim, keepdim)
    return AnyTrue.apply(_array_input(x), axis=axis, keepdims=keepdims)


def _norm(self: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Tensor:
    """PyTorch's ``x.norm(p, dim, keepdim)``, a vector norm over ``dim`` (an int, a tuple, or None
    for all): p = 'fro' or 2 (Euclidean), 1, inf (largest magnitude), -inf (smallest), 0 (count of
    non-zeros), or any other p > 0. The gradient at a zero norm is 0, as in PyTorch."""
    axis = _axis(dim)
    if p == "fro" or p == 2:
        return Norm.apply(self, ord=2, axis=axis, keepdims=keepdim)
    if isinstance(p, str) or not isinstance(p, (int, float)):
        raise _error("norm", f"p must be 'fro' or a number, not {p!r}", (self,), TypeError)
    if p == float("inf"):
        return Max.apply(absolute(self), axis=axis, keepdims=keepdim)
    if p == -float("inf"):
        return Min.apply(absolute(self), axis=axis, keepdims=keepdim)
    if p < 0 or p != p:
        raise _error("norm", f"p must be 'fro', inf, -inf or a number >= 0, not {p!r}", (self,))
    return Norm.apply(self, ord=p, axis=axis, keepdims=keepdim)


# --- scans and sorting ------------------------------------------------------------------------

def _scan(op: Any, x: Any, axis: Any, dim: Any) -> Tensor:
    x = _array_input(x)
    if dim is not None:  # PyTorch's: one axis; a 0-d tensor stays 0-d
        if axis is not None:
            raise OpTypeError(f"{op.name}: got both axis= and dim=; pass one (at {call_site()})")
        if x.ndim == 0:
            _one_dim(op.name, x, dim)
            return reshape(op.apply(reshape(x, (1,)), axis=0), ())
        axis = dim
    if axis is None:  # numpy's default: the flattened array
        return op.apply(reshape(x, (-1,)), axis=0)
    return op.apply(x, axis=axis)


def cumsum(x: Any, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Running sums along ``axis`` (None: of the flattened array, as numpy's)."""
    return _scan(Cumsum, x, axis, dim)


def cumprod(x: Any, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Running products along ``axis`` (None: of the flattened array), exact gradients with zeros."""
    return _scan(Cumprod, x, axis, dim)


def _scan_method(function: Any) -> Any:
    """``x.cumsum(dim)``: PyTorch's positional dim."""
    def method(self: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
        return function(self, axis, dim=dim)

    method.__name__ = function.__name__
    method.__doc__ = function.__doc__
    return method


def _take(x: Any, indices: Any, axis: int) -> Tensor:
    """``x`` at ``indices`` (an integer Tensor or array of ``x``'s rank) along ``axis``."""
    indices = _data(indices)
    return Index.apply(x, key=along_axis_key(indices, axis, indices.shape))


def take_along_axis(arr: Any, indices: Any, axis: int | None = -1) -> Tensor:
    """numpy's take_along_axis: ``arr`` at ``indices`` along ``axis`` (None: of the flattened array);
    ``indices`` has ``arr``'s rank and broadcasts against it on the other axes."""
    arr = _array_input(arr)
    index_array = _data(indices)
    if axis is None:
        arr, axis = reshape(arr, (-1,)), 0
    if getattr(index_array, "dtype", None) is None or index_array.dtype.kind not in "iu":
        raise _error("take_along_axis", "indices must be an integer array", (arr, indices), TypeError)
    if index_array.ndim != arr.ndim:
        raise _error("take_along_axis", f"indices have {index_array.ndim} axes, the array {arr.ndim}",
                     (arr, indices))
    axis = _one_dim("take_along_axis", arr, axis)
    length = arr.shape[axis]
    if index_array.size and (index_array.min() < -length or index_array.max() >= length):
        raise _error("take_along_axis", f"indices must be in [{-length}, {length}) along axis {axis}, found "
                     f"[{index_array.min()}, {index_array.max()}]", (arr, indices), IndexError)
    return Index.apply(arr, key=along_axis_key(index_array, axis, tuple(arr.shape)))


def _check_index(name: str, x: Any, dim: int, index: Any, inputs: tuple, bound: tuple | None = None) -> Any:
    """PyTorch's rules for gather/scatter indices: integers, x's rank, within ``x`` (or ``bound``) on
    the other axes, and in [0, x.shape[dim]) along ``dim``: never numpy's silent wrap-around."""
    index_array = _data(index)
    if getattr(index_array, "dtype", None) is None or index_array.dtype.kind not in "iu":
        raise _error(name, "index must be an integer tensor", inputs, TypeError)
    if index_array.ndim != x.ndim:
        raise _error(name, f"index has {index_array.ndim} dimensions, the tensor {x.ndim}", inputs)
    limits = tuple(x.shape) if bound is None else bound
    if builtins.any(n > limit for d, (n, limit) in enumerate(zip(index_array.shape, limits)) if d != dim):
        raise _error(name, f"index of shape {tuple(index_array.shape)} is larger than {limits} outside dim {dim}",
                     inputs)
    if index_array.size and (index_array.min() < 0 or index_array.max() >= x.shape[dim]):
        raise _error(name, f"index values must be in [0, {x.shape[dim]}) along dim {dim}, found "
                     f"[{index_array.min()}, {index_array.max()}]", inputs, IndexError)
    return index_array


def _gather(self: Tensor, dim: int, index: Any) -> Tensor:
    """PyTorch's ``gather``: ``out[i][j] = self[i][index[i][j]]`` for dim=1 (index has self's rank and
    is no larger on the other dims). The VJP adds the gradient back at the gathered positions."""
    if self.ndim == 0:
        _one_dim("gather", self, dim)
        return reshape(_gather(reshape(self, (1,)), 0, reshape(index, (1,))), ())
    axis = _one_dim("gather", self, dim)
    return _take(self, _check_index("gather", self, axis, index, (self, index)), axis)


def _scatter_add_method(self: Tensor, dim: int, index: Any, src: Any) -> Tensor:
    """PyTorch's ``scatter_add``: a copy of self with ``src[i][j]`` added at ``[i][index[i][j]]`` for
    dim=1 (repeated indices accumulate; only the part of src the size of index is used)."""
    if self.ndim == 0:
        _one_dim("scatter_add", self, dim)
        return reshape(_scatter_add_method(reshape(self, (1,)), 0, reshape(index, (1,)), reshape(src, (1,))), ())
    axis = _one_dim("scatter_add", self, dim)
    inputs = (self, index, src)
    src_shape = tuple(getattr(src, "shape", ()))
    if len(src_shape) != self.ndim:
        raise _error("scatter_add", "src must be a tensor with as many dimensions as self", inputs)
    index_array = _check_index("scatter_add", self, axis, index, inputs)
    if builtins.any(n > m for n, m in zip(index_array.shape, src_shape)):
        raise _error("scatter_add", f"index of shape {tuple(index_array.shape)} is larger than src", inputs)
    used = src if src_shape == tuple(index_array.shape) else getitem(src, tuple(slice(0, n) for n in index_array.shape))
    key = along_axis_key(index_array, axis, index_array.shape)
    return add(self, ScatterAdd.apply(used, key=key, shape=tuple(self.shape)))


def argsort(x: Any, axis: int | None = -1, *, dim: int | None = None, descending: bool = False,
            stable: bool | None = None, kind: str | None = None) -> Tensor:
    """The indices that sort ``x`` along ``axis`` (None: flattened). Always stable, whatever
    ``kind``/``stable`` say: equal elements keep their order."""
    x = _array_input(x)
    if dim is not None:
        if x.ndim == 0:
            _one_dim("argsort", x, dim)
            return reshape(Argsort.apply(reshape(x, (1,)), axis=0, descending=descending), ())
        axis = dim
    return Argsort.apply(x, axis=axis, descending=descending)


def _sort_values_indices(x: Any, dim: int, descending: bool) -> ValuesIndices:
    if x.ndim == 0:
        _one_dim("sort", x, dim)
        values, indices = _sort_values_indices(reshape(x, (1,)), 0, descending)
        return ValuesIndices(reshape(values, ()), reshape(indices, ()))
    axis = _one_dim("sort", x, dim)
    indices = Argsort.apply(x, axis=axis, descending=descending)
    return ValuesIndices(_take(x, indices, axis), indices)


def sort(x: Any, axis: int | None = -1, *, dim: int | None = None, descending: bool = False,
         stable: bool | None = None, kind: str | None = None) -> Any:
    """numpy's sort: the values sorted along ``axis`` (None: flattened), stably. With PyTorch's
    ``dim``, PyTorch's ``(values, indices)``. Gradients go back to where each value came from."""
    x = _array_input(x)
    if dim is not None:
        return _sort_values_indices(x, dim, descending)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    return _sort_values_indices(x, axis, descending).values


def _sort_method(self: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> ValuesIndices:
    """PyTorch's ``sort``: ``(values, indices)`` along ``dim``, stably."""
    return _sort_values_indices(self, dim, descending)


def _argsort_method(self: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """PyTorch's ``argsort`` along ``dim``, stably."""
    return argsort(self, dim=dim, descending=descending)


def _topk(self: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices:
    """PyTorch's ``topk``: the ``k`` largest (or smallest) values along ``dim`` and their indices,
    always in sorted order; equal values come in index order."""
    if self.ndim == 0:
        _one_dim("topk", self, dim)
        values, indices = _topk(reshape(self, (1,)), k, 0, largest)
        return ValuesIndices(reshape(values, ()), reshape(indices, ()))
    axis = _one_dim("topk", self, dim)
    if not 0 <= k <= self.shape[axis]:
        raise _error("topk", f"k={k} is out of range for dim {dim} of size {self.shape[axis]}", (self,),
                     IndexError)
    order = Argsort.apply(self, axis=axis, descending=largest)
    indices = getitem(order, (slice(None),) * axis + (slice(0, k),))
    return ValuesIndices(_take(self, indices, axis), indices)


# --- products ---------------------------------------------------------------------------------

def _ndim(value: Any) -> int:
    return value.ndim if hasattr(value, "ndim") else namespace(value).ndim(value)


def einsum(subscripts: Any, *operands: Any) -> Tensor:
    """numpy's einsum, ``einsum("bij,bjk->bik", a, b)``, or its sublist form, where each operand is
    followed by a list of ints naming its axes (``...`` allowed) and an optional last list names the
    output's: ``einsum(a, [0, 1], b, [1, 2], [0, 2])``."""
    if not isinstance(subscripts, str):
        subscripts, operands = _sublist_subscripts((subscripts, *operands))
    return Einsum.apply(*operands, subscripts=subscripts)


def _sublist_subscripts(arguments: tuple) -> tuple[str, tuple]:
    """The sublist form of einsum's arguments as a subscripts string and the operands."""
    def letters(sublist: Any) -> str:
        spelled = []
        for axis in sublist:
            if axis is Ellipsis:
                spelled.append("...")
            elif isinstance(axis, int) and 0 <= axis < len(string.ascii_letters):
                spelled.append(string.ascii_letters[axis])
            else:
                raise OpValueError(f"einsum: a sublist names axes by ints in [0, {len(string.ascii_letters)}) "
                                   f"or ..., not {axis!r} (at {call_site()})")
        return "".join(spelled)

    operands, sublists = arguments[0:len(arguments) - len(arguments) % 2:2], arguments[1::2]
    inputs = ",".join(letters(sublist) for sublist in sublists[:len(operands)])
    if len(arguments) % 2:
        return f"{inputs}->{letters(arguments[-1])}", operands
    return inputs, operands


def dot(a: Any, b: Any) -> Tensor:
    """numpy's dot: a product for 0-d, matmul up to 2-D, last axis of a with second-last of b beyond."""
    if _ndim(a) == 0 or _ndim(b) == 0:
        return multiply(a, b)
    if _ndim(b) <= 2:
        return matmul(a, b)
    return _tensordot_last(a, b)


def _tensordot_last(a: Any, b: Any) -> Tensor:
    letters = "abcdefghijklmnopqrstuvwxyz"
    a_letters = letters[:_ndim(a) - 1] + "Z"
    b_letters = letters[_ndim(a) - 1:_ndim(a) + _ndim(b) - 3] + "Z" + "Y"
    return einsum(f"{a_letters},{b_letters}->{a_letters[:-1]}{b_letters[:-2]}Y", a, b)


def outer(a: Any, b: Any) -> Tensor:
    """The outer product of ``a`` and ``b`` flattened: result[i, j] = a[i] * b[j]."""
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def diag(v: Any, k: int = 0) -> Tensor:
    """numpy's (and PyTorch's) diag: a 1-D ``v`` of length n becomes an (n+|k|, n+|k|) matrix with ``v``
    on diagonal ``k`` (above the main one for k > 0); from a 2-D ``v``, diagonal ``k`` as 1-D."""
    v = _array_input(v)
    xp = _array_namespace(v)
    if v.ndim == 1:
        length = v.shape[0]
        positions = xp.arange(length)
        size = length + builtins.abs(k)
        key = (positions + builtins.max(-k, 0), positions + builtins.max(k, 0))
        return ScatterAdd.apply(v, key=key, shape=(size, size))
    if v.ndim == 2:
        rows, columns = v.shape
        length = builtins.max(0, builtins.min(rows - builtins.max(-k, 0), columns - builtins.max(k, 0)))
        positions = xp.arange(length)
        return Index.apply(v, key=(positions + builtins.max(-k, 0), positions + builtins.max(k, 0)))
    raise _error("diag", f"takes a 1-D or 2-D input, not {v.ndim}-D", (v,))


def _triangle(name: str, x: Any, k: int, upper: bool) -> Tensor:
    x = _array_input(x)
    if x.ndim < 2:
        raise _error(name, f"takes an input of at least 2 dimensions (matrices in its last two), not "
                     f"{x.ndim}", (x,))
    return Triangle.apply(x, k=k, upper=upper)


def tril(m: Any, k: int = 0, *, diagonal: int | None = None) -> Tensor:
    """The lower triangle of the last two axes: on and below diagonal ``k`` (PyTorch's ``diagonal``)."""
    return _triangle("tril", m, k if diagonal is None else diagonal, upper=False)


def triu(m: Any, k: int = 0, *, diagonal: int | None = None) -> Tensor:
    """The upper triangle of the last two axes: on and above diagonal ``k`` (PyTorch's ``diagonal``)."""
    return _triangle("triu", m, k if diagonal is None else diagonal, upper=True)


# --- shapes -----------------------------------------------------------------------------------

def reshape(x: Any, shape: Any) -> Tensor:
    """``x`` in a new shape (one -1 inferred): a view sharing memory where numpy can make one."""
    return Reshape.apply(x, shape=(shape,) if isinstance(shape, int) else tuple(shape))


def _view(self: Tensor, *shape: Any) -> Tensor:
    """PyTorch's ``view``: the same memory in a new shape (one -1 inferred); an error, never a silent
    copy, where the layout does not allow it (after a transpose, say: use reshape or contiguous)."""
    return View.apply(self, shape=_shape_tuple(shape))


def transpose(x: Any, axes: Any = None) -> Tensor:
    return Transpose.apply(x, axes=None if axes is None else tuple(axes))


def _permute(self: Tensor, *dims: Any) -> Tensor:
    """PyTorch's ``permute``: axis ``dims[i]`` of self becomes axis i of the result."""
    dims = _shape_tuple(dims)
    ndim = self.ndim
    if not (builtins.all(isinstance(d, int) and -ndim <= d < ndim for d in dims)
            and sorted(d % ndim for d in dims) == list(range(ndim))):
        raise _error("permute", f"dims {dims} are not a permutation of the {ndim} axes", (self,))
    return Transpose.apply(self, axes=dims)


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    return Swapaxes.apply(x, axis1=axis1, axis2=axis2)


def matrix_transpose(x: Any) -> Tensor:
    return Swapaxes.apply(x, axis1=-1, axis2=-2)


def expand_dims(x: Any, axis: Any) -> Tensor:
    return ExpandDims.apply(x, axis=_axis(axis))


def _unsqueeze(self: Tensor, dim: int) -> Tensor:
    """PyTorch's ``unsqueeze``: a new axis of size 1 at ``dim`` (in [-ndim-1, ndim])."""
    return ExpandDims.apply(self, axis=dim)


def squeeze(x: Any, axis: Any = None, *, dim: Any = None) -> Tensor:
    """numpy's squeeze: drop ``axis`` (an int or tuple; None: every size-1 axis), refusing an axis
    whose size is not 1. With PyTorch's ``dim``, such an axis is left alone instead."""
    if dim is not None:
        if axis is not None:
            raise OpTypeError(f"squeeze: got both axis= and dim=; pass one (at {call_site()})")
        dims = [_one_dim("squeeze", x, d) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))]
        axis = tuple(d for d in dims if x.shape[d] == 1) if x.ndim else ()
    return Squeeze.apply(x, axis=_axis(axis))


def _squeeze_method(self: Tensor, dim: Any = None, *, axis: Any = None) -> Tensor:
    """PyTorch's ``squeeze``: drop ``dim`` (an int or tuple; None: every size-1 axis) where its size
    is 1, leave it alone where not; numpy's ``axis=`` refuses it instead."""
    if dim is None:
        return squeeze(self, axis)
    if axis is not None:
        raise OpTypeError(f"squeeze: got both dim and axis=; pass one (at {call_site()})")
    return squeeze(self, dim=dim)


def broadcast_to(x: Any, shape: Any) -> Tensor:
    return BroadcastTo.apply(x, shape=(shape,) if isinstance(shape, int) else tuple(shape))


def _expand(self: Tensor, *sizes: Any) -> Tensor:
    """PyTorch's ``expand``: a read-only broadcast view; -1 keeps an axis's size, new axes go in front."""
    sizes = _shape_tuple(sizes)
    new = len(sizes) - self.ndim
    if new < 0:
        raise _error("expand", f"{len(sizes)} sizes {sizes} for a tensor of {self.ndim} dimensions", (self,))
    target = []
    for position, size in enumerate(sizes):
        old = 1 if position < new else self.shape[position - new]
        if size == -1 and position >= new:
            size = old
        if size < 0 or (old != 1 and size != old):
            raise _error("expand", f"cannot expand shape {tuple(self.shape)} to {sizes}: only size-1 axes grow, "
                         "and -1 keeps an existing axis", (self,))
        target.append(size)
    return BroadcastTo.apply(self, shape=tuple(target))


def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes start_dim..end_dim into one (all of them by default, as numpy's ``flatten``)."""
    shape = tuple(x.shape)
    if not shape:
        return reshape(x, (1,))
    start, end = start_dim % len(shape), end_dim % len(shape)
    if start > end:
        raise OpValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {shape}")
    merged = shape[start:end + 1]
    if None in shape and None not in merged:  # a lazy batch (wengert.lazy) outside them: -1 stands for it
        return reshape(x, tuple(-1 if n is None else n for n in (*shape[:start], math.prod(merged),
                                                                 *shape[end + 1:])))
    return reshape(x, (*shape[:start], -1, *shape[end + 1:]))


def flip(m: Any, axis: Any = None) -> Tensor:
    """Reverse the order of elements along ``axis`` (an int, a tuple, or None for all). A copy, as
    PyTorch's flip (numpy's is a view)."""
    return Flip.apply(_array_input(m), axis=_axis(axis))


def _flip_method(self: Tensor, *dims: Any) -> Tensor:
    """PyTorch's ``flip(dims)``: ``x.flip(0)``, ``x.flip(0, 1)`` or ``x.flip((0, 1))``."""
    dims = _shape_tuple(dims)
    axes = tuple(_one_dim("flip", self, d) for d in dims)
    return Flip.apply(self, axis=axes if self.ndim else ())


def roll(a: Any, shift: Any, axis: Any = None) -> Tensor:
    """Shift elements cyclically by ``shift`` along ``axis`` (ints or tuples; None: the flattened array)."""
    return Roll.apply(_array_input(a), shift=_axis(shift), axis=_axis(axis))


def _roll_method(self: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """PyTorch's ``roll(shifts, dims)``."""
    return roll(self, shifts, dims)


def concatenate(tensors: Sequence[Any], axis: int | None = 0, *, dim: int | None = None) -> Tensor:
    if dim is not None:
        axis = dim
    if axis is None:
        return Concatenate.apply(*[reshape(t, -1) for t in tensors], axis=0)
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0, *, dim: int | None = None) -> Tensor:
    return Stack.apply(*tensors, axis=axis if dim is None else dim)


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """numpy's split: into equal sections, or at the given indices; each piece is a slice of ``x``."""
    length = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if indices_or_sections <= 0:
            raise OpValueError(f"split: the number of sections must be positive, not {indices_or_sections}")
        if length % indices_or_sections:
            raise ValueError(f"split: an axis of length {length} does not split into "
                             f"{indices_or_sections} equal sections")
        step = length // indices_or_sections
        bounds = list(range(0, length + 1, step)) if step else [0] * (indices_or_sections + 1)
    else:
        bounds = [0, *indices_or_sections, length]
    before = (slice(None),) * (axis % x.ndim)
    return [x[(*before, slice(start, stop))] for start, stop in itertools.pairwise(bounds)]


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0) -> Tensor:
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is differentiable here, not {mode!r}")
    return Pad.apply(x, pad_width=pad_width, constant_values=constant_values)


def repeat(x: Any, repeats: Any, axis: int | None = None) -> Tensor:
    return Repeat.apply(x, repeats=repeats, axis=axis)


def tile(x: Any, reps: Any) -> Tensor:
    return Tile.apply(x, reps=reps)


# --- copies and dtypes ------------------------------------------------------------------------

def copy(a: Any) -> Tensor:
    """A copy that stays in the graph (PyTorch's ``clone``): the gradient passes through."""
    return Clone.apply(_array_input(a))


def _contiguous(self: Tensor) -> Tensor:
    """Self if its data is C-contiguous (so ``view`` can reshape it), else a contiguous copy."""
    return self if self.data.flags.c_contiguous else Clone.apply(self)


def astype(x: Any, dtype: Any) -> Tensor:
    """Cast; casts to integer or bool dtypes carry no gradient."""
    if is_floating(dtype):
        return AsType.apply(x, dtype=dtype)
    data = x.data if isinstance(x, Tensor) else x
    return Tensor(data.astype(dtype))


def _to(self: Tensor, *args: Any, dtype: Any = None, device: Any = None, copy: bool = False,
        non_blocking: bool = False) -> Tensor:
    """PyTorch's ``to``: ``x.to(wg.float64)``, ``x.to(other)`` (other's dtype), ``x.to("cpu")``.
    Self when nothing changes (unless ``copy``); a cast keeps the gradient between floating dtypes."""
    for argument in args:
        if isinstance(argument, Tensor):
            dtype = argument.dtype
        elif isinstance(argument, str):
            device = argument
        else:
            dtype = argument
    if device is not None and str(device).split(":")[0] != "cpu":
        raise OpValueError(f"to: wengert computes on the CPU (numpy arrays); device {device!r} is not "
                           f"available (at {call_site()})")
    if dtype is None or as_dtype(dtype) == self.dtype:
        return Clone.apply(self) if copy else self
    return astype(self, dtype)


def _dtype_method(dtype: Any, name: str) -> Any:
    def method(self: Tensor) -> Tensor:
        return _to(self, dtype)

    method.__name__ = name
    method.__doc__ = f"PyTorch's ``{name}()``: self as {as_dtype(dtype)} (self if it already is)."
    return method


def getitem(x: Any, key: Any) -> Tensor:
    key = unwrap_key(key)
    return (IndexView if is_basic_key(key) else Index).apply(x, key=key)


def scatter_add(values: Any, key: Any, shape: Any) -> Tensor:
    """Zeros of ``shape`` with ``values`` added at ``key``; repeated indices accumulate."""
    return ScatterAdd.apply(values, key=unwrap_key(key), shape=tuple(shape))


# --- Tensor's operators and methods ----------------------------------------------------------

def _reflected(op: Any) -> Any:
    def reflected(self: Tensor, other: Any) -> Tensor:
        return op(other, self)

    reflected.__name__ = f"r{op.__name__}"
    return reflected


def _shape_arguments(op: Any) -> Any:
    """``t.reshape(2, 3)`` and ``t.reshape((2, 3))`` alike, as numpy allows."""
    def method(self: Tensor, *shape: Any) -> Tensor:
        if not shape:  # t.transpose() reverses the axes
            return op(self, None)
        return op(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)

    method.__name__ = op.__name__
    return method


def _array_ufunc(self: Tensor, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """``np.exp(t)`` or ``array * t`` run wengert's op (and record it); others are refused."""
    op = getattr(sys.modules[__name__], ufunc.__name__, None) if method == "__call__" and not kwargs else None
    if op is None or not callable(op):
        return NotImplemented
    return op(*inputs)


_METHODS = {
    "__add__": add, "__radd__": add, "__sub__": subtract, "__rsub__": _reflected(subtract),
    "__mul__": multiply, "__rmul__": multiply, "__truediv__": divide, "__rtruediv__": _reflected(divide),
    "__pow__": power, "__rpow__": _reflected(power), "__matmul__": matmul, "__rmatmul__": _reflected(matmul),
    "__neg__": negative, "__abs__": absolute, "__pos__": lambda self: self,
    "__lt__": less, "__le__": less_equal, "__gt__": greater, "__ge__": greater_equal,
    "__eq__": equal, "__ne__": not_equal,
    "__and__": logical_and, "__or__": logical_or, "__invert__": logical_not,
    "__getitem__": getitem, "__array_ufunc__": _array_ufunc,
    # elementwise
    "exp": exp, "log": log, "log1p": log1p, "expm1": expm1, "sqrt": sqrt, "square": square,
    "sin": sin, "cos": cos, "tanh": tanh, "sigmoid": sigmoid, "relu": relu, "abs": absolute,
    "clip": clip, "isnan": isnan, "isinf": isinf, "isfinite": isfinite,
    "where": _where_method, "masked_fill": _masked_fill,
    # reductions and scans
    "sum": sum, "mean": mean, "var": _spread_method(var), "std": _spread_method(std),
    "max": _extreme_method(max), "min": _extreme_method(min), "amax": amax, "amin": amin, "prod": prod,
    "logsumexp": logsumexp, "softmax": softmax, "log_softmax": log_softmax, "argmax": argmax,
    "argmin": argmin, "all": all, "any": any, "norm": _norm,
    "cumsum": _scan_method(cumsum), "cumprod": _scan_method(cumprod),
    "sort": _sort_method, "argsort": _argsort_method, "topk": _topk,
    # products
    "dot": dot, "matmul": matmul, "outer": outer, "diag": diag, "tril": tril, "triu": triu,
    # shapes, indexing and copies
    "reshape": _shape_arguments(reshape), "view": _view, "transpose": _shape_arguments(transpose),
    "permute": _permute, "swapaxes": swapaxes, "squeeze": _squeeze_method, "unsqueeze": _unsqueeze,
    "expand": _expand, "flatten": flatten, "flip": _flip_method, "roll": _roll_method, "repeat": repeat,
    "gather": _gather, "scatter_add": _scatter_add_method,
    "T": property(transpose), "mT": property(matrix_transpose),
    "clone": copy, "contiguous": _contiguous,
    # dtypes
    "astype": astype, "to": _to, "float": _dtype_method(float32, "float"), "double": _dtype_method(float64, "double"),
    "half": _dtype_method(float16, "half"), "long": _dtype_method(int64, "long"), "int": _dtype_method(int32, "int"),
    "bool": _dtype_method(bool_, "bool"),
}
for _name, _method in _METHODS.items():
    setattr(Tensor, _name, _method)

register_namespace(Tensor, sys.modules[__name__])

__all__ = [
    # elementwise
    "abs", "absolute", "add", "clip", "cos", "divide", "equal", "erf", "exp", "expm1", "gelu", "greater",
    "greater_equal", "isfinite", "isinf", "isnan", "leaky_relu", "less", "less_equal", "log", "log1p", "logaddexp",
    "logical_and", "logical_not", "logical_or", "maximum", "minimum", "multiply", "negative", "not_equal",
    "power", "relu", "sigmoid", "sign", "sin", "softplus", "sqrt", "square", "subtract", "tanh",
    "true_divide", "where",
    # reductions, scans and sorting
    "all", "amax", "amin", "any", "argmax", "argmin", "argsort", "cumprod", "cumsum", "log_softmax", "logsumexp",
    "max", "mean", "min", "prod", "softmax", "sort", "std", "sum", "var",
    # products
    "diag", "dot", "einsum", "matmul", "outer", "tril", "triu",
    # shapes, indexing and copies
    "astype", "broadcast_to", "concatenate", "copy", "expand_dims", "flatten", "flip", "getitem",
    "matrix_transpose", "pad", "repeat", "reshape", "roll", "scatter_add", "split", "squeeze", "stack", "swapaxes",
    "take_along_axis", "tile", "transpose",
]

# --- added for wengert.numpy (issue 9): numpy's further elementwise math and linear algebra ------
# Names only, so that gradient rules running on Tensors (create_graph) find them here, and
# ``wg.tan`` and the like exist; numpy's full signatures live in ``wengert.numpy``.
from . import decompositions  # noqa: E402, F401 - wengert.numpy.linalg applies its ops
from .elementwise import (  # noqa: E402
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    cbrt,
    ceil,
    cosh,
    deg2rad,
    exp2,
    floor,
    floor_divide,
    fmax,
    fmin,
    fmod,
    hypot,
    log2,
    log10,
    logaddexp2,
    mod,
    rad2deg,
    reciprocal,
    rint,
    sinc,
    sinh,
    tan,
    trunc,
)

remainder = mod
__all__ += [
    "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "cbrt", "ceil", "cosh", "deg2rad",
    "exp2", "floor", "floor_divide", "fmax", "fmin", "fmod", "hypot", "log10", "log2", "logaddexp2", "mod",
    "rad2deg", "reciprocal", "remainder", "rint", "sinc", "sinh", "tan", "trunc",
]
