"""Training on several processes over MPI, with PyTorch's ``torch.distributed`` names and semantics.

    mpiexec -n 4 python train.py

    from wengert import distributed as dist, nn, data
    model = nn.parallel.DistributedDataParallel(make_model())      # gradients averaged in backward()
    sampler = data.DistributedSampler(dataset)                     # each rank its own shard
    loader = data.DataLoader(dataset, batch_size=32, sampler=sampler)
    if dist.get_rank() == 0: ...                                   # only rank 0 writes files

The group is MPI_COMM_WORLD, joined on first use; under a plain ``python`` it is this process alone
(world size 1) and every collective is the identity. Install with ``pip install 'wengert[distributed]'``.
"""

from .collectives import all_gather, all_reduce, broadcast, reduce
from .mixing import ParameterMixing
from .objects import broadcast_object_list
from .process_group import (
    ReduceOp,
    abort,
    abort_on_failure,
    barrier,
    destroy_process_group,
    find_mpiexec,
    get_rank,
    get_world_size,
    init_process_group,
    is_initialized,
    mpiexec_command,
)
from .replicas import ReplicaMismatchError

__all__ = ["ParameterMixing", "ReduceOp", "ReplicaMismatchError", "abort", "abort_on_failure", "all_gather",
           "all_reduce", "barrier", "broadcast", "broadcast_object_list", "destroy_process_group", "find_mpiexec",
           "get_rank", "get_world_size", "init_process_group", "is_initialized", "mpiexec_command", "reduce"]
