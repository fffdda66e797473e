"""Errors that name the op, its inputs' shapes and dtypes, and the user's line.

Everything here runs only once something has gone wrong, so the hot path pays nothing.
"""

from __future__ import annotations

import os
import sys
from typing import Any

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class WengertError(Exception):
    """Base class of the errors wengert raises itself."""


class OpValueError(WengertError, ValueError):
    """An op got inputs it cannot combine (shapes that do not broadcast or align, bad axes...)."""


class OpIndexError(WengertError, IndexError):
    """An op indexed outside its input."""


class OpTypeError(WengertError, TypeError):
    """An op got an input of a type or dtype it does not accept."""


class TraceError(WengertError, RuntimeError):
    """Code being traced read a tensor's value: a replay would use that value as a constant."""


class BackwardError(WengertError, RuntimeError):
    """Backward cannot give a right answer: freed graph, input modified in place, bad gradient."""


def call_site() -> str:
    """``file:line in function`` of the innermost frame outside the wengert package."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "<inside wengert>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


def describe(value: Any) -> str:
    """A short description of an op input: ``Tensor(shape=(3, 4), dtype=float32)``."""
    data = getattr(value, "data", value)
    shape, dtype = getattr(data, "shape", None), getattr(data, "dtype", None)
    kind = type(value).__name__
    if shape is None:
        return f"{kind} {value!r}"[:60]
    return f"{kind}(shape={tuple(shape)}, dtype={dtype})"


def op_error(name: str, inputs: tuple, error: Exception) -> WengertError:
    """The error to raise when op ``name`` failed on ``inputs`` with the array library's ``error``."""
    kind = OpIndexError if isinstance(error, IndexError) and not isinstance(error, ValueError) else (
        OpTypeError if isinstance(error, TypeError) else OpValueError)
    described = ", ".join(describe(value) for value in inputs)
    reason = str(error).removeprefix(f"{name}: ")  # numpy often starts with the function's name too
    return kind(f"{name}: {reason}\n  inputs: {described}\n  called at {call_site()}")
