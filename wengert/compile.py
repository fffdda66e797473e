"""``wg.compile(fn)``: trace ``fn`` into a Wengert list once per input signature, then replay it as
straight-line code that calls each op's own forward on arrays, with no tensors, nodes or checks
in between.

    @wg.compile
    def loss_of(x, y):
        return F.cross_entropy(model(x), y)

    loss = loss_of(x, y)        # traced on the first call with these shapes and dtypes, replayed after
    loss.backward()             # the backward pass is compiled too: one node in the eager graph
    optimizer.step()

When a gradient may flow (grad mode on, and an input or a parameter requires grad), the traced
forward is differentiated once more under tracing (``create_graph``: the engine's own VJP rules,
recorded as ops), giving a joint Wengert list. Its forward part runs when the compiled function
is called, keeping the values its backward part needs; the backward part runs when the eager
engine reaches the call's node. The first output carries the gradient; others (logits beside a
loss, say) come back detached.

A trace records ops, not Python, so what would make a replay wrong is refused: reading a
tensor's value while tracing (``.item()``, ``if tensor:``; a ``TraceError``), drawing random
numbers outside an op (dropout's mask is an op, which draws anew at each replay), or an input
that no op uses (its values reached the outputs by other means).
A new signature (shapes, dtypes, requires_grad, number arguments, grad mode) or a parameter
whose shape or dtype changed traces again. Parameters are the tensors the trace saw: a model
whose parameters are replaced by new tensor objects needs a new ``wg.compile``.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import itertools
import math
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from .core import blas
from .core.backend import batch_out, namespace, products
from .core.backward import AccumulateInto, grad
from .core.creation import default_generator
from .core.errors import BackwardError, WengertError
from .core.function import Function, _no_context
from .core.grad_mode import enable_grad, grad_enabled
from .core.tensor import Tensor, version_cell
from .graph import Assignment, Graph, Literal, _array, _runner, tracing
from .nn.functional import Linear
from .ops.conv import (
    Convolution,
    ConvolutionColumns,
    ConvolutionFromColumns,
    ConvolutionWeight,
    ConvolutionWeightFromColumns,
    shared_columns,
)
from .ops.linalg import Matmul
from .ops.pooling import MaxPool2d, MaxPool2dBackward, MaxPool2dScatter, MaxPool2dWinners, Part
from .ops.shape import Reshape


class CompileError(WengertError, ValueError):
    """A function that cannot be compiled faithfully (random numbers, unsupported arguments)."""


def compile(fn: Callable[..., Any] | None = None) -> Any:
    """``fn`` traced per input signature and replayed as straight-line code; also a decorator."""
    if fn is None:
        return compile
    return Compiled(fn)


class Compiled:
    """A compiled function: call it like ``fn``. ``programs`` holds one program per signature."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.programs: dict[tuple, Program] = {}
        self.traces = 0
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any) -> Any:
        key = (tuple(_signature(value) for value in args), grad_enabled())
        program = self.programs.get(key)
        if program is None or not program.valid():
            program = self.programs[key] = Program(self.fn, args, key[1])
            self.traces += 1
            if program.traced is not None:  # the trace made this call's effects already: not twice
                result, program.traced = program.traced, None
                return result
        return program(args)


