"""DistributedDataParallel: one replica of the model per rank, gradients averaged during backward.

Each rank runs forward and backward on its own part of the batch. Gradients are averaged in
buckets: the parameters, in reverse registration order (about the order in which backward
finishes their gradients), are packed into flat buffers of about ``bucket_cap_mb`` each. A hook
on each parameter copies its gradient into its bucket; when a bucket is full, a non-blocking
all-reduce of it starts, so communication overlaps the rest of the backward pass. When the pass
ends, a callback waits for every bucket and writes the averages into ``.grad``. Buckets start
strictly in order on every rank, as MPI needs the same sequence of collectives everywhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy

from ..core.backward import queue_callback
from ..core.errors import OpTypeError, OpValueError, TraceError, call_site
from ..core.function import grad_accumulator
from ..core.grad_mode import grad_enabled, watching
from ..core.tensor import Tensor, bump_version
from ..distributed.process_group import group
from ..distributed.replicas import broadcast_from_rank0, check_same_tensors
from .module import Module


class _Bucket:
    """One flat buffer holding the gradients of some parameters of one dtype, and their slots in it."""

    def __init__(self, parameters: list[Tensor], dtype: Any) -> None:
        self.parameters = parameters
        self.flat = numpy.empty(sum(parameter.data.size for parameter in parameters), dtype=dtype)
        self.slots, offset = [], 0
        for parameter in parameters:
            size = parameter.data.size
            self.slots.append(self.flat[offset:offset + size].reshape(parameter.data.shape))
            offset += size
        self.filled = [False] * len(parameters)
        self.remaining = len(parameters)
        self.request: Any = None


class DistributedDataParallel(Module):
    """Wraps ``module`` (held as ``.module``) so that ``backward()`` leaves in every parameter's ``.grad``
    the average over ranks of the gradients the ranks computed (PyTorch's ``DistributedDataParallel``).

    At wrap time, checks that every rank's module has the same parameters and buffers (names, shapes,
    dtypes; a mismatch raises on every rank, naming the tensor) and copies rank 0's values to all ranks.
    ``bucket_cap_mb``: about how many megabytes of gradients each all-reduce carries. With
    ``broadcast_buffers``, each forward pass that records a graph first copies rank 0's buffers (running
    statistics) to every rank. Build the optimizer over ``ddp.parameters()``; ``state_dict()`` keys start
    with ``module.``, as in PyTorch (save ``ddp.module.state_dict()`` for a checkpoint without it).
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 4.0, broadcast_buffers: bool = True) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise OpTypeError(f"DistributedDataParallel: module must be an nn.Module, not {type(module).__name__} "
                              f"(at {call_site()})")
        if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, (int, float)) or not bucket_cap_mb > 0:
            raise OpValueError(f"DistributedDataParallel: bucket_cap_mb must be a positive number, got "
                               f"{bucket_cap_mb!r} (at {call_site()})")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        named = [(name, parameter) for name, parameter in module.named_parameters() if parameter.requires_grad]
        buffers = list(module.named_buffers())
        check_same_tensors("DistributedDataParallel", named + [(f"buffer {name}", b) for name, b in buffers])
        broadcast_from_rank0([parameter for _, parameter in named] + [buffer for _, buffer in buffers])
        self._communicator = group().communicator
        self._world_size = group().world_size
        self._buckets = self._make_buckets([parameter for _, parameter in named], bucket_cap_mb * 2 ** 20)
        self._next_launch = 0  # the first bucket whose all-reduce has not started in this backward pass
        self._pending = False  # a backward pass has started filling buckets and not yet finished them
        self._handles = []
        self._accumulators: set = set()  # the parameters' gradient accumulation nodes, to schedule early
        self._renumbered = False  # a forward pass has renumbered them since the last backward pass
        if self._communicator is not None:
            for bucket_index, bucket in enumerate(self._buckets):
                for slot_index, parameter in enumerate(bucket.parameters):
                    self._handles.append(parameter.register_hook(self._hook_for(bucket_index, slot_index)))
                    self._accumulators.add(grad_accumulator(parameter))

    @staticmethod
    def _make_buckets(parameters: list[Tensor], capacity: float) -> list[_Bucket]:
        """Parameters in reverse registration order, cut into buckets of one dtype and about ``capacity``
        bytes each (a parameter larger than that gets a bucket of its own)."""
        buckets, current, current_bytes = [], [], 0
        for parameter in reversed(parameters):
            size = parameter.data.nbytes
            if current and (current_bytes + size > capacity or parameter.data.dtype != current[0].data.dtype):
                buckets.append(_Bucket(current, current[0].data.dtype))
                current, current_bytes = [], 0
            current.append(parameter)
            current_bytes += size
        if current:
            buckets.append(_Bucket(current, current[0].data.dtype))
        return buckets

    @property
    def bucket_sizes(self) -> list[int]:
        """How many parameters each bucket holds, in the order their all-reduces start."""
        return [len(bucket.parameters) for bucket in self._buckets]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        watch = watching()
        if watch is not None and watch.trace is not None:
            raise TraceError("DistributedDataParallel inside a trace (wg.compile, Graph.trace): its all-reduces "
                             "start from gradient hooks while backward runs, which a compiled step cannot replay; "
                             f"compile ddp.module's computation instead, or do not compile (at {call_site()})")
        if self._pending:
            raise RuntimeError("DistributedDataParallel: the last backward pass stopped part-way after starting "
                               "some of its gradient all-reduces, so this rank is out of step with the others and "
                               f"training cannot go on; restart from a checkpoint (at {call_site()})")
        if self.broadcast_buffers and grad_enabled() and self.require_backward_grad_sync:
            broadcast_from_rank0(buffer for _, buffer in self.module.named_buffers())
        output = self.module(*args, **kwargs)
        if grad_enabled() and self._accumulators:
            self._schedule_early_gradients(output)
        return output

    def _schedule_early_gradients(self, output: Any) -> None:
        """Let backward finish each parameter's gradient as soon as it can, so buckets fill while it runs.

        The engine visits nodes in decreasing creation number, and a parameter's accumulation node was
        made before any forward pass: left alone, every parameter is reached only at the very end of the
        walk. Renumbering it just below its first consumer in this graph keeps it after all its consumers
        (its gradient is complete) while bringing it forward. Two forward passes before one backward keep
        the lower number, which is always safe; the first backward hook starts a new count.
        """
        outputs = output if isinstance(output, (tuple, list)) else [output]
        stack = [tensor.node for tensor in outputs if isinstance(tensor, Tensor) and tensor.node is not None]
        first_consumer: dict = {}
        seen: set = set()
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            for parent in node.parents:
                if parent is None:
                    continue
                if parent in self._accumulators:
                    known = first_consumer.get(parent)
                    if known is None or node.sequence < known:
                        first_consumer[parent] = node.sequence
                elif parent not in seen:
                    stack.append(parent)
        sharing: dict = {}
        for accumulator, consumer in first_consumer.items():
            sharing.setdefault(consumer, []).append(accumulator)
        for consumer, accumulators in sharing.items():
            for index, accumulator in enumerate(accumulators):  # distinct numbers: the heap must never tie
                number = consumer - (index + 1) / (len(accumulators) + 1)
                if self._renumbered:
                    number = min(number, accumulator.sequence)
                accumulator.sequence = number
        self._renumbered = True

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Within it, backward passes only accumulate gradients locally; the first backward after it
        averages the accumulated ``.grad`` (PyTorch's ``no_sync``, for gradient accumulation)."""
        before = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = before

    # --- during backward ----------------------------------------------------------------------
    def _hook_for(self, bucket_index: int, slot_index: int) -> Any:
        def hook(grad: Tensor) -> None:
            self._renumbered = False
            if self.require_backward_grad_sync:
                self._gradient_ready(bucket_index, slot_index, grad)

        return hook

    def _gradient_ready(self, bucket_index: int, slot_index: int, grad: Tensor) -> None:
        """Put the gradient (plus what ``.grad`` already holds) in its slot; start every bucket now full
        whose predecessors have all started."""
        if not self._pending:
            self._begin_pass()
        bucket = self._buckets[bucket_index]
        if bucket.filled[slot_index]:  # a second backward before the callback of the first cannot happen
            return
        parameter = bucket.parameters[slot_index]
        slot = bucket.slots[slot_index]
        slot[...] = grad.data
        if parameter.grad is not None:
            slot += parameter.grad.data
        bucket.filled[slot_index] = True
        bucket.remaining -= 1
        self._launch_ready()

    def _begin_pass(self) -> None:
        self._pending = True
        self._next_launch = 0
        for bucket in self._buckets:
            bucket.filled = [False] * len(bucket.parameters)
            bucket.remaining = len(bucket.parameters)
            bucket.request = None
        queue_callback(self._finish_pass)

    def _launch_ready(self) -> None:
        from mpi4py import MPI

        while self._next_launch < len(self._buckets) and self._buckets[self._next_launch].remaining == 0:
            bucket = self._buckets[self._next_launch]
            bucket.request = self._communicator.Iallreduce(MPI.IN_PLACE, bucket.flat, op=MPI.SUM)
            self._next_launch += 1
        if self._next_launch:  # let MPI progress the transfers already started while backward goes on
            self._buckets[self._next_launch - 1].request.Test()

    def _finish_pass(self) -> None:
        """After backward: treat parameters that got no gradient as contributing their ``.grad`` (or zeros),
        start what is left, wait for everything, and write the averages into ``.grad``."""
        from mpi4py import MPI

        self._pending = False
        for bucket in self._buckets[self._next_launch:]:
            for index, parameter in enumerate(bucket.parameters):
                if not bucket.filled[index]:
                    if parameter.grad is None:
                        bucket.slots[index][...] = 0
                    else:
                        bucket.slots[index][...] = parameter.grad.data
                    bucket.filled[index] = True
            bucket.remaining = 0
        self._launch_ready()
        MPI.Request.Waitall([bucket.request for bucket in self._buckets])
        share = 1.0 / self._world_size  # the average, taken as each slot is copied out: one pass, not two
        for bucket in self._buckets:
            bucket.request = None
            for parameter, slot in zip(bucket.parameters, bucket.slots):
                if parameter.grad is None:
                    parameter.grad = Tensor(slot * slot.dtype.type(share))
                else:
                    numpy.multiply(slot, slot.dtype.type(share), out=parameter.grad.data)
                    bump_version(parameter.grad)
