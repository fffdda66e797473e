"""Whether ops record the graph (``no_grad``) and whether backward hunts NaNs (``detect_anomaly``).

Both switches are per thread, as PyTorch's grad mode is: a data-loading or evaluation
thread inside ``no_grad()`` does not switch recording off for the training thread. They
are context variables (each thread, and each asyncio task, sees its own), read on every
op through ``grad_enabled()`` and ``anomaly_enabled()``: C calls as cheap as a global.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, NamedTuple


class Watch(NamedTuple):
    """What every op of this thread is watched for, when anything is: NaNs (``detect_anomaly``),
    tracing (``trace`` is the list that each op application is appended to) and forward mode
    (``tangents`` is the innermost ``wengert.core.forward.Sweep``, which each application is fed to)."""

    anomaly: bool = False
    trace: list | None = None
    tangents: Any = None


_grad_enabled: ContextVar[bool] = ContextVar("wengert_grad_enabled", default=True)
_watch: ContextVar[Watch | None] = ContextVar("wengert_watch", default=None)

grad_enabled = _grad_enabled.get  # () -> bool: do ops record a graph in this thread?
watching = _watch.get  # () -> Watch | None: one lookup per op covers anomaly mode and tracing


def anomaly_enabled() -> bool:
    """Is ``detect_anomaly`` on in this thread?"""
    watch = _watch.get()
    return watch is not None and watch.anomaly


class watch:
    """Watch the ops of this thread as ``changes`` say (``anomaly=True``, ``trace=[...]``, ``tangents=sweep``)
    inside the block, keeping what the enclosing block watched otherwise."""

    def __init__(self, **changes: Any) -> None:
        self.changes = changes

    def __enter__(self) -> Watch:
        self._previous = _watch.get()
        current = (self._previous or Watch())._replace(**self.changes)
        _watch.set(current if current != Watch() else None)
        return current

    def __exit__(self, *exc_info: Any) -> None:
        _watch.set(self._previous)


def set_grad_mode(enabled: bool) -> None:
    """Switch recording on or off in this thread, now (what the context managers below restore)."""
    _grad_enabled.set(enabled)


class _Switch:
    """A context manager and decorator that sets grad mode and restores it on exit."""

    value = True

    def __enter__(self) -> None:
        self._previous = _grad_enabled.get()
        _grad_enabled.set(self.value)

    def __exit__(self, *exc_info: Any) -> None:
        _grad_enabled.set(self._previous)

    def __call__(self, function: Callable) -> Callable:
        @functools.wraps(function)
        def switched(*args: Any, **kwargs: Any) -> Any:
            with self.__class__():
                return function(*args, **kwargs)

        return switched


class no_grad(_Switch):
    """Ops inside record no graph: they cost what the array call costs. Also a decorator."""

    value = False


class enable_grad(_Switch):
    """Turn recording back on inside a ``no_grad`` block. Also a decorator."""

    value = True


class set_grad_enabled:
    """Turn recording on or off, at once (``wg.set_grad_enabled(False)``) or for a block
    (``with wg.set_grad_enabled(training): ...``), as in PyTorch."""

    def __init__(self, mode: bool) -> None:
        self._previous = _grad_enabled.get()
        _grad_enabled.set(bool(mode))

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc_info: Any) -> None:
        _grad_enabled.set(self._previous)


class detect_anomaly(watch):
    """Backward checks every gradient for NaN/inf and names the op that produced it; forward
    refuses an op that turns inputs without NaN into NaN (numpy's warnings, made errors).

    Ops run inside also remember where they were called, so the error points at the
    user's line. Costs time: for debugging only. Also a decorator.
    """

    def __init__(self) -> None:
        super().__init__(anomaly=True)

    def __call__(self, function: Callable) -> Callable:
        @functools.wraps(function)
        def watched(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly():
                return function(*args, **kwargs)

        return watched


def is_grad_enabled() -> bool:
    return _grad_enabled.get()

