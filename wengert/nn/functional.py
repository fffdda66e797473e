"""Layers and losses as functions (PyTorch's ``nn.functional``).

Two ops are fused here because their composed gradient would cost more than it must:
``linear`` (one matmul per gradient, the bias summed over the batch) and ``cross_entropy``
(its gradient is the seeds' ``softmax - onehot``, not a chain through softmax and log);
``binary_cross_entropy`` is fused because the composed one is nan at p = 0 or 1.
The rest are compositions of the op library, so their gradients come for free.
"""

from __future__ import annotations

from typing import Any

from ..core.backend import batch_matmul, batch_out, is_floating, matmul, namespace, products, sum_rows
from ..core.creation import Generator, default_generator
from ..core.errors import OpIndexError, OpTypeError, OpValueError, call_site
from ..core.function import Function, _no_context
from ..core.tensor import Tensor
from ..ops import (
    absolute,
    broadcast_to,
    clip,
    gelu,
    leaky_relu,
    log_softmax,
    logaddexp,
    relu,
    sigmoid,
    softmax,
    softplus,
    tanh,
    where,
)
from ..ops.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from ..ops.reduce import LogSoftmax
from .normalization import batch_norm, group_norm, layer_norm

_REDUCTIONS = ("mean", "sum", "none")


class Linear(Function):
    """y = x W^T + b for x (..., in), W (out, in), b (out,): PyTorch's layout of ``Linear``."""

    broadcasting = True  # mixed dtypes promote as in numpy; the engine casts the gradients back
    writes_into = True  # out=: a compiled program's buffer from its last call

    def forward(ctx, x, W, b=None, out=None):
        ctx.save(x, W)
        y = batch_matmul(x, W.mT, out if out is not None and x.dtype == W.dtype == out.dtype else None)
        if b is not None and b.dtype == y.dtype:
            y += b  # y is new, so adding in place saves an allocation
        elif b is not None:
            y = y + b  # b's dtype may promote y's
        return y

    def backward(ctx, upstream):
        x, W = ctx.saved
        need = ctx.needs_input_grad
        # W and b are shared by every row of the batch: their gradients sum over it.
        rows = upstream.reshape(-1, upstream.shape[-1])
        inputs = x.reshape(-1, x.shape[-1]) if need[1] else None  # under create_graph, a node only if needed
        both = None if isinstance(upstream, Tensor) or not (need[0] and need[1] and upstream.ndim == 2) else (
            products([(upstream, W), (rows.mT, inputs)], [batch_out(upstream, W), None]))  # side by side
        if both is not None:
            grad_x, grad_W = both
        else:
            # x's gradient is a batch through W: under create_graph it is this op again, so that a
            # compiled backward computes it as the forward does
            grad_x = (Linear.apply(upstream, W.mT) if isinstance(upstream, Tensor) else batch_matmul(upstream, W)
                      ) if need[0] else None
            grad_W = matmul(rows.mT, inputs) if need[1] else None
        if len(need) == 2:
            return grad_x, grad_W
        return grad_x, grad_W, (sum_rows(rows) if need[2] else None)

    def jvp(primals, tangents, result, out=None):
        """dy = dx W^T + x dW^T + db: bilinear in (x, W), linear in b."""
        x, W = primals[:2]
        tx, tW = tangents[:2]
        tb = tangents[2] if len(tangents) > 2 else None
        terms = [Linear.apply(tx, W) if tx is not None else None, Linear.apply(x, tW) if tW is not None else None, tb]
        return _tangent_sum(terms, result)


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """x (..., in) @ weight (out, in)^T + bias (out,) -> (..., out)."""
    return Linear.apply(x, weight) if bias is None else Linear.apply(x, weight, bias)


