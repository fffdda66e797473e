"""Layers: ``Linear``, activations, ``Dropout``, ``Embedding``, ``Identity``, ``Flatten``."""

from __future__ import annotations

import math
from typing import Any

from ..core.backend import int64, is_floating
from ..core.creation import Generator, ones, zeros
from ..core.errors import OpTypeError, OpValueError, call_site
from ..core.function import recorded
from ..core.tensor import Tensor, _refuse_while_tracing, bump_version
from ..ops import flatten
from . import functional as F
from . import init
from .module import Module, Parameter
from .normalization import refuse_running_statistics_in_graphs


class Linear(Module):
    """y = x W^T + b: x (..., in_features) -> y (..., out_features).

    W (out_features, in_features) and b start uniform on +-1/sqrt(in_features), as in PyTorch.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None,
                 generator: Generator | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(zeros((out_features, in_features), dtype=dtype))
        self.bias = Parameter(zeros((out_features,), dtype=dtype)) if bias else None
        self.reset_parameters(generator)

    def reset_parameters(self, generator: Generator | None = None) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)  # = U(+-1/sqrt(in))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features else 0.0
            init.uniform_(self.bias, -bound, bound, generator)

    def forward(self, x: Any) -> Tensor:
        shape = getattr(x, "shape", ())
        if not shape or shape[-1] != self.in_features:
            features = shape[-1] if shape else 0
            raise OpValueError(f"{self!r}: input of shape {tuple(shape)} has {features} features, expected "
                               f"{self.in_features}; this input needs Linear({features}, {self.out_features}) "
                               f"(at {call_site()})")
        parameters = self._parameters  # the registry itself: this runs every step of every layer
        weight = parameters["weight"]
        if x.dtype != weight.data.dtype:  # numpy would promote: float64 input would make all after it float64
            raise _dtype_mismatch(self, x.dtype, weight.dtype)
        bias = parameters.get("bias")
        if bias is None:
            return F.Linear.apply(x, weight)
        return F.Linear.apply(x, weight, bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def _dtype_mismatch(layer: Module, given: Any, own: Any) -> OpTypeError:
    fixes = f"cast the input: x.astype(wg.{own})"
    if is_floating(given):
        fixes += f", or build the layer with dtype=wg.{given}"
    return OpTypeError(f"{layer!r}: input has dtype {given} but the layer's parameters are {own} "
                       f"(PyTorch refuses this too); {fixes} (at {call_site()})")


class _Activation(Module):
    """A module around a function of one tensor, with the function's keyword options."""

    function: Any = None

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = options

    def forward(self, x: Any) -> Tensor:
        return type(self).function(x, **self.options)

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.options.items())


class ReLU(_Activation):
    function = F.relu


class Sigmoid(_Activation):
    function = F.sigmoid


class Tanh(_Activation):
    function = F.tanh


class Identity(Module):
    def forward(self, x: Any) -> Any:
        return x


class LeakyReLU(_Activation):
    function = F.leaky_relu

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__(negative_slope=negative_slope)


class GELU(_Activation):
    function = F.gelu

    def __init__(self, approximate: str = "none") -> None:
        super().__init__(approximate=approximate)


class Softmax(_Activation):
    """Softmax along ``axis`` (PyTorch's ``dim`` is accepted too)."""

    function = F.softmax

    def __init__(self, axis: int = -1, *, dim: int | None = None) -> None:
        super().__init__(axis=axis if dim is None else dim)


