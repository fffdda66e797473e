"""Datasets and the DataLoader that cuts them into (optionally shuffled) minibatches.

    dataset = TensorDataset(X, y)                       # X: (N, D), y: (N,)
    loader = DataLoader(dataset, batch_size=32, shuffle=True)
    for xb, yb in loader:                               # xb: (<=32, D), yb: (<=32,)
        ...

Batches are host-side copies that never require grad. Shuffling draws one permutation
per epoch (per ``iter(loader)``) from a ``wg.Generator``, so ``wg.manual_seed`` repeats
the order, and saving the generator's state saves where the epoch sequence stands.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..core import creation
from ..core.backend import get_default_dtype, namespace, numpy
from ..core.tensor import Tensor


class Dataset(ABC):
    """A sized collection of samples: subclasses define ``__getitem__(i)`` and ``__len__``.

    A sample is usually a tuple of fields (features, label). A subclass may also define
    ``get_batch(indices) -> tuple[Tensor, ...]`` to hand the DataLoader whole batches at once.
    """

    @abstractmethod
    def __getitem__(self, index: int) -> Any: ...

    @abstractmethod
    def __len__(self) -> int: ...


class TensorDataset(Dataset):
    """Samples are rows of ``tensors``: item ``i`` is ``(tensors[0][i], tensors[1][i], ...)``.

    All tensors must share their first-axis length N. Arrays are accepted and wrapped without
    copying; tensors that require grad are detached (a dataset is data, not a parameter).
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        tensors = tuple(_as_tensor(t) for t in tensors)
        for t in tensors:
            if t.ndim == 0:
                raise ValueError("TensorDataset: 0-d tensors have no samples to index; give each a first axis")
        lengths = [t.shape[0] for t in tensors]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: all tensors need the same first-axis length, got lengths {lengths}")
        self.tensors = tensors

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        # ``[index, ...]`` keeps a 0-d array (not a numpy scalar) when the tensor is 1-d
        return tuple(Tensor(t.data[index, ...]) for t in self.tensors)

    def __repr__(self) -> str:
        fields = ", ".join(f"{tuple(t.shape)} {t.dtype}" for t in self.tensors)
        return f"TensorDataset({len(self)} samples: {fields})"

    def get_batch(self, indices: Any) -> tuple[Tensor, ...]:
        """Rows ``indices`` (an int array, shape (B,)) of every tensor, gathered at once: shapes (B, ...)."""
        return tuple(Tensor(t.data[indices]) for t in self.tensors)


def _as_tensor(value: Any) -> Tensor:
    if isinstance(value, Tensor):
        return value.detach()
    if isinstance(value, numpy.ndarray):
        return creation.from_numpy(value)
    return creation.tensor(value)


def default_collate(samples: Sequence[Any]) -> Any:
    """Stack a list of B samples along a new first axis.

    Tuples/lists of fields give a tuple of batched fields, dicts a dict; each field becomes a
    Tensor of shape (B, *field_shape). Tensors and arrays keep their dtype; Python ints become
    int64, bools bool, floats the default dtype.
    """
    first = samples[0]
    if isinstance(first, (tuple, list)):
        widths = {len(sample) for sample in samples}
        if len(widths) != 1:
            raise ValueError(f"default_collate: samples have different numbers of fields: {sorted(widths)}")
        return tuple(default_collate([sample[i] for sample in samples]) for i in range(len(first)))
    if isinstance(first, dict):
        return {key: default_collate([sample[key] for sample in samples]) for key in first}
    if isinstance(first, Tensor):
        return _stack([sample.data for sample in samples])
    if isinstance(first, (numpy.ndarray, numpy.generic)):
        return _stack([numpy.asarray(sample) for sample in samples])
    if isinstance(first, (bool, int, float)):
        array = numpy.array(samples)
        if array.dtype.kind == "f":
            return Tensor(array.astype(get_default_dtype()))
        if array.dtype.kind in "iu":
            return Tensor(array.astype(numpy.int64))
        if array.dtype.kind == "b":
            return Tensor(array)
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__}; "
                      f"return Tensors, arrays or numbers from the dataset, or pass a collate_fn")


def _stack(arrays: list) -> Tensor:
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"default_collate: cannot stack samples of different shapes {sorted(shapes)}")
    return Tensor(namespace(arrays[0]).stack(arrays))


class DataLoader:
    """Iterates over ``dataset`` in batches of ``batch_size`` samples.

    ``shuffle``: a fresh permutation each epoch, drawn from ``generator`` (default: the global
    generator that ``wg.manual_seed`` seeds) when ``iter()`` is called. ``drop_last``: skip the
    final batch if it is smaller than ``batch_size``. ``collate_fn``: turns a list of samples
    into a batch (default: ``default_collate``). A dataset with ``get_batch`` (TensorDataset)
    is gathered by index array instead, unless a ``collate_fn`` is given. ``sampler``: an
    iterable of dataset indices with a length (a ``DistributedSampler``) that gives the order
    instead; it excludes ``shuffle=True``, as in PyTorch.
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 generator: creation.Generator | None = None, collate_fn: Callable | None = None,
                 sampler: Any = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle=True: the sampler "
                             "decides the order (a DistributedSampler shuffles itself: DistributedSampler(dataset, "
                             "shuffle=True))")
        if sampler is not None and not (hasattr(sampler, "__iter__") and hasattr(sampler, "__len__")):
            raise TypeError(f"DataLoader: sampler must be an iterable of indices with a length, not "
                            f"{type(sampler).__name__}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator
        self.collate_fn = collate_fn
        self.sampler = sampler

    def __len__(self) -> int:
        """The number of batches per epoch."""
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        # Draw the order now, not at the first next(), so iter() alone advances the generator
        # by exactly one epoch: a state saved between epochs then resumes the same sequence.
        if self.sampler is not None:
            return self._batches(numpy.fromiter(iter(self.sampler), dtype=numpy.int64))
        n = len(self.dataset)
        if self.shuffle:
            generator = self.generator if self.generator is not None else creation.default_generator
            order = generator.random.permutation(n)
        else:
            order = numpy.arange(n)
        return self._batches(order)

    def _batches(self, order: Any) -> Iterator[Any]:
        get_batch = getattr(self.dataset, "get_batch", None) if self.collate_fn is None else None
        collate = self.collate_fn or default_collate
        stop = len(self) * self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            indices = order[start:start + self.batch_size]
            if get_batch is not None:
                yield get_batch(indices)
            else:
                yield collate([self.dataset[int(i)] for i in indices])
