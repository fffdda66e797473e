"""Linear algebra with gradients: inverse, determinants, solve, and the decompositions.

Each op works on a matrix or a stack of them (the last two axes), for real floating dtypes.
Beside ``forward`` and ``backward`` (the VJP) each has a ``jvp`` (forward mode). The rules
are written with ``@``, ``swapaxes`` and the helpers below, which run on raw arrays in a
plain backward and on Tensors (recording a graph) under ``create_graph``; for that, every
value a VJP reads is an input or the output itself, so that it is linked to the graph.

An op with several results (eigh, svd, qr) returns them packed into one array; the
functions in ``wengert.numpy.linalg`` unpack them by indexing, so their gradients meet here.

Gauges. Eigenvectors and singular vectors are defined up to sign, and their derivatives
need distinct eigenvalues (singular values); the gradients follow PyTorch's conventions
(``torch.linalg.eigh``/``svd``): symmetric inputs for ``eigh`` and ``cholesky`` get symmetric
gradients, and only losses that do not depend on the signs are meaningful.

References: M. Giles, "An extended collection of matrix derivative results for forward and
reverse mode algorithmic differentiation" (2008); J. Townsend, "Differentiating the singular
value decomposition" (2016); I. Murray, "Differentiation of the Cholesky decomposition" (2016).
"""

from __future__ import annotations

from typing import Any

from ..core.backend import namespace
from ..core.function import Function
from ..core.tensor import Tensor

# --- helpers on arrays or Tensors ---------------------------------------------------------------


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _transposed(x: Any) -> Any:
    """The transpose of the last two axes."""
    return namespace(x).swapaxes(x, -1, -2)


def _eye(n: int, like: Any) -> Any:
    """An n x n identity array (a constant) in ``like``'s floating dtype."""
    data = _data(like)
    return namespace(data).eye(n, dtype=data.dtype)


def _diagonal(x: Any) -> Any:
    """(..., n, n) -> (..., n), the diagonal."""
    return namespace(x).sum(x * _eye(x.shape[-1], x), axis=-1)


def _diagonal_matrix(v: Any) -> Any:
    """(..., n) -> (..., n, n) with ``v`` on the diagonal."""
    return namespace(v).expand_dims(v, -1) * _eye(v.shape[-1], v)


def _column(x: Any) -> Any:
    return namespace(x).expand_dims(x, -1)


def _row(x: Any) -> Any:
    return namespace(x).expand_dims(x, -2)


def _trailing(x: Any, count: int = 2) -> Any:
    """``x`` with ``count`` trailing axes of size 1 (a determinant's gradient against a matrix)."""
    return namespace(x).reshape(x, (*x.shape, *(1,) * count))


def _symmetric(x: Any) -> Any:
    return (x + _transposed(x)) / 2


def _halved_lower(x: Any) -> Any:
    """The lower triangle with the diagonal halved (Murray's Phi)."""
    return namespace(x).tril(x) - 0.5 * x * _eye(x.shape[-1], x)


def _copy_lower_up(x: Any) -> Any:
    """The symmetric matrix with ``x``'s lower triangle (and diagonal)."""
    strictly_lower = namespace(x).tril(x, -1)
    return strictly_lower + _transposed(strictly_lower) + x * _eye(x.shape[-1], x)


def _reciprocal_gaps(values: Any, squared: bool = False) -> Any:
    """F[..., i, j] = 1 / (v_j - v_i) off the diagonal, 0 on it (v squared if ``squared``)."""
    xp = namespace(values)
    v = values * values if squared else values
    gaps = _row(v) - _column(v)
    diagonal = _eye(values.shape[-1], values) != 0
    return xp.where(diagonal, 0, 1 / xp.where(diagonal, 1, gaps))  # the discarded branch made safe


def inverse(a: Any) -> Any:
    return Inv.apply(a) if isinstance(a, Tensor) else namespace(a).linalg.inv(a)


