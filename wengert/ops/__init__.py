"""The op library, under numpy's names and signatures; also the namespace of Tensors.

Gradient rules call ``namespace(g).exp(...)`` and the like. When a rule runs on
Tensors (to record a graph for higher-order derivatives), that namespace is this
module, so every name a rule uses is defined here with numpy's signature.
Tensor's operators and methods are bound here too, keeping the core free of ops.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
from typing import Any

from ..core.backend import is_basic_key, is_floating, namespace, register_namespace
from ..core.errors import OpValueError
from ..core.tensor import Tensor, unwrap_key
from .elementwise import (
    absolute,
    add,
    clip_op,
    cos,
    divide,
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
from .indexing import Index, IndexView, ScatterAdd
from .linalg import Einsum, Matmul
from .reduce import (
    AllTrue,
    AnyTrue,
    Argmax,
    Argmin,
    LogSoftmax,
    LogSumExp,
    Max,
    Mean,
    Min,
    Prod,
    Softmax,
    Std,
    Sum,
    Var,
)
from .shape import (
    AsType,
    BroadcastTo,
    Concatenate,
    ExpandDims,
    Pad,
    Repeat,
    Reshape,
    Squeeze,
    Stack,
    Swapaxes,
    Tile,
    Transpose,
)

abs = absolute
true_divide = divide
matmul = Matmul.apply


def _axis(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


# --- elementwise with constants -----------------------------------------------------------

def where(condition: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``condition`` holds, else ``b`` (all three broadcast)."""
    return where_op(condition, a, b)


def clip(x: Any, a_min: Any = None, a_max: Any = None) -> Tensor:
    """Limit to [a_min, a_max] (None: unbounded). The gradient passes at the bounds, as in PyTorch."""
    return clip_op(x, -float("inf") if a_min is None else a_min, float("inf") if a_max is None else a_max)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu_op(x, negative_slope)


def gelu(x: Any, approximate: str = "none") -> Tensor:
    """x * Phi(x) with the exact normal CDF, or its tanh approximation (``approximate="tanh"``)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
    return gelu_op(x) if approximate == "none" else gelu_tanh_op(x)


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch's definition)."""
    return softplus_op(x, beta, threshold)


# --- reductions -------------------------------------------------------------------------------

