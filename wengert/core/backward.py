"""Reverse-mode backprop: the recorded graph read backwards, one VJP per node.

Nodes are numbered in creation order, so a node's inputs always have smaller
numbers than the node. Popping nodes from a max-heap of numbers therefore visits
each node after every node that consumes it has added its share to the node's
``upstream`` gradient: gradients are summed at branches before they flow on. No
recursion, so a chain of 100,000 ops is fine, and a branch that receives no
gradient is never visited.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Sequence
from typing import Any

from .backend import namespace
from .errors import BackwardError, call_site
from .function import Node
from .grad_mode import state
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


def backward(tensor: Tensor, gradient: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False) -> None:
    """Accumulate d(tensor)/d(leaf) into ``.grad`` of every leaf that requires grad."""
    seed = _seed(tensor, gradient, create_graph)
    _run([tensor], [seed], create_graph if retain_graph is None else retain_graph, create_graph)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple:
    """d(outputs)/d(inputs), returned instead of accumulated into ``.grad`` (torch.autograd.grad)."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    seeds = [_seed(output, seed, create_graph) for output, seed in zip(outputs, grad_outputs)]
    for tensor in inputs:
        if not tensor.requires_grad:
            raise BackwardError(f"grad: an input of shape {tuple(tensor.shape)} does not require grad")
    wanted = {id(tensor.node or tensor): index for index, tensor in enumerate(inputs)}
    captured = _run(outputs, seeds, create_graph if retain_graph is None else retain_graph,
                    create_graph, wanted)
    results = []
    for index, tensor in enumerate(inputs):
        found = captured.get(index)
        if found is None and not allow_unused:
            raise BackwardError(f"grad: input {index} (shape {tuple(tensor.shape)}) was not used to "
                                "compute the outputs; pass allow_unused=True to get None for it")
        results.append(found if found is None or create_graph else Tensor(_owned(found)))
    return tuple(results)


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


def _run(roots: list, seeds: list, retain_graph: bool, create_graph: bool,
         wanted: dict | None = None) -> dict:
    """Backpropagate ``seeds`` from ``roots``. Without ``wanted``, accumulate into leaves' ``.grad``;
    with it (``id(node or leaf) -> index``), return ``{index: gradient}`` and touch no ``.grad``."""
    heap: list = []
    leaf_grads: dict = {}  # id(leaf) -> [leaf, gradient summed so far]
    captured: dict = {}
    for root, seed in zip(roots, seeds):
        _deliver(root.node or root, seed, heap, leaf_grads)
    anomaly = state.anomaly
    enabled_before = state.grad_enabled
    state.grad_enabled = create_graph  # the VJPs record a graph only for higher-order derivatives
    heappush, heappop = heapq.heappush, heapq.heappop
    try:
        while heap:
            node = heappop(heap)[1]
            upstream, node.upstream = node.upstream, None
            if node.retained is not None:
                _keep_retained(node, upstream, leaf_grads)
            if wanted is not None and id(node) in wanted:
                captured[wanted[id(node)]] = upstream
            saved = node.saved
            if saved is _FREED:
                raise BackwardError(
                    f"backward through the {node.function.name} node a second time: its saved values "
                    "were freed by the first backward. Pass retain_graph=True to the first backward() "
                    "to go through a graph twice.")
            checks = node.saved_tensors
            if checks is not None:
                _check_versions(node)
                if create_graph:
                    node.saved = _saved_as_tensors(node)
            grads = node.function.backward(node, upstream)
            if checks is not None:  # free saved arrays (as PyTorch does); shapes and axes stay
                node.saved = saved if retain_graph else _FREED
            if grads.__class__ is not tuple:
                grads = (grads,)
            parents = node.parents
            if len(grads) != len(parents):
                raise BackwardError(f"backward of {node.function.name} returned {len(grads)} gradients "
                                    f"for {len(parents)} inputs")
            for index, parent in enumerate(parents):
                grad = grads[index]
                if parent is None or grad is None:
                    continue
                try:
                    if grad.shape != parent.shape or (grad.dtype is not parent.dtype
                                                      and grad.dtype != parent.dtype):
                        grad = _conform(node, index, parent, grad)
                except AttributeError:
                    raise BackwardError(f"backward of {node.function.name} returned a "
                                        f"{type(grad).__name__} for input {index}, not an array") from None
                if anomaly:
                    _check_finite(node, index, grad)
                if parent.__class__ is Node:
                    if parent.upstream is None:
                        parent.upstream = grad
                        heappush(heap, (-parent.sequence, parent))
                    else:
                        parent.upstream = parent.upstream + grad
                else:
                    _deliver(parent, grad, heap, leaf_grads)
    finally:
        state.grad_enabled = enabled_before
        if heap:  # an error stopped us: drop the partial sums so a retry starts clean
            for _, node in heap:
                node.upstream = None
    if wanted is not None:
        for leaf, grad in leaf_grads.values():
            if id(leaf) in wanted:
                captured[wanted[id(leaf)]] = grad
        return captured
    grads = grad = upstream = None  # drop the last node's references: _owned counts the rest
    for entry in leaf_grads.values():
        leaf, grad = entry
        entry.clear()
        _accumulate(leaf, grad, create_graph)
    return captured


