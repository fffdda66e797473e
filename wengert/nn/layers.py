"""Layers: ``Linear``, activations, ``Dropout``, ``Embedding``, ``Identity``, ``Flatten``."""

from __future__ import annotations

import math
from typing import Any

from ..core.backend import is_floating
from ..core.creation import Generator, zeros
from ..core.errors import OpTypeError, OpValueError, call_site
from ..core.tensor import Tensor
from ..lazy import batch_independent_shape
from ..ops import flatten, reshape
from . import functional as F
from . import init
from .module import Module, Parameter


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
            raise OpValueError(f"{self!r}: input of shape {tuple(shape)} has {shape[-1] if shape else 0} "
                               f"features, expected {self.in_features} (at {call_site()})")
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
        shape = tuple(getattr(x, "shape", ()))
        if None in shape:  # a lazy tensor's batch: -1 must stand for it, not for the merged axes
            start, end = self.start_dim % len(shape), self.end_dim % len(shape)
            merged = batch_independent_shape(shape, start, end) if start <= end else None
            if merged is not None:
                return reshape(x, merged)
        return flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
