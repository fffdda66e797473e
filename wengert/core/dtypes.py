"""Type promotion: the dtype that an op's inputs share before it computes (PyTorch's rule).

Categories rank bool < integer < floating < complex, and the result takes the highest
category among the operands. Within that category the dtype is promoted among the
operands that have dimensions; if there are none, among the 0-d ones; if there are
none either (only Python numbers), it is that category's default: ``bool``, ``int64``,
``get_default_dtype()`` for floats. So a float32 batch stays float32 whatever number,
0-d tensor or integer tensor it meets, and a float64 tensor with dimensions is never
silently narrowed. Ops whose result is a float (``floating=True``: true division,
``exp``, ``log``...) turn a bool or integer result into the default float dtype.

Python numbers are "weak": they never widen a tensor's dtype. A numpy scalar counts as
a 0-d array of its dtype, because a 0-d Tensor's data can itself be a numpy scalar
(numpy returns them from 0-d arithmetic and full reductions), and a float64 loss must
stay float64 when multiplied by a Python float.
"""

from __future__ import annotations

from typing import Any

from .backend import get_default_dtype, numpy

_SCALAR_CATEGORY = {bool: 0, int: 1, float: 2, complex: 3}
_KIND_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
# The dtypes the fast path knows, with their category (others take the general path).
_DTYPE_CATEGORY = {numpy.dtype(t): _KIND_CATEGORY[numpy.dtype(t).kind] for t in (
    numpy.bool_, numpy.uint8, numpy.int8, numpy.int16, numpy.int32, numpy.int64, numpy.uint16, numpy.uint32,
    numpy.float16, numpy.float32, numpy.float64, numpy.complex64, numpy.complex128)}
_FLOATING = 2


def unchanged_dtypes(floating: bool = False) -> tuple[frozenset, dict]:
    """What a fast check needs to see that values need no promotion: the array dtypes that
    stand as they are (when every array has the same one), and for each Python number type,
    the array dtypes that it does not widen. Anything else goes through ``promotion``."""
    lowest = _FLOATING if floating else 0
    standing = frozenset(dtype for dtype, category in _DTYPE_CATEGORY.items() if category >= lowest)
    with_number = {kind: frozenset(dtype for dtype in standing if _DTYPE_CATEGORY[dtype] >= category)
                   for kind, category in _SCALAR_CATEGORY.items()}
    return standing, with_number


def promotion(values: tuple, floating: bool = False) -> Any:
    """The dtype that ``values`` (arrays, numpy scalars, Python numbers, ``None`` for an absent
    bound) must be cast to, or ``None`` when they already agree: the common case, which costs
    one pass over the values. Values made only of Python numbers always get a dtype."""
    dtype = None
    scalar_category = _FLOATING if floating else 0
    for value in values:
        category = _SCALAR_CATEGORY.get(value.__class__)
        if category is not None:
            if category > scalar_category:
                scalar_category = category
        elif value is None:
            continue
        elif dtype is None:
            dtype = getattr(value, "dtype", None)
        elif getattr(value, "dtype", None) is not dtype:
            return result_dtype(values, floating)
    if dtype is not None and _DTYPE_CATEGORY.get(dtype, -1) >= scalar_category:
        return None
    return result_dtype(values, floating)


def promote(values: tuple, floating: bool = False) -> tuple:
    """``values`` with every array cast to their promoted dtype; ``values`` itself when they agree."""
    dtype = promotion(values, floating)
    return values if dtype is None else cast(values, dtype)


def result_dtype(values: tuple, floating: bool = False) -> Any:
    """The dtype that ``values`` promote to (see the module's docstring for the rule)."""
    top = -1
    by_rank: list[list] = [[], []]  # [dtypes of operands with dimensions, dtypes of 0-d operands]
    for value in values:
        if value is None:
            continue
        category = _SCALAR_CATEGORY.get(value.__class__)
        if category is None:
            array = as_array(value)
            category = _KIND_CATEGORY.get(array.dtype.kind)
            if category is None:
                raise TypeError(f"no type promotion for dtype {array.dtype}")
            by_rank[array.ndim == 0].append((category, array.dtype))
        top = max(top, category)
    for ranked in by_rank:
        dtypes = [dtype for category, dtype in ranked if category == top]
        if dtypes:
            dtype = numpy.result_type(*dtypes)
            break
    else:
        dtype = _default_dtype(top)
    if floating and top < _FLOATING:
        dtype = get_default_dtype()
    return dtype


def _default_dtype(category: int) -> Any:
    """The dtype of a Python number of ``category`` (PyTorch's defaults)."""
    if category == 0:
        return numpy.dtype(numpy.bool_)
    if category == 1:
        return numpy.dtype(numpy.int64)
    default = get_default_dtype()
    return default if category == _FLOATING else numpy.result_type(default, numpy.complex64)


def as_array(value: Any) -> Any:
    """An array or numpy scalar as it is; nested lists as wg.tensor reads them (floats -> default)."""
    if hasattr(value, "dtype") and hasattr(value, "ndim"):
        return value
    array = numpy.asarray(value)
    return array.astype(get_default_dtype()) if array.dtype == numpy.float64 else array


def cast(values: tuple, dtype: Any) -> tuple:
    """``values`` with their arrays (and Tensors) cast to ``dtype``. Python numbers stay as they are
    (numpy keeps them weak too), except that values made only of numbers become a 0-d array."""
    cast = []
    has_array = False
    for value in values:
        if value is None or value.__class__ in _SCALAR_CATEGORY:
            cast.append(value)
            continue
        array = as_array(value)
        cast.append(array if array.dtype == dtype else array.astype(dtype))
        has_array = True
    if not has_array:  # only Python numbers: one of them fixes the dtype, numpy keeps the others weak
        first = next(index for index, value in enumerate(cast) if value is not None)
        cast[first] = numpy.asarray(cast[first], dtype=dtype)
    return tuple(cast)
