"""The Wengert list: a computation written as a list of assignments, one op each.

    z1 = add(x1, x1)
    z2 = add(z1, x2)
    f = square(z2)

A ``Graph`` is made by tracing a function on example inputs (``Graph.trace``), from the tensors
computed inside ``with wg.tracing() as trace:`` (``Graph(inputs, outputs, trace)``), from lazy
tensors built on ``wg.placeholder`` inputs (``Graph(inputs, outputs)``, ``wengert.lazy``), or from
the lectures' tuple form (``Graph.from_list``), or from eager tensors' recorded history
(``Graph(inputs, outputs)`` before backward: what backward would walk). It prints as above, runs
(``g(feed)``), gives the gradients of its scalar output (``g.gradients(feed)``), and writes its own backward pass as
another Wengert list (``g.backward_graph()``) — built by tracing the engine's own VJP rules under
``create_graph``, so it is differentiable in turn. Running a graph applies the same op
definitions as eager code: a graph is a list of op applications, never a second copy of an op.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import lazy, ops
from .core.backend import namespace
from .core.backward import grad
from .core.errors import WengertError, call_site
from .core.function import OPS, AccumulateGrad, Application
from .core.grad_mode import enable_grad, watch
from .core.tensor import Tensor


class GraphError(WengertError, ValueError):
    """A graph that cannot be built or run as asked (an unknown op or name, a missing input)."""


@dataclass(frozen=True)
class Assignment:
    """``name = op(*arguments, **constants)``: arguments are variable names, or literal values
    (Python numbers, arrays) wrapped in ``Literal``."""

    name: str
    op: str
    arguments: tuple
    constants: dict = field(default_factory=dict)
    shape: tuple | None = None
    dtype: Any = None
    function: type | None = field(default=None, compare=False, repr=False)  # the Function a trace saw


@dataclass(frozen=True)
class Literal:
    """A value written into the list itself: a number, or an array the trace found as a constant."""

    value: Any

    def __str__(self) -> str:
        value = self.value
        if not hasattr(value, "shape"):
            return repr(value)
        if value.size == 1 and value.ndim == 0:
            return repr(value.item())
        return f"<array {tuple(value.shape)} {value.dtype}>"


class tracing(watch):
    """``with wg.tracing() as trace:`` records every op applied in the block, in order (a list of
    ``Application``: function, inputs, constants, result), for ``Graph(inputs, outputs, trace)``."""

    def __init__(self) -> None:
        super().__init__(trace=[])

    def __enter__(self) -> list:
        return super().__enter__().trace


class Graph:
    """A Wengert list: named inputs and parameters, assignments in order, named outputs.

    ``Graph(inputs, outputs, trace)`` keeps, from a trace, the applications that ``outputs``
    depend on. ``inputs`` are the tensors that a run feeds anew; a leaf tensor that requires
    grad and is not an input is a parameter (read when the graph runs, so a trained model's
    current values are used); any other value is a literal. Without ``trace``, ``inputs`` are
    placeholders and ``outputs`` lazy tensors, which hold the ops that made them; such a graph is
    fed by placeholder or by name, with arrays whose shapes its placeholders allow.
    """

    def __init__(self, inputs: Sequence[Tensor], outputs: Sequence[Tensor] | Tensor, trace: list | None = None,
                 names: dict | None = None, allow_unused: bool = False) -> None:
        outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
        self.placeholders: dict[str, Tensor] = {}  # for a lazy graph: each input's placeholder, to feed by
        history = trace is None and not any(isinstance(tensor, lazy.LazyTensor) for tensor in [*inputs, *outputs])
        if history:
            trace = _history(list(inputs), outputs)  # eager tensors: the graph that backward would walk
        elif trace is None:  # a graph built from wg.placeholder: each lazy tensor holds the op that made it
            try:
                trace, names = lazy.recorded(list(inputs), outputs, names)
            except lazy.LazyError as error:
                raise GraphError(str(error)) from None
            self.placeholders = {names[tensor]: tensor for tensor in inputs}
        given = {id(tensor): name for tensor, name in (names or {}).items()} if isinstance(names, dict) else {}
        self.inputs: list[str] = []
        self.parameters: dict[str, Tensor] = {}
        self.assignments: list[Assignment] = []
        self.examples: dict[str, Any] = {}
        variables: dict[int, str] = {}  # id(tensor) -> its variable's name
        for number, tensor in enumerate(inputs, 1):
            name = given.get(id(tensor), f"x{number}")
            variables[id(tensor)] = name
            self.inputs.append(name)
            self.examples[name] = tensor.data
        for tensor in outputs:
            if not isinstance(tensor, Tensor):
                raise GraphError(f"Graph: an output must be a Tensor, not {type(tensor).__name__}")
        kept = _needed(trace, outputs, variables)
        dropped = {a.function.name for a in trace if a.function.effect} - {a.function.name for a in kept}
        if dropped:  # a replay without them would silently not step, not count, not update statistics
            raise GraphError(f"Graph: the trace has effects ({', '.join(sorted(dropped))}) that no output depends "
                             "on, so running the graph would leave them out: pass their results as outputs too "
                             "(wg.compile does), or trace without them")
        parameter_numbers, step_numbers = itertools.count(1), itertools.count(1)
        output_names = _output_names(outputs, variables)
        by_node: dict[int, str] = {}  # a node's output re-wrapped by create_graph is the same variable
        used = set(self.inputs)
        kept_outputs = {id(tensor) for tensor in outputs}
        for application in kept:
            if id(application.result) not in kept_outputs and not application.function.random and not any(
                    isinstance(value, Tensor) and (id(value) in variables or value.requires_grad
                                                   or (value.node is not None and id(value.node) in by_node))
                    for value in application.inputs):
                continue  # constant folding: made from constants alone, its value is a constant too
            arguments = []
            for value in application.inputs:
                if isinstance(value, Tensor) and id(value) in variables:
                    arguments.append(variables[id(value)])
                elif isinstance(value, Tensor) and value.node is not None and id(value.node) in by_node:
                    arguments.append(by_node[id(value.node)])
                elif isinstance(value, Tensor) and value.requires_grad and value.node is None:
                    name = given.get(id(value)) or f"w{next(parameter_numbers)}"
                    used.add(name)
                    variables[id(value)] = name
                    self.parameters[name] = value
                    arguments.append(name)
                else:
                    arguments.append(Literal(value.data if isinstance(value, Tensor) else value))
            result = application.result
            name = given.get(id(result)) or output_names.get(id(result)) or f"z{next(step_numbers)}"
            while name in used:  # a given name may repeat one already taken (d of dz2 and of z2...)
                name += "'"
            used.add(name)
            variables[id(result)] = name
            if result.node is not None:
                by_node[id(result.node)] = name
            self.assignments.append(Assignment(name, application.function.name, tuple(arguments),
                                               dict(application.constants), tuple(result.shape), result.dtype,
                                               application.function))
        missing = [index for index, tensor in enumerate(outputs) if id(tensor) not in variables]
        if missing:
            raise GraphError(f"Graph: output {missing[0]} was not computed inside the trace from its inputs")
        self.outputs = [variables[id(tensor)] for tensor in outputs]
        self.labels = list(self.outputs)  # what each output is called, where that differs from its variable
        used_names = {a for step in self.assignments for a in step.arguments if isinstance(a, str)} | set(self.outputs)
        unused = [name for name in self.inputs if name not in used_names]
        if unused and not allow_unused and history:
            raise GraphError(
                f"Graph: the recorded history has no op on input {unused[0]}: eagerly, only ops on tensors that "
                "require grad are recorded (what backward walks), so what was computed from it alone (labels made "
                "one-hot, say) is a constant of this history. Record every op with `with wg.tracing() as trace:` "
                "and pass the trace, or pass allow_unused=True")
        if unused and not allow_unused:
            raise GraphError(
                f"Graph: no op uses input {unused[0]}. If the outputs depend on it, they do through code that is "
                "not a wengert op (numpy on .data or .numpy(), Python numbers from .item()), which a graph would "
                "keep as constants of this trace: compute with wengert's ops instead, or pass allow_unused=True "
                "if the outputs really do not depend on it")

    # --- making graphs ---------------------------------------------------------------------
    @classmethod
    def trace(cls, fn: Callable[..., Any], *examples: Any, names: Sequence[str] | None = None,
              allow_unused: bool = False) -> Graph:
        """The Wengert list of ``fn`` run on ``examples`` (arrays, numbers or Tensors): each becomes an
        input, named by ``names`` or ``x1, x2, ...``; ``fn`` returns a Tensor or a tuple of them.
        What ``fn`` computes without wengert's ops is kept as a constant of this trace."""
        inputs = [Tensor(_array(value)) for value in examples]
        with tracing() as recorded:
            outputs = fn(*inputs)
        names = dict(zip(inputs, names)) if names is not None else None
        return cls(inputs, outputs if isinstance(outputs, (tuple, list)) else [outputs], recorded, names, allow_unused)

    @classmethod
    def from_list(cls, assignments: Iterable[Sequence], inputs: Sequence[str],
                  outputs: Sequence[str] | None = None) -> Graph:
        """A graph from the lectures' form: ``[("z1", "add", ("x1", "x1")), ...]``, each entry
        ``(name, op, arguments)`` or ``(name, op, arguments, constants)``; an argument is a name or a
        number. Ops are found by name among wengert's ops. The last assignment is the output unless
        ``outputs`` names them."""
        graph = cls.__new__(cls)
        graph.inputs, graph.parameters, graph.examples = list(inputs), {}, {}
        graph.assignments = []
        known = set(inputs)
        for entry in assignments:
            if len(entry) not in (3, 4):
                raise GraphError(f"Graph.from_list: {entry!r} is not (name, op, arguments[, constants])")
            name, op, arguments = entry[:3]
            _runner(op)  # refuses an unknown op now, not at the first run
            arguments = (arguments,) if isinstance(arguments, str) else tuple(arguments)
            for argument in arguments:
                if isinstance(argument, str) and argument not in known:
                    raise GraphError(f"Graph.from_list: {name} = {op}(...) uses {argument!r} before it is assigned")
            known.add(name)
            graph.assignments.append(Assignment(
                name, op, tuple(argument if isinstance(argument, str) else Literal(argument) for argument in arguments),
                dict(entry[3]) if len(entry) == 4 else {}))
        if not graph.assignments:
            raise GraphError("Graph.from_list: the list has no assignments")
        graph.outputs = list(outputs) if outputs is not None else [graph.assignments[-1].name]
        graph.labels = list(graph.outputs)
        return graph

    def select(self, output: str) -> Graph:
        """The graph of one output (by label or variable name), without the assignments it does not need:
        ``g.backward_graph().select("dx1").backward_graph()`` is a second derivative."""
        if output in self.labels:
            name, label = self.outputs[self.labels.index(output)], output
        elif output in self.outputs:
            name, label = output, self.labels[self.outputs.index(output)]
        else:
            raise GraphError(f"Graph.select: no output {output!r}; the outputs are {', '.join(self.labels)}")
        needed, kept = {name}, []
        for step in reversed(self.assignments):
            if step.name in needed:
                kept.append(step)
                needed.update(a for a in step.arguments if isinstance(a, str))
        graph = Graph.__new__(Graph)
        graph.inputs, graph.examples = list(self.inputs), dict(self.examples)
        graph.parameters = {key: value for key, value in self.parameters.items() if key in needed}
        graph.assignments, graph.outputs, graph.labels = kept[::-1], [name], [label]
        if hasattr(self, "traced_shapes"):
            graph.traced_shapes = dict(self.traced_shapes)
        return graph

    def to_list(self) -> list[tuple]:
        """The lectures' tuple form, ``(name, op, arguments)``, with a fourth entry for constants."""
        rows = []
        for step in self.assignments:
            arguments = tuple(a if isinstance(a, str) else a.value for a in step.arguments)
            rows.append((step.name, step.op, arguments, dict(step.constants)) if step.constants
                        else (step.name, step.op, arguments))
        return rows

    # --- running ---------------------------------------------------------------------------
    def __call__(self, *values: Any, **named: Any) -> Any:
        """Run forward: ``g(feed)`` with a dict from input names to values, or ``g(x1, x2)``, or
        ``g(x1=..., x2=...)``. Returns the output Tensor, or a tuple of them."""
        results = self._run(self._feed(values, named))
        return results[0] if len(results) == 1 else tuple(results)

    def gradients(self, *values: Any, **named: Any) -> dict[str, Any]:
        """The gradient of the (one-element) output with respect to each floating input and each
        parameter, by name, as arrays (None for one the output does not depend on)."""
        feed = self._feed(values, named)
        leaves = {name: Tensor(value, value.dtype.kind == "f") for name, value in feed.items()}
        with enable_grad():
            (output,) = self._run(leaves, wanted=1)
            targets = {name: tensor for name, tensor in {**leaves, **self.parameters}.items() if tensor.requires_grad}
            if not output.requires_grad:
                return dict.fromkeys(targets)
            found = grad(output, list(targets.values()), allow_unused=True)
        return {name: None if value is None else value.data for name, value in zip(targets, found)}

    def backward_graph(self, *values: Any, wrt: Sequence[str] | None = None, **named: Any) -> Graph:
        """The backward pass as its own Wengert list: inputs are this graph's inputs and ``df`` (the
        output's gradient); outputs are ``d<input>`` and ``d<parameter>``; a variable ``d<z>`` is
        the gradient of this graph's ``z``. It is traced from the engine's VJP rules run with
        ``create_graph``, so it can be run, printed and differentiated again. Example values (for
        the shapes) come from the arguments, else from the trace (a placeholder's stand-in, whose
        free dimensions have length 2), else are scalars. The list holds those shapes, so it is
        fed arrays of those shapes only; trace one per batch size.

        ``wrt``: the names of the inputs and parameters to differentiate (default: every floating input
        and every parameter). The others get no ``d<name>``, nor the steps only it needed: a training
        step's backward pass computes no gradient for its batch."""
        feed = self._feed(values, named) if values or named else self._example_feed()
        if wrt is not None:
            wrt = [wrt] if isinstance(wrt, str) else list(wrt)
            known = [name for name, value in feed.items() if value.dtype.kind == "f"] + list(self.parameters)
            unknown = [name for name in wrt if name not in known]
            if not wrt:
                raise GraphError(f"Graph.backward_graph: wrt names nothing to differentiate; give some of "
                                 f"{', '.join(known)} (at {call_site()})")
            if unknown:
                raise GraphError(f"Graph.backward_graph: wrt names {', '.join(map(repr, unknown))}, which "
                                 f"{'is' if len(unknown) == 1 else 'are'} not a floating input or a parameter; "
                                 f"those are {', '.join(known)} (at {call_site()})")
        inputs = {name: Tensor(value, value.dtype.kind == "f" and (wrt is None or name in wrt))
                  for name, value in feed.items()}
        names: dict[Tensor, str] = {tensor: name for name, tensor in {**inputs, **self.parameters}.items()}
        with tracing() as recorded, enable_grad():
            (output,) = self._run(inputs, wanted=1, hooks=names)
            seed = Tensor(namespace(output.data).ones_like(output.data))
            names[seed] = "d" + self.outputs[0]
            targets = {name: tensor for name, tensor in {**inputs, **self.parameters}.items()
                       if tensor.requires_grad and (wrt is None or name in wrt)}
            for name, tensor in targets.items():
                tensor.register_hook(_namer(names, "d" + name))
            gradients = grad(output, list(targets.values()), grad_outputs=seed, create_graph=True, allow_unused=True)
        kept = [(f"d{name}", value) for name, value in zip(targets, gradients) if value is not None]
        for label, value in kept:
            names.setdefault(value, label)  # a gradient no hook saw (say, of an unused input) is named here
        graph = Graph([*inputs.values(), seed], [value for _, value in kept], recorded, names, allow_unused=True)
        graph.labels = [label for label, _ in kept]
        # the VJPs wrote this trace's shapes into the list (a mean's count, the shape a gradient is
        # broadcast back to): fed other shapes it would be wrong, so it is fed these only
        graph.traced_shapes = {name: tuple(value.shape) for name, value in graph.examples.items()}
        return graph

    # --- printing ----------------------------------------------------------------------------
    def __str__(self) -> str:
        width = max([len(_assignment_text(step)) for step in self.assignments], default=0)
        lines = [f"# inputs: {', '.join(self._described(name) for name in self.inputs) or 'none'}"]
        if self.parameters:
            lines.append(f"# parameters: {', '.join(self._described(name) for name in self.parameters)}")
        for step in self.assignments:
            text = _assignment_text(step)
            lines.append(text if step.shape is None else f"{text:<{width}}  # {step.shape} {step.dtype}")
        outputs = [name if label == name else f"{label} = {name}" for label, name in zip(self.labels, self.outputs)]
        lines.append(f"# outputs: {', '.join(outputs)}")
        return "\n".join(lines)

    __repr__ = __str__

    def _described(self, name: str) -> str:
        value = self.parameters[name].data if name in self.parameters else self.examples.get(name)
        lazy_input = name in getattr(self, "placeholders", {})  # its example is a stand-in: None where the batch is
        shape = value.lazy_shape if lazy_input else None
        return name if value is None else f"{name} {shape or tuple(value.shape)} {value.dtype}"

    # --- helpers -------------------------------------------------------------------------------
    def _feed(self, values: tuple, named: dict) -> dict[str, Any]:
        if len(values) == 1 and isinstance(values[0], dict):
            named = {**{self._input_name(key): value for key, value in values[0].items()}, **named}
            values = ()
        if len(values) > len(self.inputs):
            raise GraphError(f"Graph: {len(values)} values for {len(self.inputs)} inputs ({', '.join(self.inputs)})")
        feed = {**dict(zip(self.inputs, values)), **named}
        unknown = [name for name in feed if name not in self.inputs]
        missing = [name for name in self.inputs if name not in feed]
        if unknown or missing:
            raise GraphError(f"Graph: the inputs are {', '.join(self.inputs)}; "
                             + (f"unknown: {', '.join(unknown)}" if unknown else f"missing: {', '.join(missing)}"))
        feed = {name: _array(value) for name, value in feed.items()}
        for name, placeholder in getattr(self, "placeholders", {}).items():
            lazy.check_fed(name, placeholder, feed[name])
        for name, shape in getattr(self, "traced_shapes", {}).items():
            if tuple(feed[name].shape) != shape:
                raise GraphError(
                    f"Graph: this backward graph was traced with {name} of shape {shape} and is fed one of shape "
                    f"{tuple(feed[name].shape)} (at {call_site()}). Its assignments hold the traced shapes (a mean's "
                    "count, the shape a gradient is broadcast back to), so it runs at those alone: make one for "
                    "these shapes, forward_graph.backward_graph(<this feed without its d-input>)")
        return feed

    def _input_name(self, key: Any) -> str:
        """The input that a feed's key names: a name, or a placeholder (which may have none of its own)."""
        found = [name for name, tensor in getattr(self, "placeholders", {}).items() if tensor is key]
        return found[0] if found else _name_of(key)

    def _example_feed(self) -> dict[str, Any]:
        return {name: self.examples.get(name, _array(1.0)) for name in self.inputs}

    def evaluate(self, feed: dict[str, Any]) -> dict[str, Any]:
        """Every variable's value (inputs, parameters, each assignment's result) for ``feed``, a dict
        from input names to values (Tensors are used as they are, so gradients can reach them)."""
        values: dict[str, Any] = {name: value if isinstance(value, Tensor) else Tensor(value)
                                  for name, value in feed.items()}
        values.update(self.parameters)
        for step in self.assignments:
            arguments = [values[a] if isinstance(a, str) else a.value for a in step.arguments]
            apply = step.function.apply if step.function is not None else _runner(step.op)
            values[step.name] = apply(*arguments, **step.constants)
        return values

    def _run(self, feed: dict[str, Any], wanted: int | None = None, hooks: dict | None = None) -> list:
        """Apply the assignments in order; returns the outputs (all, or ``wanted`` of them, checked).
        With ``hooks`` (tensor -> name), each variable's gradient is named ``d<variable>`` there."""
        if wanted is not None and len(self.outputs) != wanted:
            raise GraphError(f"Graph: gradients need one output, this graph has {len(self.outputs)}")
        values = self.evaluate(feed)
        if hooks is not None:
            for step in self.assignments:
                result = values[step.name]
                if isinstance(result, Tensor) and result.requires_grad:
                    result.register_hook(_namer(hooks, "d" + step.name))
        outputs = [values[name] for name in self.outputs]
        if wanted is not None and outputs[0].size != 1:
            raise GraphError(f"Graph: gradients need a one-element output; {self.outputs[0]} has shape "
                             f"{tuple(outputs[0].shape)}")
        return outputs


