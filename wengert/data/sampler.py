"""DistributedSampler: each rank's share of a dataset's indices (PyTorch's ``DistributedSampler``).

    sampler = DistributedSampler(dataset)                   # rank and world size from wengert.distributed
    loader = DataLoader(dataset, batch_size=32, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)                            # a new order each epoch, the same on every rank
        for x, y in loader: ...
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from ..core.backend import numpy


class DistributedSampler:
    """The indices of rank ``rank``'s shard of ``dataset``: positions ``rank::num_replicas`` of one order of
    all indices, so the shards are disjoint and together cover the dataset.

    ``shuffle``: the order is a permutation drawn from ``seed + epoch`` (numpy's PCG64 generator, so it is
    not PyTorch's permutation for the same seed), the same on every rank; else 0..N-1. Unless
    ``drop_last``, the order is padded by repeating its first indices so that every rank gets
    ``ceil(N / num_replicas)`` samples; with it, the tail that does not divide evenly is dropped.
    ``num_replicas`` and ``rank`` default to ``wengert.distributed``'s world size and rank.
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from ..distributed import get_rank, get_world_size

            num_replicas = get_world_size() if num_replicas is None else num_replicas
            rank = get_rank() if rank is None else rank
        if isinstance(num_replicas, bool) or not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive int, got {num_replicas!r}")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank!r}: it must be in [0, {num_replicas - 1}] "
                             f"for num_replicas={num_replicas}")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use the order of epoch ``epoch``: call it before each epoch, or every epoch has the same order."""
        self.epoch = epoch

    def indices(self) -> Any:
        """This rank's indices for the current epoch, as an int64 array of ``len(self)``."""
        n = len(self.dataset)
        if self.shuffle:
            order = numpy.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            order = numpy.arange(n)
        if self.drop_last:
            order = order[: self.total_size]
        elif self.total_size > n:
            order = numpy.resize(order, self.total_size)  # repeats the order from its start, as PyTorch pads
        return order[self.rank:self.total_size:self.num_replicas].astype(numpy.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (f"DistributedSampler({len(self)} of {len(self.dataset)} samples: rank {self.rank} of "
                f"{self.num_replicas}, shuffle={self.shuffle}, seed={self.seed}, epoch={self.epoch})")
