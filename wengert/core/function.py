"""Ops and the graph: a ``Function`` defines an op once, a ``Node`` records one use of it.

Applying an op runs its ``forward`` on the input arrays at once (eager,
define-by-run). If some input requires grad, a ``Node`` links the output to its
inputs and is also the context that ``forward`` saves into and ``backward`` reads
(as in PyTorch, where ``ctx`` is the graph node):

    class Sigmoid(wg.Function):
        def forward(ctx, x):            # arrays in, array out
            y = 1 / (1 + wg.namespace(x).exp(-x))
            ctx.save(y)
            return y

        def backward(ctx, upstream):    # dL/dy in, one dL/dinput per input out (a VJP)
            (y,) = ctx.saved
            return upstream * y * (1 - y)

    sigmoid = Sigmoid.apply

Positional arguments of ``apply`` are the op's inputs (Tensors, arrays or Python
numbers; only Tensors that require grad get gradients); keyword arguments are
constants such as ``axis``. A node records everything needed to run its op again:
the function, its constants, and one edge per input (the node that produced it).
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

from .backend import namespace
from .errors import BackwardError, OpTypeError, WengertError, call_site, op_error
from .grad_mode import grad_enabled, watching
from .tensor import Tensor, version_cell

_sequence = itertools.count()
OPS: dict[str, type] = {}  # op name -> the Function that defines it (the first one of that name)


class Node:
    """One application of an op in the graph; also the context object of that application.

    Graph:    ``function`` (the op), ``constants`` (its keyword arguments), ``parents[i]``
              (the Node that input i came from: an op's node, a leaf's ``AccumulateGrad``
              node, or ``None`` when input i needs no gradient), ``shape``/``dtype`` of the
              output, ``sequence`` (creation order, a valid topological order); where some
              input needs no gradient, ``inputs`` (those inputs, None for the others) until
              backward frees the node, so that ``wg.Graph`` can read the history as a Wengert list.
    Context:  ``save``/``saved`` (what forward kept for backward), ``needs_input_grad``.
    """

    __slots__ = ("constants", "dtype", "extras", "function", "inputs", "parents", "saved", "sequence", "shape",
                 "upstream", "versions")

    def __init__(self, function: type, parents: tuple, constants: dict | None) -> None:
        self.function = function
        self.parents = parents
        self.constants = constants
        self.saved = ()
        self.versions = None  # [(position in saved, tensor or None for the output, cell, version)]
        self.sequence = next(_sequence)
        self.upstream = None  # gradient of the output, summed over its consumers during backward
        self.extras = None  # the rarely used fields below, in a dict once one is set
        self.inputs = None  # where an input needs no gradient: those inputs, until backward (for wg.Graph)

    def _extra(self, key: str) -> Any:
        return None if self.extras is None else self.extras.get(key)

    def _set_extra(self, key: str, value: Any) -> None:
        if self.extras is None:
            self.extras = {}
        self.extras[key] = value

    # functions of the incoming gradient, run before backward (Tensor.register_hook)
    hooks = property(lambda self: self._extra("hooks"), lambda self, value: self._set_extra("hooks", value))
    # a weak reference to the non-leaf tensor whose .grad to keep (retain_grad)
    retained = property(lambda self: self._extra("retained"), lambda self, value: self._set_extra("retained", value))
    # where the op was called, remembered under detect_anomaly
    trace = property(lambda self: self._extra("trace"), lambda self, value: self._set_extra("trace", value))
    # for an AccumulateGrad node: a weak reference to its leaf tensor
    variable = property(lambda self: self._extra("variable"), lambda self, value: self._set_extra("variable", value))

    def save(self, *values: Any) -> None:
        """Keep ``values`` (arrays, shapes, anything) for backward; read back as ``ctx.saved``."""
        self.saved = values

    save_for_backward = save  # PyTorch's name

    @property
    def saved_tensors(self) -> tuple:
        """What ``save_for_backward`` kept (PyTorch's name for ``saved``)."""
        return self.saved

    @property
    def needs_input_grad(self) -> tuple:
        """``needs_input_grad[i]``: whether input i wants a gradient (backward may skip it if not)."""
        return tuple(parent is not None for parent in self.parents)

    @property
    def name(self) -> str:
        return self.function.name

    @property
    def next_functions(self) -> tuple:
        """The parents, under PyTorch's name."""
        return self.parents

    def register_hook(self, hook: Callable[[Any], Any]) -> RemovableHandle:
        """Call ``hook(gradient)`` when this node's output gradient is complete; a non-None return
        replaces the gradient."""
        if self.hooks is None:
            self.hooks = {}
        return RemovableHandle(self.hooks, hook)

    def __repr__(self) -> str:
        return f"<{self.function.name} node>"


class RemovableHandle:
    """What ``register_hook`` returns: ``handle.remove()`` unregisters the hook (PyTorch's API)."""

    _ids = itertools.count()

    def __init__(self, hooks: dict, hook: Callable) -> None:
        self._hooks, self.id = hooks, next(self._ids)
        hooks[self.id] = hook

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()


class _NoContext:
    """What ``forward`` gets when nothing is recorded: saving is a no-op, no input needs a gradient."""

    __slots__ = ("needs_input_grad",)

    def __init__(self, count: int) -> None:
        self.needs_input_grad = (False,) * count

    def save(self, *values: Any) -> None:
        pass

    save_for_backward = save


_NO_CONTEXTS = [_NoContext(count) for count in range(8)]


def _no_context(count: int) -> _NoContext:
    return _NO_CONTEXTS[count] if count < 8 else _NoContext(count)


class Function:
    """Base class of ops: subclasses define ``forward(ctx, *inputs, **constants)`` on arrays and
    ``backward(ctx, upstream)`` returning one gradient (or ``None``) per input.

    Class attributes:
      ``broadcasting``   inputs broadcast as in numpy and promote dtypes as in PyTorch
                         (``wengert.core.dtypes``); backward may return
                         gradients of the output's shape and dtype, and the engine sums them
                         over the broadcast axes and casts them to each input's dtype.
      ``differentiable`` False for ops whose output carries no gradient (comparisons, argmax).
      ``view``           the output shares memory with input 0 (and so its in-place versions).
      ``writes_into``    ``forward`` takes ``out=``, an array of the output's shape and dtype to write
                         the result into (a compiled program hands it a buffer it kept).
      ``effect``         the op is run for a side effect (``Effect``, a leaf's gradient accumulation):
                         a compiled function keeps it, in its place, though no output uses it.
      ``random``         the op draws random numbers as it runs (dropout's mask): a graph or a compiled
                         function draws anew at each run, and never merges or folds it.
      ``linear``         the op is linear in its tensor inputs jointly: its forward-mode rule is the op
                         itself applied to the tangents (``wengert.core.forward.tangent_of``).
      ``jvp``            ``jvp(primals, tangents, result, **constants)``, the forward-mode rule: the
                         output's tangent from the inputs' (a plain function in the class body).
    """

    broadcasting = False
    differentiable = True
    linear = False
    jvp: Callable[..., Any] | None = None
    view = False
    effect = False
    random = False
    writes_into = False
    name = "function"
    apply: Callable[..., Tensor]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__.lower()
        cls.apply = staticmethod(_make_apply(cls))
        if not cls.name.startswith("_"):  # a private Function (a self-test's) is no op of the library
            OPS.setdefault(cls.name, cls)

    def forward(ctx: Any, *inputs: Any, **constants: Any) -> Any:
        raise NotImplementedError

    def backward(ctx: Any, upstream: Any) -> Any:
        raise NotImplementedError(f"{ctx.function.name} has no backward")


def _plain(inputs: tuple, parents: list) -> tuple:
    """The inputs that need no gradient, None where a parent node stands for the input: a node keeps
    these for ``wg.Graph``, and holding the others (activations) would keep them past their use."""
    if len(inputs) == 2:  # x * 2.0, x - batch: most of them
        return (inputs[0] if parents[0] is None else None, inputs[1] if parents[1] is None else None)
    return tuple([value if parent is None else None for value, parent in zip(inputs, parents)])


def _make_apply(function: type) -> Callable[..., Tensor]:
    """Build ``function.apply``: run forward on the arrays, and record a node if a gradient may flow."""
    forward, differentiable, view, name = function.forward, function.differentiable, function.view, function.name

    def apply(*inputs: Any, **constants: Any) -> Tensor:
        arrays, parents, recording = [], [], False
        try:  # costs nothing unless raised (Python 3.11's exception tables): the hot path has no lazy test
            for value in inputs:
                if isinstance(value, Tensor):
                    arrays.append(value.data)
                    if value.requires_grad:
                        parents.append(value.node or grad_accumulator(value))
                        recording = True
                        continue
                else:
                    arrays.append(value)
                parents.append(None)
        except DeferredError as deferred:  # a lazy input (wengert.lazy): build the graph, compute nothing now
            return deferred.tensor.defer(function, inputs, constants)
        node = None
        if recording and differentiable and grad_enabled():
            context = node = Node(function, tuple(parents), constants or None)
            if None in parents:  # a batch, labels or a number: the graph does not reach them otherwise
                node.inputs = _plain(inputs, parents)
        else:
            context = _no_context(len(arrays))
        try:
            out = forward(context, *arrays, **constants)
        except WengertError:
            raise
        except (ValueError, TypeError, IndexError, OverflowError) as error:
            raise op_error(name, inputs, error) from None
        result = Tensor(out, node is not None, node)
        if view and isinstance(inputs[0], Tensor):
            result._version = version_cell(inputs[0])
        if node is not None:
            node.shape, node.dtype = out.shape, out.dtype
            if node.dtype.kind == "c":  # gradients are real here: a complex value would lose its imaginary part
                raise OpTypeError(f"{name}: a complex value ({out.dtype}) in a computation that requires grad; "
                                  f"wengert differentiates real dtypes only (at {call_site()})")
            if node.saved:
                _record_versions(node, inputs, result)
        watch = watching()
        if watch is not None:  # detect_anomaly, tracing or forward mode: rare, so one lookup on the hot path
            if watch.anomaly:
                _check_forward(name, node, inputs, out)
            if watch.trace is not None:
                watch.trace.append(Application(function, inputs, constants, result))
            if watch.tangents is not None:  # forward mode (wengert.core.forward): the output's tangent, now
                watch.tangents.record(function, inputs, constants, result)
        return result

    apply.__name__ = apply.__qualname__ = name
    apply.__doc__ = function.__doc__
    return apply


class Application(NamedTuple):
    """One application of an op, as a trace records it: ``result = function.apply(*inputs, **constants)``."""

    function: type
    inputs: tuple
    constants: dict
    result: Tensor


class Effect(Function):
    """A call made for what it does, not for a value: an optimizer's step, ``zero_grad``, a clipping.
    Inside a trace, such calls apply themselves as this op, so that the trace keeps them in their
    place among the ops and a compiled function replays them. The output is what ``action()``
    returns (an array), or an empty array."""

    name = "effect"
    differentiable = False
    effect = True

    def forward(ctx, action):
        result = action()
        return result if hasattr(result, "dtype") else _NOTHING


_NOTHING = namespace(0.0).empty(0)
_NOTHING.flags.writeable = False


def recorded(action: Callable[[], Any]) -> Any:
    """``action()``; inside a trace, applied as an ``Effect`` op, so that a replay makes the call too
    (then the result is a Tensor of what ``action`` returned)."""
    watch = watching()
    if watch is not None and watch.trace is not None:
        return Effect.apply(action=action)
    return action()


class AccumulateGrad(Function):
    """The node at a leaf that requires grad: backward ends here, summing into ``leaf.grad``."""

    name = "accumulate_grad"


class DeferredError(WengertError, RuntimeError):
    """Raised by a lazy tensor (``wengert.lazy``) on its way into an op: ``apply`` hands the op to
    ``tensor.defer`` instead of running it. Elsewhere it says that the tensor has no gradient yet."""

    def __init__(self, tensor: Tensor) -> None:
        super().__init__(f"{tensor!r} is lazy: it gets values and gradients when its graph runs "
                         f"(wg.Graph(inputs, outputs).gradients(feed)), not from backward (at {call_site()})")
        self.tensor = tensor


def grad_accumulator(leaf: Tensor) -> Node:
    """The leaf's ``AccumulateGrad`` node, made once and kept by the leaf (the node holds the leaf
    only weakly, so a graph never keeps a dropped leaf alive)."""
    node = leaf._accumulator
    if node is None:
        if getattr(leaf, "defer", None) is not None:  # a lazy tensor: only on a leaf's first use
            raise DeferredError(leaf)
        node = leaf._accumulator = Node(AccumulateGrad, (), {})
        node.variable = weakref.ref(leaf)
    node.shape, node.dtype = leaf.data.shape, leaf.data.dtype  # the leaf's array may have been replaced
    return node


def _record_versions(node: Node, inputs: tuple, result: Tensor) -> None:
    """Note which saved values are tensors' arrays, and their in-place versions now: backward
    refuses them if they changed. For ``create_graph`` the entry also says which tensor each
    one is (``None`` for the output, which would otherwise form a cycle with the node).
    ``versions`` stays ``None`` only when nothing saved is an array: then backward has nothing
    to free and the node can be walked again (a sum saves only shapes)."""
    entries, holds_arrays = [], False
    for position, value in enumerate(node.saved):
        if value is result.data:
            tensor, cell = None, version_cell(result)
        else:
            for tensor in inputs:
                if isinstance(tensor, Tensor) and tensor.data is value:
                    break
            else:
                holds_arrays = holds_arrays or hasattr(value, "dtype")
                continue
            cell = version_cell(tensor)
        entries.append((position, tensor, cell, cell[0]))
    if entries or holds_arrays:
        node.versions = tuple(entries)


def _check_forward(name: str, node: Node | None, inputs: tuple, out: Any) -> None:
    """Under detect_anomaly: remember where the op was called, and refuse a NaN that the op made."""
    where = call_site()
    if node is not None:
        node.trace = where
    xp = namespace(out)
    if getattr(out, "dtype", None) is None or out.dtype.kind not in "fc" or not bool(xp.any(xp.isnan(out))):
        return
    for value in inputs:
        data = getattr(value, "data", value)
        kind = getattr(getattr(data, "dtype", None), "kind", None)
        if kind is not None and kind in "fc" and bool(namespace(data).any(namespace(data).isnan(data))):
            return  # the NaN came in: the op that made it was reported already (or it was given)
    raise BackwardError(f"detect_anomaly: {name} produced NaN from inputs without NaN, at {where}")
