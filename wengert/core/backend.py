"""Array backends: the array module an op computes with, taken from its inputs.

Ops never name numpy. They call ``namespace(x)`` and get an object with numpy's
vocabulary: numpy itself (plus the few primitives below) for numpy arrays, CuPy
later for GPU arrays, and wengert's own op namespace for Tensors, which is how
one gradient rule serves first-order and higher-order differentiation alike.
This module is the one place in the core that imports numpy, with ``blas`` beside it (numpy's
own OpenBLAS, called through ctypes for what numpy does not ask of it).
"""

from __future__ import annotations

import os
import types
import warnings
from typing import Any

import numpy

from . import blas

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


def batch_matmul(a: Any, b: Any, out: Any = None) -> Any:
    """``a @ b`` for a batch ``a`` (rows) through a layer's matrix ``b``. An output with fewer rows
    than columns is written in column-major order, which OpenBLAS computes up to 1.5x faster
    (784-512 at batch 32: 185 -> 121 us). Only for batches: a weight's gradient keeps its
    parameter's row-major layout, or every optimizer step would read it across the grain.
    ``out``: an array to write into (a buffer this product filled before, of its layout)."""
    if out is None:
        out = batch_out(a, b)
    return a @ b if out is None else namespace(a).matmul(a, b, out=out)


def batch_out(a: Any, b: Any) -> Any:
    """The array ``batch_matmul(a, b)`` writes into: column-major where the product has fewer rows
    than columns; None where ``a @ b`` makes its own (not two float matrices of one dtype)."""
    if (a.ndim == 2 and b.ndim == 2 and a.shape[0] < b.shape[1] and a.dtype == b.dtype and a.dtype.kind == "f"
            and hasattr(a, "flags") and hasattr(b, "flags")):
        return namespace(a).empty((b.shape[1], a.shape[0]), dtype=a.dtype).T
    return None


def matmul(a: Any, b: Any, out: Any = None) -> Any:
    """``a @ b`` for arrays of one dtype. An outer-product-like product of matrices (a weight's
    gradient at a small batch: a short inner dimension, many rows, as many columns or more) is
    computed in column blocks narrower than its rows: OpenBLAS splits such a product badly
    between its threads, and the blocks run faster (512x784 from an inner 32: 217 -> 134 us;
    from an inner 128 the gain is within noise, from 1024 a 10% loss: so only up to 64)."""
    if out is None and not (hasattr(a, "flags") and hasattr(b, "flags")):
        return a @ b  # Tensors (a VJP under create_graph): their matmul op comes back here with arrays
    found = blas.products([(a, b)], None if out is None else [out])
    if found is not None:
        return found[0]
    xp = namespace(a, b)
    if not (a.ndim == 2 and b.ndim == 2 and a.shape[1] <= 64 and 256 <= a.shape[0] <= b.shape[1]
            and a.dtype == b.dtype and a.dtype.kind == "f" and (out is None or out.flags.c_contiguous)):
        return xp.matmul(a, b, out=out)
    rows, columns = a.shape[0], b.shape[1]
    out = xp.empty((rows, columns), dtype=a.dtype) if out is None else out
    width = -(-columns // (columns // rows + 1))
    for start in range(0, columns, width):
        xp.matmul(a, b[:, start:start + width], out=out[:, start:start + width])
    return out


def products(pairs: list[tuple[Any, Any]], outs: list[Any] | None = None) -> list[Any] | None:
    """``[a @ b for a, b in pairs]`` for matrices, in one BLAS call that runs them side by side
    (``blas.products``), into ``outs`` where given; None where that does not apply (arrays of
    another library, say)."""
    return blas.products(pairs, outs)


def sum_rows(x: Any, keepdims: bool = False) -> Any:
    """``x.sum(axis=0)`` for a matrix; for a floating one with many rows, as the product
    ``ones @ x``: BLAS's matrix-vector product runs 2-8x faster than numpy's reduction down the
    rows (a bias's gradient: 128x512 float32 column-major, 18 -> 4 us)."""
    xp = namespace(x)
    if x.ndim != 2 or x.shape[0] < 16 or x.dtype.char not in "fd" or not hasattr(x, "flags"):
        return xp.sum(x, axis=0, keepdims=keepdims)
    y = xp.ones(x.shape[0], dtype=x.dtype) @ x
    return y.reshape(1, -1) if keepdims else y


def add_scaled_blas(y: Any, alpha: float, x: Any) -> bool:
    """``y += alpha * x`` in place by BLAS axpy, where it applies (numpy arrays of one float dtype,
    both contiguous, not small): one pass over memory instead of numpy's two (a 784x512 float32
    SGD update just after its gradient's matmul: 200 -> 70 us). Returns whether it did."""
    return blas.axpy(y, alpha, x)


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 128 << 20) -> bool:
    """Ask glibc's malloc to keep freed blocks below ``mmap_threshold`` bytes in the heap for reuse, and
    to hand the heap's top back to the OS only beyond ``trim_threshold`` free bytes. By default glibc
    gives large freed arrays back at once, and the next step's arrays of the same sizes fault their
    pages in afresh: LeNet-5's training step took 3,500 page faults, 25% of its time; after this, none.
    Returns whether it applied (glibc only; elsewhere it changes nothing)."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    mallopt.restype, mallopt.argtypes = ctypes.c_int, [ctypes.c_int, ctypes.c_int]
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
    return bool(mallopt(m_mmap_threshold, mmap_threshold)) and bool(mallopt(m_trim_threshold, trim_threshold))


# A training loop frees and allocates the same large arrays every step: keep them (WENGERT_MALLOC=system, or
# glibc's own MALLOC_* variables, leave malloc as the environment set it).
MALLOC_TUNED = (os.environ.get("WENGERT_MALLOC", "").lower() != "system"
                and not any(name.startswith("MALLOC_") for name in os.environ) and keep_freed_memory())


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
