"""wengert.distributed, DistributedDataParallel, ParameterMixing and DistributedSampler.

The multi-rank tests run the scripts in tests/distributed/ under ``mpiexec -n 2`` in a subprocess with a
time limit; each rank prints ``RESULT {json}`` lines that the tests here judge. The rest runs in this
process, where the group is this process alone (world size 1).
"""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import wengert as wg
import wengert.nn.functional as F
from wengert import data, nn, optim
from wengert import distributed as dist
from wengert.core.errors import OpTypeError, OpValueError, TraceError
from wengert.core.tensor import Tensor, version_cell

SCRIPTS = Path(__file__).parent / "distributed"
TIME_LIMIT = 30  # seconds: a job that takes longer has hung


def run_on_two_ranks(script: str, *arguments: str) -> tuple[subprocess.CompletedProcess, float]:
    command = dist.mpiexec_command(2, str(SCRIPTS / script), *arguments)
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    start = time.monotonic()
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=TIME_LIMIT, env=environment)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{script} {' '.join(arguments)} did not end within {TIME_LIMIT} s (hung); stderr:\n"
                    f"{error.stderr}")
    return completed, time.monotonic() - start


def results_of(output: str) -> list[dict]:
    """Every ``RESULT {json}`` in the output (mpiexec may run two ranks' lines together)."""
    decoder = json.JSONDecoder()
    return [decoder.raw_decode(output, match.end())[0] for match in re.finditer(r"RESULT ", output)]


# --- collectives on two ranks ---------------------------------------------------------------------

def test_collectives_on_two_ranks_match_numpy():
    completed, _ = run_on_two_ranks("collectives.py")
    assert completed.returncode == 0, completed.stderr
    results = sorted(results_of(completed.stdout), key=lambda result: result["rank"])
    assert [result["rank"] for result in results] == [0, 1]
    for result in results:
        assert result["world_size"] == 2
        assert result["checks"] > 400  # every dtype, shape, op, root
        assert result["failures"] == []


# --- training on two ranks ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def training_results():
    completed, _ = run_on_two_ranks("training.py")
    assert completed.returncode == 0, completed.stderr
    by_case: dict = {}
    for result in results_of(completed.stdout):
        by_case.setdefault(result.pop("case"), {})[result.pop("rank")] = result
    return by_case


@pytest.mark.parametrize("case", ["ddp sgd-momentum", "ddp adam small buckets", "ddp no_sync accumulation"])
def test_data_parallel_equals_one_process_with_the_whole_batch(training_results, case):
    for rank in (0, 1):
        assert training_results[case][rank]["error"] < 1e-6


def test_small_buckets_make_several_all_reduces(training_results):
    assert training_results["ddp sgd-momentum"][0]["buckets"] == 1
    assert training_results["ddp adam small buckets"][0]["buckets"] > 2


def test_no_sync_keeps_gradients_local_until_the_next_backward(training_results):
    for rank in (0, 1):
        assert training_results["ddp no_sync stays local"][rank] == {"local_differ": True, "synced_equal": True}
        assert training_results["ddp replicas equal"][rank]["equal"]


def test_mixing_every_step_equals_data_parallel(training_results):
    for rank in (0, 1):
        assert training_results["mixing every=1 equals ddp"][rank]["error"] < 1e-6


def test_mixing_every_five_steps_equals_replicas_averaged_after_steps_5_10_15(training_results):
    for rank in (0, 1):
        result = training_results["mixing every=5 equals averaged replicas"][rank]
        assert result["error"] < 1e-6
        assert result["error_to_other_replica"] > 1e-3  # steps 16 and 17 trained the replicas apart