def _history(inputs: list, outputs: list) -> list[Application]:
    """For ``Graph(inputs, outputs)`` of eager tensors: their recorded history (the nodes that backward
    would walk from the outputs) as the applications a trace would have recorded, in creation order.
    A node's output that nobody holds any more is stood in for by a Tensor of its shape and dtype."""
    for tensor in outputs:
        if isinstance(tensor, Tensor) and tensor.node is None and not any(tensor is given for given in inputs):
            raise GraphError("Graph: an output has no recorded history (computed without grad, or from inputs "
                             "that need none); record it with `with wg.tracing() as trace:` and pass the trace")
    stops = {id(tensor.node): tensor for tensor in inputs if isinstance(tensor, Tensor) and tensor.node is not None}
    results = {id(tensor.node): tensor for tensor in outputs if isinstance(tensor, Tensor) and tensor.node is not None}
    nodes, stack = {}, [tensor.node for tensor in outputs if isinstance(tensor, Tensor) and tensor.node is not None]
    while stack:
        node = stack.pop()
        if id(node) in nodes or id(node) in stops or node.function is AccumulateGrad:
            continue
        nodes[id(node)] = node
        stack.extend(parent for parent in node.parents if parent is not None)
    trace = []
    for node in sorted(nodes.values(), key=lambda node: node.sequence):
        if node.inputs is None and None in node.parents:
            raise GraphError(f"Graph: the {node.function.name} node of this history was freed by backward(); "
                             "build the Graph before calling backward, or backward(retain_graph=True)")
        arguments = []
        for position, parent in enumerate(node.parents):
            if parent is None:
                arguments.append(node.inputs[position])
            elif id(parent) in stops:
                arguments.append(stops[id(parent)])
            elif parent.function is AccumulateGrad:
                leaf = parent.variable()
                if leaf is None:
                    raise GraphError(f"Graph: a leaf that {node.function.name} used no longer exists")
                arguments.append(leaf)
            else:
                arguments.append(results[id(parent)])
        result = results.get(id(node))
        if result is None:
            xp = namespace(0.0)  # a stand-in of the right shape and dtype that takes no memory
            result = results[id(node)] = Tensor(xp.broadcast_to(xp.zeros((), node.dtype), node.shape), True, node)
        trace.append(Application(node.function, tuple(arguments), dict(node.constants or {}), result))
    return trace


