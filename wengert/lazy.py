"""Define-then-run: placeholders, and the lazy tensors that ops compute from them.

    x = wg.placeholder((None, 4), name="x")        # None: the batch, any size when the graph runs
    y = wg.placeholder((None,), wg.int64, name="y")
    loss = F.cross_entropy(model(x), y)             # builds the graph; computes nothing
    g = wg.Graph(inputs=[x, y], outputs=[loss])
    g({"x": batch, "y": labels}); g.gradients({x: batch, y: labels})

An op applied to a lazy tensor runs its own ``forward`` on small stand-in arrays, twice: with
every None dimension 2 long, then 3 long. So shapes and dtypes are known at build time from the
op's one definition, a bad shape raises at the line that built the op (through the op's usual
error, with None where the batch is), and a result dimension whose length differs between the
two runs follows the batch (its ``shape`` shows None there). A lazy tensor holds its stand-ins
and the application that made it; ``Graph(inputs, outputs)`` walks these back.

What a graph keeps is its ops and their constants. A constant made from a stand-in (the batch
size read from ``.data.shape``, an array computed by numpy from ``.data``) would be kept whatever
is fed, so an op refuses it at build time: ints read from a stand-in's batch dimension are marked
(``_BatchInt``, and arithmetic on them keeps the mark), stand-in arrays are of their own class,
and an op that works with the batch of 2 but not of 3 has some argument sized by the batch.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import numpy

from .core.backend import as_dtype, numpy_namespace, register_namespace
from .core.creation import default_generator
from .core.errors import OpValueError, WengertError, call_site, describe
from .core.function import Application
from .core.grad_mode import no_grad, watch
from .core.tensor import Tensor

STAND_IN_BATCH_SIZES = (2, 3)  # what a None dimension is in the two build-time runs
_ndarray_shape = numpy.ndarray.shape
_sequence = itertools.count()


class LazyError(WengertError, RuntimeError):
    """A lazy tensor's value was asked for: it has none until its graph runs."""


class _BatchInt(int):
    """An int read from a stand-in's batch dimension; arithmetic with ints keeps the mark."""

    __slots__ = ()


def _keep_mark(name: str) -> Any:
    method = getattr(int, name)

    def marked(self: _BatchInt, *other: Any) -> Any:
        result = method(int(self), *other)
        return _BatchInt(result) if type(result) is int else result

    marked.__name__ = name
    return marked


for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__floordiv__",
              "__rfloordiv__", "__mod__", "__neg__", "__abs__"):
    setattr(_BatchInt, _name, _keep_mark(_name))


class _StandIn(numpy.ndarray):
    """A lazy tensor's stand-in array (real numbers: ops and checks run on it). Its batch axes read as
    ``_BatchInt`` from ``.shape`` and ``.size``; arrays numpy computes from it are of this class too
    (with no batch axes), so a constant made from one can be told from the user's own arrays."""

    batch: tuple = ()

    @property
    def shape(self) -> tuple:
        shape = _ndarray_shape.__get__(self)
        if not self.batch:
            return shape
        return tuple(_BatchInt(length) if axis in self.batch else length for axis, length in enumerate(shape))

    @shape.setter
    def shape(self, value: Any) -> None:
        _ndarray_shape.__set__(self, value)

    @property
    def size(self) -> int:
        size = numpy.ndarray.size.__get__(self)
        return _BatchInt(size) if self.batch else size

    @property
    def lazy_shape(self) -> tuple:
        """The shape with None where the batch is."""
        return tuple(None if axis in self.batch else length
                     for axis, length in enumerate(_ndarray_shape.__get__(self)))


register_namespace(_StandIn, numpy_namespace)


def _stand_in(array: Any, batch: tuple) -> _StandIn:
    marked = numpy.asarray(array).view(_StandIn)
    marked.batch = batch
    return marked


def _not_run(what: str) -> LazyError:
    return LazyError(f"{what} of a lazy tensor (a placeholder, or computed from one): it has no value until its "
                     "graph runs. Build g = wg.Graph(inputs=[...], outputs=[...]) and read g(feed) "
                     f"(at {call_site()})")