def test_mixing_every_five_steps_trains_digits(training_results):
    for rank in (0, 1):
        result = training_results["mixing every=5 trains digits"][rank]
        assert result["accuracy"] >= 0.95
        assert result["shard"] == -(-result["train"] // 2)


# --- faults end the job -----------------------------------------------------------------------------

def exit_codes(output: str) -> list[int]:
    """Each rank's exit status, from the line that ``mpiexec -print-all-exitcodes`` writes (to its stdout)."""
    found = re.search(r"Exit codes: \[[^\]]*\] ([\d,]+)", output)
    assert found, f"no exit codes in mpiexec's output:\n{output}"
    return [int(code) for code in found.group(1).split(",")]


@pytest.mark.parametrize("mode, says", [
    ("raise", ["rank 1 of 2 raised an uncaught exception", "[rank 1] RuntimeError: a failure on purpose in rank 1"]),
    ("sys.exit", ["rank 1 of 2 exited with status 3"]),
    ("kill", []),
    ("exit", []),
])
def test_a_failing_rank_ends_the_job_and_is_named(mode, says):
    completed, seconds = run_on_two_ranks("faults.py", mode)
    assert seconds < TIME_LIMIT
    assert completed.returncode != 0
    assert not any(result.get("finished") for result in results_of(completed.stdout))  # rank 0 never got through
    for text in says:
        assert text in completed.stderr
    if mode in ("kill", "exit"):  # the rank cannot say it died: mpiexec's list of statuses names it
        codes = exit_codes(completed.stdout + completed.stderr)
        assert len(codes) == 2 and codes[1] != 0


def test_ranks_with_different_models_fail_at_wrap_time_naming_the_parameter():
    completed, _ = run_on_two_ranks("faults.py", "mismatch")
    assert completed.returncode == 0, completed.stderr
    results = results_of(completed.stdout)
    assert sorted(result["rank"] for result in results) == [0, 1]
    for result in results:
        assert "'0.weight'" in result["error"]
        assert "(4, 3)" in result["error"] and "(5, 3)" in result["error"]


# --- one process: the group is this process alone ---------------------------------------------------

def test_a_single_process_is_a_world_of_one():
    assert dist.get_world_size() == 1
    assert dist.get_rank() == 0
    assert dist.is_initialized()
    dist.barrier()
    assert dist.abort(3, "not written") is None  # no peers to end: a world of one goes on


def test_only_the_mpi_backend_exists():
    with pytest.raises(OpValueError, match=r"backend 'gloo'.*MPI"):
        dist.init_process_group(backend="gloo")
    dist.init_process_group("mpi")
    assert dist.is_initialized()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("shape", [(), (0,), (3, 4)])
def test_collectives_of_one_process_are_identities(dtype, shape):
    values = np.arange(1, int(np.prod(shape)) + 1, dtype=dtype).reshape(shape)
    ops = [op for op in dist.ReduceOp if op is not dist.ReduceOp.AVG or np.dtype(dtype).kind == "f"]
    for op in ops:
        tensor = Tensor(values.copy())
        dist.all_reduce(tensor, op)
        np.testing.assert_array_equal(tensor.data, values)
        dist.reduce(tensor, 0, op)
        np.testing.assert_array_equal(tensor.data, values)
    tensor = Tensor(values.copy())
    dist.broadcast(tensor, 0)
    np.testing.assert_array_equal(tensor.data, values)
    gathered = [Tensor(np.zeros(shape, dtype=dtype))]
    cell = version_cell(gathered[0])
    dist.all_gather(gathered, Tensor(values))
    np.testing.assert_array_equal(gathered[0].data, values)
    assert cell[0] == 1


def test_collectives_refuse_bad_arguments_naming_the_function():
    tensor = Tensor(np.ones(3))
    with pytest.raises(OpTypeError, match="all_reduce: tensor must be a wengert Tensor, not ndarray"):
        dist.all_reduce(np.ones(3))
    with pytest.raises(OpValueError, match=r"broadcast: src=1 is not a rank.*ranks 0 to 0"):
        dist.broadcast(tensor, 1)
    with pytest.raises(OpValueError, match="reduce: dst=-1 is not a rank"):
        dist.reduce(tensor, -1)
    with pytest.raises(OpValueError, match="all_gather: tensor_list has 2 tensors for a world of size 1"):
        dist.all_gather([Tensor(np.ones(3)), Tensor(np.ones(3))], tensor)
    with pytest.raises(OpValueError, match=r"all_gather: tensor_list\[0\] has shape \(4,\).*shape \(3,\)"):
        dist.all_gather([Tensor(np.ones(4))], tensor)
    with pytest.raises(OpTypeError, match="AVG on a int64 tensor"):
        dist.all_reduce(Tensor(np.ones(3, dtype=np.int64)), dist.ReduceOp.AVG)
    with pytest.raises(OpValueError, match="op must be a ReduceOp"):
        dist.all_reduce(tensor, "sum")
    with pytest.raises(OpValueError, match="all_reduce: tensor is read-only"):
        dist.all_reduce(Tensor(np.broadcast_to(np.ones(1), (3,))))
    with pytest.raises(OpTypeError, match="complex128"):
        dist.all_reduce(Tensor(np.ones(3, dtype=complex)))
    scalar = Tensor(np.float64(2.0))  # a numpy scalar, which cannot be written in place, becomes a 0-d array
    dist.all_reduce(scalar)
    assert isinstance(scalar.data, np.ndarray) and scalar.data.shape == () and scalar.item() == 2.0


def test_collectives_refuse_to_be_traced():
    with wg.tracing(), pytest.raises(TraceError, match="all_reduce inside a trace"):
        dist.all_reduce(Tensor(np.ones(2)))


def mlp(seed: int) -> nn.Module:
    wg.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).double()