class Dropout(Module):
    """Zero elements with probability ``p`` while training (scaling the rest by 1/(1-p)); identity in eval."""

    def __init__(self, p: float = 0.5, generator: Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise OpValueError(f"Dropout: p must lie in [0, 1], got {p}")
        self.p, self.generator = p, generator

    def forward(self, x: Any) -> Tensor:
        return F.dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Embedding(Module):
    """A lookup table: integer indices (any shape) -> rows of ``weight`` (num_embeddings, dim), N(0, 1) init."""

    def __init__(self, num_embeddings: int, embedding_dim: int, dtype: Any = None,
                 generator: Generator | None = None) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(zeros((num_embeddings, embedding_dim), dtype=dtype))
        init.normal_(self.weight, generator=generator)

    def forward(self, indices: Any) -> Tensor:
        return F.embedding(indices, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Flatten(Module):
    """Merge axes start_dim..end_dim; by default all but the batch axis."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Any) -> Tensor:
        return flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


# --- convolutions (issue 10): Conv1d, Conv2d, ConvTranspose2d -------------------------------------

class _ConvNd(Module):
    """A convolution layer over ``dims`` spatial axes; PyTorch's arguments, attributes and initialisation
    (weight kaiming_uniform with a = sqrt(5), bias U(+-1/sqrt(fan_in)))."""

    dims = 2
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 output_padding: Any = 0, dtype: Any = None, generator: Generator | None = None) -> None:
        super().__init__()
        d, title = self.dims, f"{type(self).__name__}({in_channels}, {out_channels}, groups={groups})"
        for what, count in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise OpValueError(f"{title}: {what} must be a positive int, got {count!r}")
        for what, count in (("in_channels", in_channels), ("out_channels", out_channels)):
            if count % groups:
                raise OpValueError(f"{title}: {what} {count} not divisible by groups {groups}")
        if padding_mode != "zeros":
            raise OpValueError(f"{title}: padding_mode {padding_mode!r} is not supported (only 'zeros')")
        self.kernel_size = F._conv_ints(title, "kernel_size", kernel_size, d, 1)
        self.stride = F._conv_ints(title, "stride", stride, d, 1)
        self.dilation = F._conv_ints(title, "dilation", dilation, d, 1)
        if isinstance(padding, str):
            if self.transposed:
                raise OpValueError(f"{title}: padding must be an int or {d} ints, got {padding!r}")
            F._conv_padding(title, padding, self.kernel_size, self.stride, self.dilation)  # refuses 'same' strided
            self.padding = padding
        else:
            self.padding = F._conv_ints(title, "padding", padding, d, 0)
        self.output_padding = F._conv_ints(title, "output_padding", output_padding, d, 0)
        self.in_channels, self.out_channels, self.groups, self.padding_mode = in_channels, out_channels, groups, "zeros"
        shape = ((in_channels, out_channels // groups) if self.transposed
                 else (out_channels, in_channels // groups)) + self.kernel_size
        self.weight = Parameter(zeros(shape, dtype=dtype))
        self.bias = Parameter(zeros((out_channels,), dtype=dtype)) if bias else None
        self.reset_parameters(generator)

    def reset_parameters(self, generator: Generator | None = None) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if self.bias is not None:
            fan_in = init.fan_in_and_fan_out(self.weight)[0]
            bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
            init.uniform_(self.bias, -bound, bound, generator)

    def _check(self, x: Any) -> None:
        shape = tuple(getattr(x, "shape", ()))
        if len(shape) not in (self.dims + 1, self.dims + 2) or shape[-self.dims - 1] != self.in_channels:
            raise OpValueError(f"{self!r}: expects an input (N, {self.in_channels}, ...) or ({self.in_channels}, ...) "
                               f"with {self.dims} spatial axes, got shape {shape} (at {call_site()})")
        if x.dtype != self.weight.dtype:
            raise _dtype_mismatch(self, x.dtype, self.weight.dtype)

    def extra_repr(self) -> str:
        d = self.dims
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}")
        if self.padding != (0,) * d:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * d:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * d:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class _Conv(_ConvNd):
    """Conv1d and Conv2d: PyTorch's arguments (no output_padding), and the functional form they call."""

    convolve: Any = None

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 dtype: Any = None, generator: Generator | None = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, dtype=dtype, generator=generator)

    def forward(self, x: Any) -> Tensor:
        self._check(x)
        return self.convolve(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv1d(_Conv):
    """x (N, C_in, L) or (C_in, L) -> (N, C_out, L_out); weight (C_out, C_in / groups, k)."""

    dims = 1
    convolve = staticmethod(F.conv1d)


class Conv2d(_Conv):
    """x (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out); weight (C_out, C_in / groups, kH, kW)."""

    dims = 2
    convolve = staticmethod(F.conv2d)


class ConvTranspose2d(_ConvNd):
    """The transpose of Conv2d: x (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out) with
    H_out = (H - 1) stride - 2 padding + dilation (kH - 1) + output_padding + 1; weight
    (C_in, C_out / groups, kH, kW)."""

    dims = 2
    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", dtype: Any = None, generator: Generator | None = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding, dtype=dtype, generator=generator)

    def forward(self, x: Any) -> Tensor:
        self._check(x)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.groups, self.dilation)


# --- pooling, normalization and Dropout2d (issue 10) ---------------------------------------------

class _Pool2d(Module):
    """A pooling function's module: its options kept as given, shown as PyTorch shows them."""

    shown: tuple = ()

    def _call(self, function: Any, x: Any, *args: Any, **kwargs: Any) -> Tensor:
        try:
            return function(x, *args, **kwargs)
        except OpValueError as error:  # name the layer, as every layer's error does
            raise OpValueError(f"{self!r}: {error}") from None

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={getattr(self, key)}" for key in self.shown)


class MaxPool2d(_Pool2d):
    """The maximum of each window: (N, C, H, W) -> (N, C, oh, ow); stride defaults to kernel_size."""

    shown = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x: Any) -> Any:
        return self._call(F.max_pool2d, x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)


class AvgPool2d(_Pool2d):
    """The mean of each window: (N, C, H, W) -> (N, C, oh, ow); stride defaults to kernel_size."""

    shown = ("kernel_size", "stride", "padding")

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x: Any) -> Tensor:
        return self._call(F.avg_pool2d, x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)


