"""Forward mode: each value's tangent computed as the value is (seed 003's a-dot table).

A ``Sweep`` is the table: primal tensor -> its tangent (the directional derivative of that
value along the seeded input tangents). While a sweep is in the thread's ``Watch``, every op
application is fed to it as it happens; it looks up the tangents of the op's inputs and computes
the output's at once with the op's JVP rule (``tangent_of``). One forward pass, no backward pass,
no Jacobian. Reading values (``.item()``, ``if x > 0``) is fine: the sweep runs with the program.

Rules are written with ops on Tensors, so tangents are themselves differentiable:
  - reverse over forward: a rule's ops record a graph like any other ops;
  - forward over forward: sweeps nest. Each sweep knows the one it was started inside
    (``outer``); an application is fed to the outer sweeps first (so that the result's outer
    tangent exists before any rule uses the result), and while a sweep computes a rule, the
    thread watches with its outer sweep only: the rule's ops are seen by the outer sweeps (they
    differentiate the tangent) and never by the sweep itself (which would recurse forever and mix
    the two perturbations);
  - forward over reverse: a ``create_graph`` backward computes gradients with ops, which a sweep
    sees like any others. Backward re-wraps a node's saved output in a new Tensor around the same
    node, so tensors made by a recorded op are looked up by their node, others by identity.
"""

from __future__ import annotations

from typing import Any

from .backend import namespace
from .errors import WengertError, call_site
from .function import Function
from .grad_mode import Watch, _watch, watching
from .tensor import Tensor


class ForwardModeError(WengertError, NotImplementedError):
    """An op met in forward mode has no JVP rule (neither ``jvp`` nor ``linear``)."""


def tangent_of(function: type, primals: tuple, tangents: tuple, result: Tensor, constants: dict) -> Tensor | None:
    """The tangent of ``result = function.apply(*primals, **constants)`` given one tangent (a Tensor
    shaped like its input, or None for none) per input; None when the output has no tangent.

    The op's own ``jvp`` if it has one; for a ``linear`` op, the op applied to the tangents (None
    tangents of floating inputs as zeros, other inputs as they are); otherwise ``ForwardModeError``.
    Non-differentiable ops and non-floating outputs have no tangent.
    """
    if not function.differentiable or all(tangent is None for tangent in tangents):
        return None
    if result.data.dtype.kind not in "fc":
        return None
    rule = function.jvp
    if rule is not None:
        tangent = rule(primals, tangents, result, **constants)
    elif function.linear:
        tangent = function.apply(*(_zeros_for(primal) if tangent is None else tangent
                                   for primal, tangent in zip(primals, tangents)), **constants)
    else:
        raise ForwardModeError(f"{function.name} has no forward-mode rule (JVP): give it a jvp(primals, tangents, "
                               f"result, **constants) or linear = True, or use reverse mode (at {call_site()})")
    if tangent is None:
        return None
    if not isinstance(tangent, Tensor):
        tangent = Tensor(tangent)
    if tangent.data.shape != result.data.shape:
        raise ForwardModeError(f"the forward-mode rule of {function.name} returned a tangent of shape "
                               f"{tuple(tangent.shape)} for an output of shape {tuple(result.shape)}")
    if tangent.data.dtype != result.data.dtype:
        tangent = tangent.astype(result.data.dtype)
    return tangent


def _zeros_for(primal: Any) -> Any:
    """A linear op's stand-in for a missing tangent: zeros for a floating input, the input itself otherwise
    (indices, integer tensors, shapes pass as they are)."""
    if isinstance(primal, float):
        return 0.0
    data = primal.data if isinstance(primal, Tensor) else primal
    dtype = getattr(data, "dtype", None)
    if dtype is None or dtype.kind not in "fc":
        return primal
    zeros = namespace(data).zeros_like(data)
    return Tensor(zeros) if isinstance(primal, Tensor) else zeros


def _key(tensor: Tensor) -> Any:
    """Where a sweep files a tensor's tangent: its node if an op recorded one (backward re-wraps a node's
    output in new Tensors), else the tensor's identity."""
    node = tensor.node
    return id(tensor) if node is None else node


class Sweep:
    """One forward-mode computation: the tangents of the values computed while it is watched.

    ``seed(tensor, tangent)`` gives an input its tangent; ``tangent(tensor)`` reads any value's
    (None: zero). The table keeps each tangent (and each tensor filed by identity, so that its id
    is not reused) until the sweep is dropped. Only ops are seen: an in-place change of a tensor's
    array (``x *= 2``, refused under autograd but not here) leaves its tangent as it was.
    """

    __slots__ = ("_rule_watch", "_table", "outer")

    def __init__(self, outer: Sweep | None = None) -> None:
        self.outer = outer
        self._table: dict = {}
        self._rule_watch: tuple = (None, None)  # (the watch seen, the same watching the outer sweep instead)

    def seed(self, tensor: Tensor, tangent: Tensor) -> None:
        self._table[_key(tensor)] = (tensor, tangent)

    def tangent(self, tensor: Any) -> Tensor | None:
        if not isinstance(tensor, Tensor):
            return None
        entry = self._table.get(_key(tensor))
        return None if entry is None else entry[1]

    def record(self, function: type, inputs: tuple, constants: dict, result: Tensor) -> None:
        """Give ``result`` its tangent (called by every op application while this sweep is watched)."""
        outer = self.outer
        if outer is not None:  # first: a rule below may use the result, whose outer tangent must exist
            outer.record(function, inputs, constants, result)
        table = self._table
        tangents = None
        for position, value in enumerate(inputs):
            if isinstance(value, Tensor):
                entry = table.get(_key(value))
                if entry is not None:
                    if tangents is None:
                        tangents = [None] * len(inputs)
                    tangents[position] = entry[1]
        if tangents is None:
            return
        current = watching()
        seen, instead = self._rule_watch
        if seen is not current:  # made once per watch: the sweep's own block rarely changes
            instead = current._replace(tangents=outer)
            instead = None if instead == Watch() else instead
            self._rule_watch = (current, instead)
        token = _watch.set(instead)  # the rule's ops are seen by the outer sweeps only
        try:
            tangent = tangent_of(function, inputs, tuple(tangents), result, constants)
        finally:
            _watch.reset(token)
        if tangent is not None:
            table[_key(result)] = (result if result.node is None else None, tangent)


def current_sweep() -> Sweep | None:
    """The innermost sweep this thread is in, if any."""
    watched = watching()
    return None if watched is None else watched.tangents


class Alias(Function):
    """The same array as a new Tensor (a view): a fresh identity for an input whose tangent or gradient
    one transform is about to track, still linked to the graph and the tangents of the transforms around it."""

    name = "_alias"
    view = True

    def forward(ctx, x):
        return x

    def backward(ctx, upstream):
        return upstream

    def jvp(primals, tangents, result):
        return tangents[0]
