"""Whether ops record the graph (``no_grad``) and whether backward hunts NaNs (``detect_anomaly``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class state:
    """Process-wide switches, read on every op: plain class attributes are the cheapest lookup."""

    grad_enabled = True
    anomaly = False


class _Switch:
    """A context manager and decorator that sets one switch and restores it on exit."""

    attribute = ""
    value = True

    def __enter__(self) -> None:
        self._previous = getattr(state, self.attribute)
        setattr(state, self.attribute, self.value)

    def __exit__(self, *exc_info: Any) -> None:
        setattr(state, self.attribute, self._previous)

    def __call__(self, function: Callable) -> Callable:
        @functools.wraps(function)
        def switched(*args: Any, **kwargs: Any) -> Any:
            with self.__class__():
                return function(*args, **kwargs)

        return switched


class no_grad(_Switch):
    """Ops inside record no graph: they cost what the array call costs. Also a decorator."""

    attribute, value = "grad_enabled", False


class enable_grad(_Switch):
    """Turn recording back on inside a ``no_grad`` block. Also a decorator."""

    attribute, value = "grad_enabled", True


class set_grad_enabled:
    """Turn recording on or off, at once (``wg.set_grad_enabled(False)``) or for a block
    (``with wg.set_grad_enabled(training): ...``), as in PyTorch."""

    def __init__(self, mode: bool) -> None:
        self._previous = state.grad_enabled
        state.grad_enabled = bool(mode)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc_info: Any) -> None:
        state.grad_enabled = self._previous


class detect_anomaly(_Switch):
    """Backward checks every gradient for NaN/inf and names the op that produced it.

    Ops run inside also remember where they were called, so the error points at the
    user's line. Costs time: for debugging only.
    """

    attribute, value = "anomaly", True


def is_grad_enabled() -> bool:
    return state.grad_enabled
