"""Gradient checking: backward against central finite differences, in float64.

Backward computes the vector-Jacobian product v^T J for a fixed random ``v``
(one backward pass); finite differences compute the same product one input
element at a time: (L(x + eps) - L(x - eps)) / (2 eps) with L = sum(v * f(x)).
A wrong VJP disagrees with them for all but a measure-zero set of ``v``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .core.backend import namespace
from .core.backend import numpy as _numpy
from .core.errors import WengertError
from .core.grad_mode import no_grad
from .core.tensor import Tensor


class GradcheckError(WengertError, AssertionError):
    """Backward's gradient disagrees with finite differences."""


def gradcheck(fn: Callable[..., Any], *inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0, raise_exception: bool = True) -> bool:
    """Check ``fn``'s gradients with respect to every input that requires grad.

    ``fn`` takes ``inputs`` and returns a Tensor (any shape) or a tuple of them.
    Floating inputs are checked as float64 copies. Returns True, or raises
    ``GradcheckError`` naming the input, the worst element and both values
    (returns False instead when ``raise_exception=False``).
    """
    inputs64 = [_as_float64(value) for value in inputs]
    checked = [index for index, value in enumerate(inputs64) if isinstance(value, Tensor) and value.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    random = _numpy.random.default_rng(seed)

    outputs = _outputs(fn(*inputs64))
    directions = [random.standard_normal(out.shape) for out in outputs]

    def projected() -> float:
        with no_grad():
            return float(sum((_to_numpy(out) * v).sum() for out, v in zip(_outputs(fn(*inputs64)), directions)))

    loss = None
    for out, v in zip(outputs, directions):
        if out.requires_grad:
            term = (out * Tensor(v.astype(out.dtype))).sum()
            loss = term if loss is None else loss + term
    for index in checked:
        inputs64[index].grad = None
    if loss is not None:
        loss.backward()

    for index in checked:
        x = inputs64[index]
        analytic = _numpy.zeros(x.shape) if x.grad is None else _to_numpy(x.grad)
        numeric = _numpy.zeros(x.shape)
        data = x.data
        for element in _numpy.ndindex(*x.shape):
            original = data[element]
            data[element] = original + eps
            above = projected()
            data[element] = original - eps
            below = projected()
            data[element] = original
            numeric[element] = (above - below) / (2 * eps)
        message = _disagreement(analytic, numeric, atol, rtol)
        if message is not None:
            message = (f"gradcheck: input {index} (shape {tuple(x.shape)}): {message} "
                       f"(atol={atol}, rtol={rtol}, eps={eps})")
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True


def _disagreement(analytic: Any, numeric: Any, atol: float, rtol: float) -> str | None:
    """Where backward and finite differences disagree, or are NaN or infinite (which no tolerance
    can vouch for: NaN compares False with everything), as a message; None if they agree."""
    for name, values in (("backward", analytic), ("finite differences", numeric)):
        bad = ~_numpy.isfinite(values)
        if bad.any():
            element = tuple(int(i) for i in _numpy.argwhere(bad)[0])
            return (f"at element {element} {name} gives {float(values[element])!r} (backward "
                    f"{float(analytic[element])!r}, finite differences {float(numeric[element])!r}): "
                    "a gradient that is not finite cannot be checked")
    error = _numpy.abs(analytic - numeric) - (atol + rtol * _numpy.abs(numeric))
    if not error.size or error.max() <= 0:
        return None
    worst = tuple(int(i) for i in _numpy.unravel_index(_numpy.argmax(error), error.shape))
    return (f"at element {worst} backward gives {float(analytic[worst])!r}, finite differences "
            f"{float(numeric[worst])!r}")


def _as_float64(value: Any) -> Any:
    if isinstance(value, Tensor) and value.dtype.kind == "f":
        return Tensor(namespace(value.data).array(value.data, dtype="float64"), value.requires_grad)
    return value


def _outputs(result: Any) -> list:
    results = list(result) if isinstance(result, (tuple, list)) else [result]
    return [out for out in results if isinstance(out, Tensor) and out.dtype.kind == "f"]


def _to_numpy(tensor: Tensor) -> Any:
    return _numpy.asarray(tensor.data, dtype=float)
