"""numpy's names and signatures, differentiable: ``import wengert.numpy as np``.

    import wengert as wg
    import wengert.numpy as np

    def f(W, x):
        return np.sum(np.tanh(np.dot(W, x)) ** 2)

    f(W_array, x_array)              # numpy arrays in: numpy's own function runs, numpy's result out
    wg.grad(f)(W_array, x_array)     # wg.grad calls f with Tensors: wengert's ops run and record

Each function looks at its arguments (lists and tuples included): with no wengert Tensor
among them it is numpy's own function, called as given, and returns exactly what numpy
returns. With a Tensor it runs wengert's differentiable ops and returns Tensors. Functions
that only read shapes or produce indices (``shape``, ``argmax``, ``argsort``, ``nonzero``,
``zeros_like``...) return numpy values either way: they carry no gradient.

A numpy name not covered here raises ``NotImplementedError`` naming it, rather than
falling back to numpy, which would silently drop the gradient. Constants (``pi``, ``inf``,
``newaxis``...), dtypes (``float64``...), ``dtype``, ``finfo``, ``iinfo``, the array
factories that take only shapes (``zeros``, ``ones``, ``eye``, ``arange``, ``linspace``...)
and ``numpy.random`` are numpy's own: they make constants, never functions of Tensors.

With Tensors, numpy's ``out=``, ``where=`` and ``order=`` arguments are refused
(``NotImplementedError``), as are modes that have no gradient here (``svd`` with
``full_matrices=True`` on a non-square matrix, ``qr`` of a wide matrix, ``pad`` modes
other than 'constant').

Complex numbers are not supported on Tensors: a complex value meeting a Tensor raises
``NotImplementedError`` (never a silent loss of the imaginary part). FFTs are not covered.
"""

from __future__ import annotations

import builtins
import functools
import itertools
import string
from collections.abc import Callable, Sequence
from typing import Any

import numpy as _np

from .. import ops as _ops
from ..core.tensor import Tensor
from ..ops.elementwise import nan_to_num_op as _nan_to_num_op
from ..ops.elementwise import round_op as _round_op

# --- dispatch ---------------------------------------------------------------------------------------

def _has_tensor(value: Any) -> bool:
    """Whether ``value`` is a Tensor or a list, tuple or dict holding one (at any depth)."""
    if isinstance(value, Tensor):
        return True
    if isinstance(value, (list, tuple)):
        return builtins.any(_has_tensor(item) for item in value)
    if isinstance(value, dict):
        return builtins.any(_has_tensor(item) for item in value.values())
    return False


def _is_complex(value: Any) -> bool:
    if isinstance(value, complex):
        return True
    if isinstance(value, (list, tuple)):
        return builtins.any(_is_complex(item) for item in value)
    data = value.data if isinstance(value, Tensor) else value
    dtype = getattr(data, "dtype", None)
    return isinstance(dtype, _np.dtype) and dtype.kind == "c"


def _refuse_complex(name: str, args: tuple, kwargs: dict) -> None:
    if builtins.any(_is_complex(value) for value in (*args, *kwargs.values())):
        raise NotImplementedError(f"wengert.numpy.{name}: complex values are not supported with Tensors (the "
                                  "gradient would silently keep only the real part)")


