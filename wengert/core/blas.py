"""numpy's own BLAS, called through ctypes for what numpy does not ask of it.

numpy's wheel carries OpenBLAS; numpy calls its matrix product one at a time and has no
``y += alpha x``. Two calls of that same library do better (not scipy's BLAS: that is a second
OpenBLAS, whose threads would fight numpy's for the cores, both 20x slower):

- ``axpy``: ``y += alpha x`` in one pass over memory instead of numpy's two (an optimizer step).
- ``gemm_batch``: several matrix products in one call, each product on a thread of its own. A layer's
  two gradients (the input's, the weight's) run side by side, and a weight's gradient split in halves
  runs each half on its own core: OpenBLAS splits one such product between its threads less well
  (784-512 at batch 128, float32, 2 cores: both gradients 716 -> 506 us; the weight's alone 470 -> 386).

Everything here declines (returns False or None) where it does not apply, and the caller computes with
numpy as before: another BLAS, arrays that are not numpy's, strides BLAS cannot take, small products.
"""

from __future__ import annotations

import ctypes
import glob
import itertools
import os
from collections.abc import Sequence
from typing import Any

import numpy

ROW_MAJOR, NO_TRANSPOSE, TRANSPOSE = 101, 111, 112  # cblas.h
# OpenBLAS runs a batch's products of at most 100^3 multiply-adds through kernels for small matrices,
# which crash in a batch in the builds numpy ships: every product or part here stays above that
SMALLEST = 1 << 21
# Side by side pays only for products this large (784-512 at batch 128 is 51M; a call costs about 13 us of
# Python, and LeNet-5's 3M 400-120 layer at batch 64 ran no faster so) and with an inner dimension this long
# (a weight's gradient at batch 32 reads more than it computes: no faster so, measured inside a training step)
WORTHWHILE, SHORTEST = 1 << 24, 64


def _find() -> tuple[Any, str, str, Any] | None:
    """numpy's OpenBLAS: (library, cblas prefix, suffix, its integer type), or None."""
    root = os.path.dirname(numpy.__file__)
    for path in glob.glob(os.path.join(root + ".libs", "*openblas*")) + glob.glob(os.path.join(root, ".dylibs",
                                                                                                  "*openblas*")):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix, integer in (("scipy_cblas_", "64_", ctypes.c_int64), ("cblas_", "64_", ctypes.c_int64),
                                        ("scipy_cblas_", "", ctypes.c_int), ("cblas_", "", ctypes.c_int)):
            if hasattr(library, f"{prefix}daxpy{suffix}"):
                return library, prefix, suffix, integer
    return None


_FOUND = _find()


def _functions(name: str, argtypes: Any) -> dict[str, Any]:
    """{"f": the float32 routine, "d": the float64 one} of ``?name``, each where it exists."""
    if _FOUND is None:
        return {}
    library, prefix, suffix, integer = _FOUND
    found = {}
    for char, letter, real in (("f", "s", ctypes.c_float), ("d", "d", ctypes.c_double)):
        function = getattr(library, f"{prefix}{letter}{name}{suffix}", None)
        if function is not None:
            function.restype = None
            function.argtypes = argtypes(integer, real)
            found[char] = function
    return found


def _thread_counter() -> Any:
    if _FOUND is None:
        return None
    library, prefix, suffix, _ = _FOUND
    for name in (f"{prefix[:-6]}openblas_get_num_threads{suffix}", "openblas_get_num_threads"):
        function = getattr(library, name, None)
        if function is not None:
            function.restype, function.argtypes = ctypes.c_int, []
            return function
    return None


_AXPY = _functions("axpy", lambda integer, real: [integer, real, ctypes.c_void_p, integer, ctypes.c_void_p, integer])
_GEMM_BATCH = _functions("gemm_batch", lambda integer, real: [ctypes.c_int] + [ctypes.c_void_p] * 13
                         + [integer, ctypes.c_void_p])
_THREADS = _thread_counter()
_INTEGER = numpy.int64 if _FOUND is not None and _FOUND[3] is ctypes.c_int64 else numpy.intc


def threads() -> int:
    """How many threads numpy's OpenBLAS uses now (threadpoolctl may have changed it); 1 if unknown."""
    return _THREADS() if _THREADS is not None else 1


