"""Array backends: the array module an op computes with, taken from its inputs.

Ops never name numpy. They call ``namespace(x)`` and get an object with numpy's
vocabulary: numpy itself (plus the few primitives below) for numpy arrays, CuPy
later for GPU arrays, and wengert's own op namespace for Tensors, which is how
one gradient rule serves first-order and higher-order differentiation alike.
This module is the one place in the core that imports numpy.
"""

from __future__ import annotations

import types
import warnings
from typing import Any

import numpy

_namespaces: dict[type, Any] = {}


def register_namespace(array_type: type, array_namespace: Any) -> None:
    """Make ``namespace(x)`` return ``array_namespace`` for arrays of ``array_type``."""
    _namespaces[array_type] = array_namespace


def namespace(*values: Any) -> Any:
    """The array namespace of the first value that is an array (or Tensor); numpy's if none is."""
    for value in values:
        found = _namespaces.get(value.__class__)
        if found is not None:
            return found
    for value in values:
        if isinstance(value, numpy.generic):  # a numpy scalar type not seen before
            register_namespace(value.__class__, numpy_namespace)
            return numpy_namespace
        if hasattr(value, "__array_namespace__"):
            return value.__array_namespace__()
    return numpy_namespace


# --- the numpy backend: numpy's own namespace plus what numpy lacks -------------

# PyTorch computes log(0) = -inf, 1/0 = inf and exp(1000) = inf silently (``detect_anomaly`` finds
# where they came from); numpy warns, at wengert's own lines. So a filter that ignores the
# RuntimeWarnings raised inside wengert's modules is kept first among the warning filters (numpy
# still warns about the user's own code). ``catch_warnings`` (pytest wraps every test in one) and
# ``simplefilter`` displace it, so making tensors and running backward put it back; checking on
# every op would cost a tenth of an op's overhead.
silencing_filter: list = [None]  # the filter entry installed last


def silence_numpy_warnings() -> None:
    """Put the filter first among the warning filters (again)."""
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"wengert\.")
    silencing_filter[0] = warnings.filters[0]


def numpy_warnings_silenced() -> None:
    """Make sure the filter is first; ops call this before computing."""
    filters = warnings.filters
    if not filters or filters[0] is not silencing_filter[0]:
        silence_numpy_warnings()


silence_numpy_warnings()


_scipy_erf: list = []  # scipy.special.erf once imported: importing wengert itself stays fast


def _erf(x: Any) -> Any:
    """Gauss's error function, from scipy (numpy has none), in ``x``'s floating dtype."""
    if not _scipy_erf:
        from scipy.special import erf

        _scipy_erf.append(erf)
    y = _scipy_erf[0](x)
    dtype = getattr(x, "dtype", None)
    if dtype is not None and dtype.kind == "f" and y.dtype != dtype:  # scipy computes float16 in float64
        y = y.astype(dtype)
    return y


def is_basic_key(key: Any, masks: bool = False) -> bool:
    """True if ``x[key]`` is numpy's basic indexing: ints, slices, ``None`` and ``...`` only, so the
    result is a view of ``x``. With ``masks``, boolean arrays count too: such keys still pick each
    element at most once, which is what ``scatter_add`` needs to assign instead of accumulate."""
    for part in key if isinstance(key, tuple) else (key,):
        if not (part is None or part is Ellipsis or isinstance(part, slice)
                or (isinstance(part, (int, numpy.integer)) and not isinstance(part, bool))
                or (masks and getattr(part, "dtype", None) == numpy.bool_)):
            return False
    return True


def _scatter_add(values, key, shape):
    """Zeros of ``shape`` with ``values`` added at ``key``; repeated indices accumulate.

    This is the vector-Jacobian product of ``x[key]``.
    """
    out = numpy.zeros(shape, dtype=numpy.result_type(values))
    if is_basic_key(key, masks=True):  # no element is picked twice: plain assignment
        out[key] = values
    else:
        numpy.add.at(out, key, values)
    return out


numpy_namespace = types.ModuleType("wengert.numpy_backend", "numpy, plus erf and scatter_add.")
numpy_namespace.__dict__.update({k: v for k, v in vars(numpy).items() if not k.startswith("__")})
numpy_namespace.erf = _erf
numpy_namespace.scatter_add = _scatter_add

register_namespace(numpy.ndarray, numpy_namespace)
for _scalar_type in (numpy.float16, numpy.float32, numpy.float64, numpy.int8, numpy.int16,
                     numpy.int32, numpy.int64, numpy.uint8, numpy.bool_):
    register_namespace(_scalar_type, numpy_namespace)


# --- dtypes --------------------------------------------------------------------

float16, float32, float64 = numpy.float16, numpy.float32, numpy.float64
int8, int16, int32, int64, uint8 = numpy.int8, numpy.int16, numpy.int32, numpy.int64, numpy.uint8
bool_ = numpy.bool_

_default_dtype = [numpy.dtype(numpy.float32)]


def set_default_dtype(dtype: Any) -> None:
    """Set the floating dtype that Python floats and the float factories create (float32 at start)."""
    dtype = numpy.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: the default dtype must be floating, got {dtype}")
    _default_dtype[0] = dtype


def get_default_dtype() -> numpy.dtype:
    """The floating dtype that Python floats and the float factories create."""
    return _default_dtype[0]


def as_dtype(dtype: Any) -> numpy.dtype:
    """``dtype`` as a dtype object (``None`` means the default floating dtype)."""
    return _default_dtype[0] if dtype is None else numpy.dtype(dtype)


def is_floating(dtype: Any) -> bool:
    return numpy.dtype(dtype).kind == "f"


def to_numpy(data: Any) -> numpy.ndarray:
    """A backend array as a numpy array (no copy for numpy's own)."""
    return numpy.asarray(data)
