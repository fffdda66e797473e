"""Normalization layers as functions: ``batch_norm``, ``layer_norm``, ``group_norm`` (PyTorch's
argument names, NCHW layout).

Each is a composition of the op library (mean, subtract, power), so its gradient, its forward-mode
rule and its higher derivatives come for free. Statistics are biased (divided by n) for the
normalization; the running variance that ``batch_norm`` keeps is unbiased (n - 1), as in PyTorch.
"""

from __future__ import annotations

import math
from typing import Any

from ..core.backend import namespace
from ..core.errors import OpValueError, TraceError, call_site
from ..core.function import Function
from ..core.grad_mode import watching
from ..core.tensor import Tensor, bump_version
from ..lazy import LazyTensor
from ..ops import mean, reshape


def _shape(value: Any) -> tuple:
    return tuple(getattr(value, "shape", ()))


def _normalize(x: Any, axes: tuple, eps: float) -> Any:
    """(x - mean) / sqrt(var + eps) over ``axes``, with the biased variance."""
    centered = x - mean(x, axis=axes, keepdims=True)
    variance = mean(centered * centered, axis=axes, keepdims=True)
    return centered * (variance + eps) ** -0.5


def _affine(y: Any, weight: Any, bias: Any, shape: tuple) -> Any:
    """y * weight + bias, with weight and bias reshaped to ``shape`` to broadcast along their axis."""
    if weight is not None:
        y = y * reshape(weight, shape)
    if bias is not None:
        y = y + reshape(bias, shape)
    return y


def _check_per_channel(name: str, what: str, value: Any, channels: int, input_shape: tuple) -> None:
    if value is not None and _shape(value) != (channels,):
        raise OpValueError(f"{name}: {what} of shape {_shape(value)} for an input of shape {input_shape} with "
                           f"{channels} channels; expected ({channels},) (at {call_site()})")


def batch_norm(input: Any, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalize input (N, C, *) per channel C over the batch and spatial axes, then scale by weight (C,)
    and shift by bias (C,). Training uses the batch's statistics and, when running_mean/running_var
    (C,) are given, moves them in place towards the batch's: r = (1 - momentum) r + momentum s
    (the variance unbiased); eval uses the running statistics."""
    shape = _shape(input)
    if len(shape) < 2:
        raise OpValueError(f"batch_norm: input must have shape (N, C, *), got {shape} (at {call_site()})")
    channels = shape[1]
    for what, value in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                        ("bias", bias)):
        _check_per_channel("batch_norm", what, value, channels, shape)
    broadcast = (channels,) + (1,) * (len(shape) - 2)
    axes = (0, *range(2, len(shape)))
    if not training:
        if running_mean is None or running_var is None:
            raise OpValueError(f"batch_norm: eval mode (training=False) needs running_mean and running_var "
                               f"(at {call_site()})")
        y = (input - reshape(running_mean, broadcast)) * (reshape(running_var, broadcast) + eps) ** -0.5
        return _affine(y, weight, bias, broadcast)
    if running_mean is not None or running_var is not None:
        refuse_running_statistics_in_graphs(input)
    count = math.prod(shape) // channels if channels else 0
    if count <= 1:
        raise OpValueError(f"batch_norm: expected more than 1 value per channel when training, got input of "
                           f"shape {shape} (at {call_site()})")
    batch_mean = mean(input, axis=axes, keepdims=True)
    centered = input - batch_mean
    variance = mean(centered * centered, axis=axes, keepdims=True)
    if running_mean is not None or running_var is not None:
        update = dict(running_mean=running_mean, running_var=running_var, momentum=momentum, count=count)
        watch = watching()
        if watch is not None and watch.trace is not None:  # an op, so that a compiled step replays it
            RunningStatistics.apply(batch_mean, variance, **update)
        else:
            RunningStatistics.forward(None, _array(batch_mean), _array(variance), **update)
    return _affine(centered * (variance + eps) ** -0.5, weight, bias, broadcast)


def refuse_running_statistics_in_graphs(input: Any) -> None:
    """Raise in a lazy graph: an in-place update of running statistics needs the batch's values,
    which a placeholder graph only has when it runs. (A trace records the update as an op.)"""
    if isinstance(input, LazyTensor):
        raise TraceError("batch_norm in training mode updates its running statistics in place, which a "
                         "placeholder graph does not do: build it in eval mode (model.eval()), or train eagerly "
                         f"or through wg.compile (at {call_site()})")


def _array(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


class RunningStatistics(Function):
    """Move running statistics (C,) in place towards a batch's mean and biased variance (C, 1, ...):
    r = (1 - momentum) r + momentum s, with the variance made unbiased (count / (count - 1)). An
    effect: eager batch norm calls its forward directly; in a trace it is an op, replayed by a
    compiled training step in its place with that step's batch statistics."""

    name = "running_statistics"
    differentiable = False
    effect = True

    def forward(ctx, batch_mean, variance, running_mean, running_var, momentum, count):
        for running, batch in ((running_mean, batch_mean.reshape(-1)),
                               (running_var, variance.reshape(-1) * (count / (count - 1)))):
            if running is None:
                continue
            target = _array(running)
            target[...] = (1 - momentum) * target + momentum * batch
            if isinstance(running, Tensor):
                bump_version(running)
        return namespace(batch_mean).empty(0)


def layer_norm(input: Any, normalized_shape: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5) -> Tensor:
    """Normalize input (*, *normalized_shape) over its last len(normalized_shape) axes, then scale by
    weight and shift by bias (both of normalized_shape)."""
    normalized = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    shape = _shape(input)
    if not normalized or len(shape) < len(normalized) or shape[len(shape) - len(normalized):] != normalized:
        raise OpValueError(f"layer_norm: input of shape {shape} does not end in normalized_shape {normalized} "
                           f"(at {call_site()})")
    for what, value in (("weight", weight), ("bias", bias)):
        if value is not None and _shape(value) != normalized:
            raise OpValueError(f"layer_norm: {what} of shape {_shape(value)} for normalized_shape {normalized} "
                               f"(at {call_site()})")
    y = _normalize(input, tuple(range(-len(normalized), 0)), eps)
    return _affine(y, weight, bias, normalized)


def group_norm(input: Any, num_groups: int, weight: Any = None, bias: Any = None, eps: float = 1e-5) -> Tensor:
    """Normalize input (N, C, *) over each group of C / num_groups channels (and the spatial axes),
    then scale by weight (C,) and shift by bias (C,) per channel."""
    shape = _shape(input)
    if len(shape) < 2:
        raise OpValueError(f"group_norm: input must have shape (N, C, *), got {shape} (at {call_site()})")
    channels = shape[1]
    if num_groups <= 0 or channels % num_groups:
        raise OpValueError(f"group_norm: {channels} channels (input of shape {shape}) do not divide into "
                           f"{num_groups} groups (at {call_site()})")
    for what, value in (("weight", weight), ("bias", bias)):
        _check_per_channel("group_norm", what, value, channels, shape)
    grouped = reshape(input, (shape[0], num_groups, -1))
    y = reshape(_normalize(grouped, (-1,), eps), shape)
    return _affine(y, weight, bias, (channels,) + (1,) * (len(shape) - 2))
