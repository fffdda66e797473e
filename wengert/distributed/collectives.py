"""Collectives with PyTorch's names and semantics, in place on each tensor's array.

Arrays go to MPI as buffers through mpi4py's uppercase methods: nothing is pickled. A
non-contiguous array is copied into a contiguous one and the result copied back. Every
write into a tensor's array bumps its version, so a graph that saved the old values
refuses to backpropagate through them.
"""

from __future__ import annotations

from typing import Any

import numpy

from ..core.errors import OpTypeError, OpValueError, TraceError, call_site
from ..core.grad_mode import watching
from ..core.tensor import Tensor, bump_version
from .process_group import ReduceOp, group

_MPI_OPS: dict[ReduceOp, str] = {ReduceOp.SUM: "SUM", ReduceOp.AVG: "SUM", ReduceOp.PRODUCT: "PROD",
                                 ReduceOp.MAX: "MAX", ReduceOp.MIN: "MIN"}
# MPI defines only logical reductions on booleans: a sum or max of flags is "any", a product or min "all".
_BOOLEAN_OPS: dict[ReduceOp, str] = {ReduceOp.SUM: "LOR", ReduceOp.MAX: "LOR", ReduceOp.PRODUCT: "LAND",
                                     ReduceOp.MIN: "LAND"}


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM) -> None:
    """Replace ``tensor`` (any shape) on every rank by ``op`` over all ranks' tensors, elementwise."""
    array = _array_of("all_reduce", tensor)
    mpi_op = _mpi_op("all_reduce", op, array)
    communicator = group().communicator
    if communicator is None:
        return
    from mpi4py import MPI

    buffer = _contiguous(array)
    communicator.Allreduce(MPI.IN_PLACE, buffer, op=getattr(MPI, mpi_op))
    if op is ReduceOp.AVG:
        buffer /= communicator.Get_size()
    _write_back(tensor, array, buffer)


def broadcast(tensor: Tensor, src: int) -> None:
    """Replace ``tensor`` on every rank by rank ``src``'s."""
    array = _array_of("broadcast", tensor)
    size = group().world_size
    _check_rank("broadcast", "src", src, size)
    communicator = group().communicator
    if communicator is None:
        return
    buffer = _contiguous(array)
    communicator.Bcast(buffer, root=src)
    if communicator.Get_rank() != src:
        _write_back(tensor, array, buffer)


def reduce(tensor: Tensor, dst: int, op: ReduceOp = ReduceOp.SUM) -> None:
    """Replace rank ``dst``'s ``tensor`` by ``op`` over all ranks' tensors; the others' are left unchanged."""
    array = _array_of("reduce", tensor)
    mpi_op = _mpi_op("reduce", op, array)
    size = group().world_size
    _check_rank("reduce", "dst", dst, size)
    communicator = group().communicator
    if communicator is None:
        return
    from mpi4py import MPI

    buffer = _contiguous(array)
    if communicator.Get_rank() == dst:
        communicator.Reduce(MPI.IN_PLACE, buffer, op=getattr(MPI, mpi_op), root=dst)
        if op is ReduceOp.AVG:
            buffer /= size
        _write_back(tensor, array, buffer)
    else:
        communicator.Reduce(buffer, None, op=getattr(MPI, mpi_op), root=dst)