class Program:
    """One trace of a function, compiled: a forward (and, when differentiable, a backward) program."""

    def __init__(self, fn: Callable[..., Any], args: tuple, differentiate: bool) -> None:
        positions = [index for index, value in enumerate(args) if _is_array(value)]
        leaves = {index: Tensor(_array(args[index]), _wants_grad(args[index])) for index in positions}
        call = [leaves.get(index, value) for index, value in enumerate(args)]
        state = default_generator.get_state()
        with tracing() as trace:
            result = fn(*call)
        if default_generator.get_state() != _drawn_by_ops(state, trace):
            raise CompileError("compile: the function draws random numbers outside wengert's ops (numpy on a "
                               "generator, say): a replay would reuse the same ones every call; draw them with an op "
                               "(dropout does), or run that part eagerly")
        outputs = list(result) if isinstance(result, (tuple, list)) else [result]
        if not outputs or not all(isinstance(output, Tensor) for output in outputs):
            raise CompileError("compile: the function must return a Tensor or a tuple of Tensors")
        self.single = not isinstance(result, (tuple, list))
        inputs = [leaves[index] for index in positions]
        # a whole step (backward, optimizer.step() inside): its effects stay in their places
        effects = [application.result for application in trace if application.function.effect]
        random_ops = [application for application in trace if application.function.random]
        wants_gradient = outputs[0].requires_grad or any(leaf.requires_grad for leaf in inputs)
        if (effects and differentiate and wants_gradient
                and not any(application.function is AccumulateInto for application in trace)):
            names = sorted({application.function.name for application in trace if application.function.effect})
            raise CompileError(f"compile: the function has effects ({', '.join(names)}: an optimizer's step, "
                               "zero_grad, batch norm's running statistics) and returns a result to differentiate; "
                               "a compiled program with effects is a whole step: compile the training step with "
                               "backward() and optimizer.step() inside, or put the model in eval mode")
        if effects and any(leaf.requires_grad for leaf in inputs):
            raise CompileError("compile: a function that calls backward() or step() takes inputs that do not "
                               "require grad (the batch); gradients for its inputs would go to copies of them")
        graph = Graph(inputs, [*outputs, *effects], trace)
        self.positions = positions
        self.parameters = list(graph.parameters.values())
        self.shapes = [(p.data.shape, p.data.dtype) for p in self.parameters]
        self.traced = None
        if effects:
            differentiate = False
            graph.outputs = graph.outputs[:len(outputs)]
            self.traced = outputs[0].detach() if self.single else tuple(output.detach() for output in outputs)
        self.wants = [leaf.requires_grad for leaf in inputs] + [True] * len(self.parameters)
        self.differentiable = (differentiate and any(self.wants) and outputs[0].requires_grad
                               and outputs[0].dtype.kind == "f")
        self.sources: list[str] = []  # the generated code and its assignments, for reading (and for tests)
        if not self.differentiable:
            if random_ops and self.traced is None:  # this call's result is the trace's: its masks were drawn
                self.traced = outputs[0].detach() if self.single else tuple(output.detach() for output in outputs)
            examples = dict(zip(graph.inputs, (leaf.data for leaf in inputs)))
            kinds = _kinds(graph, examples)
            shapes = _shapes(graph, examples)
            steps, results = _common_subexpressions(graph.assignments, graph.outputs, shapes)
            self.copied = _merged_apart(results, outputs)
            steps = _side_by_side(_shared_forward_work(steps, shapes, graph.parameters), shapes)
            self.traced_steps, self.assignments = len(graph.assignments), steps
            self.forward = self._generate(steps, [*graph.inputs, *graph.parameters], results, [], kinds)
            return
        generators = {id(g): g for g in [default_generator, *(a.constants.get("generator") for a in random_ops)]
                      if g is not None}.values()
        states = [(generator, generator.get_state()) for generator in generators]
        joint, seed, reached = _joint(graph, inputs)
        reaches = iter(reached)
        self.wants = [wanted and next(reaches) for wanted in self.wants]
        for generator, state in states:  # the joint trace drew dropout's masks again: those draws do not count
            generator.set_state(state)
        if random_ops:  # the trace's own result, whose masks this call drew, not a replay drawing others
            self.traced = outputs[0] if self.single else tuple(outputs)
        kinds = _kinds(joint, {**dict(zip(graph.inputs, (leaf.data for leaf in inputs))),
                               seed: joint.examples[seed]})
        shapes = _shapes(joint, joint.examples)
        steps, results = _common_subexpressions(joint.assignments, joint.outputs, shapes)
        self.copied = _merged_apart(results[:len(outputs)], outputs)
        steps = _shared_forward_work(steps, shapes, joint.parameters)
        self.traced_steps, self.assignments = len(joint.assignments), steps
        forward_names = _needed_names(steps, results[:len(outputs)])
        forward_steps = _side_by_side([step for step in steps if step.name in forward_names], shapes)
        backward_steps = _side_by_side([step for step in steps if step.name not in forward_names], shapes)
        self.assignments = forward_steps + backward_steps  # what the two programs run, in order
        joint_names = {id(tensor): name for name, tensor in joint.parameters.items()}
        arguments = [*joint.inputs[:-1], *(joint_names[id(p)] for p in self.parameters)]
        used_later = {a for step in backward_steps for a in step.arguments if isinstance(a, str)}
        used_later |= set(results[len(outputs):])
        saved = [name for name in dict.fromkeys(s.name for s in forward_steps) if name in used_later]
        self.forward = self._generate(forward_steps, arguments, results[:len(outputs)], saved, kinds)
        self.backward = self._generate(backward_steps, [*arguments, seed], results[len(outputs):], [], kinds,
                                       held=saved)
        self.saved_count = len(saved)
        self.extras: tuple = ()

    def _generate(self, *args: Any, **kwargs: Any) -> Callable:
        program, source = _generate(*args, **kwargs)
        self.sources.append(source)
        return program

    def valid(self) -> bool:
        """Whether the parameters still have the shapes and dtypes that were traced."""
        return all((p.data.shape, p.data.dtype) == shape for p, shape in zip(self.parameters, self.shapes))

    def __call__(self, args: tuple) -> Any:
        tensors = [args[index] if isinstance(args[index], Tensor) else Tensor(_array(args[index]))
                   for index in self.positions]
        if not self.differentiable:
            results, _ = self.forward(*[t.data for t in tensors], *[p.data for p in self.parameters])
            results = [Tensor(self._own(index, value)) for index, value in enumerate(results)]
        else:
            first = CompiledCall.apply(*tensors, *self.parameters, program=self)
            results = [first, *(Tensor(self._own(index, value)) for index, value in enumerate(self.extras, 1))]
            self.extras = ()
            if first.node is not None:  # results that the backward reads: changing one in place is refused
                held = [value for value in first.node.saved[0] if hasattr(value, "dtype")]
                first.node._set_extra("results", [(version_cell(result), version_cell(result)[0], result.shape)
                                                  for result in results if _reads(result.data, held)])
        return results[0] if self.single else tuple(results)

    def _own(self, index: int, value: Any) -> Any:
        """Result ``index``, copied where common subexpressions made it one array with an earlier
        result that the trace gave apart (two results computed alike): as many arrays as eagerly."""
        return namespace(value).copy(value) if index in self.copied else value


