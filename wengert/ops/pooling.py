"""2-d pooling over the last two axes of (..., H, W) arrays (NCHW, or CHW unbatched).

Windows are visited by a loop over the kernel's kh * kw offsets, each a strided slice of the
(padded) input covering every output position at once, so no pixel, channel or batch loop.

``max_pool2d`` picks, per window, the first maximum in row-major order (a NaN wins, the last
one) as PyTorch does, so on ties the whole gradient goes to one element. Its VJP scatters the
upstream gradient to those elements (``max_pool2d_backward``) and its JVP gathers the input's
tangent from them (``max_pool2d_gather``); the two are each other's transposes, and both find
the winners again from the input, so that a graph replayed on new inputs routes by new winners.
``avg_pool2d`` is linear; its VJP ``avg_pool2d_backward`` spreads each output over its window,
and the transpose of that is ``avg_pool2d`` again.
"""

from __future__ import annotations

from typing import Any

from ..core.backend import namespace
from ..core.errors import OpValueError, call_site
from ..core.function import Function
from ..core.tensor import Tensor
from . import matmul, mean, reshape

Pair = tuple[int, int]


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output length along one axis (ceil_mode drops a window that would start
    in the right padding)."""
    span = dilation * (kernel - 1) + 1
    count = (size + 2 * padding - span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (count - 1) * stride >= size + padding:
        count -= 1
    return count


def _geometry(shape: tuple, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair,
              ceil_mode: bool) -> tuple[Pair, Pair]:
    """(output height and width, rows and columns to pad after the input) for an input (..., H, W);
    windows that ceil_mode lets run past the padding need the extra rows."""
    outputs, after = [], []
    for size, k, s, p, d in zip(shape[-2:], kernel_size, stride, padding, dilation):
        count = output_size(size, k, s, p, d, ceil_mode)
        outputs.append(count)
        after.append(max((count - 1) * s + d * (k - 1) + 1 - p - size, 0))
    return tuple(outputs), tuple(after)


def _pad(xp: Any, x: Any, padding: Pair, after: Pair) -> Any:
    """x with zeros before (padding) and after (``after``) its last two axes."""
    if not any(padding) and not any(after):
        return x
    widths = [(0, 0)] * (x.ndim - 2) + [(padding[0], after[0]), (padding[1], after[1])]
    return xp.pad(x, widths)


def _offsets(kernel_size: Pair, stride: Pair, dilation: Pair, out: Pair) -> list:
    """(index within the window, the slices of the padded input seen at that offset by every window)."""
    found = []
    for i in range(kernel_size[0]):
        rows = slice(i * dilation[0], i * dilation[0] + (out[0] - 1) * stride[0] + 1, stride[0])
        for j in range(kernel_size[1]):
            cols = slice(j * dilation[1], j * dilation[1] + (out[1] - 1) * stride[1] + 1, stride[1])
            found.append((i * kernel_size[1] + j, (Ellipsis, rows, cols)))
    return found


def _inside(xp: Any, shape: tuple, index: int, kernel_size: Pair, stride: Pair, padding: Pair,
            dilation: Pair, out: Pair) -> Any:
    """(oh, ow) mask: whether the offset ``index`` of each window lies on the input, not the padding;
    None where it does for every window."""
    masks = []
    for axis, offset in enumerate((index // kernel_size[1], index % kernel_size[1])):
        position = xp.arange(out[axis]) * stride[axis] + offset * dilation[axis] - padding[axis]
        masks.append((position >= 0) & (position < shape[axis - 2]))
    if bool(masks[0].all()) and bool(masks[1].all()):
        return None
    return masks[0][:, None] & masks[1][None, :]


def winners(x: Any, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair, ceil_mode: bool) -> tuple:
    """(maxima, window offsets of the maxima) of every window of x (..., H, W): PyTorch's choice, the
    first maximum on the input (never the padding), a NaN over any number."""
    xp = namespace(x)
    out, after = _geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    offsets = _offsets(kernel_size, stride, dilation, out)
    if padding == (0, 0) and all(end <= 0 for end in after):  # every window on the input: no padding to avoid
        values = [x[key] for _, key in offsets]
        best = values[0]
        for value in values[1:]:
            best = xp.maximum(best, value)  # propagates a NaN, as PyTorch's choice does
        if not bool(xp.isnan(best).any()):  # the first offset holding the maximum, from the last one back
            # one byte an offset where they fit: the backward pass reads these once per offset
            kind = xp.int8 if len(values) <= 127 else xp.int64
            where_best = xp.full(best.shape, len(values) - 1, dtype=kind)
            for index in range(len(values) - 2, -1, -1):
                where_best = xp.where(values[index] == best, kind(index), where_best)
            return best, where_best
    padded = _pad(xp, x, padding, after)
    best = where_best = seen = None
    for index, key in offsets:
        values = padded[key]
        inside = _inside(xp, x.shape, index, kernel_size, stride, padding, dilation, out)
        if best is None:
            best = xp.array(values)  # a copy: later offsets write over it
            where_best = xp.zeros(values.shape, dtype=xp.int64)
            seen = True if inside is None else xp.broadcast_to(inside, values.shape)
            continue
        better = (values > best) | xp.isnan(values)
        if seen is not True:  # some window has met only padding so far: its first input element wins
            better |= ~seen
            if inside is not None:
                better &= inside
            seen = True if inside is None else seen | inside
        elif inside is not None:
            better &= inside
        best = xp.where(better, values, best)
        where_best = xp.where(better, index, where_best)
    return best, where_best


def _scatter(xp: Any, g: Any, where_best: Any, in_shape: Pair, kernel_size: Pair, stride: Pair,
             padding: Pair, dilation: Pair, ceil_mode: bool) -> Any:
    """Zeros of the input's shape with each window's g added at its winner."""
    out, after = _geometry(in_shape, kernel_size, stride, padding, dilation, ceil_mode)
    rows, cols = in_shape[-2] + padding[0] + after[0], in_shape[-1] + padding[1] + after[1]
    grad = xp.zeros((*g.shape[:-2], rows, cols), dtype=g.dtype)
    apart = all(s >= r * (k - 1) + 1 for s, r, k in zip(stride, dilation, kernel_size))
    for index, key in _offsets(kernel_size, stride, dilation, out):
        if apart:  # windows that do not overlap: each offset writes its own input elements
            xp.multiply(g, where_best == index, out=grad[key])
        else:
            grad[key] += xp.where(where_best == index, g, 0)
    return grad[..., padding[0]:padding[0] + in_shape[-2], padding[1]:padding[1] + in_shape[-1]]


def _gather(xp: Any, t: Any, where_best: Any, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair,
            ceil_mode: bool) -> Any:
    """t (..., H, W) at each window's winner: (..., oh, ow)."""
    out, after = _geometry(t.shape, kernel_size, stride, padding, dilation, ceil_mode)
    padded = _pad(xp, t, padding, after)
    picked = xp.zeros(where_best.shape, dtype=t.dtype)
    for index, key in _offsets(kernel_size, stride, dilation, out):
        picked = xp.where(where_best == index, padded[key], picked)
    return picked