def _refuse(what: str) -> Any:
    def refused(self: LazyTensor, *args: Any, **kwargs: Any) -> Any:
        raise _not_run(what)

    return refused


class LazyTensor(Tensor):
    """A tensor of a graph being built: its ``data`` is a stand-in (the batch 2 long), ``shape`` has
    None for the dimensions that follow the batch, and its value cannot be read. ``application`` is
    the op that made it (None for a placeholder). Made by ``wg.placeholder`` and by ops applied to
    lazy tensors, never directly."""

    __slots__ = ("application", "name", "other", "sequence")

    def __init__(self, data: Any, other: Any, batch: tuple, name: str | None = None) -> None:
        # requires_grad with no node sends every op input through grad_accumulator, which defers the op
        super().__init__(_stand_in(data, batch), True, None)
        self.other = other  # the stand-in with the batch 3 long
        self.application = None
        self.name = name
        self.sequence = next(_sequence)

    def defer(self, function: type, inputs: tuple, constants: dict) -> LazyTensor:
        """What ``function.apply(*inputs, **constants)`` does when an input is lazy."""
        return _apply_lazily(function, inputs, constants)

    @property
    def is_placeholder(self) -> bool:
        return self.application is None

    @property
    def shape(self) -> tuple:
        return self.data.lazy_shape

    @property
    def size(self) -> int | None:
        """The number of elements, None if it depends on the batch."""
        return None if self.data.batch else self.data.size

    def numel(self) -> int | None:
        return self.size

    def __len__(self) -> int:
        if self.data.ndim and 0 in self.data.batch:
            raise _not_run("len()")
        return super().__len__()

    def __repr__(self) -> str:
        made = "placeholder" if self.application is None else f"op={self.application.function.name}"
        name = f"name={self.name!r}, " if self.name else ""
        return f"LazyTensor({name}shape={self.shape}, dtype={self.dtype}, {made})"

    numpy = _refuse("numpy()")
    __array__ = _refuse("a numpy conversion")
    item = _refuse("item()")
    tolist = _refuse("tolist()")
    __bool__ = _refuse("the truth value")
    __float__ = _refuse("float()")
    __int__ = _refuse("int()")
    __index__ = _refuse("an index")

    def __format__(self, spec: str) -> str:
        if spec:
            raise _not_run("formatting the value")
        return repr(self)

    __iter__ = _refuse("iterating over the values")
    backward = _refuse("backward()")
    register_hook = _refuse("register_hook()")
    retain_grad = _refuse("retain_grad()")
    detach = _refuse("detach()")
    detach_ = _refuse("detach_()")
    requires_grad_ = _refuse("requires_grad_()")
    _modify = _refuse("an in-place change")


def placeholder(shape: Any, dtype: Any = None, name: str | None = None) -> LazyTensor:
    """An input of a graph to be built: ``shape`` may have None dimensions (the batch, fed at any
    size); ``dtype`` defaults to the default floating dtype; ``name`` is its input's name in a Graph
    (``x1, x2, ...`` by position if none). Ops applied to it build the graph without computing."""
    dims = (shape,) if isinstance(shape, int) or shape is None else tuple(shape)
    for dim in dims:
        if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool) or dim < 0):
            raise OpValueError(f"placeholder: a dimension is a length (an int >= 0) or None, got {dim!r} in "
                               f"{dims} (at {call_site()})")
    dtype = as_dtype(dtype)
    batch = tuple(axis for axis, dim in enumerate(dims) if dim is None)
    # Stand-in values that every op accepts: 0.5 lies in every floating domain (log, sqrt, arcsin,
    # probabilities); 0 is a valid label and index.
    fill = 0.5 if dtype.kind in "fc" else 0
    a, b = (numpy.full(tuple(size if dim is None else dim for dim in dims), fill, dtype=dtype)
            for size in STAND_IN_BATCH_SIZES)
    return LazyTensor(a, b, batch, name)