def _merged_apart(names: list[str], traced: list[Tensor]) -> frozenset:
    """The positions of results that are an earlier result's variable but whose traced arrays
    shared no memory with it (``y, y`` or two views of one input stay shared, as eagerly)."""
    def shared(a: Any, b: Any) -> bool:
        return namespace(a).shares_memory(a, b)
    return frozenset(index for index, name in enumerate(names[:len(traced)]) if name in names[:index] and not any(
        names[earlier] == name and shared(traced[index].data, traced[earlier].data) for earlier in range(index)))


def _reads(result: Any, held: list) -> bool:
    """Whether ``result`` shares memory with a value the backward reads (is one, or a view of one)."""
    xp = namespace(result)
    return any(xp.may_share_memory(result, value) and xp.shares_memory(result, value) for value in held)


class CompiledCall(Function):
    """A compiled program as one op of the eager graph: forward runs its forward part and keeps
    what its backward part needs; backward runs that part (first derivatives only)."""

    name = "compiled"

    def forward(ctx, *arrays, program):
        outputs, saved = program.forward(*arrays)
        program.extras = outputs[1:]  # handed to the caller at once (Program.__call__)
        ctx.save(list(saved), *arrays)  # a list that the backward program empties, freeing as it goes
        return outputs[0]

    def backward(ctx, upstream):
        if isinstance(upstream, Tensor):
            raise CompileError("compile: a compiled function gives first derivatives only; for higher "
                               "ones (create_graph) run it eagerly")
        program = ctx.constants["program"]
        held, *arrays = ctx.saved
        if len(held) != program.saved_count:
            raise CompileError("compile: this call's backward has run already, and freed what it kept as it went "
                               "(retain_graph does not keep a compiled call's values); call the function again")
        for cell, version, shape in ctx._extra("results") or ():
            if cell[0] != version:
                raise BackwardError(f"backward of compiled: a result of shape {tuple(shape)}, which its backward "
                                    f"reads, was modified in place afterwards (version {cell[0]}, returned at "
                                    f"version {version}), so the gradient would be wrong. Modify a copy instead.")
        gradients, _ = program.backward(held, *arrays, upstream)
        found = iter(gradients)
        return tuple(next(found) if wanted else None for wanted in program.wants)


