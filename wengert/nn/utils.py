"""Helpers for training loops: gradient clipping, zeroing gradients in place."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..core.backend import namespace
from ..core.errors import OpValueError
from ..core.function import recorded
from ..core.grad_mode import watching
from ..core.tensor import Tensor, bump_version


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients in place so that their joint ``norm_type``-norm is at most ``max_norm``;
    returns the norm before clipping (as PyTorch does). Inside a trace the call is recorded (a
    compiled step clips on every replay) and the norm comes back as a 0-d Tensor."""
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    watch = watching()
    if watch is not None and watch.trace is not None:
        return recorded(lambda: namespace(0.0).asarray(_clip(parameters, max_norm, norm_type, error_if_nonfinite)))
    return _clip(parameters, max_norm, norm_type, error_if_nonfinite)


def _clip(parameters: list, max_norm: float, norm_type: float, error_if_nonfinite: bool) -> float:
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    xp = namespace(grads[0].data)
    if norm_type == math.inf:
        total = max(float(xp.max(xp.abs(g.data))) if g.size else 0.0 for g in grads)
    else:
        total = sum(float(xp.sum(xp.abs(g.data) ** norm_type)) for g in grads) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise OpValueError(f"clip_grad_norm_: the total gradient norm is {total}; "
                           "set error_if_nonfinite=False to clip anyway")
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for g in grads:
            g.data *= g.dtype.type(scale)
            bump_version(g)
    return total


def zero_grad_in_place(parameter: Tensor) -> None:
    """Zero ``parameter.grad`` in place (``zero_grad(set_to_none=False)``). A gradient that carries a
    graph (from ``create_graph``) is detached first, as in PyTorch, so the zeros leave that graph."""
    grad = parameter.grad
    if grad is None:
        return
    if grad.node is not None or grad.requires_grad:
        grad = parameter.grad = grad.detach()
    grad.data[...] = 0
    bump_version(grad)