def _apply_lazily(function: type, inputs: tuple, constants: dict) -> LazyTensor:
    """Run the op on the stand-ins of both batch sizes, check what that tells, and record it."""
    name = function.name
    _refuse_made_from_stand_ins(name, inputs, constants)
    results = []
    # an op that draws random numbers (dropout's mask) draws on the stand-ins: put the generator back after
    generator = (constants.get("generator") or default_generator) if function.random else None
    state = None if generator is None else generator.get_state()
    for run in (0, 1):
        arguments = [value if not isinstance(value, LazyTensor)
                     else Tensor(numpy.asarray(value.data) if run == 0 else value.other) for value in inputs]
        try:
            with watch(trace=None), no_grad(), numpy.errstate(all="ignore"):
                results.append(function.apply(*arguments, **constants))
        except WengertError as error:
            if run == 0:
                raise _with_lazy_shapes(error, name, inputs, constants) from None
            raise OpValueError(
                f"{name}: works with a batch of {STAND_IN_BATCH_SIZES[0]} but not of {STAND_IN_BATCH_SIZES[1]}, so "
                "an argument that is not lazy is sized by the batch the graph was built with (an array, or a "
                f"constant computed from the batch size): the graph would keep that size whatever is fed.\n  "
                f"inputs: {_described(inputs)}\n  constants: {constants}\n  called at {call_site()}") from None
        finally:
            if generator is not None:
                generator.set_state(state)
    first, second = (numpy.asarray(result.data) for result in results)
    if first.ndim != second.ndim or first.dtype != second.dtype:
        raise OpValueError(f"{name}: gives {first.ndim}-d {first.dtype} for a batch of {STAND_IN_BATCH_SIZES[0]} "
                           f"and {second.ndim}-d {second.dtype} for {STAND_IN_BATCH_SIZES[1]}: a graph needs a rank "
                           f"and dtype that do not depend on the batch size (at {call_site()})")
    batch = tuple(axis for axis, (p, q) in enumerate(zip(first.shape, second.shape)) if p != q)
    result = LazyTensor(first, second, batch)
    result.application = Application(function, inputs, constants, result)
    return result


def _refuse_made_from_stand_ins(name: str, inputs: tuple, constants: dict) -> None:
    """Refuse an argument that was computed, outside wengert's ops, from a stand-in."""
    for value in (*inputs, *constants.values()):
        found = _stand_in_value(value)
        if found is not None:
            raise OpValueError(
                f"{name}: an argument was computed from a lazy tensor's stand-in ({found}) while the graph was "
                "built, so the graph would keep it whatever is fed. Compute it with wengert's ops on the lazy "
                "tensor, or, in an op, inside forward from its input arrays (a batch size from x.shape[0] "
                f"there is the fed one).\n  inputs: {_described(inputs)}\n  constants: {constants}\n  "
                f"called at {call_site()}")


def _stand_in_value(value: Any) -> str | None:
    """What in ``value`` comes from a stand-in, if anything does."""
    if isinstance(value, LazyTensor):
        return None
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, _BatchInt):
        return f"the batch size {int(value)}"
    if isinstance(value, _StandIn):
        return f"an array {tuple(value.lazy_shape)} computed from its values"
    if isinstance(value, (tuple, list)):
        return next((found for found in map(_stand_in_value, value) if found is not None), None)
    if isinstance(value, dict):
        return _stand_in_value(tuple(value.values()))
    if isinstance(value, slice):
        return _stand_in_value((value.start, value.stop, value.step))
    return None


def _described(inputs: tuple) -> str:
    def one(value: Any) -> str:
        if isinstance(value, LazyTensor):
            return f"LazyTensor(shape={value.shape}, dtype={value.dtype})"
        if not isinstance(value, Tensor) and hasattr(value, "dtype") and hasattr(value, "shape"):
            return f"array(shape={tuple(value.shape)}, dtype={value.dtype})"
        return describe(value)

    return ", ".join(map(one, inputs))


