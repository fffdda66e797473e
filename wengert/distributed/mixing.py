"""Iterative parameter mixing: each rank trains its replica on its own shard, and every k steps the
replicas are replaced by their average (McDonald et al., 2010). With k = 1 and plain SGD this is
synchronous data parallelism: the average of the updated replicas is the update by the average gradient.

    mixer = distributed.ParameterMixing(model, every=5)
    for x, y in loader:
        ...; loss.backward(); optimizer.step(); mixer.step()
"""

from __future__ import annotations

from typing import Any

import numpy

from ..core.errors import OpTypeError, OpValueError, call_site
from ..core.tensor import Tensor, bump_version
from .replicas import average_arrays, broadcast_from_rank0, check_same_tensors


class ParameterMixing:
    """Average ``model``'s parameters and floating buffers across ranks on every ``every``-th ``step()``.

    ``model``: anything with ``named_parameters()`` (and optionally ``named_buffers()``), such as an
    ``nn.Module``. ``optimizer``: if given, its floating state arrays (momentum, Adam's moments) are
    averaged too; its step counters are left alone, as every rank steps equally often so they agree.
    Integer buffers (counters) are copied from rank 0. At construction, rank 0's parameters and buffers
    are copied to every rank, so that the replicas start equal.
    """

    def __init__(self, model: Any, every: int = 1, optimizer: Any = None) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise OpValueError(f"ParameterMixing: every must be a positive int (mix every k steps), got "
                               f"{every!r} (at {call_site()})")
        if not hasattr(model, "named_parameters"):
            raise OpTypeError(f"ParameterMixing: model must have named_parameters() (an nn.Module), not a "
                              f"{type(model).__name__} (at {call_site()})")
        if optimizer is not None and not (hasattr(optimizer, "state") and hasattr(optimizer, "param_groups")):
            raise OpTypeError(f"ParameterMixing: optimizer must be a wengert optimizer (with .state and "
                              f".param_groups), not a {type(optimizer).__name__} (at {call_site()})")
        self.model = model
        self.every = every
        self.optimizer = optimizer
        self.steps = 0
        named = self._named_tensors()
        check_same_tensors("ParameterMixing", named)
        broadcast_from_rank0(tensor for _, tensor in named)

    def step(self) -> bool:
        """Count one optimizer step; on every ``every``-th, average the replicas. Returns whether it mixed."""
        self.steps += 1
        if self.steps % self.every:
            return False
        self.mix()
        return True

    def mix(self) -> None:
        """Average the parameters, floating buffers and (with an optimizer) its floating state now."""
        tensors = [tensor for _, tensor in self._named_tensors()]
        floating = [tensor for tensor in tensors if tensor.data.dtype.kind == "f"]
        average_arrays([tensor.data for tensor in floating] + self._optimizer_arrays(), "ParameterMixing")
        for tensor in floating:
            bump_version(tensor)
        broadcast_from_rank0(tensor for tensor in tensors if tensor.data.dtype.kind != "f")

    def state_dict(self) -> dict[str, int]:
        """``{"steps": n}``: where the mixing schedule stands, for a checkpoint."""
        return {"steps": self.steps}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        steps = state_dict.get("steps") if isinstance(state_dict, dict) else None
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise OpValueError(f"ParameterMixing.load_state_dict: expected {{'steps': a non-negative int}}, got "
                               f"{state_dict!r}")
        self.steps = steps

    def _named_tensors(self) -> list[tuple[str, Tensor]]:
        named = list(self.model.named_parameters())
        buffers = getattr(self.model, "named_buffers", None)
        if buffers is not None:
            named += [(f"buffer {name}", tensor) for name, tensor in buffers()]
        return named

    def _optimizer_arrays(self) -> list[Any]:
        """The optimizer's floating state arrays, parameter by parameter in group order, each parameter's by
        name: the same order on every rank."""
        if self.optimizer is None:
            return []
        arrays = []
        for group in self.optimizer.param_groups:
            for parameter in group["params"]:
                state = self.optimizer.state.get(parameter, {})
                for name in sorted(state):
                    value = state[name]
                    value = value.data if isinstance(value, Tensor) else value
                    if isinstance(value, numpy.ndarray) and value.dtype.kind == "f":
                        arrays.append(value)
        return arrays