def _deliver(target: Any, grad: Any, heap: list, leaf_grads: dict) -> None:
    """Add ``grad`` to a node's upstream gradient or to a leaf's running sum."""
    if target.__class__ is Node:
        if target.upstream is None:
            target.upstream = grad
            heapq.heappush(heap, (-target.sequence, target))
        else:
            target.upstream = target.upstream + grad
        return
    entry = leaf_grads.get(id(target))
    if entry is None:
        leaf_grads[id(target)] = [target, grad]
    else:
        entry[1] = entry[1] + grad


def _accumulate(leaf: Tensor, grad: Any, create_graph: bool) -> None:
    """``leaf.grad += grad``, in place when the existing gradient allows (PyTorch semantics)."""
    if leaf.grad is None:
        leaf.grad = grad if create_graph else Tensor(_owned(grad))
    elif create_graph or leaf.grad.requires_grad:
        leaf.grad = leaf.grad + grad
    else:
        leaf.grad.data += grad.data if isinstance(grad, Tensor) else grad


def _owned(grad: Any) -> Any:
    """``grad`` itself if nothing else holds it (no copy, as in PyTorch), else a copy.

    Two leaves may receive the very same array (``x + y`` passes its upstream to
    both), and a later in-place accumulation into one must not change the other.
    """
    if grad.ndim and grad.base is None and sys.getrefcount(grad) <= 4:
        return grad
    return namespace(grad).array(grad)


def _keep_retained(node: Node, upstream: Any, leaf_grads: dict) -> None:
    tensor = node.retained()
    if tensor is not None:
        entry = leaf_grads.get(id(tensor))
        if entry is None:
            leaf_grads[id(tensor)] = [tensor, upstream]
        else:
            entry[1] = entry[1] + upstream


def _conform(node: Node, index: int, parent: Any, grad: Any) -> Any:
    """Sum a broadcasting op's gradient to its input's shape and cast it to its dtype; any other
    mismatch is a bug in the op's backward, reported by name rather than silently absorbed."""
    name = node.function.name
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
    return grad


def _check_versions(node: Node) -> None:
    for _position, tensor, cell, version in node.saved_tensors:
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
    for position, tensor, _, _ in node.saved_tensors:
        values[position] = tensor if tensor is not None else Tensor(values[position], True, node)
    return tuple(values)


def _check_finite(node: Node, index: int, grad: Any) -> None:
    data = grad.data if isinstance(grad, Tensor) else grad
    xp = namespace(data)
    if not bool(xp.all(xp.isfinite(data))):
        raise BackwardError(f"detect_anomaly: backward of {node.function.name} produced NaN or inf in "
                            f"the gradient of its input {index}. {_where(node)}")


def _where(node: Node) -> str:
    if node.trace is not None:
        return f"The {node.function.name} was called at {node.trace}."
    return f"Run the forward pass under wg.detect_anomaly() to see where the {node.function.name} was called."
