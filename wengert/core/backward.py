"""Reverse-mode backprop: the recorded graph read backwards, one VJP per node.

Nodes are numbered in creation order, so a node's inputs always have smaller
numbers than the node. Popping nodes from a max-heap of numbers therefore visits
each node after every node that consumes it has added its share to the node's
``upstream`` gradient: gradients are summed at branches before they flow on. No
recursion, so a chain of 100,000 ops is fine, and a branch that receives no
gradient is never visited. A leaf's gradient ends at its ``AccumulateGrad`` node;
all of them are added to the leaves' ``.grad`` at the end, so a backward that
fails half-way changes no ``.grad``.

The walk is ``_run``; each job it does is one small function below it: deliver a
gradient to a node, apply a node's VJP (version checks, freeing), conform a
gradient to its input, and accumulate into a leaf.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Sequence
from typing import Any

from .backend import namespace, numpy_warnings_silenced
from .errors import BackwardError, TraceError, call_site
from .function import AccumulateGrad, Function, Node, grad_accumulator
from .grad_mode import anomaly_enabled, grad_enabled, set_grad_mode, watching
from .tensor import Tensor

_FREED = ("freed",)  # stands in for a node's saved values once backward has released them


def sum_to(grad: Any, shape: tuple) -> Any:
    """Sum ``grad`` over the axes that broadcasting prepended or stretched, giving ``shape``.

    This is the VJP of broadcasting: a bias added to every row of a batch gets the
    sum of the rows' gradients.
    """
    extra = grad.ndim - len(shape)
    if extra < 0 or any(n != 1 and n != m for n, m in zip(shape, grad.shape[extra:])):
        raise ValueError(f"a gradient of shape {tuple(grad.shape)} does not broadcast from {shape}")
    axes = tuple(range(extra)) + tuple(extra + axis for axis, n in enumerate(shape)
                                       if n == 1 and grad.shape[extra + axis] != 1)
    if not axes:
        return grad
    xp = namespace(grad)
    return xp.reshape(xp.sum(grad, axis=axes), shape)


# --- the two entry points ------------------------------------------------------------------

def backward(tensor: Tensor, gradient: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False) -> None:
    """Accumulate d(tensor)/d(leaf) into ``.grad`` of every leaf that requires grad."""
    watch = watching()
    if watch is not None and watch.trace is not None and not create_graph:
        return _traced_backward(tensor, gradient, retain_graph)
    seed = _seed(tensor, gradient, create_graph)
    _run([_node_of(tensor)], [seed], create_graph if retain_graph is None else retain_graph, create_graph)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple:
    """d(outputs)/d(inputs), returned instead of accumulated into ``.grad`` (torch.autograd.grad).

    Only the nodes between ``outputs`` and ``inputs`` run: the rest of the graph is neither
    computed nor freed, and no ``.grad`` changes.
    """
    _refuse_while_tracing(create_graph, "autograd.grad()")
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise BackwardError(f"grad: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    seeds = [_seed(output, seed, create_graph) for output, seed in zip(outputs, grad_outputs)]
    for index, tensor in enumerate(inputs):
        if not isinstance(tensor, Tensor) or not tensor.requires_grad:
            raise BackwardError(f"grad: input {index} is not a tensor that requires grad (at {call_site()})")
    targets = [_node_of(tensor) for tensor in inputs]
    captured = _run([_node_of(output) for output in outputs], seeds,
                    create_graph if retain_graph is None else retain_graph, create_graph, targets)
    results = []
    for index, (tensor, target) in enumerate(zip(inputs, targets)):
        found = captured.get(target)
        if found is None and not allow_unused:
            raise BackwardError(f"grad: input {index} (shape {tuple(tensor.shape)}) was not used to "
                                "compute the outputs; pass allow_unused=True to get None for it")
        # a copy: the array may also be another input's result, or the caller's grad_outputs
        results.append(found if found is None or create_graph else Tensor(namespace(found).copy(found)))
    return tuple(results)


def _traced_backward(tensor: Tensor, gradient: Any, retain_graph: bool | None) -> None:
    """``backward()`` inside a trace: the gradients are computed by ops (``create_graph``), so the
    trace records them, and each is added to its leaf's ``.grad`` by an ``AccumulateInto`` op, so
    the trace records that too: a compiled training step replays its whole backward pass."""
    if retain_graph:
        raise TraceError("backward(retain_graph=True) inside a trace: a compiled step keeps no graph between "
                         f"calls; call backward once per trace (at {call_site()})")
    leaves = _leaves_of(tensor)
    if not leaves:
        _seed(tensor, gradient, True)  # the error backward would give
    found = grad(tensor, leaves, grad_outputs=gradient, create_graph=True, allow_unused=True)
    for leaf, value in zip(leaves, found):
        if value is not None:
            AccumulateInto.apply(value, leaf=leaf)


def _leaves_of(tensor: Tensor) -> list:
    """The leaves that require grad below ``tensor``, in the order a depth-first walk meets them."""
    if tensor.node is None:
        return [tensor] if tensor.requires_grad else []
    leaves, seen, stack = [], set(), [tensor.node]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.function is AccumulateGrad:
            leaf = node.extras["variable"]()
            if leaf is not None:
                leaves.append(leaf)
            continue
        stack.extend(parent for parent in reversed(node.parents) if parent is not None)
    return leaves


class AccumulateInto(Function):
    """``leaf.grad += gradient`` as an op: what backward does at a leaf, as a trace records it.
    ``fresh``: a compiled program says the gradient is its own, seen by no other step, and holds
    that many references to it (its variable; its buffer pool): then a new ``.grad`` may be that
    very array rather than a copy (checked: not a view, and referenced by nothing else)."""

    name = "accumulate_into_grad"
    differentiable = False
    effect = True

    def forward(ctx, gradient, leaf, fresh=0):
        if leaf.grad is None:  # a new .grad shares memory with nothing else
            adopt = fresh and gradient.base is None and sys.getrefcount(gradient) <= fresh + _CALL_REFS
            leaf.grad = Tensor(gradient if adopt else namespace(gradient).copy(gradient))
        else:
            _accumulate(leaf, gradient, False)
        return namespace(gradient).empty(0)


def _refuse_while_tracing(create_graph: bool, what: str) -> None:
    """A plain backward computes on arrays, which a trace cannot see: inside a trace it would be
    left out of every replay. Only ``create_graph`` (VJPs recorded as ops) can be traced."""
    watch = watching()
    if watch is not None and watch.trace is not None and not create_graph:
        raise TraceError(f"{what} inside a trace (wg.compile, Graph.trace) would not be replayed: compile the "
                         "loss and call backward() on what it returns, or pass create_graph=True to record the "
                         f"backward pass as ops (at {call_site()})")


def _node_of(tensor: Tensor) -> Node:
    return tensor.node or grad_accumulator(tensor)


def _seed(tensor: Tensor, gradient: Any, create_graph: bool) -> Any:
    """The gradient that backward starts from: ones for a one-element tensor, else ``gradient``."""
    if not tensor.requires_grad:
        raise BackwardError("backward: this tensor does not require grad (no input of its computation "
                            f"has requires_grad=True, or it ran under no_grad) (at {call_site()})")
    data = tensor.data
    if gradient is None:
        if data.size != 1:
            raise BackwardError(
                f"backward: a gradient can be implied only for a one-element tensor; this one has shape "
                f"{tuple(data.shape)}: call backward(gradient) with a gradient of that shape "
                f"(at {call_site()})")
        seed = namespace(data).ones_like(data)
    else:
        seed = gradient.data if isinstance(gradient, Tensor) and not create_graph else gradient
        if tuple(seed.shape) != tuple(data.shape):
            raise BackwardError(f"backward: gradient of shape {tuple(seed.shape)} for a tensor of shape "
                                f"{tuple(data.shape)} (at {call_site()})")
        if seed.dtype != data.dtype:
            seed = seed.astype(data.dtype)
    return Tensor(seed) if create_graph and not isinstance(seed, Tensor) else seed


# --- the walk -------------------------------------------------------------------------------

class GraphRoot(Function):
    """Where a backward starts: its VJP hands each output its seed gradient."""

    name = "graph_root"

    def backward(ctx, seeds):
        return seeds


def _run(roots: list, seeds: list, retain_graph: bool, create_graph: bool, targets: list | None = None) -> dict:
    """Backpropagate ``seeds`` from the ``roots`` nodes. Without ``targets``, accumulate into the
    leaves' ``.grad``; with them, return ``{target node: its gradient}`` and touch no ``.grad``."""
    targets = None if targets is None else set(targets)
    needed = None if targets is None else _between(roots, targets)
    first_callback = len(_callbacks)
    heap: list = []
    finished: list = []  # [tensor, gradient] pairs for .grad, applied once the walk has succeeded
    captured: dict = {}
    numpy_warnings_silenced()
    enabled_before, anomaly = grad_enabled(), anomaly_enabled()
    set_grad_mode(create_graph)  # the VJPs record a graph only for higher-order derivatives
    heappop = heapq.heappop
    try:
        _apply(Node(GraphRoot, tuple(roots), None), tuple(seeds), heap, retain_graph, create_graph, anomaly)
        while heap:
            node = heappop(heap)[1]
            upstream, node.upstream = node.upstream, None
            if node.extras is not None:  # hooks, retain_grad, a leaf's accumulation: the rare cases
                upstream = _hooks_and_leaves(node, upstream, finished, captured, targets)
                if upstream is None:
                    continue
            if needed is None:
                _apply(node, upstream, heap, retain_graph, create_graph, anomaly)
            else:
                if node in targets:
                    captured[node] = upstream
                _prune_and_apply(node, upstream, needed, heap, retain_graph, create_graph, anomaly)
    except BaseException:
        del _callbacks[first_callback:]
        raise
    finally:
        set_grad_mode(enabled_before)
        for _, node in heap:  # an error stopped us: drop the partial sums so a retry starts clean
            node.upstream = None
    upstream = None  # drop the walk's reference: _owned counts the rest
    for entry in finished:
        tensor, grad = entry
        entry.clear()
        if tensor is not None:
            _accumulate(tensor, grad, create_graph)
    callbacks = _callbacks[first_callback:]
    del _callbacks[first_callback:]
    for callback in callbacks:
        callback()
    return captured