def test_data_parallel_on_one_process_trains_as_the_module_alone():
    rng = np.random.default_rng(0)
    X, Y = wg.tensor(rng.standard_normal((12, 4))), wg.tensor(rng.standard_normal((12, 3)))
    plain, wrapped = mlp(1), nn.parallel.DistributedDataParallel(mlp(1), bucket_cap_mb=0.0002)
    assert len(wrapped.bucket_sizes) > 1
    assert list(wrapped.state_dict()) == [f"module.{key}" for key in plain.state_dict()]
    started_before_the_end = []  # the buckets of the later layers start while backward is still running
    first_weight = next(wrapped.module.parameters())
    first_weight.register_hook(lambda grad: started_before_the_end.append(wrapped._next_launch))
    optimizers = [optim.SGD(model.parameters(), lr=0.1, momentum=0.9) for model in (plain, wrapped)]
    for step in range(3):
        for model, optimizer in zip((plain, wrapped), optimizers):
            optimizer.zero_grad()
            if step == 2:  # accumulate over two halves, the first without synchronising
                with model.no_sync() if model is wrapped else _nothing():
                    F.mse_loss(model(X[:6]), Y[:6]).backward()
                F.mse_loss(model(X[6:]), Y[6:]).backward()
            else:
                F.mse_loss(model(X), Y).backward()
            optimizer.step()
    for mine, theirs in zip(wrapped.module.parameters(), plain.parameters()):
        np.testing.assert_allclose(mine.data, theirs.data, rtol=1e-12)
    assert started_before_the_end[0] >= 1


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc_info):
        return False


def test_data_parallel_refuses_tracing_and_bad_arguments():
    wrapped = nn.parallel.DistributedDataParallel(mlp(0))
    with wg.tracing(), pytest.raises(TraceError, match="DistributedDataParallel inside a trace"):
        wrapped(wg.tensor(np.ones((2, 4))))
    with pytest.raises(OpTypeError, match=r"module must be an nn\.Module"):
        nn.parallel.DistributedDataParallel(lambda x: x)
    with pytest.raises(OpValueError, match="bucket_cap_mb must be a positive number"):
        nn.parallel.DistributedDataParallel(mlp(0), bucket_cap_mb=0)


def test_parameter_mixing_counts_steps_and_checks_its_arguments():
    model = mlp(0)
    mixer = dist.ParameterMixing(model, every=3, optimizer=optim.SGD(model.parameters(), lr=0.1))
    assert [mixer.step() for _ in range(7)] == [False, False, True, False, False, True, False]
    assert mixer.state_dict() == {"steps": 7}
    mixer.load_state_dict({"steps": 2})
    assert mixer.step()
    with pytest.raises(OpValueError, match="every must be a positive int"):
        dist.ParameterMixing(model, every=0)
    with pytest.raises(OpTypeError, match="named_parameters"):
        dist.ParameterMixing([1, 2])
    with pytest.raises(OpValueError, match="load_state_dict"):
        mixer.load_state_dict({"steps": -1})


def test_mpiexec_command_runs_python_on_n_ranks():
    command = dist.mpiexec_command(3, "-m", "wengert")
    assert Path(command[0]).name == "mpiexec" and os.access(command[0], os.X_OK)
    assert command[command.index("-n") + 1] == "3"
    assert command[-3:] == [os.sys.executable, "-m", "wengert"]
    with pytest.raises(OpValueError, match="world_size must be a positive int"):
        dist.mpiexec_command(0)


# --- DistributedSampler ----------------------------------------------------------------------------

def shards(n: int, replicas: int, **options) -> list[list[int]]:
    dataset = list(range(n))
    return [list(data.DistributedSampler(dataset, num_replicas=replicas, rank=rank, **options))
            for rank in range(replicas)]


