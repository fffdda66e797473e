"""Keeping replicas of a model equal: checking that the ranks hold the same tensors, copying rank 0's
to the others, and averaging flat groups of arrays. Used by DistributedDataParallel and ParameterMixing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy

from ..core.errors import OpValueError
from ..core.tensor import Tensor, bump_version
from .process_group import group


class ReplicaMismatchError(OpValueError):
    """The ranks' models differ in their parameters' or buffers' names, shapes or dtypes."""


def check_same_tensors(who: str, named_tensors: list[tuple[str, Tensor]]) -> None:
    """Raise on every rank, naming the first tensor that differs, unless all ranks hold tensors of the
    same names, shapes and dtypes in the same order. Pickles one small list per rank: not for a hot loop."""
    communicator = group().communicator
    if communicator is None or communicator.Get_size() == 1:
        return
    mine = [(name, tuple(tensor.shape), str(tensor.dtype)) for name, tensor in named_tensors]
    everyone = communicator.allgather(mine)
    reference = everyone[0]
    for rank, theirs in enumerate(everyone[1:], start=1):
        if theirs == reference:
            continue
        for position in range(max(len(reference), len(theirs))):
            first = reference[position] if position < len(reference) else None
            other = theirs[position] if position < len(theirs) else None
            if first == other:
                continue
            if first is None or other is None:
                name, has, lacks = (other[0], rank, 0) if first is None else (first[0], 0, rank)
                raise ReplicaMismatchError(
                    f"{who}: the ranks' models differ: {name!r} exists on rank {has} but not on rank {lacks} "
                    f"({len(reference)} tensors on rank 0, {len(theirs)} on rank {rank}); every rank must build "
                    "the same model")
            if first[0] != other[0]:
                raise ReplicaMismatchError(
                    f"{who}: the ranks' models differ: tensor {position} is {first[0]!r} on rank 0 but "
                    f"{other[0]!r} on rank {rank}; every rank must build the same model")
            raise ReplicaMismatchError(
                f"{who}: the ranks' models differ: {first[0]!r} has shape {first[1]} and dtype {first[2]} on "
                f"rank 0 but shape {other[1]} and dtype {other[2]} on rank {rank}; every rank must build the "
                "same model")


def broadcast_from_rank0(tensors: Iterable[Tensor]) -> None:
    """Copy rank 0's values of ``tensors`` into every rank's (in place, versions bumped): one broadcast
    per dtype, of all the tensors of that dtype packed into one flat buffer."""
    communicator = group().communicator
    tensors = list(tensors)
    if communicator is None or communicator.Get_size() == 1 or not tensors:
        return
    receiving = communicator.Get_rank() != 0
    for dtype, members in _by_dtype(tensors).items():
        flat = _pack([tensor.data for tensor in members], dtype)
        communicator.Bcast(flat, root=0)
        if receiving:
            _unpack(flat, members)


def average_arrays(arrays: list[Any], who: str) -> None:
    """Replace each float array of ``arrays`` in place by its mean over the ranks: one all-reduce per dtype.
    Checks first that every rank sends as many elements (one small all-reduce), since MPI would not."""
    communicator = group().communicator
    if communicator is None or communicator.Get_size() == 1 or not arrays:
        return
    from mpi4py import MPI

    groups = _by_dtype(arrays, data=lambda array: array)
    counts = numpy.array([sum(array.size for array in members) for members in groups.values()] + [len(groups)],
                         dtype=numpy.int64)
    extremes = numpy.concatenate([counts, -counts])
    communicator.Allreduce(MPI.IN_PLACE, extremes, op=MPI.MAX)
    if not (numpy.array_equal(extremes[: len(counts)], counts) and numpy.array_equal(-extremes[len(counts):],
                                                                                        counts)):
        raise ReplicaMismatchError(f"{who}: the ranks hold different numbers of values to average (this rank "
                                   f"{counts[:-1].tolist()} per dtype); every rank must train the same model "
                                   "with the same optimizer")
    size = communicator.Get_size()
    for dtype, members in groups.items():
        flat = _pack(members, dtype)
        communicator.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
        flat /= size
        offset = 0
        for array in members:
            array[...] = flat[offset:offset + array.size].reshape(array.shape)
            offset += array.size


def _by_dtype(items: list, data: Any = lambda tensor: tensor.data) -> dict:
    """``items`` grouped by their array's dtype, in order of first appearance (the same on every rank)."""
    groups: dict = {}
    for item in items:
        groups.setdefault(data(item).dtype, []).append(item)
    return groups


def _pack(arrays: list, dtype: Any) -> Any:
    flat = numpy.empty(sum(array.size for array in arrays), dtype=dtype)
    offset = 0
    for array in arrays:
        flat[offset:offset + array.size] = array.reshape(-1)
        offset += array.size
    return flat


def _unpack(flat: Any, tensors: list[Tensor]) -> None:
    offset = 0
    for tensor in tensors:
        tensor.data[...] = flat[offset:offset + tensor.data.size].reshape(tensor.data.shape)
        offset += tensor.data.size
        bump_version(tensor)