def solve(a: Any, b: Any) -> Any:
    """a^-1 b for a matrix (or stack) ``b``."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return Solve.apply(a, b)
    return namespace(a).linalg.solve(a, b)


def _zero_if_none(tangent: Any, like: Any) -> Any:
    return 0 * like if tangent is None else tangent


# --- inverse, determinants, solve ---------------------------------------------------------------


class Inv(Function):
    """Y = A^-1. VJP: -Y^T G Y^T; JVP: -Y dA Y."""

    name = "inv"

    def forward(ctx, a):
        y = namespace(a).linalg.inv(a)
        ctx.save(y)
        return y

    def backward(ctx, upstream):
        (y,) = ctx.saved
        yt = _transposed(y)
        return -(yt @ upstream @ yt)

    def jvp(primals, tangents, result):
        (da,) = tangents
        return None if da is None else -(result @ da @ result)


class Det(Function):
    """d = det(A). VJP: g d A^-T; JVP: d tr(A^-1 dA). (Singular A: the gradient is not finite.)"""

    name = "det"

    def forward(ctx, a):
        xp = namespace(a)
        d = xp.asarray(xp.linalg.det(a))
        ctx.save(a, d)
        return d

    def backward(ctx, upstream):
        a, d = ctx.saved
        return _trailing(upstream * d) * _transposed(inverse(a))

    def jvp(primals, tangents, result):
        (a,), (da,) = primals, tangents
        if da is None:
            return None
        return result * namespace(da).sum(_transposed(inverse(a)) * da, axis=(-2, -1))


class LogAbsDet(Function):
    """log |det(A)| (slogdet's second result). VJP: g A^-T; JVP: tr(A^-1 dA)."""

    name = "logabsdet"

    def forward(ctx, a):
        xp = namespace(a)
        ctx.save(a)
        return xp.asarray(xp.linalg.slogdet(a)[1])

    def backward(ctx, upstream):
        (a,) = ctx.saved
        return _trailing(upstream) * _transposed(inverse(a))

    def jvp(primals, tangents, result):
        (a,), (da,) = primals, tangents
        if da is None:
            return None
        return namespace(da).sum(_transposed(inverse(a)) * da, axis=(-2, -1))


class Solve(Function):
    """X = A^-1 B, numpy's ``solve``: ``b`` is a vector (..., n) only when it is 1-D, else a
    matrix (..., n, k); batch axes broadcast. VJP: B_bar = A^-T G, A_bar = -B_bar X^T;
    JVP: A^-1 (dB - dA X)."""

    name = "solve"
    broadcasting = True  # batch axes; the engine sums their gradients

    def forward(ctx, a, b):
        xp = namespace(a, b)
        x = xp.linalg.solve(a, b)
        ctx.save(a, x, b.ndim == 1)
        return x

    def backward(ctx, upstream):
        a, x, vector = ctx.saved
        g = _column(upstream) if vector else upstream
        x = _column(x) if vector else x
        grad_b = solve(_transposed(a), g)
        grad_a = -(grad_b @ _transposed(x)) if ctx.parents[0] is not None else None
        return grad_a, (grad_b[..., 0] if vector else grad_b)

    def jvp(primals, tangents, result):
        a, b = primals
        da, db = tangents
        if da is None and db is None:
            return None
        vector = len(b.shape) == 1
        x = _column(result) if vector else result
        rhs = 0 * x if db is None else (_column(db) if vector else db)
        if da is not None:
            rhs = rhs - da @ x
        dx = solve(a, rhs)
        return dx[..., 0] if vector else dx


class Pinv(Function):
    """The Moore-Penrose pseudo-inverse P = A^+ (numpy's SVD with its ``rcond``). The gradient
    is that of a matrix of constant rank (Golub and Pereyra), exact for full-rank A:
    dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P."""

    name = "pinv"

    def forward(ctx, a, rcond=None):
        xp = namespace(a)
        p = xp.linalg.pinv(a) if rcond is None else xp.linalg.pinv(a, rcond=rcond)
        ctx.save(a, p)
        return p

    def backward(ctx, upstream):
        a, p = ctx.saved
        g, pt = upstream, _transposed(p)
        m, n = a.shape[-2], a.shape[-1]
        left = _eye(m, a) - a @ p  # I - A P, m x m
        right = _eye(n, a) - p @ a  # I - P A, n x n
        return -(pt @ g @ pt) + left @ _transposed(g) @ p @ pt + pt @ p @ _transposed(g) @ right

    def jvp(primals, tangents, result, rcond=None):
        (a,), (da,) = primals, tangents
        if da is None:
            return None
        p, m, n = result, a.shape[-2], a.shape[-1]
        dat = _transposed(da)
        return (-(p @ da @ p) + p @ _transposed(p) @ dat @ (_eye(m, a) - a @ p)
                + (_eye(n, a) - p @ a) @ dat @ _transposed(p) @ p)


# --- decompositions -----------------------------------------------------------------------------


class Cholesky(Function):
    """L, lower triangular with A = L L^T, for a symmetric positive-definite A (numpy reads its
    lower triangle). The gradient is symmetric, as PyTorch's (Murray):
    A_bar = sym(L^-T Phi(L^T L_bar) L^-1), Phi the lower triangle with the diagonal halved;
    JVP: L Phi(L^-1 sym(dA) L^-T)."""

    name = "cholesky"

    def forward(ctx, a):
        lower = namespace(a).linalg.cholesky(a)
        ctx.save(lower)
        return lower

    def backward(ctx, upstream):
        (lower,) = ctx.saved
        inverse_lower = inverse(lower)
        return _symmetric(_transposed(inverse_lower) @ _halved_lower(_transposed(lower) @ upstream) @ inverse_lower)

    def jvp(primals, tangents, result):
        (da,) = tangents
        if da is None:
            return None
        inverse_lower = inverse(result)
        return result @ _halved_lower(inverse_lower @ _symmetric(da) @ _transposed(inverse_lower))


class Eigh(Function):
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix, packed as one array
    (..., n + 1, n): row 0 the eigenvalues w, rows 1.. the eigenvectors V (as columns).
    With F[i, j] = 1 / (w_j - w_i) off the diagonal: VJP A_bar = V (diag(w_bar) +
    F o (V^T V_bar - V_bar^T V) / 2) V^T (symmetric); JVP for M = V^T sym(dA) V:
    dw = diag(M), dV = V (F o M). Needs distinct eigenvalues for the eigenvectors' part."""

    name = "eigh"

    def forward(ctx, a, UPLO="L"):
        xp = namespace(a)
        w, v = xp.linalg.eigh(a, UPLO=UPLO)
        packed = xp.concatenate([_row(w), v], axis=-2)
        ctx.save(packed)
        return packed

    def backward(ctx, upstream):
        (packed,) = ctx.saved
        w, v = packed[..., 0, :], packed[..., 1:, :]
        grad_w, grad_v = upstream[..., 0, :], upstream[..., 1:, :]
        projected = _transposed(v) @ grad_v
        middle = _diagonal_matrix(grad_w) + _reciprocal_gaps(w) * (projected - _transposed(projected)) / 2
        return v @ middle @ _transposed(v)

    def jvp(primals, tangents, result, UPLO="L"):
        (da,) = tangents
        if da is None:
            return None
        xp = namespace(result)
        w, v = result[..., 0, :], result[..., 1:, :]
        m = _transposed(v) @ _symmetric(da) @ v
        return xp.concatenate([_row(_diagonal(m)), v @ (_reciprocal_gaps(w) * m)], axis=-2)


def _svd_parts(packed: Any, m: int, n: int) -> tuple:
    """U (..., m, k), s (..., k), Vh (..., k, n) from the packed (..., m k + k + k n)."""
    xp, k, batch = namespace(packed), min(m, n), tuple(packed.shape[:-1])
    u = xp.reshape(packed[..., :m * k], (*batch, m, k))
    s = packed[..., m * k:m * k + k]
    vh = xp.reshape(packed[..., m * k + k:], (*batch, k, n))
    return u, s, vh


def _svd_pack(u: Any, s: Any, vh: Any) -> Any:
    xp, batch = namespace(u), tuple(s.shape[:-1])
    return xp.concatenate([xp.reshape(u, (*batch, -1)), s, xp.reshape(vh, (*batch, -1))], axis=-1)


class Svd(Function):
    """The reduced singular value decomposition A = U diag(s) Vh (k = min(m, n)), packed as one
    array (..., m k + k + k n): U, s and Vh flattened, in that order. Townsend's VJP, with
    F[i, j] = 1 / (s_j^2 - s_i^2) off the diagonal and V = Vh^T:
    A_bar = U [(F o (U^T U_bar - U_bar^T U)) S + diag(s_bar) + S (F o (V^T V_bar - V_bar^T V))] V^T
            + (I - U U^T) U_bar S^-1 V^T + U S^-1 V_bar^T (I - V V^T).
    Needs distinct non-zero singular values for the singular vectors' part."""

    name = "svd"

    def forward(ctx, a):
        u, s, vh = namespace(a).linalg.svd(a, full_matrices=False)
        packed = _svd_pack(u, s, vh)
        ctx.save(packed, a.shape[-2], a.shape[-1])
        return packed

    def backward(ctx, upstream):
        packed, m, n = ctx.saved
        u, s, vh = _svd_parts(packed, m, n)
        grad_u, grad_s, grad_vh = _svd_parts(upstream, m, n)
        grad_v = _transposed(grad_vh)
        gaps = _reciprocal_gaps(s, squared=True)
        left, right = _transposed(u) @ grad_u, vh @ grad_v
        middle = (gaps * (left - _transposed(left)) * _row(s) + _diagonal_matrix(grad_s)
                  + _column(s) * (gaps * (right - _transposed(right))))
        grad = u @ middle @ vh
        # the parts outside the spans of U and V (zero for a square A, up to rounding)
        inverse_s = 1 / s
        grad = grad + ((grad_u - u @ left) * _row(inverse_s)) @ vh
        grad = grad + u @ (_column(inverse_s) * (grad_vh - _transposed(right) @ vh))
        return grad

    def jvp(primals, tangents, result):
        (a,), (da,) = primals, tangents
        if da is None:
            return None
        m, n = a.shape[-2], a.shape[-1]
        u, s, vh = _svd_parts(result, m, n)
        v = _transposed(vh)
        gaps = _reciprocal_gaps(s, squared=True)
        dp = _transposed(u) @ da @ v  # k x k
        ds = _diagonal(dp)
        inverse_s = _row(1 / s)
        du = u @ (gaps * (dp * _row(s) + _column(s) * _transposed(dp))) + (da @ v - u @ dp) * inverse_s
        dpt = _transposed(dp)
        dv = v @ (gaps * (_column(s) * dp + dpt * _row(s))) + (_transposed(da) @ u - v @ dpt) * inverse_s
        return _svd_pack(du, ds, _transposed(dv))


class Qr(Function):
    """The reduced QR decomposition A = Q R of an m x n matrix with m >= n and full column rank,
    packed as one array (..., m + n, n): Q's rows, then R's. VJP, with M = R R_bar^T - Q_bar^T Q:
    A_bar = (Q_bar + Q copyltu(M)) R^-T (copyltu: the symmetric matrix of M's lower triangle);
    JVP, with C = Q^T dA R^-1 and W = tril(C, -1) - tril(C, -1)^T: dR = (C - W) R,
    dQ = dA R^-1 - Q (C - W)."""

    name = "qr"

    def forward(ctx, a):
        xp = namespace(a)
        if a.shape[-2] < a.shape[-1]:
            raise NotImplementedError(f"qr: the gradient needs m >= n; got a {a.shape[-2]} x {a.shape[-1]} matrix")
        q, r = xp.linalg.qr(a, mode="reduced")
        packed = xp.concatenate([q, r], axis=-2)
        ctx.save(packed, a.shape[-2])
        return packed

    def backward(ctx, upstream):
        packed, m = ctx.saved
        q, r = packed[..., :m, :], packed[..., m:, :]
        grad_q, grad_r = upstream[..., :m, :], upstream[..., m:, :]
        middle = r @ _transposed(grad_r) - _transposed(grad_q) @ q
        return _transposed(solve(r, _transposed(grad_q + q @ _copy_lower_up(middle))))

    def jvp(primals, tangents, result):
        (a,), (da,) = primals, tangents
        if da is None:
            return None
        xp = namespace(result)
        m = a.shape[-2]
        q, r = result[..., :m, :], result[..., m:, :]
        inverse_r = inverse(r)
        c = _transposed(q) @ da @ inverse_r
        lower = xp.tril(c, -1)
        upper_part = c - (lower - _transposed(lower))  # dR R^-1
        return xp.concatenate([da @ inverse_r - q @ upper_part, upper_part @ r], axis=-2)