# --- building programs ----------------------------------------------------------------------------

def _joint(graph: Graph, inputs: list) -> tuple[Graph, str, list[bool]]:
    """The forward and backward pass of ``graph``'s first output, traced as one Wengert list whose
    inputs are the graph's inputs and ``df``; outputs: the forward's, then the gradient of each
    wanted input and parameter that the output depends on; and for each, whether it does (one that
    does not gets no gradient, its ``.grad`` stays None, as eagerly)."""
    with tracing() as trace, enable_grad():
        fresh = {name: Tensor(leaf.data, leaf.requires_grad) for name, leaf in zip(graph.inputs, inputs)}
        values = graph.evaluate(fresh)
        outputs = [values[name] for name in graph.outputs]
        seed = Tensor(namespace(outputs[0].data).ones_like(outputs[0].data))
        targets = [tensor for tensor in fresh.values() if tensor.requires_grad] + list(graph.parameters.values())
        gradients = grad(outputs[0], targets, grad_outputs=seed, create_graph=True, allow_unused=True)
    names = {tensor: name for name, tensor in fresh.items()}
    names[seed] = "df"
    reached = [value is not None for value in gradients]
    gradients = [value for value in gradients if value is not None]
    return Graph([*fresh.values(), seed], [*outputs, *gradients], trace, names, allow_unused=True), "df", reached


def _common_subexpressions(steps: list[Assignment], outputs: list[str],
                           shapes: dict) -> tuple[list[Assignment], list[str]]:
    """The steps with each repeated computation (the same op on the same arguments with the same
    constants) done once: a later copy's uses read the first one's variable. Effects are never
    merged, and nothing is merged across one (after an optimizer's step, the same op on a
    parameter gives another value). A reshape to the shape its input has (a linear layer's
    backward flattening a batch that is flat already) is that input. ``shapes``: each variable's."""
    renamed: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    kept = []
    for step in steps:
        arguments = tuple(renamed.get(a, a) if isinstance(a, str) else a for a in step.arguments)
        if arguments != step.arguments:
            step = dataclasses.replace(step, arguments=arguments)
        if step.function is not None and step.function.effect:
            seen.clear()
            kept.append(step)
            continue
        if step.function is not None and step.function.random:  # two masks drawn alike are two masks
            kept.append(step)
            continue
        if step.function is Reshape and isinstance(arguments[0], str) and shapes.get(arguments[0]) == step.shape:
            renamed[step.name] = arguments[0]
            continue
        key = (step.op, step.function, tuple(a if isinstance(a, str) else _identity(a.value) for a in arguments),
               tuple((name, _identity(value)) for name, value in sorted(step.constants.items())))
        if key in seen:
            renamed[step.name] = seen[key]
            continue
        seen[key] = step.name
        kept.append(step)
    return kept, [renamed.get(name, name) for name in outputs]