_callbacks: list = []  # queued by the walks now running, outermost first


def queue_callback(callback: Any) -> None:
    """Call ``callback()`` when the backward pass now running has finished and added its gradients
    to ``.grad`` (PyTorch's ``queue_callback``): a hook that started work during the walk, such as
    DistributedDataParallel's all-reduces, completes it there. A walk that fails drops its callbacks."""
    _callbacks.append(callback)


def _between(roots: list, targets: set) -> set:
    """The nodes from which some target can be reached (targets included): the only ones that
    ``grad`` needs to run. Found by walking the graph from the roots, without recursion."""
    leads: dict = {}  # node -> whether a target lies at or below it
    stack = [(root, False) for root in roots]
    while stack:
        node, expanded = stack.pop()
        if node in leads and not expanded:
            continue
        parents = [parent for parent in node.parents if parent is not None]
        if not expanded:
            leads[node] = node in targets
            stack.append((node, True))
            stack.extend((parent, False) for parent in parents if parent not in leads)
        elif any(leads[parent] for parent in parents):
            leads[node] = True
    return {node for node, leads_to_target in leads.items() if leads_to_target}


def _hooks_and_leaves(node: Node, upstream: Any, finished: list, captured: dict, targets: set | None) -> Any:
    """Run the node's hooks; note a leaf's gradient (or a retained one) for ``.grad``, or capture it
    for ``grad``. Returns the gradient to go on with, or None where the walk ends (at a leaf)."""
    extras = node.extras
    hooks = extras.get("hooks")
    if hooks:
        for hook in list(hooks.values()):
            replaced = hook(upstream if isinstance(upstream, Tensor) else Tensor(upstream))
            if replaced is not None:
                upstream = replaced if grad_enabled() else getattr(replaced, "data", replaced)
    if node.function is AccumulateGrad:
        if targets is None:
            finished.append([extras["variable"](), upstream])
        elif node in targets:
            captured[node] = upstream
        return None
    retained = extras.get("retained")
    if retained is not None and targets is None:
        finished.append([retained(), upstream])
    return upstream