class MaxPool2d(Function):
    """The maximum of each window of x (..., H, W): (..., oh, ow)."""

    name = "max_pool2d"

    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode=False):
        best, where_best = winners(x, kernel_size, stride, padding, dilation, ceil_mode)
        ctx.save(x, where_best)
        return best

    def backward(ctx, upstream):
        x, where_best = ctx.saved
        c = ctx.constants
        if isinstance(upstream, Tensor):  # create_graph: an op that finds the winners from x again
            return MaxPool2dBackward.apply(upstream, x, **c)
        return _scatter(namespace(upstream), upstream, where_best, x.shape, **c)

    def jvp(primals, tangents, result, **constants):
        return None if tangents[0] is None else MaxPool2dGather.apply(tangents[0], primals[0], **constants)


class MaxPool2dBackward(Function):
    """max_pool2d's VJP: g (..., oh, ow) added at each window's maximum of x, in zeros of x's shape.
    Linear in g; piecewise constant in x (no gradient)."""

    name = "max_pool2d_backward"

    def forward(ctx, g, x, kernel_size, stride, padding, dilation, ceil_mode=False):
        where_best = winners(x, kernel_size, stride, padding, dilation, ceil_mode)[1]
        ctx.save(x, where_best)
        return _scatter(namespace(g), g, where_best, x.shape, kernel_size, stride, padding, dilation, ceil_mode)

    def backward(ctx, upstream):
        x, where_best = ctx.saved
        c = ctx.constants
        if not ctx.needs_input_grad[0]:
            return None, None
        if isinstance(upstream, Tensor):
            return MaxPool2dGather.apply(upstream, x, **c), None
        return _gather(namespace(upstream), upstream, where_best, **c), None

    def jvp(primals, tangents, result, **constants):
        return None if tangents[0] is None else MaxPool2dBackward.apply(tangents[0], primals[1], **constants)