def _shared_forward_work(steps: list[Assignment], shapes: dict, parameters: Any) -> list[Assignment]:
    """The steps with conv and max-pool split where their backward would redo their forward's work:
    conv's weight gradient (conv_weight) makes the forward's im2col columns again, and max-pool's
    gradient (max_pool2d_backward) finds the windows' maxima again. Eager ops keep those in their
    context; here the forward becomes two steps whose middle value the backward step reads instead.
    Only for an input that no effect can change between the two: not a parameter (an optimizer's
    step may come between), but a batch or a computed value. ``shapes``: each variable's shape."""
    candidates: dict[tuple, list[int]] = {}  # ("conv" | "pool", input variable) -> forward steps
    readers: dict[int, list[int]] = collections.defaultdict(list)  # forward step -> its backward steps
    splits: dict[int, dict] = {}  # forward step -> the constants of its first half
    for index, step in enumerate(steps):
        function, arguments = step.function, step.arguments
        if (function in (Convolution, MaxPool2d) and isinstance(arguments[0], str) and arguments[0] not in parameters
                and step.shape is not None):
            candidates.setdefault((function.name, arguments[0]), []).append(index)
        elif function is ConvolutionWeight and isinstance(arguments[0], str):
            for forward in candidates.get(("conv", arguments[0]), []):
                weight = steps[forward].arguments[1]
                kernel = tuple(shapes[weight][2:]) if isinstance(weight, str) and weight in shapes else None
                constants = kernel and shared_columns(steps[forward].constants, kernel, step.constants)
                if constants:
                    splits[forward] = constants
                    readers[forward].append(index)
                    break
        elif function is MaxPool2dBackward and isinstance(arguments[1], str) and arguments[1] in shapes:
            for forward in candidates.get(("max_pool2d", arguments[1]), []):
                if steps[forward].constants == step.constants:
                    splits[forward] = step.constants
                    readers[forward].append(index)
                    break
    if not splits:
        return steps
    replaced: dict[int, Assignment] = {}
    firsts: dict[int, list[Assignment]] = {}
    for forward, constants in splits.items():
        step = steps[forward]
        x = step.arguments[0]
        if step.function is Convolution:
            columns = f"{step.name}_columns"
            firsts[forward] = [Assignment(columns, "conv_columns", (x,), constants, function=ConvolutionColumns),
                               dataclasses.replace(step, op="conv_from_columns",
                                                   arguments=(columns, *step.arguments[1:]),
                                                   constants={"out": tuple(step.shape[2:])},
                                                   function=ConvolutionFromColumns)]
            for reader in readers[forward]:
                replaced[reader] = dataclasses.replace(
                    steps[reader], op="conv_weight_from_columns", arguments=(columns, steps[reader].arguments[1]),
                    constants={"shape": tuple(shapes[step.arguments[1]])}, function=ConvolutionWeightFromColumns)
        else:
            pair, places = f"{step.name}_winners", f"{step.name}_places"
            firsts[forward] = [Assignment(pair, "max_pool2d_winners", (x,), constants, function=MaxPool2dWinners),
                               dataclasses.replace(step, op="part", arguments=(pair,), constants={"index": 0},
                                                   function=Part),
                               Assignment(places, "part", (pair,), {"index": 1}, function=Part)]
            for reader in readers[forward]:
                replaced[reader] = dataclasses.replace(
                    steps[reader], op="max_pool2d_scatter", arguments=(steps[reader].arguments[0], places),
                    constants={"in_shape": tuple(shapes[x]), **constants}, function=MaxPool2dScatter)
    result = []
    for index, step in enumerate(steps):
        result.extend(firsts.get(index, [replaced.get(index, step)]))
    return result


class Products(Function):
    """Matrix products run side by side, one core each (``blas.products``): operands ``x1, y1, x2,
    y2, ...`` give ``(x1 @ y1, x2 @ y2, ...)``, where a product that was a ``linear`` reads ``y``
    transposed. Where BLAS cannot run them so, each is its own op's forward, one after another."""

    name = "products"
    differentiable = False

    def forward(ctx, *operands, linear=()):
        pairs = [(x, y.mT if transposed else y) for x, y, transposed in zip(operands[::2], operands[1::2], linear)]
        # each result laid out as its own op lays it out (a batch through a layer: column-major)
        found = products(pairs, [batch_out(x, y) if transposed else None for (x, y), transposed in zip(pairs, linear)])
        if found is not None:
            return tuple(found)
        return tuple(Linear.forward(ctx, x, y) if transposed else Matmul.forward(ctx, x, y)
                     for x, y, transposed in zip(operands[::2], operands[1::2], linear))