def all_gather(tensor_list: list[Tensor], tensor: Tensor) -> None:
    """Write rank r's ``tensor`` into ``tensor_list[r]`` on every rank; the list holds one tensor per rank,
    each of ``tensor``'s shape and dtype."""
    array = _array_of("all_gather", tensor)
    size = group().world_size
    if not isinstance(tensor_list, (list, tuple)):
        raise OpTypeError(f"all_gather: tensor_list must be a list of {size} tensors, not "
                          f"{type(tensor_list).__name__} (at {call_site()})")
    if len(tensor_list) != size:
        raise OpValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors for a world of size {size}; "
                           f"give one per rank (at {call_site()})")
    targets = [_array_of("all_gather", target, f"tensor_list[{index}]") for index, target in enumerate(tensor_list)]
    for index, target in enumerate(targets):
        if target.shape != array.shape or target.dtype != array.dtype:
            raise OpValueError(f"all_gather: tensor_list[{index}] has shape {tuple(target.shape)} and dtype "
                               f"{target.dtype}, but the tensor sent has shape {tuple(array.shape)} and dtype "
                               f"{array.dtype}: each must match it (at {call_site()})")
    communicator = group().communicator
    if communicator is None:
        gathered = array[None].copy()
    else:
        gathered = numpy.empty((size, *array.shape), dtype=array.dtype)
        communicator.Allgather(_contiguous(array), gathered)
    for target_tensor, target, value in zip(tensor_list, targets, gathered):
        target[...] = value
        bump_version(target_tensor)


# --- checks and buffers ---------------------------------------------------------------------

def _array_of(function: str, tensor: Any, what: str = "tensor") -> Any:
    """The tensor's numpy array, after checking that it is one that MPI can send and this code may write."""
    if not isinstance(tensor, Tensor):
        raise OpTypeError(f"{function}: {what} must be a wengert Tensor, not {type(tensor).__name__} "
                          f"(at {call_site()})")
    watch = watching()
    if watch is not None and watch.trace is not None:
        raise TraceError(f"{function} inside a trace (wg.compile, Graph.trace): a collective is communication, "
                         f"not an op, and would not be replayed; call it outside the compiled function "
                         f"(at {call_site()})")
    array = tensor.data
    if isinstance(array, numpy.generic):  # a 0-d result some ops give: immutable, so give it a 0-d array
        array = tensor.data = numpy.array(array)
    if not isinstance(array, numpy.ndarray):
        raise OpTypeError(f"{function}: {what} holds a {type(array).__name__}, not a numpy array: only "
                          f"host (numpy) arrays can be sent through MPI (at {call_site()})")
    if array.dtype.kind not in "fiub" or array.dtype.itemsize > 8:
        raise OpTypeError(f"{function}: {what} has dtype {array.dtype}; the collectives take float, integer "
                          f"and bool tensors (at {call_site()})")
    if not array.flags.writeable:
        raise OpValueError(f"{function}: {what} is read-only (a broadcast view?); the collectives write "
                           f"into it in place: pass a tensor that owns its values (at {call_site()})")
    return array


def _mpi_op(function: str, op: Any, array: Any) -> str:
    if not isinstance(op, ReduceOp):
        raise OpValueError(f"{function}: op must be a ReduceOp (SUM, AVG, PRODUCT, MAX, MIN), not {op!r} "
                           f"(at {call_site()})")
    if op is ReduceOp.AVG and array.dtype.kind != "f":
        raise OpTypeError(f"{function}: ReduceOp.AVG on a {array.dtype} tensor would have to round; use "
                          f"ReduceOp.SUM and divide by get_world_size() as you mean to (at {call_site()})")
    if array.dtype.kind == "b":
        return _BOOLEAN_OPS[op]
    return _MPI_OPS[op]


def _check_rank(function: str, name: str, rank: Any, size: int) -> None:
    if isinstance(rank, bool) or not isinstance(rank, (int, numpy.integer)) or not 0 <= rank < size:
        raise OpValueError(f"{function}: {name}={rank!r} is not a rank of this group, which has ranks 0 to "
                           f"{size - 1} (at {call_site()})")


def _contiguous(array: Any) -> Any:
    """The array as a 1-d contiguous buffer for MPI: itself (a view) when it is C-contiguous, else a copy."""
    if array.flags.c_contiguous:
        return array.reshape(-1)
    return numpy.ascontiguousarray(array).reshape(-1)


def _write_back(tensor: Tensor, array: Any, buffer: Any) -> None:
    """Copy the result into the tensor's array (unless MPI wrote there: it was contiguous) and bump its version."""
    if not array.flags.c_contiguous:
        array[...] = buffer.reshape(array.shape)
    bump_version(tensor)