class MaxPool2dGather(Function):
    """t (..., H, W) at each window's maximum of x: max_pool2d's JVP, and the transpose of its VJP."""

    name = "max_pool2d_gather"

    def forward(ctx, t, x, kernel_size, stride, padding, dilation, ceil_mode=False):
        where_best = winners(x, kernel_size, stride, padding, dilation, ceil_mode)[1]
        ctx.save(x, where_best)
        return _gather(namespace(t), t, where_best, kernel_size, stride, padding, dilation, ceil_mode)

    def backward(ctx, upstream):
        x, where_best = ctx.saved
        c = ctx.constants
        if not ctx.needs_input_grad[0]:
            return None, None
        if isinstance(upstream, Tensor):
            return MaxPool2dBackward.apply(upstream, x, **c), None
        return _scatter(namespace(upstream), upstream, where_best, x.shape, **c), None

    def jvp(primals, tangents, result, **constants):
        return None if tangents[0] is None else MaxPool2dGather.apply(tangents[0], primals[1], **constants)


def _divisor(xp: Any, in_shape: tuple, kernel_size: Pair, stride: Pair, padding: Pair, ceil_mode: bool,
             count_include_pad: bool, divisor_override: int | None, dtype: Any) -> Any:
    """What each window's sum is divided by, (oh, ow) or a number: PyTorch's window size, clipped to
    the padded input (count_include_pad) or to the input itself."""
    if divisor_override:
        return divisor_override
    counts = []
    for size, k, s, p in zip(in_shape[-2:], kernel_size, stride, padding):
        count = output_size(size, k, s, p, 1, ceil_mode)
        start = xp.arange(count) * s - p
        end = xp.minimum(start + k, size + p)
        if not count_include_pad:
            start, end = xp.maximum(start, 0), xp.minimum(end, size)
        counts.append((end - start).astype(dtype))
    return counts[0][:, None] * counts[1][None, :]


# --- max-pool split at its winners, for compiled programs (wengert.compile) --------------------------
# Eager max-pool keeps where each window's maximum is for its gradient; a compiled step's backward
# would find them again (max_pool2d_backward). The compiler instead computes (maxima, places) once and
# lets the gradient scatter to the places. Replay only: no gradients.

class MaxPool2dWinners(Function):
    """(the maxima (..., oh, ow), their window offsets) of x (..., H, W), as one value: a pair."""

    name = "max_pool2d_winners"
    differentiable = False

    def forward(ctx, x, kernel_size, stride, padding, dilation, ceil_mode=False):
        return winners(x, kernel_size, stride, padding, dilation, ceil_mode)


class Part(Function):
    """``pair[index]``: one value of an op that makes two (``max_pool2d_winners``)."""

    name = "part"
    differentiable = False

    def forward(ctx, pair, index=0):
        return pair[index]