def _prune_and_apply(node: Node, upstream: Any, needed: set, heap: list, retain_graph: bool,
                     create_graph: bool, anomaly: bool) -> None:
    """For ``grad``: run the node's VJP only for the inputs that lead to a requested input (the
    VJP sees the others as not needing a gradient, so it does not compute them)."""
    parents = node.parents
    pruned = tuple(parent if parent is not None and parent in needed else None for parent in parents)
    if not any(pruned):
        return
    node.parents = pruned
    try:
        _apply(node, upstream, heap, retain_graph, create_graph, anomaly)
    finally:
        node.parents = parents


def _apply(node: Node, upstream: Any, heap: list, retain_graph: bool, create_graph: bool, anomaly: bool) -> None:
    """Run the node's VJP on its saved values (checked for in-place changes), free them, and add
    each input's gradient, conformed to the input, to the upstream gradient of the node it came
    from; the first gradient a node receives puts it on the heap."""
    saved = node.saved
    if saved is _FREED:
        raise BackwardError(
            f"backward through the {node.function.name} node a second time: its saved values "
            "were freed by the first backward. Pass retain_graph=True to the first backward() "
            "to go through a graph twice.")
    versions = node.versions
    if versions is not None:
        for _, _, cell, version in versions:
            if cell[0] != version:
                _refuse_modified(node)
        if create_graph:
            node.saved = _saved_as_tensors(node)
    grads = node.function.backward(node, upstream)
    if not retain_graph:
        node.inputs = None  # what only wg.Graph would read: the batch, the labels
    if versions is not None:  # free the saved arrays and the tensors they came from, as PyTorch does
        node.saved = saved if retain_graph else _FREED
        if not retain_graph:
            node.versions = None
    parents = node.parents
    if grads.__class__ is not tuple:
        grads = (grads,)
    if len(grads) != len(parents):
        raise BackwardError(f"backward of {node.function.name} returned {len(grads)} gradients "
                            f"for {len(parents)} inputs")
    for parent, grad in zip(parents, grads):
        if parent is None or grad is None:
            continue
        try:
            if anomaly or grad.shape != parent.shape or not (grad.dtype is parent.dtype
                                                             or grad.dtype == parent.dtype):
                grad = _conform(node, parent, grad)
        except AttributeError:  # not an array: _conform says so
            grad = _conform(node, parent, grad)
        if parent.upstream is None:
            parent.upstream = grad
            heapq.heappush(heap, (-parent.sequence, parent))
        else:
            parent.upstream = parent.upstream + grad


