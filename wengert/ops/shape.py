"""Ops that move elements without changing them: reshape, transpose, join, pad, repeat, flip, roll.

Their VJPs move the gradient back: a reshape's is a reshape, a transpose's the
inverse transpose, a concatenate's a split, a repeat's a sum over the copies, a
flip's a flip, a roll's the opposite roll, a triangle's the same triangle.
"""

from __future__ import annotations

from ..core.backend import namespace
from ..core.backward import sum_to
from ..core.function import Function


class Reshape(Function):
    linear = True
    view = True

    def forward(ctx, x, shape):
        ctx.save(x.shape)
        return namespace(x).reshape(x, shape)

    def backward(ctx, upstream):
        (shape,) = ctx.saved
        return namespace(upstream).reshape(upstream, shape)


class View(Function):
    """Reshape without copying (PyTorch's ``view``): the result always shares memory with ``x``,
    and a layout that cannot be reshaped in place is an error instead of a silent copy."""

    view = True

    def forward(ctx, x, shape):
        try:
            y = namespace(x).reshape(x, shape, copy=False)
        except ValueError as error:
            if "copy" not in str(error):  # a size mismatch: the array library's message says it
                raise
            raise ValueError(f"a tensor of shape {tuple(x.shape)} and strides {x.strides} cannot be viewed as "
                             f"{shape} without copying; use .reshape(...), which copies when it must, or "
                             ".contiguous().view(...)") from None
        ctx.save(x.shape)
        return y

    backward = Reshape.backward

    def jvp(primals, tangents, result, shape):
        # a reshape, not a view: the tangent's layout may need a copy where the input's did not
        (tangent,) = tangents
        return None if tangent is None else Reshape.apply(tangent, shape=shape)


class Clone(Function):
    """A copy (C-contiguous) that stays in the graph: its gradient passes through unchanged."""

    linear = True

    def forward(ctx, x):
        return x.copy()

    def backward(ctx, upstream):
        return upstream


class Transpose(Function):
    """Permute axes (``axes=None`` reverses them, as numpy's ``.T``)."""

    linear = True
    view = True

    def forward(ctx, x, axes=None):
        axes = tuple(range(x.ndim))[::-1] if axes is None else tuple(a % x.ndim for a in axes)
        y = namespace(x).transpose(x, axes)
        ctx.save(sorted(range(len(axes)), key=axes.__getitem__))  # the inverse permutation
        return y

    def backward(ctx, upstream):
        (inverse,) = ctx.saved
        return namespace(upstream).transpose(upstream, inverse)


class Swapaxes(Function):
    linear = True
    view = True

    def forward(ctx, x, axis1, axis2):
        ctx.save(axis1, axis2)
        return namespace(x).swapaxes(x, axis1, axis2)

    def backward(ctx, upstream):
        return namespace(upstream).swapaxes(upstream, *ctx.saved)


class ExpandDims(Function):
    linear = True
    view = True
    name = "expand_dims"

    def forward(ctx, x, axis):
        ctx.save(x.shape)
        return namespace(x).expand_dims(x, axis)

    backward = Reshape.backward


class Squeeze(Function):
    linear = True
    view = True

    def forward(ctx, x, axis=None):
        ctx.save(x.shape)
        return namespace(x).squeeze(x, axis=axis)

    backward = Reshape.backward


class BroadcastTo(Function):
    """A read-only view repeating size-1 and missing leading axes; its VJP sums them back."""

    linear = True
    view = True
    name = "broadcast_to"

    def forward(ctx, x, shape):
        ctx.save(x.shape)
        return namespace(x).broadcast_to(x, shape)

    def backward(ctx, upstream):
        (shape,) = ctx.saved
        return sum_to(upstream, shape)


class AsType(Function):
    """Cast to another floating dtype; the gradient is cast back."""

    linear = True
    name = "astype"

    def forward(ctx, x, dtype):
        ctx.save(x.dtype)
        return x.astype(dtype)

    def backward(ctx, upstream):
        (dtype,) = ctx.saved
        return upstream.astype(dtype)


class Concatenate(Function):
    linear = True
    broadcasting = True  # inputs of different dtypes are promoted; gradients are cast back

    def forward(ctx, *arrays, axis=0):
        y = namespace(*arrays).concatenate(arrays, axis=axis)
        axis = axis % y.ndim
        ctx.save(axis, [array.shape[axis] for array in arrays])
        return y

    def backward(ctx, upstream):
        axis, sizes = ctx.saved
        grads, start = [], 0
        for size in sizes:
            grads.append(upstream[(slice(None),) * axis + (slice(start, start + size),)])
            start += size
        return tuple(grads)


