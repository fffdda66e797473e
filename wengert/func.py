"""Function transforms, JAX's and torch.func's API over wengert's two modes of differentiation.

    grad(f)(x)                      df/dx of a scalar f (reverse mode)
    value_and_grad(f)(x)            (f(x), df/dx)
    vjp(f, *primals)                (f(primals), vjp_fn): vjp_fn(v) = v^T J, one tuple entry per primal
    jvp(f, primals, tangents)       (f(primals), J t) in one forward pass (forward mode, no Jacobian)
    jacobian(f, mode="rev"|"fwd")   J, shaped output shape + input shape (jacrev, jacfwd)
    hessian(f)                      jacfwd(jacrev(f))
    hvp(f, primals, tangents)       H t, forward over reverse (one forward sweep over a gradient)
    elementwise_grad(f)(x)          the diagonal of J, for f that acts elementwise (v^T J with v = 1)

Arguments may be Tensors, numpy arrays or Python floats (float64), or nested lists, tuples and
dicts of them; ``argnums`` (an int or a tuple) says which positional arguments are differentiated.
numpy arrays in give numpy arrays out; Tensors in give Tensors out, which carry a graph and
tangents where an enclosing transform needs them, so transforms compose: ``grad(grad(f))``
(reverse over reverse), ``jacfwd(jacrev(f))`` (forward over reverse), ``jacrev(jacfwd(f))``
(reverse over forward), ``jvp(jvp(...))``.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from . import ops
from .core.backend import numpy
from .core.backward import _leaves_of
from .core.backward import grad as _reverse
from .core.errors import WengertError
from .core.forward import Alias, ForwardModeError, Sweep, current_sweep
from .core.grad_mode import enable_grad, watch
from .core.tensor import Tensor

__all__ = ["ForwardModeError", "TransformError", "elementwise_grad", "grad", "hessian", "hvp", "jacfwd", "jacobian",
           "jacrev", "jvp", "tree_flatten", "tree_unflatten", "value_and_grad", "vjp"]


class TransformError(WengertError, ValueError):
    """A transform was called on something it cannot differentiate (a non-scalar for grad, a bad argnums...)."""


# --- pytrees: nested lists, tuples and dicts of leaves ----------------------------------------

def tree_flatten(tree: Any) -> tuple[list, Any]:
    """``(leaves, spec)``: the leaves of nested lists, tuples (namedtuples too) and dicts, depth first
    (dicts in their own order), and the structure that ``tree_unflatten`` rebuilds from them."""
    leaves: list = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree: Any, leaves: list) -> Any:
    if isinstance(tree, dict):
        return (type(tree), tuple(tree), tuple(_flatten(value, leaves) for value in tree.values()))
    if isinstance(tree, (list, tuple)):
        return (type(tree), None, tuple(_flatten(value, leaves) for value in tree))
    leaves.append(tree)
    return None


def tree_unflatten(spec: Any, leaves: Sequence) -> Any:
    """The tree of structure ``spec`` (from ``tree_flatten``) with ``leaves`` in place of its leaves."""
    iterator = iter(leaves)
    tree = _unflatten(spec, iterator)
    if next(iterator, _END) is not _END:
        raise TransformError("tree_unflatten: more leaves than the structure holds")
    return tree


def _per_argument(specs: list, leaves: list) -> list:
    """``leaves`` (flat, argument after argument) as one tree per argument, given each argument's
    (spec, leaf count) from ``tree_flatten``."""
    trees, start = [], 0
    for spec, count in specs:
        trees.append(tree_unflatten(spec, leaves[start:start + count]))
        start += count
    return trees


_END = object()


def _unflatten(spec: Any, iterator: Any) -> Any:
    if spec is None:
        value = next(iterator, _END)
        if value is _END:
            raise TransformError("tree_unflatten: fewer leaves than the structure holds")
        return value
    kind, keys, children = spec
    values = [_unflatten(child, iterator) for child in children]
    if keys is not None:
        try:
            return kind(zip(keys, values))
        except TypeError:  # a dict subclass with another constructor (defaultdict)
            return dict(zip(keys, values))
    if kind is list:
        return values
    if hasattr(kind, "_fields"):  # a namedtuple
        return kind(*values)
    return kind(values)


def _tree_map(function: Callable, tree: Any) -> Any:
    leaves, spec = tree_flatten(tree)
    return tree_unflatten(spec, [function(leaf) for leaf in leaves])


# --- arguments and results -------------------------------------------------------------------

def _positions(argnums: int | Sequence[int], count: int, name: str) -> tuple[int, ...]:
    """``argnums`` as a tuple of non-negative positions among ``count`` arguments, checked."""
    numbers = (argnums,) if isinstance(argnums, int) and not isinstance(argnums, bool) else argnums
    if not isinstance(numbers, (tuple, list)) or not numbers or not all(
            isinstance(number, int) and not isinstance(number, bool) for number in numbers):
        raise TypeError(f"{name}: argnums must be an int or a non-empty tuple of ints, not {argnums!r}")
    positions = []
    for number in numbers:
        if not -count <= number < count:
            raise TransformError(f"{name}: argnums={argnums!r} is out of range for a call with {count} "
                                 f"positional argument{'s' * (count != 1)}")
        positions.append(number % count)
    if len(set(positions)) != len(positions):
        raise TransformError(f"{name}: argnums={argnums!r} names an argument twice")
    return tuple(positions)


def _floating_array(value: Any, what: str) -> Any:
    """A numpy array of ``value`` (a Python float is float64), refused unless floating."""
    array = numpy.asarray(value)
    if array.dtype.kind not in "fc":
        raise TransformError(f"{what} has dtype {array.dtype}: only floating values can be differentiated "
                             "(write 2.0, not 2)")
    return array


def _check_floating(tensor: Tensor, what: str) -> None:
    if tensor.dtype.kind not in "fc":
        raise TransformError(f"{what} has dtype {tensor.dtype}: only floating values can be differentiated")


def _any_tensor(*trees: Any) -> bool:
    return any(isinstance(leaf, Tensor) for tree in trees for leaf in tree_flatten(tree)[0])


def _as_tensors(given_tensors: bool, results: Sequence = (), since: int = 0) -> bool:
    """Whether results go back as Tensors: when Tensors came in, and also when arrays came in but an
    enclosing transform differentiates through this call (a forward sweep is watching, or a result
    carries a graph to tensors that no transform made: a closure's parameters, an enclosing grad's
    inputs): arrays would cut the enclosing transform off."""
    return given_tensors or current_sweep() is not None or any(
        isinstance(result, Tensor) and result.requires_grad
        and any(not _lifted_since(leaf, since) for leaf in _leaves_of(result)) for result in results)


# The leaves that transforms made for themselves, numbered: a result whose graph reaches only
# leaves made inside this call (``since`` on; a Hessian's, built by a sweep over a gradient) has
# no enclosing transform to serve, so arrays in give arrays out.
_LIFTED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # id -> the leaf
_LIFT_NUMBERS: dict[int, int] = {}  # id -> its number
_LIFTS = [0]  # how many leaves transforms have made


def _lifted_since(leaf: Tensor, since: int) -> bool:
    return _LIFTED.get(id(leaf)) is leaf and _LIFT_NUMBERS[id(leaf)] >= since


def _register(leaf: Tensor) -> Tensor:
    _LIFTED[id(leaf)] = leaf
    _LIFT_NUMBERS[id(leaf)] = _LIFTS[0]
    _LIFTS[0] += 1
    weakref.finalize(leaf, _LIFT_NUMBERS.pop, id(leaf), None)
    return leaf


def _lift(value: Any, what: str) -> Tensor:
    """A fresh Tensor of ``value`` that requires grad, for reverse mode to differentiate with respect
    to. A Tensor is aliased (an op), so that enclosing transforms still see through to it."""
    if isinstance(value, Tensor):
        _check_floating(value, what)
        with enable_grad():
            lifted = Alias.apply(value)
        if not lifted.requires_grad:
            lifted.requires_grad = True
            _register(lifted)
        return lifted
    return _register(Tensor(_floating_array(value, what), requires_grad=True))


def _leave(value: Any, tensors: bool) -> Any:
    """A result as the caller gets it: a Tensor in Tensor mode, else a numpy array."""
    if tensors:
        return value if isinstance(value, Tensor) else Tensor(numpy.asarray(value))
    return numpy.asarray(value.data if isinstance(value, Tensor) else value)


def _split_aux(result: Any, has_aux: bool, name: str) -> tuple[Any, Any]:
    if not has_aux:
        return result, None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TransformError(f"{name}(has_aux=True): f must return a pair (output, aux), not {type(result).__name__}")
    return result[0], result[1]


def _needs_graph(outputs: Sequence, lifted: Sequence) -> bool:
    """Whether gradients must be computed with recorded ops (``create_graph``): when a forward sweep
    is watching (forward over reverse), or the outputs depend on tensors that require grad other than
    the ones being differentiated for (an enclosing grad, or a closure's parameters)."""
    if current_sweep() is not None:
        return True
    ours = {id(tensor) for tensor in lifted}
    return any(id(leaf) not in ours for output in outputs for leaf in _leaves_of(output))


def _gradients(outputs: list, cotangents: list, lifted: list, keep: bool = False) -> list:
    """d(sum of cotangent . output)/d(each lifted tensor), zeros where an output does not depend on it."""
    pairs = [(output, cotangent) for output, cotangent in zip(outputs, cotangents)
             if isinstance(output, Tensor) and output.requires_grad]
    found: Sequence = [None] * len(lifted)
    if pairs and lifted:
        outputs = [output for output, _ in pairs]
        seeds = [cotangent for _, cotangent in pairs]
        create = _needs_graph(outputs, lifted) or any(isinstance(seed, Tensor) and seed.requires_grad
                                                      for seed in seeds)
        found = _reverse(outputs, lifted, grad_outputs=seeds, retain_graph=keep or create, create_graph=create,
                         allow_unused=True)
    return [Tensor(numpy.zeros_like(tensor.data)) if gradient is None else gradient
            for tensor, gradient in zip(lifted, found)]


# --- reverse mode ----------------------------------------------------------------------------

def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """``f`` -> a function returning ``(f(*args), gradient)`` (``((f(*args), aux), gradient)`` with
    ``has_aux``): the gradient of f's scalar (0-d) output with respect to argument ``argnums`` (a
    tree like that argument), or a tuple of them when ``argnums`` is a tuple."""

    @functools.wraps(f)
    def value_and_grad_f(*args: Any, **kwargs: Any) -> Any:
        since = _LIFTS[0]
        positions = _positions(argnums, len(args), "grad")
        tensors = _any_tensor(*(args[position] for position in positions))
        args = list(args)
        specs, lifted = [], []
        for position in positions:
            leaves, spec = tree_flatten(args[position])
            leaves = [_lift(leaf, f"grad: argument {position}") for leaf in leaves]
            args[position] = tree_unflatten(spec, leaves)
            specs.append((spec, len(leaves)))
            lifted.extend(leaves)
        with enable_grad():
            result = f(*args, **kwargs)
        out, aux = _split_aux(result, has_aux, "grad")
        if isinstance(out, Tensor):
            shape = tuple(out.shape)
        else:
            shape = getattr(out, "shape", None)
            if shape is None and not isinstance(out, (int, float)):
                raise TransformError(f"grad: f must return a scalar tensor, not a {type(out).__name__}")
        if shape:
            raise TransformError(f"grad: f must return a scalar (a 0-d tensor), not one of shape {shape}; use "
                                 "jacobian, vjp or elementwise_grad for other outputs")
        gradients = _gradients([out], [None], lifted)
        tensors = _as_tensors(tensors, gradients, since)
        trees = _per_argument(specs, [_leave(gradient, tensors) for gradient in gradients])
        gradient = trees[0] if isinstance(argnums, int) else tuple(trees)
        value = _leave(out, tensors)
        if has_aux:
            return (value, aux if tensors else _tree_map(_plain, aux)), gradient
        return value, gradient

    return value_and_grad_f


def _plain(value: Any) -> Any:
    """An aux leaf for an array-mode caller: a Tensor as its array, anything else as it is."""
    return numpy.asarray(value.data) if isinstance(value, Tensor) else value


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """``f`` -> its gradient function: d f(*args) / d args[argnums] for f with a scalar (0-d) output
    (``(gradient, aux)`` with ``has_aux``). ``grad(grad(f))`` is f's second derivative."""
    value_and_grad_f = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def grad_f(*args: Any, **kwargs: Any) -> Any:
        (value, gradient) = value_and_grad_f(*args, **kwargs)
        return (gradient, value[1]) if has_aux else gradient

    return grad_f


def vjp(f: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """``(f(*primals), vjp_fn)``: ``vjp_fn(cotangents)`` (a tree like f's output) gives ``v^T J``, a
    tuple with one tree per primal. Runs f once; ``vjp_fn`` may be called many times
    (``(out, vjp_fn, aux)`` with ``has_aux``)."""
    since = _LIFTS[0]
    tensors = _as_tensors(_any_tensor(primals))
    specs, lifted, arguments = [], [], []
    for position, primal in enumerate(primals):
        leaves, spec = tree_flatten(primal)
        leaves = [_lift(leaf, f"vjp: primal {position}") for leaf in leaves]
        arguments.append(tree_unflatten(spec, leaves))
        specs.append((spec, len(leaves)))
        lifted.extend(leaves)
    with enable_grad():
        result = f(*arguments)
    out, aux = _split_aux(result, has_aux, "vjp")
    outputs, out_spec = tree_flatten(out)

    def vjp_fn(cotangents: Any) -> tuple:
        given, spec = tree_flatten(cotangents)
        if spec != out_spec:
            raise TransformError("vjp_fn: the cotangents must have the structure of f's output")
        seeds = []
        for index, (output, cotangent) in enumerate(zip(outputs, given)):
            shape = tuple(getattr(output, "shape", ()))
            cotangent_shape = tuple(getattr(cotangent, "shape", ()))
            if cotangent_shape != shape:
                raise TransformError(f"vjp_fn: cotangent {index} has shape {cotangent_shape}; the output has "
                                     f"shape {shape}")
            seeds.append(cotangent if isinstance(cotangent, Tensor) else numpy.asarray(cotangent))
        gradients = _gradients(outputs, seeds, lifted, keep=True)
        as_tensors = _as_tensors(tensors, gradients, since)
        return tuple(_per_argument(specs, [_leave(gradient, as_tensors) for gradient in gradients]))

    value = tree_unflatten(out_spec, [_leave(output, tensors) for output in outputs])
    if has_aux:
        return value, vjp_fn, aux if tensors else _tree_map(_plain, aux)
    return value, vjp_fn


def elementwise_grad(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """``f`` -> the sum over f's outputs of their gradients: ``v^T J`` with ``v`` all ones. For an f
    that acts elementwise (a diagonal Jacobian) that is each output's derivative by its own input."""

    @functools.wraps(f)
    def elementwise_grad_f(*args: Any, **kwargs: Any) -> Any:
        positions = _positions(argnums, len(args), "elementwise_grad")

        def of_chosen(*chosen: Any) -> Any:
            full = list(args)
            for position, value in zip(positions, chosen):
                full[position] = value
            return f(*full, **kwargs)

        out, vjp_fn = vjp(of_chosen, *(args[position] for position in positions))
        gradients = vjp_fn(_tree_map(lambda value: numpy.ones(numpy.shape(getattr(value, "data", value)),
                                                              dtype=getattr(value, "dtype", numpy.float64)), out))
        return gradients[0] if isinstance(argnums, int) else gradients

    return elementwise_grad_f


# --- forward mode ----------------------------------------------------------------------------

def jvp(f: Callable, primals: Sequence, tangents: Sequence, has_aux: bool = False) -> tuple:
    """``(f(*primals), J tangents)``, computed together in one forward pass: each op's JVP rule gives
    its output's tangent as it runs (no backward pass, no Jacobian). ``primals`` and ``tangents`` are
    tuples of the same structure, one entry per argument of f; the output tangents have the
    structure of f's output (``(out, tangents_out, aux)`` with ``has_aux``)."""
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples, one entry per argument of f")
    since = _LIFTS[0]
    primal_leaves, spec = tree_flatten(tuple(primals))
    tangent_leaves, tangent_spec = tree_flatten(tuple(tangents))
    if tangent_spec != spec:
        raise TransformError("jvp: tangents must have the structure of primals")
    tensors = _any_tensor(primals, tangents)
    sweep = Sweep(current_sweep())
    arguments = []
    for index, (primal, tangent) in enumerate(zip(primal_leaves, tangent_leaves)):
        if isinstance(primal, Tensor):
            _check_floating(primal, f"jvp: primal {index}")
            primal = Alias.apply(primal)  # a fresh identity, seen by the sweeps around this one
        else:
            primal = Tensor(_floating_array(primal, f"jvp: primal {index}"))
        if not isinstance(tangent, Tensor):
            tangent = Tensor(numpy.asarray(tangent, dtype=primal.dtype))
        if tuple(tangent.shape) != tuple(primal.shape):
            raise TransformError(f"jvp: tangent {index} has shape {tuple(tangent.shape)}; its primal has shape "
                                 f"{tuple(primal.shape)}")
        if tangent.dtype != primal.dtype:
            tangent = tangent.astype(primal.dtype)
        sweep.seed(primal, tangent)
        arguments.append(primal)
    with watch(tangents=sweep):
        result = f(*tree_unflatten(spec, arguments))
    out, aux = _split_aux(result, has_aux, "jvp")
    outputs, out_spec = tree_flatten(out)
    derivatives = []
    for output in outputs:
        tangent = sweep.tangent(output)
        if tangent is None:
            data = output.data if isinstance(output, Tensor) else numpy.asarray(output)
            tangent = Tensor(numpy.zeros_like(data))
        derivatives.append(tangent)
    tensors = _as_tensors(tensors, [*outputs, *derivatives], since)
    derivatives = [_leave(derivative, tensors) for derivative in derivatives]
    value = tree_unflatten(out_spec, [_leave(output, tensors) for output in outputs])
    derivative = tree_unflatten(out_spec, derivatives)
    if has_aux:
        return value, derivative, aux if tensors else _tree_map(_plain, aux)
    return value, derivative


def hvp(f: Callable, primals: Sequence, tangents: Sequence) -> tuple:
    """The Hessian of scalar ``f`` at ``primals`` times ``tangents``: a tuple, one tree per primal.
    Forward over reverse: one forward sweep over the gradient's computation, no Hessian."""
    gradient = grad(f, argnums=tuple(range(len(primals))))
    return jvp(gradient, tuple(primals), tuple(tangents))[1]


# --- Jacobians -------------------------------------------------------------------------------

def jacobian(f: Callable, argnums: int | Sequence[int] = 0, mode: str = "rev", has_aux: bool = False) -> Callable:
    """``f`` -> its Jacobian function. For an output leaf of shape O and an input leaf of shape I the
    block has shape O + I; the result is a tree like f's output whose leaves are trees like the
    differentiated argument (a tuple of them when ``argnums`` is a tuple). ``mode="rev"``: one backward
    pass per output element (``jacrev``); ``mode="fwd"``: one forward sweep per input element (``jacfwd``)."""
    if mode not in ("rev", "fwd"):
        raise TransformError(f"jacobian: mode must be 'rev' or 'fwd', not {mode!r}")

    @functools.wraps(f)
    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        positions = _positions(argnums, len(args), "jacrev" if mode == "rev" else "jacfwd")
        chosen = tuple(args[position] for position in positions)

        def of_chosen(*values: Any) -> Any:
            full = list(args)
            for position, value in zip(positions, values):
                full[position] = value
            return f(*full, **kwargs)

        build = _jacobian_rev if mode == "rev" else _jacobian_fwd
        out_spec, blocks, aux = build(of_chosen, chosen, has_aux)
        # blocks[o][i]: the block of output leaf o and input leaf i
        in_specs = [tree_flatten(value)[1] for value in chosen]
        trees = []
        for row in blocks:
            per_argument, start = [], 0
            for value, spec in zip(chosen, in_specs):
                count = len(tree_flatten(value)[0])
                per_argument.append(tree_unflatten(spec, row[start:start + count]))
                start += count
            trees.append(per_argument[0] if isinstance(argnums, int) else tuple(per_argument))
        result = tree_unflatten(out_spec, trees)
        return (result, aux) if has_aux else result

    return jacobian_f


def _block(parts: list, axis: int, shape: tuple, like: Any) -> Any:
    """Rows (axis 0) or columns (axis -1) of a Jacobian block stacked and shaped ``shape``: with ops
    when they are Tensors (an enclosing transform differentiates the Jacobian), else with numpy."""
    if len(parts) == 1 and parts[0].shape == shape:
        return parts[0]  # a scalar's gradient is its Jacobian: no op, so nothing more to differentiate
    if not parts:
        zeros = numpy.zeros(shape, dtype=getattr(like, "dtype", numpy.float64))
        return Tensor(zeros) if isinstance(like, Tensor) else zeros
    if isinstance(parts[0], Tensor):
        return ops.reshape(ops.stack(parts, axis=axis), shape)
    return numpy.reshape(numpy.stack(parts, axis=axis), shape)


def _shape_of(value: Any) -> tuple:
    return tuple(numpy.shape(value.data if isinstance(value, Tensor) else value))


def _jacobian_rev(f: Callable, chosen: tuple, has_aux: bool) -> tuple:
    """One vjp per output element: row k of a block is the gradient of output element k."""
    found = vjp(f, *chosen, has_aux=has_aux)
    out, vjp_fn = found[0], found[1]
    aux = found[2] if has_aux else None
    outputs, out_spec = tree_flatten(out)
    inputs = [leaf for value in chosen for leaf in tree_flatten(value)[0]]
    blocks = []
    for index, output in enumerate(outputs):
        out_shape = _shape_of(output)
        rows: list[list] = [[] for _ in inputs]
        for element in range(int(numpy.prod(out_shape, dtype=int))):
            seeds = [numpy.zeros(_shape_of(other), dtype=getattr(other, "dtype", numpy.float64))
                     for other in outputs]
            seeds[index].reshape(-1)[element] = 1
            gradients = [leaf for tree in vjp_fn(tree_unflatten(out_spec, seeds)) for leaf in tree_flatten(tree)[0]]
            for collected, gradient in zip(rows, gradients):
                collected.append(gradient)
        blocks.append([_block(collected, 0, out_shape + _shape_of(value), output)
                       for collected, value in zip(rows, inputs)])
    return out_spec, blocks, aux


def _jacobian_fwd(f: Callable, chosen: tuple, has_aux: bool) -> tuple:
    """One jvp per input element: column k of a block is the tangent of the outputs along input element k."""
    leaves, spec = tree_flatten(chosen)
    zeros = [numpy.zeros(_shape_of(leaf), dtype=getattr(leaf, "dtype", numpy.float64)) for leaf in leaves]
    columns: list[dict] = [{} for _ in leaves]  # columns[i][o]: the columns of input leaf i for output leaf o
    out_spec, outputs, aux = None, None, None
    for index in range(len(leaves)):
        for element in range(zeros[index].size):
            direction = [zero if position != index else zero.copy() for position, zero in enumerate(zeros)]
            direction[index].reshape(-1)[element] = 1
            found = jvp(f, chosen, tree_unflatten(spec, direction), has_aux=has_aux)
            derivatives, out_spec = tree_flatten(found[1])
            if outputs is None:
                outputs, aux = tree_flatten(found[0])[0], (found[2] if has_aux else None)
            for o, derivative in enumerate(derivatives):
                columns[index].setdefault(o, []).append(derivative)
    if outputs is None:  # no input element at all: run f once for the outputs' shapes
        found = jvp(f, chosen, tree_unflatten(spec, zeros), has_aux=has_aux)
        outputs, out_spec = tree_flatten(found[0])
        aux = found[2] if has_aux else None
    blocks = []
    for o, output in enumerate(outputs):
        blocks.append([_block(columns[i].get(o, []), -1, _shape_of(output) + _shape_of(leaf), output)
                       for i, leaf in enumerate(leaves)])
    return out_spec, blocks, aux


def jacrev(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """``jacobian(f, argnums, mode="rev")``: one backward pass per output element."""
    return jacobian(f, argnums, mode="rev", has_aux=has_aux)


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """``jacobian(f, argnums, mode="fwd")``: one forward sweep per input element."""
    return jacobian(f, argnums, mode="fwd", has_aux=has_aux)


def hessian(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """``f`` -> its Hessian function, ``jacfwd(jacrev(f))`` (forward over reverse): for an input of
    shape I, shape I + I."""
    return jacobian(jacobian(f, argnums, mode="rev"), argnums, mode="fwd")