def _side_by_side(steps: list[Assignment], shapes: dict) -> list[Assignment]:
    """The steps with pairs of matrix products that do not depend on each other (a layer's two
    gradients: its input's and its weight's) made one ``Products`` step, in the later one's place:
    the two then run side by side, one core each (784-512 at batch 128: 716 -> 506 us). A product
    moves down only past steps that do not read it, and never past an effect (which could change
    what it reads: an optimizer's step changes a weight)."""
    def product(step: Assignment) -> bool:  # a large product of matrices: linear without a bias, or matmul
        if not (step.function in (Linear, Matmul) and len(step.arguments) == 2 and not step.constants
                and all(isinstance(a, str) and len(shapes.get(a, ())) == 2 for a in step.arguments)):
            return False
        (rows, inner), columns = shapes[step.arguments[0]], shapes[step.arguments[1]][step.function is Matmul]
        return rows * inner * columns >= blas.WORTHWHILE and inner >= blas.SHORTEST  # else not side by side

    partner: dict[int, int] = {}  # the earlier product of a pair -> the later one
    for first, step in enumerate(steps):
        if not product(step) or first in partner.values():
            continue
        for later in range(first + 1, len(steps)):
            other = steps[later]
            if step.name in other.arguments or other.function is None or other.function.effect:
                break
            if product(other) and later not in partner.values():
                partner[first] = later
                break
    if not partner:
        return steps
    result = []
    merged = {later: first for first, later in partner.items()}
    for index, step in enumerate(steps):
        if index in partner:
            continue  # computed with its partner
        if index not in merged:
            result.append(step)
            continue
        pair = (steps[merged[index]], step)
        name = f"{step.name}_products"
        result.append(Assignment(name, "products", (*pair[0].arguments, *pair[1].arguments),
                                 {"linear": tuple(p.function is Linear for p in pair)}, function=Products))
        result += [dataclasses.replace(p, op="part", arguments=(name,), constants={"index": number}, function=Part)
                   for number, p in enumerate(pair)]
    return result


def _shapes(graph: Graph, examples: dict) -> dict:
    """Each variable's shape: the inputs' (from ``examples``), the parameters', and every step's."""
    shapes = {name: tuple(value.shape) for name, value in examples.items()}
    shapes.update({name: tuple(p.data.shape) for name, p in graph.parameters.items()})
    shapes.update({step.name: tuple(step.shape) for step in graph.assignments if step.shape is not None})
    return shapes


def _drawn_by_ops(state: dict, trace: list) -> dict:
    """The default generator's state after the trace's random ops (dropout's masks) drew from it,
    starting at ``state``: what it must be if nothing else drew, which a replay could not repeat."""
    random_ops = [application for application in trace if application.function.random
                  and application.constants.get("generator") is None]
    if not random_ops:
        return state
    saved = default_generator.get_state()
    try:
        default_generator.set_state(state)
        for application in random_ops:  # the same draws again, on the default generator put back
            application.function.forward(None, *(value.data if isinstance(value, Tensor) else value
                                                 for value in application.inputs), **application.constants)
        return default_generator.get_state()
    finally:
        default_generator.set_state(saved)


def _identity(value: Any) -> Any:
    """A hashable stand-in for a literal or constant: numbers and strings by value (and type, so
    that 1, 1.0 and True differ), tuples item by item, anything else (arrays) by identity."""
    if value is None or isinstance(value, (bool, int, float, complex, str)):
        return (type(value), value)
    if isinstance(value, tuple):
        return tuple(_identity(item) for item in value)
    return ("object", id(value))


def _needed_names(steps: list[Assignment], outputs: list[str]) -> set:
    needed = set(outputs)
    for step in reversed(steps):
        if step.name in needed:
            needed.update(a for a in step.arguments if isinstance(a, str))
    return needed


def _bare(step: Assignment, kinds: dict) -> bool:
    """Whether ``step`` is an elementwise op (it has a bare ``rule``) with no constants, whose
    inputs, as traced, need no dtype cast of wengert's own (none at all, or the one numpy's ufunc
    makes itself): then compiled code calls the rule alone."""
    function = step.function
    if function is None or not hasattr(function, "rule") or step.constants or not kinds:
        return False
    examples = []
    for argument in step.arguments:
        if isinstance(argument, str):
            ndim, dtype = kinds[argument]
            examples.append(kinds["xp"].empty((1,) * ndim, dtype=dtype))
        else:
            value = argument.value  # a number stays a number (weak in promotion); an array, its kind
            examples.append(kinds["xp"].empty((1,) * value.ndim, dtype=value.dtype) if hasattr(value, "ndim")
                            else value)
    promoted = function.promotion(tuple(examples))
    # no cast to make, or one that numpy makes by itself inside the ufunc (float32 * bool, say)
    return promoted is None or kinds["xp"].result_type(*examples) == promoted