def _conform(node: Node, parent: Node, grad: Any) -> Any:
    """The gradient as its input's shape and dtype: a broadcasting op's is summed over the broadcast
    axes and cast back; any other mismatch is a bug in the op's backward, reported by name."""
    name, index = node.function.name, node.parents.index(parent)
    if not (hasattr(grad, "shape") and hasattr(grad, "dtype")):
        raise BackwardError(f"backward of {name} returned a {type(grad).__name__} for input {index}, "
                            "not an array")
    if grad.shape != parent.shape or grad.dtype != parent.dtype:
        if not node.function.broadcasting:
            raise BackwardError(
                f"backward of {name} returned a gradient of shape {tuple(grad.shape)} and dtype {grad.dtype} "
                f"for input {index}, which has shape {tuple(parent.shape)} and dtype {parent.dtype}")
        if grad.shape != parent.shape:
            try:
                grad = sum_to(grad, tuple(parent.shape))
            except ValueError as error:
                raise BackwardError(f"backward of {name}: {error} (input {index})") from None
        if grad.dtype != parent.dtype:
            grad = grad.astype(parent.dtype)
    return _check_finite(node, grad) if anomaly_enabled() else grad


def _accumulate(leaf: Tensor, grad: Any, create_graph: bool) -> None:
    """``leaf.grad += grad``: in place into a plain gradient, out of place into one that has a
    graph, as in PyTorch; a new ``.grad`` never shares memory with anything else."""
    if leaf.grad is None:
        leaf.grad = _owned(grad) if create_graph else Tensor(_owned(grad))
    elif create_graph or leaf.grad.requires_grad:
        leaf.grad = leaf.grad + grad
    else:
        leaf.grad.data += grad.data if isinstance(grad, Tensor) else grad