def axpy(y: Any, alpha: float, x: Any) -> bool:
    """``y += alpha * x`` in place, where it applies (numpy arrays of one float dtype, both
    contiguous, not small). Returns whether it did."""
    if (y.__class__ is not numpy.ndarray or x.__class__ is not numpy.ndarray or y.size < 4096
            or y.dtype != x.dtype or y.shape != x.shape or y.dtype.char not in _AXPY or not y.dtype.isnative
            or not (y.flags.c_contiguous and x.flags.c_contiguous and y.flags.writeable)):
        return False
    _AXPY[y.dtype.char](y.size, alpha, x.ctypes.data, 1, y.ctypes.data, 1)
    return True


def _matrix(x: Any, dtype: Any) -> bool:
    return x.__class__ is numpy.ndarray and x.ndim == 2 and x.dtype == dtype and dtype.isnative  # BLAS: native bytes


def _layout(x: Any) -> tuple[int, int] | None:
    """(transpose flag, leading dimension) of a matrix for row-major BLAS, or None if BLAS cannot read it."""
    item = x.itemsize
    rows, columns = x.shape
    if x.strides[1] == item and x.strides[0] >= max(columns, 1) * item and x.strides[0] % item == 0:
        return NO_TRANSPOSE, x.strides[0] // item
    if x.strides[0] == item and x.strides[1] >= max(rows, 1) * item and x.strides[1] % item == 0:
        return TRANSPOSE, x.strides[1] // item
    return None


def products(pairs: Sequence[tuple[Any, Any]], outs: Sequence[Any] | None = None) -> list[Any] | None:
    """``[a @ b for a, b in pairs]`` (2-D numpy arrays of one float dtype) in one call of BLAS's
    ``gemm_batch``, spread over numpy's BLAS threads: several products run side by side; a lone one
    is split by rows where its right operand is read row by row (a weight's gradient, or the
    input's through W; a layer's forward, which reads W transposed, runs no faster so). ``outs``:
    arrays to write into (row- or column-major), or None for new row-major ones. None where that
    does not apply: compute them one by one. The call's plan is kept per shapes and layouts: a
    training step asks for the same products every time."""
    count = threads()
    if count < 2 or not pairs:
        return None
    key = (count, *(_described(x) for pair in pairs for x in pair), *(_described(out) for out in outs or ()))
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) >= 256:
            _PLANS.clear()
        plan = _PLANS[key] = _Plan.of(pairs, outs, count)
    return plan(pairs, outs) if plan else None


_PLANS: dict[tuple, Any] = {}


def _described(x: Any) -> tuple | None:
    return None if x is None else (x.__class__, getattr(x, "dtype", None), getattr(x, "shape", None),
                                   getattr(x, "strides", None))