def _kinds(graph: Graph, examples: dict) -> dict:
    """Each variable's (ndim, dtype), and the array namespace, for ``_bare``."""
    kinds = {name: (value.ndim, value.dtype) for name, value in examples.items()}
    kinds.update({name: (p.data.ndim, p.data.dtype) for name, p in graph.parameters.items()})
    kinds.update({step.name: (len(step.shape), step.dtype) for step in graph.assignments if step.shape is not None})
    kinds["xp"] = namespace(*examples.values()) if examples else namespace(0.0)
    return kinds


def _generate(steps: list[Assignment], arguments: list[str], results: list[str],
              saved: list[str], kinds: dict | None = None, held: list[str] | None = None) -> tuple[Callable, str]:
    """Straight-line Python for ``steps``: ``program(*arguments) -> (results, saved)``, each step one
    call of its op's forward on arrays (with a context that saves nothing), and each value deleted
    after its last use. With ``held``, the program's first parameter is a list of those values,
    which it empties: then they too are freed after their last use, not when the program ends."""
    names = {name: f"v{number}" for number, name in enumerate(dict.fromkeys(
        [*(held or ()), *arguments, *(step.name for step in steps)]))}
    scope: dict[str, Any] = {}
    constant_number = itertools.count()

    def constant(value: Any) -> str:
        key = f"k{next(constant_number)}"
        scope[key] = value
        return key

    kept = set(results) | set(saved)
    last_use = {name: index for index, step in enumerate(steps) for name in step.arguments if isinstance(name, str)}
    slots: list = []  # one per pooled step: the array it wrote last call
    pooled_names: set = set()
    pool, take = constant(slots), constant(_take)
    uses = collections.Counter(name for step in steps for name in step.arguments if isinstance(name, str))
    uses.update(results + saved)
    made = {step.name: step for step in steps}
    lines = [f"def program({', '.join(['held'] * (held is not None) + [names[a] for a in arguments])}):"]
    if held:
        lines += [f"    {', '.join(names[name] for name in held)}, = held", "    held.clear()"]
    for index, step in enumerate(steps):
        given = [names[a] if isinstance(a, str) else constant(a.value if isinstance(a, Literal) else a)
                 for a in step.arguments]
        if _bare(step, kinds):  # an elementwise op whose inputs need no cast: its numpy rule, nothing else
            xp = [constant(kinds["xp"])] if step.function.rule_wants_xp else []
            call = f"{constant(step.function.rule)}({', '.join(xp)}{', ' if xp else ''}"
            over = _overwritable(step, made, uses, kept)
            if over is not None:  # its result over an input no one else reads: no new array to fill
                given.append(f"out={names[over]}")
                if over in pooled_names:
                    pooled_names.add(step.name)
        elif step.function is not None:
            call = f"{constant(step.function.forward)}({constant(_no_context(len(given)))}, "
        else:
            call = f"{constant(_arrays_in(_runner(step.op)))}("
        constants = step.constants
        pooled = (step.function is not None and step.function.writes_into and step.shape is not None
                  and math.prod(step.shape) * step.dtype.itemsize >= POOLED_BYTES)
        if pooled:  # the buffer this step wrote last call, if nobody holds it now (a dropped .grad, say)
            slots.append(None)
            pooled_names.add(step.name)
            constants = {**constants, "out": _Code(f"{take}({pool}, {len(slots) - 1})")}
        if step.function is AccumulateInto and uses[step.arguments[0]] == 1 and step.arguments[0] in made:
            # a gradient only this step sees: .grad may be that array (which the pool may hold too)
            constants = {**constants, "fresh": 1 + (step.arguments[0] in pooled_names)}
        keywords = [f"{key}={value.text if isinstance(value, _Code) else constant(value)}"
                    for key, value in constants.items()]
        lines.append(f"    {names[step.name]} = {call}{', '.join([*given, *keywords])})")
        if pooled:
            lines.append(f"    {pool}[{len(slots) - 1}] = {names[step.name]}")
        done = [names[name] for name in dict.fromkeys(a for a in step.arguments if isinstance(a, str))
                if last_use[name] == index and name not in kept]
        if done:  # free each value after its last use, as the eager engine does
            lines.append(f"    del {', '.join(done)}")
    returned = ", ".join(names[name] for name in results)
    kept = ", ".join(names[name] for name in saved)
    lines.append(f"    return ({returned},), ({kept}{',' if saved else ''})")
    source = "\n".join(lines)
    exec(source, scope)
    return scope["program"], source


