"""Run under mpiexec: every collective on every dtype and several shapes, checked against numpy applied to
what each rank had. Each rank prints one RESULT line (JSON) for tests/test_distributed.py to judge."""

import json

import numpy as np

from wengert import distributed as dist
from wengert.core.tensor import Tensor, version_cell

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]
SHAPES = [(), (0,), (5,), (3, 4), (2, 0, 3)]
OPS = {dist.ReduceOp.SUM: np.sum, dist.ReduceOp.PRODUCT: np.prod, dist.ReduceOp.MAX: np.max,
       dist.ReduceOp.MIN: np.min, dist.ReduceOp.AVG: np.mean}
BOOLEAN_OPS = {dist.ReduceOp.SUM: np.any, dist.ReduceOp.MAX: np.any, dist.ReduceOp.PRODUCT: np.all,
               dist.ReduceOp.MIN: np.all}

rank, size = dist.get_rank(), dist.get_world_size()
failures, checks = [], 0


def value_of(which_rank, dtype, shape, case, strided=False):
    """Rank ``which_rank``'s input for a case: every rank can compute every rank's."""
    rng = np.random.default_rng([which_rank, case])
    full_shape = (*shape[:-1], 2 * shape[-1]) if strided else shape
    if np.dtype(dtype).kind == "f":
        array = rng.standard_normal(full_shape).astype(dtype)
    elif np.dtype(dtype).kind == "b":
        array = rng.integers(0, 2, full_shape).astype(bool)
    else:
        array = rng.integers(-4, 5, full_shape).astype(dtype)
    return array[..., ::2] if strided else array


def check(name, got, expected, tensor=None, cell=None, before=None):
    global checks
    checks += 1
    same = got.dtype == expected.dtype and got.shape == expected.shape and (
        np.allclose(got, expected, rtol=1e-5, atol=1e-6) if got.dtype.kind == "f" else np.array_equal(got, expected))
    if not same:
        failures.append(f"{name}: got {got!r}, expected {expected!r}")
    if cell is not None and cell[0] == before:
        failures.append(f"{name}: the version counter was not bumped")


def tensor_with_cell(array):
    tensor = Tensor(array.copy())
    cell = version_cell(tensor)
    return tensor, cell, cell[0]


case = 0
for dtype in DTYPES:
    kind = np.dtype(dtype).kind
    for shape in SHAPES:
        for strided in ([False, True] if len(shape) == 2 else [False]):
            label = f"{np.dtype(dtype).name}{shape}{' strided' if strided else ''}"
            case += 1
            inputs = [value_of(r, dtype, shape, case, strided) for r in range(size)]
            stacked = np.stack(inputs)
            ops = BOOLEAN_OPS if kind == "b" else OPS
            for op, reduce_numpy in ops.items():
                if op is dist.ReduceOp.AVG and kind != "f":
                    continue
                expected = reduce_numpy(stacked, axis=0).astype(dtype)
                tensor, cell, before = tensor_with_cell(inputs[rank])
                if strided:  # a non-contiguous view: the collective must write through it
                    holder = np.zeros((*shape[:-1], 2 * shape[-1]), dtype=dtype)
                    holder[..., ::2] = inputs[rank]
                    tensor = Tensor(holder[..., ::2])
                    cell, before = version_cell(tensor), 0
                dist.all_reduce(tensor, op)
                check(f"all_reduce {op.name} {label}", tensor.data, expected, tensor, cell, before)
                for dst in range(size):
                    tensor, cell, before = tensor_with_cell(inputs[rank])
                    dist.reduce(tensor, dst, op)
                    check(f"reduce {op.name} dst={dst} {label}", tensor.data,
                          expected if rank == dst else inputs[rank])
            for src in range(size):
                tensor, cell, before = tensor_with_cell(inputs[rank])
                dist.broadcast(tensor, src)
                check(f"broadcast src={src} {label}", tensor.data, inputs[src],
                      *((tensor, cell, before) if rank != src else ()))
            gathered = [Tensor(np.zeros(inputs[0].shape, dtype=dtype)) for _ in range(size)]
            cells = [version_cell(target) for target in gathered]
            dist.all_gather(gathered, Tensor(inputs[rank]))
            for source, target in enumerate(gathered):
                check(f"all_gather from {source} {label}", target.data, inputs[source], target, cells[source], 0)

dist.barrier()
print("RESULT " + json.dumps({"rank": rank, "world_size": size, "checks": checks, "failures": failures[:20]}),
      flush=True)
