"""Convolutions over any number of spatial axes, in PyTorch's layout: input (N, C_in, *spatial),
weight (C_out, C_in / groups, *kernel), output (N, C_out, *out).

Three ops, each the others' gradients, so the math is written once and differentiates again:

  ``conv(x, w[, b])``             y = x * w (a cross-correlation, as in PyTorch) + b
  ``conv_transpose(y, w[, b])``   the transpose of x -> conv(x, w): conv's input gradient, and
                                  ``conv_transpose2d``'s forward
  ``conv_weight(x, y)``           the transpose of w -> conv(x, w): conv's weight gradient

All three are bilinear, so each VJP and JVP is one of the three applied to other arguments.

Their geometry is keyword constants: ``stride``, ``dilation`` (one int per spatial axis),
``groups``, and ``padding``, one (before, after) pair per spatial axis. ``after`` may be negative:
rows cropped off the end. ``conv`` takes any padding; ``conv_transpose`` and ``conv_weight`` take
*exact* padding, with which conv's windows end on the input's last row: s (O - 1) + r (K - 1) + 1
= S + before + after (S input, O output, K kernel sizes, s stride, r dilation), which fixes S from O.
``exact_padding`` gives it.

Computation: the input's windows are a strided view (``sliding_window_view``, the dilation and
stride applied by slicing), copied once into columns (im2col) and multiplied by the weight in
one matmul batched over (batch, group); the transpose multiplies first and adds the columns back
(col2im) with one strided add per kernel position.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from ..core.backend import namespace
from ..core.function import Function
from ..core.tensor import Tensor

# --- the computations, on arrays -------------------------------------------------------------------

def _windows(x: Any, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple, out: tuple | None = None) -> Any:
    """A view (N, C, *O, *K) of x (N, C, *S) padded: window[..., o, k] = x_padded[..., s o + r k].
    ``out``: take only the first O windows along each axis."""
    xp = namespace(x)
    d = len(kernel)
    if any(before or after > 0 for before, after in padding):
        x = xp.pad(x, [(0, 0), (0, 0)] + [(before, max(after, 0)) for before, after in padding])
    if any(after < 0 for _, after in padding):
        x = x[(slice(None), slice(None), *(slice(0, n + min(after, 0)) for n, (_, after) in zip(x.shape[2:], padding)))]
    spans = tuple(r * (k - 1) + 1 for r, k in zip(dilation, kernel))
    view = xp.lib.stride_tricks.sliding_window_view(x, spans, axis=tuple(range(2, 2 + d)))
    ends = (None,) * d if out is None else tuple((o - 1) * s + 1 for o, s in zip(out, stride))
    return view[(slice(None), slice(None), *(slice(None, end, s) for end, s in zip(ends, stride)),
                 *(slice(None, None, r) for r in dilation))]


def _columns(windows: Any, groups: int) -> Any:
    """im2col: windows (N, C, *O, *K) copied to (N, groups, C/groups * prod(K), prod(O)) (the copy reads
    along the windows' positions, which are contiguous rows of the input at stride 1)."""
    n, c = windows.shape[:2]
    d = (windows.ndim - 2) // 2
    out, kernel = windows.shape[2:2 + d], windows.shape[2 + d:]
    grouped = windows.reshape(n, groups, c // groups, *out, *kernel)  # splits an axis of the view: no copy
    taps, spatial = tuple(range(3 + d, 3 + 2 * d)), tuple(range(3, 3 + d))
    return grouped.transpose(0, 1, 2, *taps, *spatial).reshape(n, groups, -1, math.prod(out))


def _convolve(x: Any, w: Any, b: Any, stride: tuple, padding: tuple, dilation: tuple, groups: int,
              keep: list | None = None) -> Any:
    """y (N, F, *O) = sum over (c, k) of x_padded (N, C, *S) windows times w (F, C/groups, *K), + b.
    ``keep``: a list to append the im2col columns to, for the weight's gradient."""
    kernel = w.shape[2:]
    windows = _windows(x, kernel, stride, padding, dilation)
    out = windows.shape[2:2 + len(kernel)]
    columns = _columns(windows, groups)  # (N, g, c K, O)
    if keep is not None:
        keep.append(columns)
    return _from_columns(columns, w, b, out)


def _from_columns(columns: Any, w: Any, b: Any, out: tuple) -> Any:
    """y (N, F, *O) from the im2col columns (N, g, c K, O) and w (F, C/groups, *K), + b (F,)."""
    n, groups, f = columns.shape[0], columns.shape[1], w.shape[0]
    y = w.reshape(groups, f // groups, -1) @ columns  # (N, g, f/g, O): one matmul batched over (N, g)
    y = y.reshape(n, f, *out)
    if b is not None:
        y += b.reshape(f, *(1,) * len(out))
    return y


def _convolve_transpose(y: Any, w: Any, b: Any, stride: tuple, padding: tuple, dilation: tuple, groups: int) -> Any:
    """x (N, C, *S): the transpose of conv for y (N, F, *O), w (F, C/groups, *K), exact padding
    (so S = s (O - 1) + r (K - 1) + 1 - before - after); + b (C,).

    The batch is the innermost axis while the columns are added back (col2im): each kernel tap's add
    then runs over rows of O_last * N elements rather than of O_last (8 in LeNet-5: 2 ms -> 0.5)."""
    xp = namespace(y, w)
    n, f, out = y.shape[0], y.shape[1], y.shape[2:]
    channels, kernel = w.shape[1], w.shape[2:]
    d = len(kernel)
    wt = w.reshape(groups, f // groups, -1).swapaxes(1, 2)  # (g, c K, f/g)
    inner = y.reshape(n, groups, f // groups, -1).transpose(1, 2, 3, 0).reshape(groups, f // groups, -1)
    columns = (wt @ inner).reshape(groups, channels, *kernel, *out, n)  # one matmul per group
    spans = [s * (o - 1) + r * (k - 1) + 1 for s, o, r, k in zip(stride, out, dilation, kernel)]
    # col2im: each kernel position's columns add into the strided positions it read from
    full = [max(span, span - after) for span, (_, after) in zip(spans, padding)]  # after < 0: zero rows
    padded = xp.zeros((groups, channels, *full, n), dtype=columns.dtype)
    for tap in itertools.product(*(range(k) for k in kernel)):
        target = tuple(slice(r * t, r * t + s * (o - 1) + 1, s) for r, t, s, o in zip(dilation, tap, stride, out))
        padded[(slice(None),) * 2 + target] += columns[(slice(None),) * 2 + tap]
    crop = tuple(slice(before, span - after) for span, (before, after) in zip(spans, padding))
    x = padded.reshape(groups * channels, *full, n)[(slice(None), *crop)]
    x = xp.ascontiguousarray(xp.moveaxis(x, -1, 0))
    return x if b is None else x + b.reshape(-1, *(1,) * d)


def _weight_gradient(x: Any, y: Any, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple,
                     groups: int) -> Any:
    """w (F, C/groups, *K) = sum over (n, o) of y (N, F, *O) times x_padded's windows (N, C, *O, *K)."""
    columns = _columns(_windows(x, kernel, stride, padding, dilation, y.shape[2:]), groups)  # (N, g, c K, O)
    return _weight_from_columns(columns, y, (y.shape[1], x.shape[1] // groups, *kernel))


def _weight_from_columns(columns: Any, y: Any, shape: tuple) -> Any:
    """The weight's gradient (shape) from the im2col columns (N, g, c K, O) and y (N, F, *O):
    (N, g, f/g, O) @ (N, g, O, c K), summed over the batch, where one product over (N O) would need
    a second copy of the columns with the batch moved inward."""
    n, groups = columns.shape[:2]
    per_item = y.reshape(n, groups, y.shape[1] // groups, -1) @ columns.swapaxes(2, 3)
    return per_item.sum(axis=0).reshape(shape)


def exact_padding(size: tuple, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple) -> tuple:
    """``padding`` with each ``after`` reduced by the rows that conv's last window leaves unread."""
    exact = []
    for n, k, s, (before, after), r in zip(size, kernel, stride, padding, dilation):
        unread = (n + before + after - r * (k - 1) - 1) % s
        exact.append((before, after - unread))
    return tuple(exact)


def _geometry(d: int, stride: Any, padding: Any, dilation: Any, groups: int) -> dict:
    """The constants with their defaults (no stride or dilation, no padding) for ``d`` spatial axes."""
    return dict(stride=tuple(stride) if stride is not None else (1,) * d,
                padding=tuple(tuple(pair) for pair in padding) if padding is not None else ((0, 0),) * d,
                dilation=tuple(dilation) if dilation is not None else (1,) * d, groups=groups)


def _compute(function: type, compute: Any, *inputs: Any, **constants: Any) -> Any:
    """``compute`` on arrays, or ``function`` as a recorded op when an input is a Tensor (a VJP under
    create_graph), so that second derivatives see it."""
    if any(isinstance(value, Tensor) for value in inputs):
        return function.apply(*[value for value in inputs if value is not None], **constants)
    return compute(*inputs, **constants)


def _bias_gradient(upstream: Any) -> Any:
    return upstream.sum(axis=(0, *range(2, upstream.ndim)))


def _tangent_sum(terms: list, bias: Any, result: Any) -> Any:
    """The sum of the terms that are not None and of the bias's tangent (F,) along the channels, of
    ``result``'s shape; None if there is none."""
    terms = [term for term in terms if term is not None]
    if bias is not None:
        bias = bias.reshape(-1, *(1,) * (result.ndim - 2))
        if not terms:
            from . import broadcast_to  # the op library (conv is one of its modules)

            return broadcast_to(bias, tuple(result.shape))
        terms.append(bias)
    if not terms:
        return None
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


# --- the ops ---------------------------------------------------------------------------------------

class Convolution(Function):
    """y = conv(x, w) + b for x (N, C, *S), w (F, C/groups, *K), b (F,): PyTorch's convNd."""

    name = "conv"

    def forward(ctx, x, w, b=None, stride=None, padding=None, dilation=None, groups=1):
        geometry = _geometry(w.ndim - 2, stride, padding, dilation, groups)
        kept: list = []
        y = _convolve(x, w, b, keep=kept if ctx.needs_input_grad[1] else None, **geometry)
        ctx.save(x, w, geometry, kept)  # the columns: the weight's gradient reads them, not a second im2col
        return y

    def backward(ctx, upstream):
        x, w, geometry, kept = ctx.saved
        need = ctx.needs_input_grad
        kernel = tuple(w.shape[2:])
        if kept and need[1] and not isinstance(upstream, Tensor):
            columns = kept.pop()  # once: a second backward (retain_graph) makes them again
            grad_w = _weight_from_columns(columns, upstream, tuple(w.shape))
            need = (need[0], False, *need[2:])
        else:
            grad_w = None
        geometry = {**geometry, "padding": exact_padding(tuple(x.shape[2:]), kernel, geometry["stride"],
                                                          geometry["padding"], geometry["dilation"])}
        grad_x = _compute(ConvolutionTranspose, _convolve_transpose, upstream, w, None, **geometry) if need[0] else None
        if need[1]:
            grad_w = _compute(ConvolutionWeight, _weight_gradient, x, upstream, kernel=kernel, **geometry)
        if len(need) == 2:
            return grad_x, grad_w
        return grad_x, grad_w, (_bias_gradient(upstream) if need[2] else None)

    def jvp(primals, tangents, result, **constants):
        """dy = conv(dx, w) + conv(x, dw) + db: bilinear in (x, w), linear in b."""
        (x, w), (tx, tw) = primals[:2], tangents[:2]
        tb = tangents[2] if len(tangents) > 2 else None
        return _tangent_sum([Convolution.apply(tx, w, **constants) if tx is not None else None,
                             Convolution.apply(x, tw, **constants) if tw is not None else None], tb, result)


class ConvolutionTranspose(Function):
    """x = conv_transpose(y, w) + b for y (N, F, *O), w (F, C/groups, *K), b (C,), exact padding:
    conv's input gradient, and PyTorch's conv_transposeNd."""

    name = "conv_transpose"

    def forward(ctx, y, w, b=None, stride=None, padding=None, dilation=None, groups=1):
        geometry = _geometry(w.ndim - 2, stride, padding, dilation, groups)
        ctx.save(y, w, geometry)
        return _convolve_transpose(y, w, b, **geometry)

    def backward(ctx, upstream):
        y, w, geometry = ctx.saved
        need = ctx.needs_input_grad
        kernel = tuple(w.shape[2:])
        grad_y = _compute(Convolution, _convolve, upstream, w, None, **geometry) if need[0] else None
        grad_w = (_compute(ConvolutionWeight, _weight_gradient, upstream, y, kernel=kernel, **geometry)
                  if need[1] else None)
        if len(need) == 2:
            return grad_y, grad_w
        return grad_y, grad_w, (_bias_gradient(upstream) if need[2] else None)

    def jvp(primals, tangents, result, **constants):
        """Bilinear in (y, w), linear in b, as conv."""
        (y, w), (ty, tw) = primals[:2], tangents[:2]
        tb = tangents[2] if len(tangents) > 2 else None
        return _tangent_sum([ConvolutionTranspose.apply(ty, w, **constants) if ty is not None else None,
                             ConvolutionTranspose.apply(y, tw, **constants) if tw is not None else None], tb, result)


class ConvolutionWeight(Function):
    """w = conv_weight(x, y) (F, C/groups, *kernel) for x (N, C, *S), y (N, F, *O), exact padding:
    conv's weight gradient for upstream y."""

    name = "conv_weight"

    def forward(ctx, x, y, kernel=None, stride=None, padding=None, dilation=None, groups=1):
        geometry = _geometry(x.ndim - 2, stride, padding, dilation, groups)
        ctx.save(x, y, geometry)
        return _weight_gradient(x, y, tuple(kernel), **geometry)

    def backward(ctx, upstream):
        x, y, geometry = ctx.saved
        need = ctx.needs_input_grad
        grad_x = _compute(ConvolutionTranspose, _convolve_transpose, y, upstream, None, **geometry) if need[0] else None
        grad_y = _compute(Convolution, _convolve, x, upstream, None, **geometry) if need[1] else None
        return grad_x, grad_y

    def jvp(primals, tangents, result, **constants):
        """Bilinear in (x, y)."""
        (x, y), (tx, ty) = primals, tangents
        return _tangent_sum([ConvolutionWeight.apply(tx, y, **constants) if tx is not None else None,
                             ConvolutionWeight.apply(x, ty, **constants) if ty is not None else None], None, result)


# --- conv split at its columns, for compiled programs (wengert.compile) -----------------------------
# Eager conv keeps its im2col columns for the weight's gradient. A compiled step's backward is a
# conv_weight op that would make them again; the compiler instead splits the forward conv into the two
# halves below and lets the weight's gradient read the columns. Replay only: no gradients.

def shared_columns(forward: dict, kernel: tuple, weight: dict) -> dict | None:
    """The constants of ``ConvolutionColumns`` when a conv (constants ``forward``, a weight of kernel
    ``kernel``) and a conv_weight of the same input (constants ``weight``) read the same columns, as
    eager conv's backward assumes of its own; else None."""
    d = len(kernel)
    made, read = (_geometry(d, constants.get("stride"), constants.get("padding"), constants.get("dilation"),
                            constants.get("groups", 1)) for constants in (forward, weight))
    if (tuple(weight.get("kernel") or ()) != tuple(kernel) or any(made[key] != read[key] for key in
                                                                 ("stride", "dilation", "groups"))
            or [before for before, _ in made["padding"]] != [before for before, _ in read["padding"]]):
        return None
    return {"kernel": tuple(kernel), **made}


class ConvolutionColumns(Function):
    """im2col (N, g, c K, O) of x (N, C, *S) for a kernel (*K): the first half of conv."""

    name = "conv_columns"
    differentiable = False

    def forward(ctx, x, kernel, stride=None, padding=None, dilation=None, groups=1):
        geometry = _geometry(len(kernel), stride, padding, dilation, groups)
        return _columns(_windows(x, tuple(kernel), geometry["stride"], geometry["padding"], geometry["dilation"]),
                        groups)


class ConvolutionFromColumns(Function):
    """conv's y (N, F, *out) from its columns and w (F, C/groups, *K), + b: the second half of conv."""

    name = "conv_from_columns"
    differentiable = False

    def forward(ctx, columns, w, b=None, out=()):
        return _from_columns(columns, w, b, tuple(out))


class ConvolutionWeightFromColumns(Function):
    """conv_weight (shape) from conv's columns and the upstream gradient y (N, F, *O)."""

    name = "conv_weight_from_columns"
    differentiable = False

    def forward(ctx, columns, y, shape=()):
        return _weight_from_columns(columns, y, tuple(shape))


conv = Convolution.apply
conv_transpose = ConvolutionTranspose.apply
conv_weight = ConvolutionWeight.apply