class CrossEntropy(Function):
    """Mean (or sum, or per-row) of -sum_c a[i, c] log softmax(z)[i, c], for logits z (N, C)
    and coefficients a (N, C): the one-hot labels, smoothed and weighted. Its VJP is
    upstream * (softmax(z) * sum_c a[i, c] - a), which is softmax - onehot in the plain case
    (``normalized``: every row of a sums to 1, as for one-hot labels, smoothed or not)."""

    name = "cross_entropy"
    broadcasting = True  # probabilities of another float dtype promote; the engine casts gradients back

    def forward(ctx, logits, coefficients, denominator=None, reduction="mean", normalized=False):
        # The mean divides by the rows of this batch (or by ``denominator``, the labels' summed class
        # weights): counted here, from the arrays, so that a graph run on another batch counts its own.
        if denominator is None:
            denominator = logits.shape[0] if logits.ndim == 2 else 1
        log_probs = LogSoftmax.forward(_no_context(1), logits)  # the op library's, on arrays: no graph
        # logits (an input) is saved so that create_graph sees through it; log_probs spares recomputing.
        ctx.save(logits, coefficients, denominator, reduction, log_probs, normalized)
        if reduction == "none":
            return -(coefficients * log_probs).sum(axis=-1)
        total = -(coefficients * log_probs).sum()
        return total / denominator if reduction == "mean" else total

    def backward(ctx, upstream):
        logits, coefficients, denominator, reduction, log_probs, normalized = ctx.saved
        if isinstance(logits, Tensor):  # create_graph: recompute from the input, recording the graph
            log_probs = log_softmax(logits)
        scale = upstream[..., None] if upstream.ndim else upstream
        scale = scale / denominator if reduction == "mean" else scale
        grad_logits = grad_coefficients = None
        need = ctx.needs_input_grad
        if need[0]:
            probs = namespace(upstream).exp(log_probs)
            if not normalized:
                probs = probs * coefficients.sum(axis=-1, keepdims=True)
            grad_logits = (probs - coefficients) * scale
        if need[1]:
            grad_coefficients = -log_probs * scale
        if len(need) == 2:
            return grad_logits, grad_coefficients
        return grad_logits, grad_coefficients, None  # the denominator counts labels: no gradient

    def jvp(primals, tangents, result, denominator=None, reduction="mean", normalized=False):
        """Per row, d(-sum_c a_c log p_c) = sum_c (p_c sum(a) - a_c) dz_c - sum_c log p_c da_c, for
        p = softmax(z); reduced as the forward reduces. The denominator (a count of labels) is a
        constant, as in the VJP."""
        logits, coefficients = primals[:2]
        tz, ta = tangents[:2]
        if tz is None and ta is None:
            return None
        if len(primals) > 2:
            denominator = primals[2]
        elif denominator is None:
            denominator = logits.shape[0] if logits.ndim == 2 else 1
        log_probs = log_softmax(logits)
        rows = []
        if tz is not None:
            # exact for any a; the VJP's ``normalized`` shortcut is the case sum(a) = 1 of it
            spread = (log_probs.exp() * tz).sum(axis=-1) * coefficients.sum(axis=-1)
            rows.append(spread - (tz * coefficients).sum(axis=-1))
        if ta is not None:
            rows.append(-(log_probs * ta).sum(axis=-1))
        losses = _tangent_sum(rows, None)
        if reduction != "none":
            losses = losses.sum() / denominator if reduction == "mean" else losses.sum()
        return _tangent_sum([losses], result)