# A step whose output is at least this large writes into its last call's array when it can:
# allocating it anew would take fresh pages from the OS (glibc maps large arrays), faulted in on
# first write, every call (a 784x512 float32 matmul: 218 -> 178 us).
POOLED_BYTES = 1 << 16
_FREE_REFS = 3  # _take's view of an array held by nobody but the pool: the pool, its local, getrefcount's
_OWNED_REFS = 2  # of the memory's owner, when the array is a view of it: the view's base, getrefcount's


def _overwritable(step: Assignment, made: dict, uses: collections.Counter, kept: set) -> str | None:
    """An input that ``step`` (elementwise, its rule taking ``out``) may write its result over: an
    array of the result's shape and dtype that an earlier step of this program made new (a matmul's
    product, or another such rule's result: not a view of anything) and that only ``step`` reads."""
    if not step.function.rule_takes_out or not step.shape:
        return None
    for name in step.arguments:
        source = made.get(name) if isinstance(name, str) else None
        if (source is not None and uses[name] == 1 and name not in kept and source.shape == step.shape
                and source.dtype == step.dtype and _makes_new(source, made)):
            return name
    return None


def _makes_new(step: Assignment, made: dict) -> bool:
    """Whether ``step``'s value is an array of its own, never a view of another value."""
    if step.function is Part:  # one of the products made side by side (not max-pool's winners, say)
        pair = made.get(step.arguments[0])  # None where the pair came from the forward program
        return pair is not None and pair.function is Products
    return getattr(step.function, "rule_takes_out", False) or getattr(step.function, "writes_into", False)


def _take(slots: list, index: int) -> Any:
    """The array in ``slots[index]`` if no one but the pool holds it (no variable, .grad, view or
    caller): then the step may overwrite it. Else None: the step allocates anew. A column-major
    product is the transpose of a row-major array, and a caller's slice of it refers to that array,
    not to the transpose: the owner too must be held by the pooled array alone."""
    array = slots[index]
    if array is None or sys.getrefcount(array) != _FREE_REFS:
        return None
    return array if array.base is None or sys.getrefcount(array.base) == _OWNED_REFS else None


class _Code(NamedTuple):
    """A keyword argument written into generated code as this expression, not as a constant."""

    text: str


def _arrays_in(function: Callable) -> Callable:
    """A namespace function (from ``Graph.from_list``) applied to arrays, giving an array."""
    def on_arrays(*values: Any, **constants: Any) -> Any:
        result = function(*values, **constants)
        return result.data if isinstance(result, Tensor) else result

    return on_arrays


def _signature(value: Any) -> tuple:
    if isinstance(value, Tensor):
        return ("tensor", value.data.shape, value.data.dtype.str, value.requires_grad)
    if _is_array(value):
        return ("array", value.shape, value.dtype.str)
    if isinstance(value, (bool, int, float, str, type(None))):
        return ("constant", type(value), value)
    raise CompileError(f"compile: an argument of type {type(value).__name__} cannot be part of a signature; "
                       "pass Tensors, arrays, numbers or strings")


def _is_array(value: Any) -> bool:
    return isinstance(value, Tensor) or (hasattr(value, "shape") and hasattr(value, "dtype"))


def _wants_grad(value: Any) -> bool:
    return isinstance(value, Tensor) and value.requires_grad
