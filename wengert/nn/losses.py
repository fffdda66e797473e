"""Losses as modules: ``CrossEntropyLoss()(logits, labels)`` and the like.

Weights given to a loss (class weights, ``pos_weight``) are buffers, as in PyTorch: ``state_dict()``
saves them and ``loss.to(dtype)`` casts them with the model.
"""

from __future__ import annotations

from typing import Any

from ..core.creation import tensor
from ..core.tensor import Tensor
from . import functional as F
from .module import Module


class _Loss(Module):
    """A loss with a ``reduction`` ("mean", "sum" or "none"), tensors it keeps as buffers (``None`` when
    not given), and plain options; each is passed to ``function`` by its name."""

    function: Any = None

    def __init__(self, reduction: str = "mean", buffers: dict[str, Any] | None = None, **options: Any) -> None:
        super().__init__()
        F._check_reduction(type(self).__name__, reduction)
        self.reduction, self.options = reduction, options
        self._buffer_names = tuple(buffers or ())
        for name, value in (buffers or {}).items():
            self.register_buffer(name, value if value is None or isinstance(value, Tensor) else tensor(value))

    def forward(self, input: Any, target: Any) -> Tensor:
        buffers = {name: self._buffers[name] for name in self._buffer_names}
        return type(self).function(input, target, reduction=self.reduction, **buffers, **self.options)

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in {"reduction": self.reduction, **self.options}.items())


class MSELoss(_Loss):
    function = F.mse_loss


class L1Loss(_Loss):
    function = F.l1_loss


class HuberLoss(_Loss):
    function = F.huber_loss

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction, delta=delta)


class BCELoss(_Loss):
    function = F.binary_cross_entropy

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction, {"weight": weight})


class BCEWithLogitsLoss(_Loss):
    function = F.binary_cross_entropy_with_logits

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None) -> None:
        super().__init__(reduction, {"weight": weight, "pos_weight": pos_weight})


class CrossEntropyLoss(_Loss):
    function = F.cross_entropy

    def __init__(self, weight: Any = None, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction, {"weight": weight}, label_smoothing=label_smoothing)


class NLLLoss(_Loss):
    function = F.nll_loss

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction, {"weight": weight})