def _with_lazy_shapes(error: WengertError, name: str, inputs: tuple, constants: dict) -> WengertError:
    """The op's own error, with None where the batch is in the lazy inputs' shapes."""
    message = str(error)
    for value in inputs:  # the op's message names the stand-ins' shapes, as tuples or as numpy writes them
        if isinstance(value, LazyTensor) and None in value.shape:
            stand_in, lazy_shape = _ndarray_shape.__get__(value.data), value.shape
            message = message.replace(str(stand_in), str(lazy_shape))
            message = message.replace(str(stand_in).replace(" ", ""), str(lazy_shape).replace(" ", ""))
    message = re.sub(r"\n  inputs: [^\n]*", lambda _: f"\n  inputs: {_described(inputs)}", message, count=1)
    note = f"\n  (building a graph: None is the batch, {STAND_IN_BATCH_SIZES[0]} long in the stand-ins that checked it)"
    if _holds_none(constants):
        note += "\n  (a constant holds None: the batch size is unknown while building; write -1 in a shape)"
    rebuilt = type(error).__new__(type(error))
    rebuilt.args = (message + note,)
    return rebuilt


def _holds_none(value: Any) -> bool:
    if isinstance(value, dict):
        return any(map(_holds_none, value.values()))
    return isinstance(value, (tuple, list)) and any(item is None or _holds_none(item) for item in value)


def recorded(inputs: list, outputs: list, names: dict | None) -> tuple[list, dict]:
    """For ``Graph(inputs, outputs)`` of lazy tensors: the applications the outputs depend on, in the
    order they were built, and the inputs' names (given, the placeholders' own, else by position).
    Raises LazyError, which Graph reports as a GraphError."""
    for tensor in [*inputs, *outputs]:
        if not isinstance(tensor, LazyTensor):
            raise LazyError(f"Graph: without a trace, inputs and outputs are lazy tensors (from wg.placeholder), "
                             f"not {type(tensor).__name__}; for eager tensors pass the trace of "
                             "`with wg.tracing() as trace:`")
    for tensor in inputs:
        if not tensor.is_placeholder:
            raise LazyError(f"Graph: an input must be a placeholder, not a lazy tensor computed by "
                             f"{tensor.application.function.name}")
    fed = {id(tensor) for tensor in inputs}
    applications, seen, stack = {}, set(), list(outputs)
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen or id(tensor) in fed:
            continue
        seen.add(id(tensor))
        if tensor.is_placeholder:
            raise LazyError(f"Graph: the outputs depend on placeholder {tensor.name or ''} {tensor.shape} "
                             f"{tensor.dtype}, which is not among the inputs".replace("  ", " "))
        applications[tensor.sequence] = tensor.application
        for value in tensor.application.inputs:
            if isinstance(value, LazyTensor):
                stack.append(value)
            elif isinstance(value, Tensor) and value.requires_grad and value.node is not None:
                raise LazyError(
                    f"Graph: {tensor.application.function.name} uses a tensor computed eagerly from parameters "
                    f"({value.node.function.name}): the graph would keep its value now and no gradient would "
                    "reach the parameters. Compute it inside the graph, from the parameters themselves")
    given = dict(names or {})
    taken = {}
    for number, tensor in enumerate(inputs, 1):
        name = given.get(tensor) or tensor.name or f"x{number}"
        if name in taken:
            raise LazyError(f"Graph: two inputs are named {name!r}")
        taken[name] = tensor
        given[tensor] = name
    return [applications[key] for key in sorted(applications)], given


def check_fed(name: str, placeholder: LazyTensor, value: Any) -> None:
    """Refuse a value fed for ``placeholder`` whose shape it does not allow (None dimensions take any length)."""
    shape = tuple(getattr(value, "shape", ()))
    wanted = placeholder.shape
    if len(shape) != len(wanted) or any(dim is not None and dim != length for dim, length in zip(wanted, shape)):
        raise OpValueError(f"Graph: input {name} is a placeholder of shape {wanted} (None: any length), "
                           f"fed an array of shape {shape} (at {call_site()})")