class _Plan:
    """One ``gemm_batch`` call for products of given shapes and layouts: its integer and scalar
    arguments, made once; each call adds the arrays' addresses."""

    def __init__(self, dtype: Any, shapes: list, entries: list) -> None:
        self.dtype, self.shapes, self.size = dtype, shapes, len(entries)
        columns = list(zip(*entries))  # (transposes, m, n, k, lda, ldb, ldc, which product, offsets)
        self.arrays = (numpy.array(columns[0] + columns[1], dtype=numpy.intc),
                       numpy.array(sum(columns[2:8], ()) + (1,) * self.size, dtype=_INTEGER),  # m n k ld* sizes
                       numpy.array([1.0] * self.size + [0.0] * self.size, dtype=dtype))  # alpha, beta
        self.addresses = [array.ctypes.data for array in self.arrays]
        self.sources = [(product, flipped, offsets) for product, flipped, offsets in zip(*columns[8:])]

    @classmethod
    def of(cls, pairs: Sequence[tuple[Any, Any]], outs: Sequence[Any] | None, count: int) -> Any:
        """The plan, or False where ``products`` does not apply."""
        dtype = pairs[0][0].dtype
        if getattr(dtype, "char", None) not in _GEMM_BATCH:
            return False
        entries, shapes = [], []
        for index, (a, b) in enumerate(pairs):
            if not (_matrix(a, dtype) and _matrix(b, dtype) and a.shape[1] == b.shape[0]):
                return False
            out = outs[index] if outs is not None else None
            if out is not None and not (_matrix(out, dtype) and out.shape == (a.shape[0], b.shape[1])
                                        and (out.flags.c_contiguous or out.flags.f_contiguous)):
                return False
            flipped = out is not None and not out.flags.c_contiguous
            if flipped:  # column-major: its transpose is b^T a^T, row-major
                a, b = b.T, a.T
            layout_a, layout_b = _layout(a), _layout(b)
            if layout_a is None or layout_b is None:
                return False
            (rows, inner), columns = a.shape, b.shape[1]
            if len(pairs) > 1:
                split = max(1, count // len(pairs))
            elif layout_b[0] == NO_TRANSPOSE:
                split = count
            else:
                return False  # a product reading b across the grain (a batch through a layer): numpy's is as good
            split = min(split, max(1, rows // 32))
            if (rows * inner * columns < max(WORTHWHILE, SMALLEST * split) or inner < SHORTEST
                    or (len(pairs) == 1 and split == 1)):
                return False
            shapes.append(None if out is not None else (rows, columns))
            edges = [round(part * rows / split) for part in range(split + 1)]
            entries += [(layout_a[0], layout_b[0], stop - begin, columns, inner, layout_a[1], layout_b[1], columns,
                         index, flipped, (begin * a.strides[0], begin * columns * dtype.itemsize))
                        for begin, stop in itertools.pairwise(edges)]
        return cls(dtype, shapes, entries)

    def __call__(self, pairs: Sequence[tuple[Any, Any]], outs: Sequence[Any] | None) -> list[Any]:
        results = [numpy.empty(shape, dtype=self.dtype) if shape is not None else outs[index]
                   for index, shape in enumerate(self.shapes)]
        bases = [(a.ctypes.data, b.ctypes.data, c.ctypes.data) for (a, b), c in zip(pairs, results)]
        pointers = []
        for slot in range(3):  # every entry's a, then b, then c
            for product, flipped, (offset_a, offset_c) in self.sources:
                base_a, base_b, base_c = bases[product]
                if flipped:
                    base_a, base_b = base_b, base_a
                pointers.append((base_a + offset_a, base_b, base_c + offset_c)[slot])
        pointer = numpy.array(pointers, dtype=numpy.uintp)
        _call(self.dtype, self.size, *self.addresses, pointer, pointer.ctypes.data)
        return results


def _call(dtype: Any, size: int, flag: int, integer: int, scalar: int, pointers: Any, pointer: int) -> None:
    """``gemm_batch`` with its arrays at these addresses: flags (transposes of a, then of b), integers
    (m, n, k, lda, ldb, ldc, group sizes), scalars (alphas, betas), pointers (a's, b's, c's)."""
    step_integer, step_pointer = size * numpy.dtype(_INTEGER).itemsize, size * pointers.itemsize
    _GEMM_BATCH[dtype.char](ROW_MAJOR, flag, flag + size * numpy.dtype(numpy.intc).itemsize, integer,
                            integer + step_integer, integer + 2 * step_integer, scalar, pointer,
                            integer + 3 * step_integer, pointer + step_pointer, integer + 4 * step_integer,
                            scalar + size * dtype.itemsize, pointer + 2 * step_pointer, integer + 5 * step_integer,
                            size, integer + 6 * step_integer)


def _works() -> bool:
    """Whether ``axpy`` and ``gemm_batch`` give numpy's values here (a wrong guess about their
    interface must not corrupt updates or gradients): checked once, small; gemm_batch on row blocks
    of products in three layouts. A routine that fails is dropped."""
    for char in list(_AXPY):
        x, y = numpy.arange(5000, dtype=char), numpy.ones(5000, dtype=char)
        _AXPY[char](y.size, 0.5, x.ctypes.data, 1, y.ctypes.data, 1)
        if not numpy.array_equal(y, 1 + 0.5 * numpy.arange(5000, dtype=char)):
            _AXPY.pop(char)
    rng = numpy.random.default_rng(0)
    for char in list(_GEMM_BATCH):
        dtype = numpy.dtype(char)
        a, b = rng.standard_normal((192, 96)).astype(char), rng.standard_normal((96, 128)).astype(char)
        pairs = [(a, b), (numpy.asfortranarray(a), b), (a, numpy.asfortranarray(b))]
        results = [numpy.zeros((192, 128), dtype=char) for _ in pairs]
        entries = []
        for index, (x, y) in enumerate(pairs):  # blocks of over 100^3 multiply-adds: not the small kernels
            (flag_x, ld_x), (flag_y, ld_y) = _layout(x), _layout(y)
            entries += [(flag_x, flag_y, stop - begin, 128, 96, ld_x, ld_y, 128, index, False,
                         (begin * x.strides[0], begin * 128 * dtype.itemsize))
                        for begin, stop in ((0, 100), (100, 192))]
        _Plan(dtype, [None] * len(pairs), entries)(pairs, results)
        if not all(numpy.allclose(c, x @ y, rtol=1e-4, atol=1e-4) for (x, y), c in zip(pairs, results)):
            _GEMM_BATCH.pop(char)
    return bool(_GEMM_BATCH)


_works()
