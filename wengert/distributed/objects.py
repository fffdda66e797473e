"""Python objects between ranks (pickled): for setup, not for the hot path, which sends tensors' buffers."""

from __future__ import annotations

from ..core.errors import OpTypeError, call_site
from .process_group import group


def broadcast_object_list(object_list: list, src: int = 0) -> None:
    """Replace every item of ``object_list`` with rank ``src``'s, in place (PyTorch's
    ``broadcast_object_list``): each rank passes a list of the same length."""
    if not isinstance(object_list, list):
        raise OpTypeError(f"broadcast_object_list: object_list must be a list, not {type(object_list).__name__} "
                          f"(at {call_site()})")
    communicator = group().communicator
    if communicator is not None and group().world_size > 1:
        object_list[:] = communicator.bcast(object_list, root=src)