class MaxPool2dScatter(Function):
    """max_pool2d's gradient from g (..., oh, ow) and the winners' offsets, for an input of in_shape."""

    name = "max_pool2d_scatter"
    differentiable = False

    def forward(ctx, g, where_best, in_shape, kernel_size, stride, padding, dilation, ceil_mode=False):
        return _scatter(namespace(g), g, where_best, tuple(in_shape), kernel_size, stride, padding, dilation,
                        ceil_mode)


class AvgPool2d(Function):
    """The mean of each window of x (..., H, W): (..., oh, ow), divided as PyTorch divides."""

    name = "avg_pool2d"
    linear = True

    def forward(ctx, x, kernel_size, stride, padding, ceil_mode=False, count_include_pad=True,
                divisor_override=None):
        xp = namespace(x)
        ctx.save(tuple(x.shape[-2:]))
        out, after = _geometry(x.shape, kernel_size, stride, padding, (1, 1), ceil_mode)
        padded = _pad(xp, x, padding, after)
        total = None
        for _, key in _offsets(kernel_size, stride, (1, 1), out):
            total = xp.array(padded[key]) if total is None else total + padded[key]
        divisor = _divisor(xp, x.shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                           divisor_override, x.dtype)
        return total / divisor

    def backward(ctx, upstream):
        (in_shape,) = ctx.saved
        return AvgPool2dBackward.apply(upstream, in_shape=in_shape, **ctx.constants)


class AvgPool2dBackward(Function):
    """avg_pool2d's VJP: each g (..., oh, ow), divided as the forward divides, spread over its window
    of an input (..., *in_shape); its own VJP is avg_pool2d."""

    name = "avg_pool2d_backward"
    linear = True

    def forward(ctx, g, in_shape, kernel_size, stride, padding, ceil_mode=False, count_include_pad=True,
                divisor_override=None):
        xp = namespace(g)
        out, after = _geometry(in_shape, kernel_size, stride, padding, (1, 1), ceil_mode)
        scaled = g / _divisor(xp, in_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                              divisor_override, g.dtype)
        grad = xp.zeros((*g.shape[:-2], in_shape[0] + padding[0] + after[0], in_shape[1] + padding[1] + after[1]),
                        dtype=scaled.dtype)
        for _, key in _offsets(kernel_size, stride, (1, 1), out):
            grad[key] += scaled
        return grad[..., padding[0]:padding[0] + in_shape[0], padding[1]:padding[1] + in_shape[1]]

    def backward(ctx, upstream):
        constants = {key: value for key, value in ctx.constants.items() if key != "in_shape"}
        return AvgPool2d.apply(upstream, **constants)


# --- the functions, with PyTorch's argument names -----------------------------------------------

def _pair(name: str, what: str, value: Any, least: int) -> Pair:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= least for v in pair):
        raise OpValueError(f"{name}: {what} must be an int >= {least} or a pair of them, got {value!r} "
                           f"(at {call_site()})")
    return pair


def _image_shape(name: str, input: Any) -> tuple:
    shape = tuple(getattr(input, "shape", ()))
    if len(shape) not in (3, 4):
        raise OpValueError(f"{name}: input must have shape (N, C, H, W) or (C, H, W), got {shape} "
                           f"(at {call_site()})")
    return shape


def _window_constants(name: str, input: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                      ceil_mode: bool) -> dict:
    """The pooling constants as pairs, checked as PyTorch checks them."""
    shape = _image_shape(name, input)
    kernel = _pair(name, "kernel_size", kernel_size, 1)
    steps = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _pair(
        name, "stride", stride, 1)
    pads, dilations = _pair(name, "padding", padding, 0), _pair(name, "dilation", dilation, 1)
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilations))
    if any(2 * p > span for p, span in zip(pads, spans)):
        raise OpValueError(f"{name}: padding {pads} must be at most half the (dilated) kernel {spans} "
                           f"(at {call_site()})")
    out = tuple(output_size(size, k, s, p, d, ceil_mode)
                for size, k, s, p, d in zip(shape[-2:], kernel, steps, pads, dilations))
    if min(out) < 1:
        raise OpValueError(f"{name}: kernel {spans} does not fit the input of shape {shape} padded by {pads}: "
                           f"the output would be {out} (at {call_site()})")
    return {"kernel_size": kernel, "stride": steps, "padding": pads, "dilation": dilations,
            "ceil_mode": bool(ceil_mode)}