def _needed(trace: list, outputs: list, inputs: dict) -> list[Application]:
    """The applications of ``trace`` that ``outputs`` depend on, stopping at ``inputs``, in order."""
    made = {id(application.result): application for application in trace}
    wanted = {id(tensor) for tensor in outputs if id(tensor) not in inputs}
    kept = []
    for application in reversed(trace):
        if id(application.result) not in wanted:
            continue
        kept.append(application)
        for value in application.inputs:
            if isinstance(value, Tensor) and id(value) in made and id(value) not in inputs:
                wanted.add(id(value))
    return kept[::-1]


def _output_names(outputs: list, variables: dict) -> dict[int, str]:
    """``f`` for one output, ``f1, f2...`` for several (unless an output is an input already)."""
    fresh = [tensor for tensor in outputs if id(tensor) not in variables]
    if len(fresh) == 1:
        return {id(fresh[0]): "f"}
    return {id(tensor): f"f{number}" for number, tensor in enumerate(fresh, 1)}


def _assignment_text(step: Assignment) -> str:
    arguments = [a if isinstance(a, str) else str(a) for a in step.arguments]
    arguments += [f"{key}={value!r}" for key, value in step.constants.items()]
    return f"{step.name} = {step.op}({', '.join(arguments)})"


def _runner(op: str) -> Callable[..., Any]:
    """How to apply the op named ``op``: wengert's op of that name (as a trace records it), else the
    function of that name in wengert's namespace."""
    function = OPS.get(op)
    if function is not None:
        return function.apply
    found = getattr(ops, op, None)
    if callable(found):
        return found
    raise GraphError(f"Graph: no op named {op!r} (ops are wengert's: add, multiply, square, exp, sum, matmul...)")


def _namer(names: dict, name: str) -> Callable[[Any], None]:
    """A hook that names the gradient it sees ``name`` (the first name a value gets stays)."""
    def name_gradient(gradient: Any) -> None:
        names.setdefault(gradient, name)

    return name_gradient


def _name_of(key: Any) -> str:
    return key if isinstance(key, str) else getattr(key, "name", str(key))


def _array(value: Any) -> Any:
    """A value fed to a graph as an array (Python floats in float64, so that gradients are exact)."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        return value
    return namespace(value).asarray(value)
