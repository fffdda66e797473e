"""numpy.linalg's names, differentiable: ``wengert.numpy.linalg.inv`` and the rest.

As in ``wengert.numpy``: numpy's own function when no argument holds a Tensor, wengert's ops
(``wengert.ops.decompositions``) when one does. Real floating inputs; matrices in the last two
axes, stacks of them allowed. The gradients of ``eigh`` and ``svd`` need distinct eigenvalues
(singular values) and are meaningful only for losses that do not depend on the eigenvectors'
signs; ``cholesky`` and ``eigh`` take symmetric inputs and give symmetric gradients (PyTorch's
convention). Not covered (refused by name): eig, eigvals, lstsq, matrix_rank, tensorinv, ...
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as _np

from .. import ops as _ops
from ..core.tensor import Tensor
from ..ops import decompositions as _decompositions
from ..ops.reduce import Norm
from . import _array, _has_tensor, _moveaxis, _ndim, _refuse_complex

LinAlgError = _np.linalg.LinAlgError


class SlogdetResult(NamedTuple):
    sign: Any
    logabsdet: Any


class EighResult(NamedTuple):
    eigenvalues: Any
    eigenvectors: Any


class SVDResult(NamedTuple):
    U: Any
    S: Any
    Vh: Any


class QRResult(NamedTuple):
    Q: Any
    R: Any


def _numpy(name: str, tensor_function: Callable) -> Callable:
    numpy_function = getattr(_np.linalg, name)

    @functools.wraps(numpy_function, assigned=("__doc__",))
    def function(*args: Any, **kwargs: Any) -> Any:
        if not (_has_tensor(args) or _has_tensor(kwargs)):
            return numpy_function(*args, **kwargs)
        _refuse_complex(f"linalg.{name}", args, kwargs)
        return tensor_function(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__module__ = __name__
    return function


def _square(name: str, a: Any) -> Any:
    a = _array(a)
    if _ndim(a) < 2 or a.shape[-1] != a.shape[-2]:
        raise LinAlgError(f"wengert.numpy.linalg.{name}: last 2 dimensions of the array must be square, got "
                          f"shape {tuple(a.shape)}")
    return a


def _float(a: Any) -> Any:
    """Integer matrices computed in float64, as numpy does."""
    dtype = getattr(a, "dtype", None)
    return a if dtype is None or _np.dtype(dtype).kind == "f" else _ops.astype(a, _np.float64)


def _inv(a: Any) -> Tensor:
    return _decompositions.Inv.apply(_float(_square("inv", a)))


def _det(a: Any) -> Tensor:
    return _decompositions.Det.apply(_float(_square("det", a)))


def _slogdet(a: Any) -> SlogdetResult:
    """(sign, log|det|): the sign is a constant Tensor, the log a differentiable one."""
    a = _float(_square("slogdet", a))
    sign = _np.linalg.slogdet(a.data if isinstance(a, Tensor) else a).sign
    return SlogdetResult(Tensor(_np.asarray(sign)), _decompositions.LogAbsDet.apply(a))


def _solve(a: Any, b: Any) -> Tensor:
    return _decompositions.Solve.apply(_float(_square("solve", a)), _float(_array(b)))


def _pinv(a: Any, rcond: Any = None, hermitian: bool = False, **kwargs: Any) -> Tensor:
    if kwargs:
        raise NotImplementedError(f"wengert.numpy.linalg.pinv: {sorted(kwargs)} are not supported with Tensors")
    a = _float(_array(a))
    return _decompositions.Pinv.apply(a) if rcond is None else _decompositions.Pinv.apply(a, rcond=rcond)


def _cholesky(a: Any, upper: bool = False) -> Tensor:
    lower = _decompositions.Cholesky.apply(_float(_square("cholesky", a)))
    return _ops.matrix_transpose(lower) if upper else lower


def _eigh(a: Any, UPLO: str = "L") -> EighResult:
    packed = _decompositions.Eigh.apply(_float(_square("eigh", a)), UPLO=UPLO)
    return EighResult(packed[..., 0, :], packed[..., 1:, :])


def _eigvalsh(a: Any, UPLO: str = "L") -> Tensor:
    return _eigh(a, UPLO).eigenvalues


def _svd(a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False) -> Any:
    """The reduced SVD's gradient; ``full_matrices`` only where it changes nothing (square matrices)."""
    a = _float(_array(a))
    m, n = a.shape[-2], a.shape[-1]
    if full_matrices and compute_uv and m != n:
        raise NotImplementedError("wengert.numpy.linalg.svd: full_matrices=True on a non-square matrix is not "
                                  "differentiable (its extra singular vectors are arbitrary); pass "
                                  "full_matrices=False")
    u, s, vh = _decompositions._svd_parts(_decompositions.Svd.apply(a), m, n)
    return SVDResult(u, s, vh) if compute_uv else s


def _svdvals(x: Any) -> Tensor:
    return _svd(x, full_matrices=False, compute_uv=False)