@pytest.mark.parametrize("n, replicas", [(10, 3), (12, 4), (5, 2), (3, 5)])
def test_shards_are_disjoint_and_cover_the_dataset(n, replicas):
    for shuffle in (False, True):
        parts = shards(n, replicas, shuffle=shuffle)
        assert len({len(part) for part in parts}) == 1
        assert len(parts[0]) == -(-n // replicas)
        every = [index for part in parts for index in part]
        assert set(every) == set(range(n))
        assert len(every) - n == (-n) % replicas  # only the padding repeats
        dropped = shards(n, replicas, shuffle=shuffle, drop_last=True)
        kept = [index for part in dropped for index in part]
        assert len(kept) == len(set(kept)) == n // replicas * replicas


def test_padding_repeats_the_first_indices_as_pytorch_does():
    # PyTorch: ceil(10 / 3) = 4 each, the order padded to 12 with its first two indices, rank r takes r::3
    assert shards(10, 3, shuffle=False) == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
    assert shards(10, 3, shuffle=False, drop_last=True) == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert shards(2, 5, shuffle=False) == [[0], [1], [0], [1], [0]]


@pytest.mark.parametrize("n, replicas, drop_last", [(10, 3, False), (10, 3, True), (2, 5, False), (17, 4, True)])
def test_unshuffled_shards_are_pytorchs(n, replicas, drop_last):
    from torch.utils.data import DistributedSampler

    for rank in range(replicas):
        theirs = DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        mine = data.DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        assert list(mine) == list(theirs) and len(mine) == len(theirs)


def test_the_order_depends_on_seed_and_epoch_only():
    dataset = list(range(50))
    first = data.DistributedSampler(dataset, num_replicas=2, rank=0, seed=3)
    again = data.DistributedSampler(dataset, num_replicas=2, rank=0, seed=3)
    assert list(first) == list(again)
    epoch_zero = list(first)
    first.set_epoch(1)
    assert list(first) != epoch_zero
    again.set_epoch(1)
    assert list(first) == list(again)
    assert list(data.DistributedSampler(dataset, num_replicas=2, rank=0, seed=4)) != epoch_zero


def test_sampler_defaults_come_from_the_group_and_bad_ranks_are_refused():
    sampler = data.DistributedSampler(list(range(7)))
    assert (sampler.num_replicas, sampler.rank, len(sampler)) == (1, 0, 7)
    with pytest.raises(ValueError, match=r"invalid rank 2.*num_replicas=2"):
        data.DistributedSampler(list(range(7)), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas must be a positive int"):
        data.DistributedSampler(list(range(7)), num_replicas=0, rank=0)


def test_data_loader_takes_its_order_from_a_sampler():
    X = np.arange(20.0).reshape(10, 2)
    dataset = data.TensorDataset(X, np.arange(10))
    sampler = data.DistributedSampler(dataset, num_replicas=3, rank=1, seed=5)
    loader = data.DataLoader(dataset, batch_size=3, sampler=sampler)
    assert len(loader) == 2
    labels = np.concatenate([y.data for _, y in loader])
    np.testing.assert_array_equal(labels, list(sampler))
    features = np.concatenate([x.data for x, _ in loader])
    np.testing.assert_array_equal(features, X[list(sampler)])
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle=True"):
        data.DataLoader(dataset, batch_size=3, sampler=sampler, shuffle=True)
    with pytest.raises(TypeError, match="sampler must be an iterable of indices with a length"):
        data.DataLoader(dataset, batch_size=3, sampler=5)


class _TwoUses(nn.Module):
    """One layer applied twice (its gradient has two parts) and one layer never used."""

    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Linear(3, 3)
        self.unused = nn.Linear(3, 1)

    def forward(self, x):
        return self.shared(wg.tanh(self.shared(x)))


def test_data_parallel_sums_a_parameter_used_twice_and_zeros_an_unused_one():
    wg.manual_seed(0)
    plain = _TwoUses().double()
    wrapped = nn.parallel.DistributedDataParallel(_TwoUses().double(), bucket_cap_mb=0.00005)
    wrapped.module.load_state_dict(plain.state_dict())
    x = wg.tensor(np.random.default_rng(1).standard_normal((4, 3)))
    for model in (plain, wrapped):
        for _ in range(2):  # the second backward adds to .grad
            (model(x) ** 2).sum().backward()
    np.testing.assert_allclose(wrapped.module.shared.weight.grad.data, plain.shared.weight.grad.data, rtol=1e-12)
    assert plain.unused.weight.grad is None
    np.testing.assert_array_equal(wrapped.module.unused.weight.grad.data, np.zeros((1, 3)))