class Stack(Function):
    linear = True
    broadcasting = True

    def forward(ctx, *arrays, axis=0):
        y = namespace(*arrays).stack(arrays, axis=axis)
        ctx.save(axis % y.ndim, len(arrays))
        return y

    def backward(ctx, upstream):
        axis, count = ctx.saved
        return tuple(upstream[(slice(None),) * axis + (index,)] for index in range(count))


class Pad(Function):
    """Pad with a constant (numpy's ``pad``, ``mode="constant"``); the VJP crops the padding off."""

    def forward(ctx, x, pad_width, constant_values=0):
        xp = namespace(x)
        widths = xp.broadcast_to(xp.asarray(pad_width, dtype=int), (x.ndim, 2)).tolist()
        ctx.save(tuple(slice(before, before + n) for (before, _), n in zip(widths, x.shape)))
        if not widths:  # numpy pads a 0-d array to itself
            return x.copy()
        return xp.pad(x, widths, mode="constant", constant_values=constant_values)

    def backward(ctx, upstream):
        (crop,) = ctx.saved
        return upstream[crop]

    def jvp(primals, tangents, result, pad_width, constant_values=0):
        # the padding is a constant: its tangent is 0, whatever value it has
        (tangent,) = tangents
        return None if tangent is None else Pad.apply(tangent, pad_width=pad_width)


class Repeat(Function):
    """Repeat each element (numpy's ``repeat``); the VJP sums each element's copies."""

    linear = True

    def forward(ctx, x, repeats, axis=None):
        xp = namespace(x)
        source = x if axis is not None else xp.reshape(x, -1)
        axis = 0 if axis is None else axis % x.ndim
        y = xp.repeat(source, repeats, axis=axis)
        origin = xp.repeat(xp.arange(source.shape[axis]), repeats)  # where each copy came from
        ctx.save(x.shape, source.shape, (slice(None),) * axis + (origin,))
        return y

    def backward(ctx, upstream):
        shape, source_shape, key = ctx.saved
        xp = namespace(upstream)
        return xp.reshape(xp.scatter_add(upstream, key, source_shape), shape)


class Tile(Function):
    """Tile the whole array ``reps`` times (numpy's ``tile``); the VJP sums the tiles."""

    linear = True

    def forward(ctx, x, reps):
        xp = namespace(x)
        reps = (reps,) if isinstance(reps, int) else tuple(reps)
        ndim = max(x.ndim, len(reps))
        reps = (1,) * (ndim - len(reps)) + reps
        shape = (1,) * (ndim - x.ndim) + tuple(x.shape)
        ctx.save(x.shape, [n for pair in zip(reps, shape) for n in pair])
        return xp.tile(x, reps)

    def backward(ctx, upstream):
        shape, interleaved = ctx.saved
        xp = namespace(upstream)
        tiles = xp.reshape(upstream, interleaved)  # axes (rep0, n0, rep1, n1, ...)
        return xp.reshape(xp.sum(tiles, axis=tuple(range(0, len(interleaved), 2))), shape)


class Flip(Function):
    """Reverse the order along ``axis`` (an int, a tuple, or None for all axes). The result is a
    copy, as PyTorch's (numpy's is a view); the VJP flips the gradient back."""

    linear = True

    def forward(ctx, x, axis=None):
        ctx.save(axis)
        return namespace(x).flip(x, axis=axis).copy()

    def backward(ctx, upstream):
        (axis,) = ctx.saved
        return namespace(upstream).flip(upstream, axis=axis)


class Roll(Function):
    """Shift elements cyclically by ``shift`` along ``axis`` (None: over the flattened array);
    the VJP rolls the gradient back by the opposite shift."""

    linear = True

    def forward(ctx, x, shift, axis=None):
        ctx.save(tuple(-n for n in shift) if isinstance(shift, tuple) else -shift, axis)
        return namespace(x).roll(x, shift, axis=axis)

    def backward(ctx, upstream):
        back, axis = ctx.saved
        return namespace(upstream).roll(upstream, back, axis=axis)


class Triangle(Function):
    """The lower (``upper=False``, numpy's ``tril``) or upper (``triu``) triangle of the last two
    axes, from diagonal ``k`` on, zeros elsewhere: a fixed mask, so its VJP is the same triangle."""

    linear = True

    def forward(ctx, x, k=0, upper=False):
        ctx.save(k, upper)
        xp = namespace(x)
        return (xp.triu if upper else xp.tril)(x, k=k)

    def backward(ctx, upstream):
        k, upper = ctx.saved
        xp = namespace(upstream)
        return (xp.triu if upper else xp.tril)(upstream, k=k)