class AdaptiveAvgPool2d(_Pool2d):
    """Means over an output_size grid of windows: (N, C, H, W) -> (N, C, *output_size)."""

    shown = ("output_size",)

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        return self._call(F.adaptive_avg_pool2d, x, self.output_size)


class _BatchNorm(Module):
    """Batch normalization over the channels C of (N, C, *): weight 1 and bias 0 (if ``affine``), and
    the buffers running_mean 0, running_var 1 and num_batches_tracked 0 (if ``track_running_stats``),
    saved in ``state_dict``. ``momentum=None`` keeps a cumulative average of the batches' statistics."""

    ranks: tuple = ()
    layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(ones((num_features,), dtype=dtype)) if affine else None
        self.bias = Parameter(zeros((num_features,), dtype=dtype)) if affine and bias else None
        if track_running_stats:
            self.register_buffer("running_mean", zeros((num_features,), dtype=dtype))
            self.register_buffer("running_var", ones((num_features,), dtype=dtype))
            self.register_buffer("num_batches_tracked", zeros((), dtype=int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            for buffer, value in ((self.running_mean, 0), (self.running_var, 1), (self.num_batches_tracked, 0)):
                buffer.data[...] = value
                bump_version(buffer)

    def forward(self, x: Any) -> Tensor:
        shape = tuple(getattr(x, "shape", ()))
        if len(shape) not in self.ranks:
            raise OpValueError(f"{self!r}: input must have shape {self.layout}, got {shape} (at {call_site()})")
        if shape[1] != self.num_features:
            raise OpValueError(f"{self!r}: input of shape {shape} has {shape[1]} channels (axis 1), expected "
                               f"num_features={self.num_features} (at {call_site()})")
        if self.weight is not None and x.dtype != self.weight.dtype:
            raise _dtype_mismatch(self, x.dtype, self.weight.dtype)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            refuse_running_statistics_in_graphs(x)  # before counting this batch
            if self.momentum is None:  # a cumulative average: batch k weighs 1/k
                _refuse_while_tracing(f"{self!r} with momentum=None (a cumulative average, weighted by the count)")
                self._count_batch()
                factor = 1.0 / float(self.num_batches_tracked.data)
            else:
                recorded(self._count_batch)  # in a compiled step, an effect replayed in its place
        # without running statistics, eval mode normalizes by the batch's, as PyTorch does
        use_batch = self.training or self.running_mean is None
        keep = not self.training or self.track_running_stats
        try:
            return F.batch_norm(x, self.running_mean if keep else None, self.running_var if keep else None,
                                self.weight, self.bias, use_batch, factor, self.eps)
        except OpValueError as error:
            raise OpValueError(f"{self!r}: {error}") from None

    def _count_batch(self) -> None:
        self.num_batches_tracked.data[...] += 1
        bump_version(self.num_batches_tracked)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) per channel C."""

    ranks, layout = (2, 3), "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) per channel C."""

    ranks, layout = (4,), "(N, C, H, W)"


class LayerNorm(Module):
    """Normalization over the last axes, of normalized_shape; weight 1 and bias 0 of that shape."""

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        self.weight = Parameter(ones(shape, dtype=dtype)) if elementwise_affine else None
        self.bias = Parameter(zeros(shape, dtype=dtype)) if elementwise_affine and bias else None

    def forward(self, x: Any) -> Tensor:
        try:
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        except OpValueError as error:
            raise OpValueError(f"{self!r}: {error}") from None

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalization of (N, C, *) over groups of C / num_groups channels; weight 1 and bias 0 per channel."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise OpValueError(f"GroupNorm: num_channels={num_channels} must be divisible by "
                               f"num_groups={num_groups}")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self.weight = Parameter(ones((num_channels,), dtype=dtype)) if affine else None
        self.bias = Parameter(zeros((num_channels,), dtype=dtype)) if affine and bias else None

    def forward(self, x: Any) -> Tensor:
        shape = tuple(getattr(x, "shape", ()))
        if len(shape) < 2 or shape[1] != self.num_channels:
            raise OpValueError(f"{self!r}: input of shape {shape} needs (N, {self.num_channels}, *) "
                               f"(at {call_site()})")
        try:
            return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        except OpValueError as error:
            raise OpValueError(f"{self!r}: {error}") from None

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class Dropout2d(Module):
    """Zero whole channels of (N, C, H, W) with probability ``p`` while training (scaling the rest by
    1/(1-p)); identity in eval."""

    def __init__(self, p: float = 0.5, generator: Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise OpValueError(f"Dropout2d: p must lie in [0, 1], got {p}")
        self.p, self.generator = p, generator

    def forward(self, x: Any) -> Tensor:
        return F.dropout2d(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"