def _qr(a: Any, mode: str = "reduced") -> Any:
    a = _float(_array(a))
    m, n = a.shape[-2], a.shape[-1]
    if mode not in ("reduced", "r") and not (mode == "complete" and m == n):
        raise NotImplementedError(f"wengert.numpy.linalg.qr: mode={mode!r} is not differentiable here; use "
                                  "'reduced' or 'r'")
    if m < n:
        raise NotImplementedError(f"wengert.numpy.linalg.qr: the gradient needs rows >= columns, got {m} x {n}")
    packed = _decompositions.Qr.apply(a)
    q, r = packed[..., :m, :], packed[..., m:, :]
    return r if mode == "r" else QRResult(q, r)


def _matrix_norm(x: Any, ord: Any, axes: tuple[int, int]) -> Tensor:
    """A matrix norm over ``axes`` (rows, columns), without keeping them."""
    row, column = axes
    if ord in (None, "fro"):
        return _norm_op(x, 2, (row, column), False)
    if ord in ("nuc", 2, -2):
        s = _svd(_moveaxis(x, (row, column), (-2, -1)), full_matrices=False, compute_uv=False)
        if ord == "nuc":
            return _ops.sum(s, axis=-1)
        return _ops.max(s, axis=-1) if ord == 2 else _ops.min(s, axis=-1)
    if ord in (1, -1):
        sums = _ops.sum(_ops.absolute(x), axis=row)
        column = column - 1 if column > row else column
        return _ops.max(sums, axis=column) if ord == 1 else _ops.min(sums, axis=column)
    if ord in (_np.inf, -_np.inf):
        sums = _ops.sum(_ops.absolute(x), axis=column)
        row = row - 1 if row > column else row
        return _ops.max(sums, axis=row) if ord == _np.inf else _ops.min(sums, axis=row)
    raise ValueError(f"Invalid norm order {ord!r} for matrices")


def _vector_norm(x: Any, ord: Any, axis: int, keepdims: bool) -> Tensor:
    if ord is None or ord == 2:
        return _norm_op(x, 2, axis, keepdims)
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    if ord == _np.inf:
        return _ops.max(_ops.absolute(x), axis=axis, keepdims=keepdims)
    if ord == -_np.inf:
        return _ops.min(_ops.absolute(x), axis=axis, keepdims=keepdims)
    if ord > 0 or ord == 0:
        return _norm_op(x, ord, axis, keepdims)
    return _ops.power(_ops.sum(_ops.power(_ops.absolute(x), ord), axis=axis, keepdims=keepdims), 1 / ord)


def _norm_op(x: Any, ord: float, axis: Any, keepdims: bool) -> Tensor:
    """The p-norm op (its gradient is 0 where the norm is 0, as PyTorch's)."""
    return Norm.apply(x, ord=ord, axis=axis, keepdims=keepdims)


def _norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:
    """numpy's norm: the 2-norm of everything by default; a vector norm over one axis (ord = p,
    inf, -inf, 0); a matrix norm over two ('fro', 'nuc', 1, -1, 2, -2, inf, -inf)."""
    x = _float(_array(x))
    ndim = _ndim(x)
    if axis is None:
        if ord is None:
            return _norm_op(x, 2, None, keepdims)
        if ndim not in (1, 2):
            raise ValueError("Improper number of dimensions to norm.")
        axis = tuple(range(ndim))
    if isinstance(axis, (int, _np.integer)):
        axis = (int(axis),)
    axis = tuple(a % ndim for a in axis)
    if len(axis) == 1:
        return _vector_norm(x, ord, axis[0], keepdims)
    if len(axis) != 2 or axis[0] == axis[1]:
        raise ValueError("Improper number of dimensions to norm.")
    result = _matrix_norm(x, ord, axis)
    if keepdims:
        shape = [1 if index in axis else size for index, size in enumerate(x.shape)]
        result = _ops.reshape(result, shape)
    return result


def _multi_dot(arrays: Any, *, out: Any = None) -> Tensor:
    arrays = [_array(array) for array in arrays]
    result = arrays[0]
    for array in arrays[1:]:
        result = _ops.dot(result, array)
    return result


def _matrix_power(a: Any, n: int) -> Tensor:
    a = _square("matrix_power", a)
    if n < 0:
        a, n = _inv(a), -n
    result = None
    for _ in builtins.range(n):
        result = a if result is None else _ops.matmul(result, a)
    if result is None:
        data = a.data if isinstance(a, Tensor) else a
        return Tensor(_np.broadcast_to(_np.eye(a.shape[-1], dtype=data.dtype), a.shape).copy())
    return result


_exported = {
    name: _numpy(name, function) for name, function in (
        ("inv", _inv), ("det", _det), ("slogdet", _slogdet), ("solve", _solve), ("pinv", _pinv),
        ("cholesky", _cholesky), ("eigh", _eigh), ("eigvalsh", _eigvalsh), ("svd", _svd), ("qr", _qr),
        ("norm", _norm), ("multi_dot", _multi_dot), ("matrix_power", _matrix_power))
}
if hasattr(_np.linalg, "svdvals"):
    _exported["svdvals"] = _numpy("svdvals", _svdvals)
globals().update(_exported)

__all__ = sorted([*_exported, "LinAlgError"])


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotImplementedError(f"wengert.numpy.linalg.{name} is not differentiable here (yet); numpy's own would "
                              "silently drop the gradient")