def cross_entropy(logits: Any, target: Any, weight: Any = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of ``logits`` (N, C) or (C,) against integer class labels (N,) or
    class probabilities (N, C); ``weight`` (C,) weighs classes; PyTorch's semantics throughout
    (with weights, the mean divides by the summed weights of the labels; weights must have the
    logits' dtype, probabilities of another float dtype promote the loss as numpy would)."""
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise OpValueError(f"cross_entropy: label_smoothing must lie in [0, 1], got {label_smoothing}")
    z = logits.data if isinstance(logits, Tensor) else logits
    if z.ndim not in (1, 2):
        raise OpValueError(f"cross_entropy: logits must have shape (N, C) or (C,), got {tuple(z.shape)} "
                           f"(at {call_site()})")
    xp = namespace(z)
    classes = z.shape[-1]
    w = _class_weights("cross_entropy", weight, z)
    if isinstance(target, Tensor):
        target_array = target.data
    else:  # a list of probabilities has no dtype of its own: it takes the logits'
        target = target_array = target if hasattr(target, "dtype") else _as_array(xp, target, z.dtype)
    if target_array.shape == z.shape and is_floating(target_array.dtype):  # class probabilities
        smoothed = target * (1 - label_smoothing) + label_smoothing / classes if label_smoothing else target
        coefficients = smoothed if w is None else smoothed * w
        return CrossEntropy.apply(logits, coefficients, reduction=reduction)
    labels = _class_labels("cross_entropy", target_array, z.shape)
    # From a Tensor of labels the one-hot rows are made by ops, so that a trace sees them depend on it.
    onehot = (xp.arange(classes) == (target if isinstance(target, Tensor) else labels)[..., None]).astype(z.dtype)
    coefficients = onehot * (1 - label_smoothing) + label_smoothing / classes if label_smoothing else onehot
    if w is None:  # each row of one-hot labels, smoothed or not, sums to 1
        return CrossEntropy.apply(logits, coefficients, reduction=reduction, normalized=True)
    return CrossEntropy.apply(logits, coefficients * w, (onehot * w).sum(), reduction=reduction)


def nll_loss(log_probs: Any, target: Any, weight: Any = None, reduction: str = "mean") -> Tensor:
    """-log_probs[i, target[i]] (times the class weight), for log-probabilities (N, C) or (C,)."""
    _check_reduction("nll_loss", reduction)
    shape = tuple(log_probs.shape)
    if len(shape) not in (1, 2):
        raise OpValueError(f"nll_loss: input must have shape (N, C) or (C,), got {shape} (at {call_site()})")
    x = log_probs.data if isinstance(log_probs, Tensor) else log_probs
    labels = _class_labels("nll_loss", target.data if isinstance(target, Tensor) else target, tuple(x.shape))
    # Picked by a one-hot mask that ops make from a Tensor of labels, as in cross_entropy: a graph then
    # depends on the labels (and on the batch) instead of keeping the indices it was built with.
    onehot = namespace(x).arange(shape[-1]) == (target if isinstance(target, Tensor) else labels)[..., None]
    picked = where(onehot, log_probs, 0.0).sum(axis=-1)
    if weight is None:
        return _reduce(-picked, reduction, "nll_loss")
    w = (onehot * _class_weights("nll_loss", weight, x)).sum(axis=-1)  # each label's class weight
    losses = -picked * w
    return losses.sum() / w.sum() if reduction == "mean" else _reduce(losses, reduction, "nll_loss")


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    return _reduce((_same_shape("mse_loss", input, target) - target) ** 2, reduction, "mse_loss")


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    return _reduce(absolute(_same_shape("l1_loss", input, target) - target), reduction, "l1_loss")


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Quadratic within ``delta`` of the target, linear beyond it."""
    error = _same_shape("huber_loss", input, target) - target
    size = absolute(error)
    return _reduce(where(size < delta, 0.5 * error * error, delta * (size - 0.5 * delta)), reduction, "huber_loss")


class BinaryCrossEntropy(Function):
    """-(y log p + (1 - y) log(1 - p)), each log clamped at -100, with PyTorch's gradient
    (p - y) / max(p (1 - p), 1e-12): finite where p is exactly 0 or 1 (a saturated sigmoid),
    where the composed ops would give 0 * inf = nan."""

    name = "binary_cross_entropy"
    broadcasting = True

    def forward(ctx, p, y):
        ctx.save(p, y)
        xp = namespace(p, y)
        return -(y * _clamped_log(xp, p) + (1 - y) * _clamped_log(xp, 1 - p))

    def backward(ctx, upstream):
        p, y = ctx.saved
        xp = namespace(upstream)
        grad_p = upstream * (p - y) / xp.maximum(p * (1 - p), 1e-12) if ctx.needs_input_grad[0] else None
        grad_y = upstream * (_clamped_log(xp, 1 - p) - _clamped_log(xp, p)) if ctx.needs_input_grad[1] else None
        return grad_p, grad_y

    def jvp(primals, tangents, result):
        (p, y), (tp, ty) = primals, tangents
        xp = namespace(result)
        terms = [tp * (p - y) / xp.maximum(p * (1 - p), 1e-12) if tp is not None else None,
                 ty * (_clamped_log(xp, 1 - p) - _clamped_log(xp, p)) if ty is not None else None]
        return _tangent_sum(terms, result)


def _tangent_sum(terms: list, result: Any) -> Any:
    """The sum of the terms that are not None (None if none is), broadcast to ``result``'s shape and
    cast to its dtype (a term may lack a broadcast input's axes); ``result=None`` leaves it as summed."""
    total = None
    for term in terms:
        if term is not None:
            total = term if total is None else total + term
    if total is None or result is None:
        return total
    if tuple(total.shape) != tuple(result.shape):
        total = broadcast_to(total, tuple(result.shape))
    return total if total.dtype == result.dtype else total.astype(result.dtype)


def _clamped_log(xp: Any, p: Any) -> Any:
    """max(log p, -100) without a warning at p = 0 (log(1e-45) < -100 in float32 and float64)."""
    return xp.maximum(xp.log(xp.maximum(p, 1e-45)), -100.0)


def binary_cross_entropy(input: Any, target: Any, weight: Any = None, reduction: str = "mean") -> Tensor:
    """-(y log p + (1 - y) log(1 - p)) for probabilities p; each log is clamped at -100 as in PyTorch."""
    p = _same_shape("binary_cross_entropy", input, target)
    values = p.data if isinstance(p, Tensor) else p
    if values.size and not bool(((values >= 0) & (values <= 1)).all()):
        raise OpValueError("binary_cross_entropy: input must be probabilities in [0, 1]; for logits use "
                           f"binary_cross_entropy_with_logits (at {call_site()})")
    losses = BinaryCrossEntropy.apply(p, target)
    return _reduce(losses if weight is None else losses * weight, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input: Any, target: Any, weight: Any = None,
                                     reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    """Binary cross-entropy of sigmoid(x), computed stably as log(1 + e^x) - y x."""
    x = _same_shape("binary_cross_entropy_with_logits", input, target)
    if pos_weight is None:
        losses = logaddexp(0.0, x) - target * x
    else:  # -(w_pos y log sigmoid(x) + (1 - y) log(1 - sigmoid(x)))
        losses = (1 - target) * x + (1 + (pos_weight - 1) * target) * logaddexp(0.0, -x)
    return _reduce(losses if weight is None else losses * weight, reduction, "binary_cross_entropy_with_logits")


def dropout(x: Any, p: float = 0.5, training: bool = True, generator: Generator | None = None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p) (identity when
    not training)."""
    if not 0.0 <= p <= 1.0:
        raise OpValueError(f"dropout: p must lie in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    return x * DropoutMask.apply(x, p=p, generator=generator)


class DropoutMask(Function):
    """A mask for x (..., or only (N, C, 1, ...) with ``channels``): 1 / (1 - p) where an element is
    kept, 0 where it is dropped (probability p), drawn from ``generator`` (the default one if None).
    An op that draws as it runs, so that a graph or a compiled step draws a new mask each time."""

    name = "dropout_mask"
    differentiable = False
    random = True

    def forward(ctx, x, p, generator=None, channels=False):
        shape = x.shape[:2] + (1,) * (x.ndim - 2) if channels else x.shape
        keep = (generator or default_generator).random.random(shape) >= p
        return (keep * (1.0 / (1.0 - p))).astype(x.dtype)


def embedding(indices: Any, weight: Any) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``indices`` (any shape)."""
    index = indices.data if isinstance(indices, Tensor) else indices
    if is_floating(index.dtype) or index.dtype.kind == "b":
        raise OpTypeError(f"embedding: indices must be integers, got {index.dtype} (at {call_site()})")
    count = weight.shape[0]
    if index.size and (index.min() < 0 or index.max() >= count):
        raise OpIndexError(f"embedding: indices must lie in [0, {count}), got values in "
                           f"[{index.min()}, {index.max()}] (at {call_site()})")
    return weight[index]


# --- helpers -------------------------------------------------------------------------------

def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise OpValueError(f"{name}: reduction must be one of {_REDUCTIONS}, not {reduction!r}")


def _reduce(losses: Tensor, reduction: str, name: str) -> Tensor:
    _check_reduction(name, reduction)
    if reduction == "none":
        return losses
    return losses.mean() if reduction == "mean" else losses.sum()


def _same_shape(name: str, input: Any, target: Any) -> Any:
    """Refuse targets whose shape differs: (N, 1) against (N,) would broadcast to (N, N) silently."""
    if tuple(getattr(input, "shape", ())) != tuple(getattr(target, "shape", ())):
        raise OpValueError(f"{name}: input shape {tuple(getattr(input, 'shape', ()))} and target shape "
                           f"{tuple(getattr(target, 'shape', ()))} differ (at {call_site()})")
    return input


def _as_array(xp: Any, values: Any, dtype: Any) -> Any:
    """A list or number as an array; floating values take ``dtype`` (they have none of their own)."""
    array = xp.asarray(values)
    return array.astype(dtype) if is_floating(array.dtype) else array


def _class_weights(name: str, weight: Any, input: Any) -> Any:
    """The class weights (C,) as an array of the input's dtype; an array or Tensor of another dtype
    is refused, as PyTorch refuses it (a cast here would hide a model and its loss out of step)."""
    if weight is None:
        return None
    w = weight.data if isinstance(weight, Tensor) else weight
    if not hasattr(w, "dtype"):
        w = _as_array(namespace(input), w, input.dtype)
    elif w.dtype != input.dtype:
        raise OpTypeError(f"{name}: class weights of dtype {w.dtype} for an input of dtype {input.dtype} "
                          f"(PyTorch refuses this too): pass weight.astype(wg.{input.dtype}), or for a loss "
                          f"module call loss.to(wg.{input.dtype}) (at {call_site()})")
    if w.shape != input.shape[-1:]:
        raise OpValueError(f"{name}: class weights must have shape ({input.shape[-1]},), one per class, "
                           f"got {tuple(w.shape)} (at {call_site()})")
    return w


def _class_labels(name: str, labels: Any, logits_shape: tuple) -> Any:
    """Check integer class labels against logits of shape (N, C) or (C,)."""
    classes = logits_shape[-1]
    if is_floating(labels.dtype) or labels.dtype.kind == "b":
        raise OpTypeError(f"{name}: class labels must be integers, got dtype {labels.dtype} (for class "
                          f"probabilities pass a float target of shape {logits_shape}) (at {call_site()})")
    if labels.shape != logits_shape[:-1]:
        raise OpValueError(f"{name}: input of shape {logits_shape} needs labels of shape {logits_shape[:-1]}, "
                           f"got {tuple(labels.shape)} (at {call_site()})")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise OpIndexError(f"{name}: class labels must lie in [0, {classes}), got values in "
                           f"[{labels.min()}, {labels.max()}] (at {call_site()})")
    return labels


__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "clip", "cross_entropy", "dropout",
           "embedding", "gelu", "huber_loss", "l1_loss", "leaky_relu", "linear", "log_softmax", "mse_loss",
           "nll_loss", "relu", "sigmoid", "softmax", "softplus", "tanh"]


# --- convolutions (issue 10): conv1d, conv2d, conv_transpose2d -----------------------------------

import operator  # noqa: E402 - this block's own imports, kept beside it

from ..ops import expand_dims, squeeze  # noqa: E402
from ..ops.conv import Convolution, ConvolutionTranspose  # noqa: E402

_SPATIAL_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _conv_ints(name: str, what: str, value: Any, d: int, minimum: int) -> tuple:
    """An int or ``d`` ints, each at least ``minimum``, as a tuple of ``d`` ints."""
    values = (value,) * d if isinstance(value, int) else value
    try:  # ints, Python's or numpy's; not floats or bools
        values = tuple(-1 if isinstance(v, bool) else operator.index(v) for v in values)
    except TypeError:
        values = ()
    if len(values) != d or min(values) < minimum:
        raise OpValueError(f"{name}: {what} must be an int or {d} ints, each >= {minimum}, got {value!r}")
    return values


def _conv_padding(name: str, padding: Any, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    """PyTorch's padding (an int, d ints, 'valid' or 'same') as one (before, after) pair per axis."""
    d = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * d
        if padding != "same":
            raise OpValueError(f"{name}: padding must be an int, {d} ints, 'same' or 'valid', got {padding!r}")
        if any(s != 1 for s in stride):
            raise OpValueError(f"{name}: padding='same' is not supported for strided convolutions "
                               f"(stride {stride}), as in PyTorch")
        totals = [r * (k - 1) for r, k in zip(dilation, kernel)]
        return tuple((total // 2, total - total // 2) for total in totals)  # the odd row after, as PyTorch
    return tuple((p, p) for p in _conv_ints(name, "padding", padding, d, 0))


def _conv_size(sizes: tuple) -> str:
    return "x".join(str(n) for n in sizes)


def _conv_inputs(name: str, d: int, input: Any, weight: Any, bias: Any, groups: Any, transposed: bool) -> bool:
    """Check ranks, channels, groups and dtypes; returns whether the input is batched."""
    shape, weight_shape = tuple(getattr(input, "shape", ())), tuple(getattr(weight, "shape", ()))
    axes = ", ".join(_SPATIAL_NAMES.get(d, ("*",)))
    if len(shape) not in (d + 1, d + 2):
        raise OpValueError(f"{name} expects a {d + 1}-d or {d + 2}-d input (C, {axes}) or (N, C, {axes}), "
                           f"got shape {shape} (at {call_site()})")
    roles = "(in_channels, out_channels / groups" if transposed else "(out_channels, in_channels / groups"
    kernel_names = ", ".join(f"k{axis}" for axis in _SPATIAL_NAMES.get(d, ("*",)))
    if len(weight_shape) != d + 2:
        raise OpValueError(f"{name}: weight must be {d + 2}-d {roles}, {kernel_names}), got shape {weight_shape} "
                           f"(at {call_site()})")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise OpValueError(f"{name}: groups must be a positive int, got {groups!r}")
    channels = shape[-d - 1]
    if transposed:
        if weight_shape[0] % groups:
            raise OpValueError(f"{name}: in_channels {weight_shape[0]} (weight {weight_shape}) not divisible by "
                               f"groups {groups} (at {call_site()})")
        expected, outputs = weight_shape[0], weight_shape[1] * groups
    else:
        if weight_shape[0] % groups:
            raise OpValueError(f"{name}: out_channels {weight_shape[0]} (weight {weight_shape}) not divisible by "
                               f"groups {groups} (at {call_site()})")
        expected, outputs = weight_shape[1] * groups, weight_shape[0]
    if channels != expected:
        raise OpValueError(f"{name}: input of shape {shape} has {channels} channels, but weight {weight_shape} with "
                           f"groups={groups} expects {expected} (at {call_site()})")
    if bias is not None and tuple(getattr(bias, "shape", ())) != (outputs,):
        raise OpValueError(f"{name}: bias must have shape ({outputs},), one per output channel, got "
                           f"{tuple(getattr(bias, 'shape', ()))} (at {call_site()})")
    dtypes = [getattr(value, "dtype", None) for value in (input, weight, bias) if value is not None]
    if not all(dtype is not None and is_floating(dtype) for dtype in dtypes) or len(set(dtypes)) > 1:
        raise OpTypeError(f"{name}: input, weight and bias must share one floating dtype (PyTorch refuses mixed "
                          f"dtypes too), got {', '.join(str(dtype) for dtype in dtypes)} (at {call_site()})")
    return len(shape) == d + 2


def _conv(name: str, d: int, input: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any,
          groups: int) -> Tensor:
    batched = _conv_inputs(name, d, input, weight, bias, groups, transposed=False)
    kernel = tuple(weight.shape[2:])
    stride = _conv_ints(name, "stride", stride, d, 1)
    dilation = _conv_ints(name, "dilation", dilation, d, 1)
    pairs = _conv_padding(name, padding, kernel, stride, dilation)
    sizes = tuple(input.shape[-d:])
    padded = tuple(n + before + after for n, (before, after) in zip(sizes, pairs))
    spans = tuple(r * (k - 1) + 1 for r, k in zip(dilation, kernel))
    if any(span > n for span, n in zip(spans, padded)):
        dilated = f" (dilated to {_conv_size(spans)})" if spans != kernel else ""
        raise OpValueError(f"{name}: kernel {_conv_size(kernel)}{dilated} larger than the padded input "
                           f"{_conv_size(padded)} (input {tuple(input.shape)}, padding {padding!r}) (at {call_site()})")
    x = input if batched else expand_dims(input, 0)
    arguments = (x, weight) if bias is None else (x, weight, bias)
    y = Convolution.apply(*arguments, stride=stride, padding=pairs, dilation=dilation, groups=groups)
    return y if batched else squeeze(y, 0)


def conv1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Tensor:
    """1-d cross-correlation: input (N, C_in, L) or (C_in, L), weight (C_out, C_in / groups, kL), bias
    (C_out,) -> (N, C_out, L_out); ``padding`` an int, 'same' or 'valid'."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
           groups: int = 1) -> Tensor:
    """2-d cross-correlation: input (N, C_in, H, W) or (C_in, H, W), weight (C_out, C_in / groups, kH, kW),
    bias (C_out,) -> (N, C_out, H_out, W_out); ``stride``, ``padding`` (or 'same', 'valid') and
    ``dilation`` an int or one per axis; ``groups=C_in`` is a depthwise convolution."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(name: str, d: int, input: Any, weight: Any, bias: Any, stride: Any, padding: Any,
                    output_padding: Any, groups: int, dilation: Any) -> Tensor:
    batched = _conv_inputs(name, d, input, weight, bias, groups, transposed=True)
    kernel = tuple(weight.shape[2:])
    stride = _conv_ints(name, "stride", stride, d, 1)
    dilation = _conv_ints(name, "dilation", dilation, d, 1)
    if isinstance(padding, str):
        raise OpValueError(f"{name}: padding must be an int or {d} ints ('{padding}' is for convolutions only, "
                           f"as in PyTorch)")
    pads = _conv_ints(name, "padding", padding, d, 0)
    extra = _conv_ints(name, "output_padding", output_padding, d, 0)
    if any(e >= s and e >= r for e, s, r in zip(extra, stride, dilation)):
        raise OpValueError(f"{name}: output_padding {extra} must be smaller than either stride {stride} or "
                           f"dilation {dilation}, as in PyTorch")
    sizes = tuple(input.shape[-d:])
    out = tuple((n - 1) * s - 2 * p + r * (k - 1) + e + 1
                for n, s, p, r, k, e in zip(sizes, stride, pads, dilation, kernel, extra))
    if min(out) < 1:
        raise OpValueError(f"{name}: output size {_conv_size(out)} is not positive (input {tuple(input.shape)}, "
                           f"kernel {_conv_size(kernel)}, padding {pads}) (at {call_site()})")
    # output_padding adds rows after the last one: less padding cropped off that end
    pairs = tuple((p, p - e) for p, e in zip(pads, extra))
    x = input if batched else expand_dims(input, 0)
    arguments = (x, weight) if bias is None else (x, weight, bias)
    y = ConvolutionTranspose.apply(*arguments, stride=stride, padding=pairs, dilation=dilation, groups=groups)
    return y if batched else squeeze(y, 0)


def conv_transpose2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """The transpose of conv2d (conv2d's input gradient): input (N, C_in, H, W) or (C_in, H, W), weight
    (C_in, C_out / groups, kH, kW), bias (C_out,) -> (N, C_out, H_out, W_out) with
    H_out = (H - 1) stride - 2 padding + dilation (kH - 1) + output_padding + 1 (and so for W)."""
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


__all__ += ["conv1d", "conv2d", "conv_transpose2d"]


# --- pooling, normalization and dropout2d (issue 10) ---------------------------------------------
# max_pool2d, avg_pool2d, adaptive_avg_pool2d: wengert/ops/pooling.py; batch_norm, layer_norm,
# group_norm: wengert/nn/normalization.py.

def dropout2d(input: Any, p: float = 0.5, training: bool = True, generator: Generator | None = None) -> Tensor:
    """Zero whole channels of input (N, C, *) with probability ``p`` and scale the rest by 1 / (1 - p)
    (identity when not training); a 3-d input is (N, C, L), as in PyTorch."""
    if not 0.0 <= p <= 1.0:
        raise OpValueError(f"dropout2d: p must lie in [0, 1], got {p}")
    shape = tuple(getattr(input, "shape", ()))
    if len(shape) < 2:
        raise OpValueError(f"dropout2d: input must have shape (N, C, H, W) or (N, C, L), got {shape} "
                           f"(at {call_site()})")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    return input * DropoutMask.apply(input, p=p, generator=generator, channels=True)


__all__ += ["adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "dropout2d", "group_norm", "layer_norm",
            "max_pool2d"]