def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """The maximum of each kernel_size window of input (N, C, H, W) or (C, H, W): (..., oh, ow).
    With ``return_indices``, also where each maximum is, as an index into H * W (PyTorch's)."""
    constants = _window_constants("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode)
    result = MaxPool2d.apply(input, **constants)
    if not return_indices:
        return result
    data = input.data if isinstance(input, Tensor) else input
    xp = namespace(data)
    where_best = winners(data, **constants)[1].astype(xp.int64)
    kernel, steps, pads, dilations = (constants[key] for key in ("kernel_size", "stride", "padding", "dilation"))
    out = where_best.shape[-2:]
    rows = (xp.arange(out[0])[:, None] * steps[0] - pads[0]) + (where_best // kernel[1]) * dilations[0]
    cols = (xp.arange(out[1])[None, :] * steps[1] - pads[1]) + (where_best % kernel[1]) * dilations[1]
    return result, Tensor(rows * data.shape[-1] + cols)


def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """The mean of each kernel_size window of input (N, C, H, W) or (C, H, W): (..., oh, ow). Padding
    counts in the mean unless ``count_include_pad=False``; ``divisor_override`` replaces the count."""
    constants = _window_constants("avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode)
    del constants["dilation"]
    if divisor_override is not None and (not isinstance(divisor_override, int) or divisor_override <= 0):
        raise OpValueError(f"avg_pool2d: divisor_override must be a positive int, got {divisor_override!r} "
                           f"(at {call_site()})")
    return AvgPool2d.apply(input, count_include_pad=bool(count_include_pad), divisor_override=divisor_override,
                           **constants)


def adaptive_avg_pool2d(input: Any, output_size: Any) -> Tensor:
    """Means over an (oh, ow) grid of windows of input (N, C, H, W) or (C, H, W), window i of an axis
    of length n spanning [floor(i n / o), ceil((i + 1) n / o)) as in PyTorch; None keeps an axis."""
    shape = _image_shape("adaptive_avg_pool2d", input)
    sizes = (output_size, output_size) if output_size is None or isinstance(output_size, int) else tuple(output_size)
    if len(sizes) != 2:
        raise OpValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair, got {output_size!r} "
                           f"(at {call_site()})")
    out = tuple(size if wanted is None else wanted for wanted, size in zip(sizes, shape[-2:]))
    if not all(isinstance(o, int) and o >= 1 for o in out):
        raise OpValueError(f"adaptive_avg_pool2d: output_size must be positive ints, got {output_size!r} "
                           f"(at {call_site()})")
    height, width = shape[-2:]
    if height % out[0] == 0 and width % out[1] == 0:  # equal windows that tile the input: a reshape
        tiles = reshape(input, (*shape[:-2], out[0], height // out[0], out[1], width // out[1]))
        return mean(tiles, axis=(-3, -1))
    data = input.data if isinstance(input, Tensor) else input
    xp = namespace(data)
    # one averaging matrix per axis: rows (o, n) with 1 / (window length) on each window
    rows, cols = (_averaging_matrix(xp, n, o, data.dtype) for n, o in zip((height, width), out))
    return matmul(matmul(rows, input), cols.T)


def _averaging_matrix(xp: Any, size: int, count: int, dtype: Any) -> Any:
    index = xp.arange(count)
    start, end = (index * size) // count, -((-(index + 1) * size) // count)
    position = xp.arange(size)
    inside = (position[None, :] >= start[:, None]) & (position[None, :] < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)