def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return Sum.apply(x, axis=_axis(axis), keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return Mean.apply(x, axis=_axis(axis), keepdims=keepdims)


def var(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    return Var.apply(x, axis=_axis(axis), keepdims=keepdims, ddof=ddof)


def std(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    return Std.apply(x, axis=_axis(axis), keepdims=keepdims, ddof=ddof)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return Max.apply(x, axis=_axis(axis), keepdims=keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return Min.apply(x, axis=_axis(axis), keepdims=keepdims)


amax, amin = max, min


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return Prod.apply(x, axis=_axis(axis), keepdims=keepdims)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return LogSumExp.apply(x, axis=_axis(axis), keepdims=keepdims)


def softmax(x: Any, axis: int = -1) -> Tensor:
    return Softmax.apply(x, axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    return LogSoftmax.apply(x, axis=axis)


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    return Argmax.apply(x, axis=axis, keepdims=keepdims)


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    return Argmin.apply(x, axis=axis, keepdims=keepdims)


def all(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return AllTrue.apply(x, axis=_axis(axis), keepdims=keepdims)


def any(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return AnyTrue.apply(x, axis=_axis(axis), keepdims=keepdims)


# --- products ---------------------------------------------------------------------------------

def _ndim(value: Any) -> int:
    return value.ndim if hasattr(value, "ndim") else namespace(value).ndim(value)


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """numpy's einsum, e.g. ``einsum("bij,bjk->bik", a, b)``."""
    return Einsum.apply(*operands, subscripts=subscripts)


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


# --- shapes -----------------------------------------------------------------------------------

def reshape(x: Any, shape: Any) -> Tensor:
    return Reshape.apply(x, shape=(shape,) if isinstance(shape, int) else tuple(shape))


def transpose(x: Any, axes: Any = None) -> Tensor:
    return Transpose.apply(x, axes=None if axes is None else tuple(axes))


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    return Swapaxes.apply(x, axis1=axis1, axis2=axis2)


def matrix_transpose(x: Any) -> Tensor:
    return Swapaxes.apply(x, axis1=-1, axis2=-2)


def expand_dims(x: Any, axis: Any) -> Tensor:
    return ExpandDims.apply(x, axis=_axis(axis))


def squeeze(x: Any, axis: Any = None) -> Tensor:
    return Squeeze.apply(x, axis=_axis(axis))


def broadcast_to(x: Any, shape: Any) -> Tensor:
    return BroadcastTo.apply(x, shape=(shape,) if isinstance(shape, int) else tuple(shape))


def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes start_dim..end_dim into one (all of them by default, as numpy's ``flatten``)."""
    shape = tuple(x.shape)
    if not shape:
        return reshape(x, (1,))
    start, end = start_dim % len(shape), end_dim % len(shape)
    if start > end:
        raise OpValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {shape}")
    return reshape(x, (*shape[:start], -1, *shape[end + 1:]))


def concatenate(tensors: Sequence[Any], axis: int | None = 0) -> Tensor:
    if axis is None:
        return Concatenate.apply(*[reshape(t, -1) for t in tensors], axis=0)
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    return Stack.apply(*tensors, axis=axis)


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


def astype(x: Any, dtype: Any) -> Tensor:
    """Cast; casts to integer or bool dtypes carry no gradient."""
    if is_floating(dtype):
        return AsType.apply(x, dtype=dtype)
    data = x.data if isinstance(x, Tensor) else x
    return Tensor(data.astype(dtype))


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
    "exp": exp, "log": log, "log1p": log1p, "expm1": expm1, "sqrt": sqrt, "square": square,
    "sin": sin, "cos": cos, "tanh": tanh, "sigmoid": sigmoid, "relu": relu, "abs": absolute,
    "clip": clip, "sum": sum, "mean": mean, "var": var, "std": std, "max": max, "min": min, "prod": prod,
    "logsumexp": logsumexp, "softmax": softmax, "log_softmax": log_softmax, "argmax": argmax,
    "argmin": argmin, "all": all, "any": any, "dot": dot, "matmul": matmul, "swapaxes": swapaxes,
    "squeeze": squeeze, "flatten": flatten, "repeat": repeat, "astype": astype,
    "reshape": _shape_arguments(reshape), "transpose": _shape_arguments(transpose),
    "T": property(transpose), "mT": property(matrix_transpose),
}
for _name, _method in _METHODS.items():
    setattr(Tensor, _name, _method)

register_namespace(Tensor, sys.modules[__name__])

__all__ = [
    # elementwise
    "abs", "absolute", "add", "clip", "cos", "divide", "equal", "erf", "exp", "expm1", "gelu", "greater",
    "greater_equal", "isfinite", "leaky_relu", "less", "less_equal", "log", "log1p", "logaddexp",
    "logical_and", "logical_not", "logical_or", "maximum", "minimum", "multiply", "negative", "not_equal",
    "power", "relu", "sigmoid", "sign", "sin", "softplus", "sqrt", "square", "subtract", "tanh",
    "true_divide", "where",
    # reductions
    "all", "amax", "amin", "any", "argmax", "argmin", "log_softmax", "logsumexp", "max", "mean", "min",
    "prod", "softmax", "std", "sum", "var",
    # products
    "dot", "einsum", "matmul", "outer",
    # shapes and indexing
    "astype", "broadcast_to", "concatenate", "expand_dims", "flatten", "getitem", "matrix_transpose",
    "pad", "repeat", "reshape", "scatter_add", "split", "squeeze", "stack", "swapaxes", "tile", "transpose",
]