def _numpy(name: str, tensor_function: Callable) -> Callable:
    """numpy's ``name`` for plain arguments, ``tensor_function`` when an argument holds a Tensor."""
    numpy_function = getattr(_np, name)

    @functools.wraps(numpy_function, assigned=("__doc__",))
    def function(*args: Any, **kwargs: Any) -> Any:
        if not (_has_tensor(args) or _has_tensor(kwargs)):
            return numpy_function(*args, **kwargs)
        _refuse_complex(name, args, kwargs)
        return tensor_function(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__module__ = __name__
    return function


def _data(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def _array(value: Any) -> Any:
    """An op input: Tensors and arrays as they are, lists holding Tensors stacked (keeping their
    gradients), other lists and numbers as numpy makes them (float64, not wengert's default)."""
    if isinstance(value, Tensor) or hasattr(value, "shape"):
        return value
    if isinstance(value, (list, tuple)):
        if _has_tensor(value):
            return _ops.stack([_array(item) for item in value])
        return _np.asarray(value)
    return _np.asarray(value)


def _operand(value: Any) -> Any:
    """An elementwise operand: Python numbers stay numbers (they adopt the Tensor's dtype)."""
    return value if isinstance(value, (int, float, bool)) else _array(value)


def _no_keywords(name: str, kwargs: dict, allowed: Sequence[str] = ()) -> None:
    unsupported = sorted(set(kwargs) - set(allowed))
    if unsupported:
        raise NotImplementedError(f"wengert.numpy.{name}: keyword arguments {unsupported} are not supported "
                                  "with Tensors")


def _ndim(value: Any) -> int:
    return len(value.shape) if hasattr(value, "shape") else _np.ndim(value)


def _permutation(numpy_function: Callable, ndim: int, *args: Any) -> tuple:
    """The axes permutation that ``numpy_function(array, *args)`` (moveaxis, rollaxis...) applies
    to an array of ``ndim`` axes, read from a broadcast dummy whose axis i has size i + 1."""
    dummy = _np.broadcast_to(_np.zeros(()), tuple(range(1, ndim + 1)))
    return tuple(size - 1 for size in numpy_function(dummy, *args).shape)


_exported: dict[str, Callable] = {}


def _export(name: str, tensor_function: Callable) -> None:
    _exported[name] = _numpy(name, tensor_function)


# --- elementwise ------------------------------------------------------------------------------------

def _ufunc(name: str, op: Callable, arity: int) -> Callable:
    def tensor_function(*args: Any, **kwargs: Any) -> Any:
        _no_keywords(name, kwargs)
        if len(args) != arity:
            raise TypeError(f"wengert.numpy.{name} takes {arity} argument{'s' * (arity > 1)}, got {len(args)}")
        return op(*(_operand(arg) for arg in args))

    return tensor_function


_UNARY = {
    "negative": _ops.negative, "absolute": _ops.absolute, "abs": _ops.absolute, "fabs": _ops.absolute,
    "exp": _ops.exp, "expm1": _ops.expm1, "exp2": _ops.exp2, "log": _ops.log, "log1p": _ops.log1p,
    "log2": _ops.log2, "log10": _ops.log10, "sqrt": _ops.sqrt, "cbrt": _ops.cbrt, "square": _ops.square,
    "reciprocal": _ops.reciprocal, "sin": _ops.sin, "cos": _ops.cos, "tan": _ops.tan, "arcsin": _ops.arcsin,
    "arccos": _ops.arccos, "arctan": _ops.arctan, "sinh": _ops.sinh, "cosh": _ops.cosh, "tanh": _ops.tanh,
    "arcsinh": _ops.arcsinh, "arccosh": _ops.arccosh, "arctanh": _ops.arctanh, "deg2rad": _ops.deg2rad,
    "radians": _ops.deg2rad, "rad2deg": _ops.rad2deg, "degrees": _ops.rad2deg, "sinc": _ops.sinc,
    "sign": _ops.sign, "floor": _ops.floor, "ceil": _ops.ceil, "trunc": _ops.trunc, "fix": _ops.trunc,
    "rint": _ops.rint, "isnan": _ops.isnan, "isinf": _ops.isinf, "isfinite": _ops.isfinite,
    "logical_not": _ops.logical_not, "positive": _ops.copy,
}
_BINARY = {
    "add": _ops.add, "subtract": _ops.subtract, "multiply": _ops.multiply, "divide": _ops.divide,
    "true_divide": _ops.divide, "power": _ops.power, "maximum": _ops.maximum, "minimum": _ops.minimum,
    "fmax": _ops.fmax, "fmin": _ops.fmin, "logaddexp": _ops.logaddexp, "logaddexp2": _ops.logaddexp2,
    "hypot": _ops.hypot, "arctan2": _ops.arctan2, "mod": _ops.mod, "remainder": _ops.mod, "fmod": _ops.fmod,
    "floor_divide": _ops.floor_divide, "equal": _ops.equal, "not_equal": _ops.not_equal, "less": _ops.less,
    "less_equal": _ops.less_equal, "greater": _ops.greater, "greater_equal": _ops.greater_equal,
    "logical_and": _ops.logical_and, "logical_or": _ops.logical_or,
}
for _name, _op in _UNARY.items():
    _export(_name, _ufunc(_name, _op, 1))
for _name, _op in _BINARY.items():
    _export(_name, _ufunc(_name, _op, 2))


def _float_power(x1: Any, x2: Any) -> Tensor:
    return _ops.power(_ops.astype(_array(x1), _np.float64), _operand(x2))


def _round(a: Any, decimals: int = 0) -> Tensor:
    return _round_op(_array(a), decimals=decimals)


def _nan_to_num(x: Any, copy: bool = True, nan: float = 0.0, posinf: float | None = None,
                neginf: float | None = None) -> Tensor:
    """NaN and infinities replaced by numbers; the gradient passes where ``x`` is finite, 0 elsewhere."""
    return _nan_to_num_op(_array(x), nan=nan, posinf=posinf, neginf=neginf)


_NO_VALUE = object()


def _clip(a: Any, a_min: Any = _NO_VALUE, a_max: Any = _NO_VALUE, out: Any = None, *, min: Any = _NO_VALUE,
          max: Any = _NO_VALUE) -> Tensor:
    if out is not None:
        raise NotImplementedError("wengert.numpy.clip: out= is not supported with Tensors")
    low = min if a_min is _NO_VALUE else a_min
    high = max if a_max is _NO_VALUE else a_max
    low, high = (None if bound is _NO_VALUE else bound for bound in (low, high))
    return _ops.clip(_array(a), *(None if bound is None else _operand(bound) for bound in (low, high)))


def _where(condition: Any, x: Any = None, y: Any = None) -> Any:
    """``where(c, x, y)``: x where c holds, else y (broadcast). ``where(c)``: numpy's indices of c's
    non-zero elements (arrays: indices carry no gradient)."""
    if x is None and y is None:
        return _np.nonzero(_np.asarray(_data(condition)))
    if x is None or y is None:
        raise ValueError("wengert.numpy.where: give both x and y, or neither")
    return _ops.where(_array(condition), _operand(x), _operand(y))


for _name, _function in (("float_power", _float_power), ("round", _round), ("around", _round),
                         ("nan_to_num", _nan_to_num), ("clip", _clip), ("where", _where)):
    _export(_name, _function)


# --- reductions and scans ------------------------------------------------------------------------

def _reduction(name: str, op: Callable) -> Callable:
    def tensor_function(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
                        **kwargs: Any) -> Tensor:
        _no_keywords(name, kwargs)
        if out is not None:
            raise NotImplementedError(f"wengert.numpy.{name}: out= is not supported with Tensors")
        a = _array(a)
        if dtype is not None:
            a = _ops.astype(a, dtype)
        return op(a, axis=axis, keepdims=bool(keepdims))

    return tensor_function


def _extreme(name: str, op: Callable) -> Callable:
    def tensor_function(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False, **kwargs: Any) -> Tensor:
        _no_keywords(name, kwargs)
        if out is not None:
            raise NotImplementedError(f"wengert.numpy.{name}: out= is not supported with Tensors")
        return op(_array(a), axis=axis, keepdims=bool(keepdims))

    return tensor_function


def _spread(name: str, op: Callable) -> Callable:
    def tensor_function(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0,
                        keepdims: bool = False, **kwargs: Any) -> Tensor:
        _no_keywords(name, kwargs, ("correction",))
        if out is not None:
            raise NotImplementedError(f"wengert.numpy.{name}: out= is not supported with Tensors")
        a = _array(a)
        if dtype is not None:
            a = _ops.astype(a, dtype)
        return op(a, axis=axis, keepdims=bool(keepdims), ddof=kwargs.get("correction", ddof))

    return tensor_function


def _scan(name: str, op: Callable) -> Callable:
    def tensor_function(a: Any, axis: int | None = None, dtype: Any = None, out: Any = None) -> Tensor:
        if out is not None:
            raise NotImplementedError(f"wengert.numpy.{name}: out= is not supported with Tensors")
        a = _array(a)
        return op(a if dtype is None else _ops.astype(a, dtype), axis)

    return tensor_function


def _average(a: Any, axis: Any = None, weights: Any = None, returned: bool = False, *,
             keepdims: bool = False) -> Any:
    a = _array(a)
    if weights is None:
        result, total = _ops.mean(a, axis=axis, keepdims=keepdims), None
    else:
        weights = _array(weights)
        if _ndim(weights) == 1 and _ndim(a) > 1 and axis is not None and not isinstance(axis, tuple):
            shape = [1] * _ndim(a)
            shape[axis % _ndim(a)] = weights.shape[0]
            weights = _ops.reshape(weights, shape)
        total = _ops.sum(_ops.broadcast_to(weights, a.shape), axis=axis, keepdims=keepdims)
        result = _ops.sum(a * weights, axis=axis, keepdims=keepdims) / total
    if not returned:
        return result
    if total is None:  # numpy's sum of weights when there are none: the count averaged over
        total = _np.full(tuple(result.shape), _np.prod(a.shape) / builtins.max(_np.prod(result.shape), 1))
    return result, total


for _name, _function in (("sum", _reduction("sum", _ops.sum)), ("mean", _reduction("mean", _ops.mean)),
                         ("prod", _reduction("prod", _ops.prod)), ("max", _extreme("max", _ops.max)),
                         ("amax", _extreme("amax", _ops.max)), ("min", _extreme("min", _ops.min)),
                         ("amin", _extreme("amin", _ops.min)), ("var", _spread("var", _ops.var)),
                         ("std", _spread("std", _ops.std)), ("cumsum", _scan("cumsum", _ops.cumsum)),
                         ("cumprod", _scan("cumprod", _ops.cumprod)), ("average", _average)):
    _export(_name, _function)


# --- shapes -------------------------------------------------------------------------------------------

def _reshape(a: Any, shape: Any = None, order: str = "C", *, newshape: Any = None, copy: Any = None) -> Tensor:
    if order != "C":
        raise NotImplementedError("wengert.numpy.reshape: only order='C' with Tensors")
    shape = newshape if shape is None else shape
    return _ops.reshape(_array(a), shape)


def _ravel(a: Any, order: str = "C") -> Tensor:
    return _reshape(a, (-1,), order)


def _transpose(a: Any, axes: Any = None) -> Tensor:
    return _ops.transpose(_array(a), axes)


def _moveaxis(a: Any, source: Any, destination: Any) -> Tensor:
    a = _array(a)
    return _ops.transpose(a, _permutation(_np.moveaxis, _ndim(a), source, destination))


def _rollaxis(a: Any, axis: int, start: int = 0) -> Tensor:
    a = _array(a)
    return _ops.transpose(a, _permutation(_np.rollaxis, _ndim(a), axis, start))


def _swapaxes(a: Any, axis1: int, axis2: int) -> Tensor:
    return _ops.swapaxes(_array(a), axis1, axis2)


def _expand_dims(a: Any, axis: Any) -> Tensor:
    return _ops.expand_dims(_array(a), axis)


def _squeeze(a: Any, axis: Any = None) -> Tensor:
    return _ops.squeeze(_array(a), axis)


def _broadcast_to(array: Any, shape: Any, subok: bool = False) -> Tensor:
    return _ops.broadcast_to(_array(array), shape)


def _flip(m: Any, axis: Any = None) -> Tensor:
    return _ops.flip(_array(m), axis)


def _fliplr(m: Any) -> Tensor:
    return _ops.flip(_array(m), 1)


def _flipud(m: Any) -> Tensor:
    return _ops.flip(_array(m), 0)


def _rot90(m: Any, k: int = 1, axes: Sequence[int] = (0, 1)) -> Tensor:
    """Rotate by 90 degrees ``k`` times in the plane of ``axes``, from the first axis towards the second."""
    m = _array(m)
    ndim = _ndim(m)
    first, second = (axis % ndim for axis in axes)
    if len(axes) != 2 or first == second:
        raise ValueError("wengert.numpy.rot90: axes must be two different axes")
    k %= 4
    if k == 0:
        return _ops.copy(m)
    if k == 2:
        return _ops.flip(_ops.flip(m, first), second)
    order = list(range(ndim))
    order[first], order[second] = order[second], order[first]
    if k == 1:
        return _ops.transpose(_ops.flip(m, second), order)
    return _ops.flip(_ops.transpose(m, order), second)


def _roll(a: Any, shift: Any, axis: Any = None) -> Tensor:
    return _ops.roll(_array(a), shift, axis)


def _at_least(ndim: int) -> Callable:
    def one(value: Any) -> Tensor:
        value = _array(value)
        shape = tuple(value.shape)
        if len(shape) >= ndim:
            return value
        if ndim == 3 and len(shape) == 2:  # numpy: (M, N) -> (M, N, 1)
            return _ops.reshape(value, (*shape, 1))
        if ndim == 3 and len(shape) == 1:  # (N,) -> (1, N, 1)
            return _ops.reshape(value, (1, *shape, 1))
        return _ops.reshape(value, (1,) * (ndim - len(shape)) + shape)

    def at_least(*arrays: Any) -> Any:
        results = [one(value) for value in arrays]
        return results[0] if len(results) == 1 else tuple(results)

    return at_least


_atleast_1d, _atleast_2d, _atleast_3d = _at_least(1), _at_least(2), _at_least(3)


def _concatenate(arrays: Sequence[Any], axis: int | None = 0, out: Any = None, **kwargs: Any) -> Tensor:
    _no_keywords("concatenate", kwargs)
    return _ops.concatenate([_array(value) for value in arrays], axis=axis)


def _stack(arrays: Sequence[Any], axis: int = 0, out: Any = None, **kwargs: Any) -> Tensor:
    _no_keywords("stack", kwargs)
    return _ops.stack([_array(value) for value in arrays], axis=axis)


def _hstack(tup: Sequence[Any], **kwargs: Any) -> Tensor:
    _no_keywords("hstack", kwargs)
    arrays = [_atleast_1d(value) for value in tup]
    return _ops.concatenate(arrays, axis=0 if arrays and _ndim(arrays[0]) == 1 else 1)


def _vstack(tup: Sequence[Any], **kwargs: Any) -> Tensor:
    _no_keywords("vstack", kwargs)
    return _ops.concatenate([_atleast_2d(value) for value in tup], axis=0)


def _dstack(tup: Sequence[Any]) -> Tensor:
    return _ops.concatenate([_atleast_3d(value) for value in tup], axis=2)


def _column_stack(tup: Sequence[Any]) -> Tensor:
    columns = []
    for value in tup:
        value = _array(value)
        columns.append(_ops.reshape(value, (-1, 1)) if _ndim(value) < 2 else value)
    return _ops.concatenate(columns, axis=1)


def _split_ranges(length: int, indices_or_sections: Any, even: bool, name: str) -> list[tuple[int, int]]:
    """(start, stop) of each piece: ``sections`` pieces (the first ones one longer where they do not
    divide the length, unless ``even``), or the pieces between the given indices (sliced as numpy's)."""
    if isinstance(indices_or_sections, (int, _np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"wengert.numpy.{name}: the number of sections must be larger than 0")
        if even and length % sections:
            raise ValueError(f"wengert.numpy.{name}: array split does not result in an equal division")
        size, extra = divmod(length, sections)
        stops = list(itertools.accumulate([size + 1] * extra + [size] * (sections - extra)))
        return list(zip([0, *stops[:-1]], stops))
    bounds = [0, *(int(index) for index in indices_or_sections), length]
    return list(itertools.pairwise(bounds))


def _splitter(name: str, even: bool, fixed_axis: int | None = None) -> Callable:
    """numpy's split (``even``), array_split, or hsplit/vsplit/dsplit (a ``fixed_axis``)."""
    def split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
        ary = _array(ary)
        if fixed_axis is not None:
            axis = 0 if fixed_axis == 1 and _ndim(ary) == 1 else fixed_axis
            if _ndim(ary) <= axis:
                raise ValueError(f"wengert.numpy.{name}: the array needs at least {axis + 1} dimensions")
        before = (slice(None),) * (axis % _ndim(ary))
        return [ary[(*before, slice(start, stop))]
                for start, stop in _split_ranges(ary.shape[axis], indices_or_sections, even, name)]

    if fixed_axis is None:
        return split

    def fixed(ary: Any, indices_or_sections: Any) -> list[Tensor]:
        return split(ary, indices_or_sections)

    return fixed


def _append(arr: Any, values: Any, axis: int | None = None) -> Tensor:
    arr, values = _array(arr), _array(values)
    if axis is None:
        return _ops.concatenate([_ops.reshape(arr, (-1,)), _ops.reshape(values, (-1,))], axis=0)
    return _ops.concatenate([arr, values], axis=axis)


def _diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The diagonal ``offset`` of the planes (axis1, axis2), as the last axis."""
    a = _array(a)
    moved = _moveaxis(a, (axis1, axis2), (-2, -1))
    rows, columns = moved.shape[-2], moved.shape[-1]
    length = builtins.max(0, builtins.min(rows - builtins.max(-offset, 0), columns - builtins.max(offset, 0)))
    positions = _np.arange(length)
    return moved[..., positions + builtins.max(-offset, 0), positions + builtins.max(offset, 0)]


def _trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None, out: Any = None) -> Tensor:
    if out is not None:
        raise NotImplementedError("wengert.numpy.trace: out= is not supported with Tensors")
    diagonal = _diagonal(a, offset, axis1, axis2)
    return _ops.sum(diagonal if dtype is None else _ops.astype(diagonal, dtype), axis=-1)


def _tril(m: Any, k: int = 0) -> Tensor:
    return _ops.tril(_array(m), k)


def _triu(m: Any, k: int = 0) -> Tensor:
    return _ops.triu(_array(m), k)


def _diag(v: Any, k: int = 0) -> Tensor:
    return _ops.diag(_array(v), k)


def _kron(a: Any, b: Any) -> Tensor:
    """The Kronecker product: blocks a[i, j] * b, for any numbers of dimensions (numpy's)."""
    a, b = _array(a), _array(b)
    ndim = builtins.max(_ndim(a), _ndim(b))
    a = _ops.reshape(a, (1,) * (ndim - _ndim(a)) + tuple(a.shape))
    b = _ops.reshape(b, (1,) * (ndim - _ndim(b)) + tuple(b.shape))
    letters_a, letters_b = string.ascii_lowercase[:ndim], string.ascii_uppercase[:ndim]
    interleaved = "".join(x + y for x, y in zip(letters_a, letters_b))
    product = _ops.einsum(f"{letters_a},{letters_b}->{interleaved}", a, b)
    return _ops.reshape(product, tuple(m * n for m, n in zip(a.shape, b.shape)))


def _repeat(a: Any, repeats: Any, axis: int | None = None) -> Tensor:
    return _ops.repeat(_array(a), repeats, axis)


def _tile(A: Any, reps: Any) -> Tensor:
    return _ops.tile(_array(A), reps)


def _pad(array: Any, pad_width: Any, mode: str = "constant", **kwargs: Any) -> Tensor:
    _no_keywords("pad", kwargs, ("constant_values",))
    if mode != "constant":
        raise NotImplementedError(f"wengert.numpy.pad: mode={mode!r} is not differentiable here; only 'constant'")
    array = _array(array)
    widths = _np.broadcast_to(_np.asarray(pad_width), (_ndim(array), 2))
    return _ops.pad(array, tuple(map(tuple, widths.tolist())), constant_values=kwargs.get("constant_values", 0))


def _copy(a: Any, order: str = "K", subok: bool = False) -> Tensor:
    return _ops.copy(_array(a))


def _asarray(a: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> Tensor:
    a = _array(a)
    return a if dtype is None or _np.dtype(dtype) == a.dtype else _ops.astype(a, dtype)


def _take(a: Any, indices: Any, axis: int | None = None, out: Any = None, mode: str = "raise") -> Tensor:
    if out is not None or mode != "raise":
        raise NotImplementedError("wengert.numpy.take: out= and mode= are not supported with Tensors")
    a, indices = _array(a), _np.asarray(_data(indices))
    if axis is None:
        return _ops.reshape(a, (-1,))[indices]
    return a[(slice(None),) * (axis % _ndim(a)) + (indices,)]


for _name, _function in (
        ("reshape", _reshape), ("ravel", _ravel), ("transpose", _transpose), ("moveaxis", _moveaxis),
        ("rollaxis", _rollaxis), ("swapaxes", _swapaxes), ("expand_dims", _expand_dims), ("squeeze", _squeeze),
        ("broadcast_to", _broadcast_to), ("flip", _flip), ("fliplr", _fliplr), ("flipud", _flipud),
        ("rot90", _rot90), ("roll", _roll), ("atleast_1d", _atleast_1d), ("atleast_2d", _atleast_2d),
        ("atleast_3d", _atleast_3d), ("concatenate", _concatenate), ("stack", _stack), ("hstack", _hstack),
        ("vstack", _vstack), ("dstack", _dstack), ("column_stack", _column_stack), ("split", _splitter("split", True)),
        ("array_split", _splitter("array_split", False)), ("hsplit", _splitter("hsplit", True, 1)),
        ("vsplit", _splitter("vsplit", True, 0)), ("dsplit", _splitter("dsplit", True, 2)), ("append", _append),
        ("diagonal", _diagonal), ("trace", _trace), ("tril", _tril), ("triu", _triu), ("diag", _diag),
        ("kron", _kron), ("repeat", _repeat), ("tile", _tile), ("pad", _pad), ("copy", _copy),
        ("array", _asarray), ("asarray", _asarray), ("asanyarray", _asarray), ("ascontiguousarray", _asarray),
        ("take", _take)):
    _export(_name, _function)


# --- products -----------------------------------------------------------------------------------------

def _dot(a: Any, b: Any, out: Any = None) -> Tensor:
    if out is not None:
        raise NotImplementedError("wengert.numpy.dot: out= is not supported with Tensors")
    return _ops.dot(_operand(a), _operand(b))


def _vdot(a: Any, b: Any) -> Tensor:
    return _ops.sum(_ops.reshape(_array(a), (-1,)) * _ops.reshape(_array(b), (-1,)))


def _tensordot(a: Any, b: Any, axes: Any = 2) -> Tensor:
    """Sum over the last ``axes`` axes of a and the first of b, or over the axes listed in ``axes``."""
    a, b = _array(a), _array(b)
    ndim_a, ndim_b = _ndim(a), _ndim(b)
    if isinstance(axes, (int, _np.integer)):
        axes_a, axes_b = list(range(ndim_a - axes, ndim_a)), list(range(axes))
    else:
        axes_a, axes_b = ([axes_list] if isinstance(axes_list, (int, _np.integer)) else list(axes_list)
                          for axes_list in axes)
    axes_a = [axis % ndim_a for axis in axes_a]
    axes_b = [axis % ndim_b for axis in axes_b]
    if len(axes_a) != len(axes_b):
        raise ValueError("wengert.numpy.tensordot: shape-mismatch for sum")
    letters = iter(string.ascii_letters)
    spelled_a = [next(letters) for _ in range(ndim_a)]
    spelled_b = [next(letters) for _ in range(ndim_b)]
    for axis_a, axis_b in zip(axes_a, axes_b):
        spelled_b[axis_b] = spelled_a[axis_a]
    output = [spelled_a[i] for i in range(ndim_a) if i not in axes_a] + \
             [spelled_b[i] for i in range(ndim_b) if i not in axes_b]
    return _ops.einsum(f"{''.join(spelled_a)},{''.join(spelled_b)}->{''.join(output)}", a, b)


def _inner(a: Any, b: Any) -> Tensor:
    if _ndim(a) == 0 or _ndim(b) == 0:
        return _ops.multiply(_operand(a), _operand(b))
    return _tensordot(a, b, ([-1], [-1]))


def _outer(a: Any, b: Any, out: Any = None) -> Tensor:
    return _ops.outer(_array(a), _array(b))


def _matmul(x1: Any, x2: Any, **kwargs: Any) -> Tensor:
    _no_keywords("matmul", kwargs)
    return _ops.matmul(_array(x1), _array(x2))


def _einsum(*operands: Any, **kwargs: Any) -> Tensor:
    _no_keywords("einsum", kwargs, ("optimize",))
    if isinstance(operands[0], str):
        return _ops.einsum(operands[0], *(_array(operand) for operand in operands[1:]))
    arguments = [value if index % 2 else _array(value) for index, value in enumerate(operands)]
    if len(arguments) % 2:  # the output's sublist is a list, not an operand
        arguments[-1] = operands[-1]
    return _ops.einsum(*arguments)


def _cross(a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None) -> Tensor:
    """The cross product of 3-vectors along ``axisa``/``axisb`` (``axis`` sets all three)."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = _moveaxis(a, axisa, -1), _moveaxis(b, axisb, -1)
    if a.shape[-1] != 3 or b.shape[-1] != 3:
        raise NotImplementedError("wengert.numpy.cross: only 3-vectors with Tensors (2-vectors are deprecated "
                                  "in numpy)")
    a0, a1, a2 = (a[..., i] for i in range(3))
    b0, b1, b2 = (b[..., i] for i in range(3))
    result = _ops.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return _moveaxis(result, -1, axisc)


for _name, _function in (("dot", _dot), ("vdot", _vdot), ("tensordot", _tensordot), ("inner", _inner),
                         ("outer", _outer), ("matmul", _matmul), ("einsum", _einsum), ("cross", _cross)):
    _export(_name, _function)


# --- sorting ------------------------------------------------------------------------------------------

def _sort(a: Any, axis: int | None = -1, kind: Any = None, order: Any = None, **kwargs: Any) -> Tensor:
    if order is not None:
        raise NotImplementedError("wengert.numpy.sort: order= (structured arrays) is not supported")
    return _ops.sort(_array(a), axis)


def _partition(a: Any, kth: Any, axis: int | None = -1, kind: str = "introselect", order: Any = None) -> Tensor:
    """numpy's partition; the gradient goes back to where each value came from."""
    a = _array(a)
    if axis is None:
        a, axis = _ops.reshape(a, (-1,)), -1
    return _ops.take_along_axis(a, _np.argpartition(_data(a), kth, axis=axis), axis)


_export("sort", _sort)
_export("partition", _partition)


# --- values without gradients: shapes, indices, truth, constants shaped like an input -------------------

def _on_data(name: str) -> Callable:
    """numpy's ``name`` applied to the Tensors' arrays: for results that carry no gradient."""
    numpy_function = getattr(_np, name)

    def function(*args: Any, **kwargs: Any) -> Any:
        return numpy_function(*(_plain(arg) for arg in args), **{key: _plain(value) for key, value in kwargs.items()})

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"numpy's ``{name}`` on the arrays of any Tensors given: the result carries no gradient."
    return function


def _plain(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, (list, tuple)) and _has_tensor(value):
        return type(value)(_plain(item) for item in value)
    return value


_NO_GRADIENT = (
    "shape", "ndim", "size", "argmax", "argmin", "argsort", "argpartition", "nonzero", "argwhere", "flatnonzero",
    "searchsorted", "count_nonzero", "all", "any", "allclose", "isclose", "array_equal", "array_equiv",
    "zeros_like", "ones_like", "empty_like", "full_like", "result_type", "can_cast", "isscalar", "iscomplexobj",
    "isrealobj", "broadcast_shapes", "unravel_index", "ravel_multi_index", "indices", "digitize", "histogram",
    "bincount", "unique", "logical_xor", "isreal", "iscomplex", "signbit",
)
for _name in _NO_GRADIENT:
    _exported[_name] = _on_data(_name)


class _Concatenator:
    """numpy's ``r_`` and ``c_``: ``r_[a, b, 1:4]`` concatenates along the first axis, ``c_[a, b]``
    stacks 1-D inputs as columns. String directives (``r_['0,2', ...]``) are numpy's only."""

    def __init__(self, name: str, columns: bool) -> None:
        self.name, self.columns = name, columns

    def __getitem__(self, key: Any) -> Any:
        items = key if isinstance(key, tuple) else (key,)
        if not _has_tensor(items):
            return getattr(_np, self.name)[key]
        if builtins.any(isinstance(item, str) for item in items):
            raise NotImplementedError(f"wengert.numpy.{self.name}: string directives are not supported with Tensors")
        pieces = [_np.r_[item] if isinstance(item, slice) else _array(item) for item in items]
        if self.columns:
            pieces = [_ops.reshape(piece, (-1, 1)) if _ndim(piece) < 2 else piece for piece in pieces]
            return _ops.concatenate(pieces, axis=-1)
        return _ops.concatenate([_atleast_1d(piece) for piece in pieces], axis=0)

    def __len__(self) -> int:
        return 0


r_ = _Concatenator("r_", columns=False)
c_ = _Concatenator("c_", columns=True)


# --- what passes through, and what is refused ----------------------------------------------------------

# numpy's own, unchanged: constants, dtypes, array factories that take only shapes, and numpy.random.
_PASSTHROUGH = {
    "pi", "e", "inf", "nan", "newaxis", "euler_gamma", "PINF", "NINF", "NAN", "Inf", "NaN",
    "dtype", "finfo", "iinfo", "ndarray", "generic", "number", "integer", "signedinteger", "unsignedinteger",
    "floating", "complexfloating", "inexact", "bool", "random", "errstate", "seterr", "geterr",
    "printoptions", "set_printoptions", "get_printoptions", "array2string", "array_repr", "array_str",
    "zeros", "ones", "empty", "full", "eye", "identity", "arange", "linspace", "logspace", "geomspace",
    "meshgrid", "ogrid", "mgrid", "tri", "load", "save", "savez", "loadtxt", "savetxt", "genfromtxt",
    "testing", "ndindex", "ndenumerate", "s_", "index_exp", "broadcast",
}

globals().update(_exported)
from . import linalg  # noqa: E402, F401 - after the names it uses

__all__ = sorted([*_exported, "r_", "c_", "linalg"])


def __getattr__(name: str) -> Any:
    """numpy's constants, dtypes and factories; any other numpy name is refused, naming it."""
    value = getattr(_np, name, _NO_VALUE)
    if name in _PASSTHROUGH or (isinstance(value, type) and issubclass(value, _np.generic)):
        if value is _NO_VALUE:
            raise AttributeError(f"module 'numpy' has no attribute {name!r}")
        return value
    if name.startswith("__"):
        raise AttributeError(name)
    if name in ("fft", "ma", "polynomial", "lib", "char", "rec", "ctypeslib", "strings"):
        raise NotImplementedError(f"wengert.numpy.{name} is not differentiable here (yet): use numpy.{name} "
                                  "directly on constants")
    raise NotImplementedError(f"wengert.numpy.{name} is not differentiable here (yet); numpy's own would "
                              "silently drop the gradient. Compute it with numpy on constants (outside the "
                              "differentiated function), or compose it from the covered functions")


def __dir__() -> list[str]:
    return sorted({*__all__, *_PASSTHROUGH})