def _owned(grad: Any) -> Any:
    """``grad`` itself if nothing else holds it (no copy, as in PyTorch), else a copy.

    Two leaves may receive the very same gradient (``x + y`` passes its upstream to
    both), the caller may hold it (``backward(gradient)``), or it may be a read-only
    broadcast view: a later in-place accumulation must change no one else's array.
    """
    if _ADOPT and sys.getrefcount(grad) <= _EXCLUSIVE_REFS:
        if not isinstance(grad, Tensor):
            if grad.base is None and grad.ndim:
                return grad
        elif grad.data.base is None and grad.data.ndim and sys.getrefcount(grad.data) <= _EXCLUSIVE_DATA_REFS:
            return grad
    return namespace(grad).copy(grad)


# References to a gradient held by nobody else, as seen by sys.getrefcount in _owned: the walk's
# local, _accumulate's and _owned's arguments, getrefcount's own; for a Tensor's array, the
# Tensor's and getrefcount's. This is CPython 3.11-3.13 counting: _aliasing_self_test below
# switches adoption off on an interpreter that counts otherwise.
_EXCLUSIVE_REFS, _EXCLUSIVE_DATA_REFS = 4, 2
_CALL_REFS = 2  # AccumulateInto's own: its argument, getrefcount's
_ADOPT = True


def _refuse_modified(node: Node) -> None:
    """Raise: a value the node saved was modified in place after it was saved."""
    for _position, tensor, cell, version in node.versions:
        if cell[0] != version:
            which = "its output" if tensor is None else f"an input of shape {tuple(tensor.shape)}"
            raise BackwardError(
                f"backward of {node.function.name}: {which}, saved for backward, was modified in place "
                f"afterwards (version {cell[0]}, saved at version {version}), so its gradient would be "
                f"wrong. Modify a copy instead. {_where(node)}")


def _saved_as_tensors(node: Node) -> tuple:
    """The saved values with tensors' arrays replaced by the tensors, so the VJP's own ops
    record a graph (for higher-order derivatives). The output is re-wrapped around this node."""
    values = list(node.saved)
    for position, tensor, _, _ in node.versions:
        values[position] = tensor if tensor is not None else Tensor(values[position], True, node)
    return tuple(values)


def _check_finite(node: Node, grad: Any) -> Any:
    data = grad.data if isinstance(grad, Tensor) else grad
    xp = namespace(data)
    if not bool(xp.all(xp.isfinite(data))):
        raise BackwardError(f"detect_anomaly: backward of {node.function.name} produced NaN or inf in "
                            f"a gradient of its inputs. {_where(node)}")
    return grad


def _where(node: Node) -> str:
    if node.trace is not None:
        return f"The {node.function.name} was called at {node.trace}."
    return f"Run the forward pass under wg.detect_anomaly() to see where the {node.function.name} was called."


class _Twice(Function):
    """y = 2x whose VJP hands one fresh array to both of two inputs: the aliasing self-test."""

    name = "_twice"

    def forward(ctx, a, b):
        return a + b

    def backward(ctx, upstream):
        grad = upstream * 1.0
        return grad, grad


def _aliasing_self_test() -> bool:
    """Whether this interpreter's reference counts let ``_owned`` tell a shared gradient from a
    fresh one: a fresh one must be kept, a shared one copied. Run once at import."""
    numpy = sys.modules["numpy"]
    a, b = Tensor(numpy.ones(3), True), Tensor(numpy.ones(3), True)
    _Twice.apply(a, b).backward(numpy.ones(3))
    return not numpy.shares_memory(a.grad.data, b.grad.data)


_ADOPT = _aliasing_self_test()
