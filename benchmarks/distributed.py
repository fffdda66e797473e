"""Data-parallel scaling on one machine: wengert's DistributedDataParallel over MPI against PyTorch's over gloo.

Workload (issue 11): the MLP 784-512-512-10 training step (ReLU, cross-entropy, SGD with lr 0.01 and
momentum 0.9, float32, random data) at a fixed global batch (128: one process takes all of it, two
processes 64 each), and at a fixed batch per process (two processes x 128) for the scaling of throughput
with the data. Configurations, each its own job, alternating in rounds: one process with 2 BLAS threads,
one process with 1, and two processes (``mpiexec -n 2``) with 1 thread each, for wengert and for PyTorch
(``DistributedDataParallel`` over gloo, its ranks read from mpiexec's PMI_RANK and PMI_SIZE). Threads are
set by OPENBLAS_NUM_THREADS / OMP_NUM_THREADS (and ``torch.set_num_threads``). Both frameworks' DDP use
the same ``bucket_cap_mb``. At the fixed global batch, each run's loss after its last step must be the
one-process run's (to 1e-3): the processes train the same model as one process does.

Communication, in a two-process wengert job per round: the time of one MPI all-reduce by message size
(latency, and the bus bandwidth 2(p-1)/p * bytes / time), and for each ``bucket_cap_mb`` the time of the
step's all-reduces alone (its buckets one after another), of DDP's copies of the gradients into its buckets
and back, and what communicating costs a training step (the step's time minus that of the same step under
``no_sync()``, whose backward all-reduces nothing), each as a fraction of the step. The model
of the README, time = buckets * latency + 2(p-1)/p * bytes / bandwidth, is printed beside each measurement,
and the two-process step time it predicts beside the measured one (its compute term: the one-process 1-thread
step halved, or measured at half the batch).

Results are ratios per round (the machine's speed drifts between rounds) and their medians; throughputs
(samples/s) are context. Allocator: glibc malloc with its default settings.

    python benchmarks/distributed.py [--rounds 9] [--steps 40] [--batch 128] [--bucket-mb 4]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import time

from mlp_weights import SIZES, initial_weights

LR, MOMENTUM = 0.01, 0.9
WARMUP = 5
# This model's gradients are 2.68 MB (2.55 MiB: bucket_cap_mb counts MiB) in 6 tensors: 0.001 puts each in
# its own bucket, 0.25 gives 4 buckets, 1.5 gives 2 and 4 (the default) one; 25 (PyTorch's) would be as 4.
BUCKETS_MB = (0.001, 0.25, 1.5, 4.0)
MESSAGE_BYTES = (8, 4096, 65536, 262144, 1 << 20, 4 << 20, 16 << 20)
# (framework, processes, threads per process, global batch as a multiple of --batch): 1 is the fixed global
# batch; 2 with two processes keeps each process's batch at --batch; 0.5 with one process is the batch each
# of two processes takes, for the model's compute term.
CONFIGURATIONS = [("wengert", 1, 2, 1), ("torch", 1, 2, 1), ("wengert", 1, 1, 1), ("torch", 1, 1, 1),
                  ("wengert", 2, 1, 1), ("torch", 2, 1, 1), ("wengert", 2, 1, 2), ("torch", 2, 1, 2),
                  ("wengert", 1, 1, 0.5)]


def label(framework: str, processes: int, threads: int, scale: float) -> str:
    batch = {1: "", 2: " (batch x2)", 0.5: " (batch /2)"}[scale]
    return f"{framework} {processes}p x {threads}t{batch}"


def shard(global_batch: int, rank: int, world_size: int) -> tuple:
    """This rank's contiguous part of one fixed random batch of ``global_batch`` samples."""
    import numpy as np

    rng = np.random.default_rng(1)
    x = rng.standard_normal((global_batch, SIZES[0])).astype(np.float32)
    labels = rng.integers(0, SIZES[-1], global_batch)
    part = global_batch // world_size
    return x[rank * part:(rank + 1) * part], labels[rank * part:(rank + 1) * part]


def wengert_model() -> object:
    from wengert import nn

    (i, h1), (_, h2), (_, o) = itertools.pairwise(SIZES)
    model = nn.Sequential(nn.Linear(i, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(), nn.Linear(h2, o))
    model.load_state_dict({f"{index * 2}.{name}": value for index, pair in enumerate(initial_weights())
                           for name, value in zip(("weight", "bias"), pair)})
    return model


# --- the workers: one training job, or the communication measurements ---------------------------

def wengert_worker(global_batch: int, steps: int, bucket_mb: float) -> dict | None:
    import numpy as np

    import wengert as wg
    import wengert.nn.functional as F
    from wengert import distributed, nn, optim

    rank, world_size = distributed.get_rank(), distributed.get_world_size()
    model = wengert_model()
    replica = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=bucket_mb) if world_size > 1 else model
    optimizer = optim.SGD(replica.parameters(), lr=LR, momentum=MOMENTUM)
    x, labels = shard(global_batch, rank, world_size)
    features, targets = wg.tensor(x), wg.tensor(labels)

    def step() -> float:
        loss = F.cross_entropy(replica(features), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    def mean_over_ranks(value: float) -> float:
        total = wg.tensor(np.array([value], dtype=np.float64))
        distributed.all_reduce(total)
        return float(total.data[0]) / world_size

    times, last = run_steps(step, steps, distributed.barrier)
    allreduce_ms = None
    if world_size > 1:  # MPI's all-reduce of the whole gradient, for the comparison with gloo's
        from mpi4py import MPI

        buffer = np.zeros(sum(p.data.size for p in model.parameters()), dtype=np.float32)
        allreduce_ms = median_time(lambda: MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, buffer), 20) * 1e3
    result = {"ms": statistics.median(times) * 1e3, "last_loss": mean_over_ranks(last), "allreduce_ms": allreduce_ms}
    return result if rank == 0 else None


def torch_worker(global_batch: int, steps: int, bucket_mb: float, threads: int, port: int) -> dict | None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(threads)
    rank, world_size = int(os.environ.get("PMI_RANK", 0)), int(os.environ.get("PMI_SIZE", 1))
    if world_size > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    (i, h1), (_, h2), (_, o) = itertools.pairwise(SIZES)
    model = torch.nn.Sequential(torch.nn.Linear(i, h1), torch.nn.ReLU(), torch.nn.Linear(h1, h2),
                                torch.nn.ReLU(), torch.nn.Linear(h2, o))
    with torch.no_grad():
        for layer, (weight, bias) in zip(model[::2], initial_weights()):
            layer.weight.copy_(torch.from_numpy(weight))
            layer.bias.copy_(torch.from_numpy(bias))
    replica = torch.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=bucket_mb) if world_size > 1 else model
    optimizer = torch.optim.SGD(replica.parameters(), lr=LR, momentum=MOMENTUM)
    x, labels = shard(global_batch, rank, world_size)
    features, targets = torch.from_numpy(x), torch.from_numpy(labels)

    def step() -> float:
        loss = torch.nn.functional.cross_entropy(replica(features), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    times, last = run_steps(step, steps, dist.barrier if world_size > 1 else lambda: None)
    allreduce_ms = None
    if world_size > 1:
        total = torch.tensor([last], dtype=torch.float64)
        dist.all_reduce(total)
        last = total.item() / world_size
        buffer = torch.zeros(sum(p.numel() for p in model.parameters()))
        allreduce_ms = median_time(lambda: dist.all_reduce(buffer), 20) * 1e3
        dist.destroy_process_group()
    result = {"ms": statistics.median(times) * 1e3, "last_loss": last, "allreduce_ms": allreduce_ms}
    return result if rank == 0 else None


def run_steps(step, steps: int, barrier) -> tuple[list[float], float]:
    """Time ``steps`` training steps after the warm-up; the last step's loss."""
    for _ in range(WARMUP):
        step()
    barrier()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        last = step()
        times.append(time.perf_counter() - start)
    return times, last


def median_time(action, repeats: int) -> float:
    for _ in range(3):
        action()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def communication_worker(global_batch: int) -> dict | None:
    """All-reduce time by message size, and per bucket size the step's all-reduces alone and as a step shows them."""
    import numpy as np
    from mpi4py import MPI

    import wengert as wg
    import wengert.nn.functional as F
    from wengert import distributed, nn, optim

    communicator, rank = MPI.COMM_WORLD, distributed.get_rank()

    def allreduce_seconds(buffers: list, repeats: int) -> float:
        def action() -> None:
            for buffer in buffers:
                communicator.Allreduce(MPI.IN_PLACE, buffer)
        communicator.Barrier()
        return median_time(action, repeats)

    by_size = {size: allreduce_seconds([np.zeros(size // 4, dtype=np.float32)], 30 if size <= 1 << 20 else 10)
               for size in MESSAGE_BYTES}
    x, labels = shard(global_batch, rank, distributed.get_world_size())
    features, targets = wg.tensor(x), wg.tensor(labels)
    by_bucket = {}
    for bucket_mb in BUCKETS_MB:
        model = wengert_model()
        replica = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=bucket_mb)
        optimizer = optim.SGD(replica.parameters(), lr=LR, momentum=MOMENTUM)
        parameters = list(reversed(list(model.parameters())))  # DDP's bucket order
        bucket_bytes, start = [], 0
        for count in replica.bucket_sizes:
            bucket_bytes.append(sum(p.data.nbytes for p in parameters[start:start + count]))
            start += count
        alone = allreduce_seconds([np.zeros(size // 4, dtype=np.float32) for size in bucket_bytes], 20)
        # what DDP does around its all-reduces: gradients copied into the buckets, divided, copied back
        gradients = [np.ones(size // 4, dtype=np.float32) for size in bucket_bytes]
        flats = [np.zeros_like(gradient) for gradient in gradients]

        def copy_divide_copy(gradients=gradients, flats=flats) -> None:
            for gradient, flat in zip(gradients, flats):
                flat[...] = gradient
                flat /= 2
                gradient[...] = flat

        copies = median_time(copy_divide_copy, 20)

        def step(replica=replica, optimizer=optimizer) -> None:
            loss = F.cross_entropy(replica(features), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()

        def step_without_communication(replica=replica, step=step) -> None:
            with replica.no_sync():
                step()

        synchronized, local = [], []
        communicator.Barrier()
        for _ in range(WARMUP):
            step()
            step_without_communication()
        for _ in range(30):  # alternating, so that both see the same machine
            communicator.Barrier()
            begin = time.perf_counter()
            step()
            synchronized.append(time.perf_counter() - begin)
            communicator.Barrier()
            begin = time.perf_counter()
            step_without_communication()
            local.append(time.perf_counter() - begin)
        exposed = statistics.median(synchronized) - statistics.median(local)
        by_bucket[bucket_mb] = {"bytes": bucket_bytes, "alone": alone, "exposed": exposed, "copies": copies,
                                "step": statistics.median(synchronized), "local": statistics.median(local)}
    if rank:
        return None
    return {"by_size": by_size, "by_bucket": by_bucket}


# --- the driver ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch(arguments: list[str], processes: int, threads: int) -> dict:
    from wengert import distributed

    variables = {"OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    environment = {**os.environ, **variables}
    script = [os.path.abspath(__file__), *arguments, "--threads", str(threads)]
    command = distributed.mpiexec_command(processes, *script) if processes > 1 else [sys.executable, *script]
    output = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
    if output.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({output.returncode}):\n{output.stdout}\n{output.stderr}")
    # rank 0's result is its only line that starts with "{" (mpiexec adds its list of exit codes)
    return json.loads(next(line for line in reversed(output.stdout.splitlines()) if line.startswith("{")))


def bus_seconds(nbytes: float, processes: int, bandwidth: float) -> float:
    """The bandwidth term of a ring all-reduce: each rank sends and receives 2(p-1)/p of the bytes."""
    return 2 * (processes - 1) / processes * nbytes / bandwidth


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description="data-parallel scaling: wengert DDP (MPI) vs PyTorch DDP (gloo)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=40, help="timed training steps per job")
    parser.add_argument("--batch", type=int, default=128, help="global batch (even)")
    parser.add_argument("--bucket-mb", type=float, default=4.0, help="bucket_cap_mb of both frameworks' DDP")
    parser.add_argument("--worker", choices=["wengert", "torch", "communication"], help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.worker == "wengert":
            result = wengert_worker(args.batch, args.steps, args.bucket_mb)
        elif args.worker == "torch":
            result = torch_worker(args.batch, args.steps, args.bucket_mb, args.threads, args.port)
        else:
            result = communication_worker(args.batch)
        if result is not None:
            print(json.dumps(result), flush=True)
        if args.worker == "torch":  # gloo's threads can abort the interpreter's exit ("terminate called...")
            sys.stderr.flush()
            os._exit(0)
        return
    if args.rounds < 1 or args.steps < 1 or args.batch < 2 or args.batch % 2:
        parser.error("--rounds and --steps must be positive and --batch even")
    print(f"MLP {'-'.join(map(str, SIZES))}, ReLU, cross-entropy, SGD (lr {LR}, momentum {MOMENTUM}), float32, "
          f"random data; global batch {args.batch} (2 processes: {args.batch // 2} each; 'batch x2': "
          f"{args.batch} each)\n{args.rounds} rounds x {args.steps} steps, every configuration its own job "
          f"(mpiexec -n 2 for 2 processes), alternating; {os.cpu_count()} cores; threads per process by "
          f"OPENBLAS_NUM_THREADS/OMP_NUM_THREADS; DDP bucket_cap_mb {args.bucket_mb:g} in both frameworks; "
          "allocator: glibc malloc, default settings")
    common = ["--steps", str(args.steps), "--bucket-mb", str(args.bucket_mb)]
    rounds = []
    for _ in range(args.rounds):
        measured = {}
        for framework, processes, threads, scale in CONFIGURATIONS:
            batch = int(args.batch * scale)
            extra = ["--port", str(free_port())] if framework == "torch" else []
            measured[(framework, processes, threads, scale)] = launch(
                ["--worker", framework, "--batch", str(batch), *common, *extra], processes, threads)
        measured["communication"] = launch(["--worker", "communication", "--batch", str(args.batch)], 2, 1)
        rounds.append(measured)
        reference = {f: measured[(f, 1, 1, 1)]["last_loss"] for f in ("wengert", "torch")}
        for key, result in measured.items():
            if key == "communication" or key[3] != 1:
                continue
            expected = reference[key[0]]
            if abs(result["last_loss"] - expected) > 1e-3 * abs(expected):
                raise AssertionError(f"{label(*key)} ends at loss {result['last_loss']} where one process ends at "
                                     f"{expected}: the processes did not train the same model")
    report(rounds, args)


def report(rounds: list[dict], args: argparse.Namespace) -> None:
    batch = args.batch

    def throughput(measured: dict, key: tuple) -> float:
        return int(batch * key[3]) / measured[key]["ms"] * 1e3

    print("\nthroughput, samples/s: median [min-max] over rounds (context; the ratios below are the result)")
    for key in CONFIGURATIONS:
        print(f"  {label(*key):28s} {spread([throughput(r, key) for r in rounds])}")
    ratios = {}
    for framework in ("wengert", "torch"):
        for name, over, under in (("2p x 1t / 1p x 2t", (2, 1, 1), (1, 2, 1)),
                                  ("2p x 1t / 1p x 1t", (2, 1, 1), (1, 1, 1)),
                                  ("2p x 1t (batch x2) / 1p x 1t", (2, 1, 2), (1, 1, 1))):
            ratios[f"{framework}: {name}"] = [throughput(r, (framework, *over)) / throughput(r, (framework, *under))
                                              for r in rounds]
    for key in CONFIGURATIONS:
        twin = ("torch", *key[1:])
        if key[0] == "wengert" and twin in CONFIGURATIONS:
            ratios[f"step time wengert/torch, {label(*key)[8:]}"] = [r[key]["ms"] / r[twin]["ms"] for r in rounds]
    print("\nratios per round (throughput ratios: > 1 means the first is faster; step-time ratios: < 1 means wengert "
          "is faster), then median [min-max]")
    for name, values in ratios.items():
        print(f"  {name:44s} {' '.join(f'{v:.2f}' for v in values)}   median {spread(values)}")
    mpi = [r[("wengert", 2, 1, 1)]["allreduce_ms"] for r in rounds]
    gloo = [r[("torch", 2, 1, 1)]["allreduce_ms"] for r in rounds]
    print(f"  {'all-reduce of the whole gradient, MPI/gloo':44s} {' '.join(f'{a / b:.2f}' for a, b in zip(mpi, gloo))}"
          f"   median {spread([a / b for a, b in zip(mpi, gloo)])}")

    communication = [r["communication"] for r in rounds]
    latency = statistics.median(c["by_size"][str(MESSAGE_BYTES[0])] for c in communication)

    def bus_bandwidth(c: dict, size: int) -> float:
        return bus_seconds(size, 2, 1.0) / c["by_size"][str(size)]

    bandwidth = statistics.median(bus_bandwidth(c, MESSAGE_BYTES[-1]) for c in communication)
    print(f"\nMPI all-reduce, 2 processes on this machine (shared memory); the model: time = latency + 2(p-1)/p * "
          f"bytes / bandwidth, with latency = an {MESSAGE_BYTES[0]}-byte all-reduce's time ({latency * 1e6:.1f} us) "
          f"and bandwidth = the bus bandwidth at {MESSAGE_BYTES[-1] >> 20} MB ({bandwidth / 1e9:.2f} GB/s), medians "
          "over rounds")
    print("  message      bus bandwidth GB/s          measured/model per round")
    for size in MESSAGE_BYTES:
        model = latency + bus_seconds(size, 2, bandwidth)
        values = [c["by_size"][str(size)] / model for c in communication]
        print(f"  {size:>9d} B  {spread([bus_bandwidth(c, size) / 1e9 for c in communication]):>24s}   "
              f"{' '.join(f'{v:.2f}' for v in values)}   median {spread(values)}")
    print("\n  communication per step vs bucket_cap_mb (2p x 1t, wengert; medians [min-max] over rounds):\n"
          "  bucket_cap_mb  buckets  all-reduces alone/model  all-reduces alone/step  bucket copies/step  "
          "(step - no_sync step)/step")
    for bucket_mb in BUCKETS_MB:
        entries = [c["by_bucket"][str(bucket_mb)] for c in communication]
        sizes = entries[0]["bytes"]
        model = len(sizes) * latency + bus_seconds(sum(sizes), 2, bandwidth)
        print(f"  {bucket_mb:13g}  {len(sizes):7d}  {spread([e['alone'] / model for e in entries]):>23s}  "
              f"{spread([e['alone'] / e['step'] for e in entries]):>22s}  "
              f"{spread([e['copies'] / e['step'] for e in entries]):>18s}  "
              f"{spread([e['exposed'] / e['step'] for e in entries]):>26s}")

    default = communication[0]["by_bucket"].get(str(args.bucket_mb))
    if default is None:
        print(f"\n(no model check: --bucket-mb {args.bucket_mb:g} is not among the measured {BUCKETS_MB})")
        return
    gradient_bytes, buckets = sum(default["bytes"]), len(default["bytes"])
    communication_seconds = buckets * latency + bus_seconds(gradient_bytes, 2, bandwidth)
    print(f"\nthe model's 2-process step (wengert 2p x 1t), predicted/measured per round: compute + {buckets} x latency"
          f" + 2(p-1)/p * {gradient_bytes / 1e6:.2f} MB / bandwidth, without overlap")
    for name, compute in (("compute = the 1p x 1t step / 2", lambda r: r[("wengert", 1, 1, 1)]["ms"] / 2e3),
                          ("compute = the 1p x 1t step at batch /2", lambda r: r[("wengert", 1, 1, 0.5)]["ms"] / 1e3)):
        values = [(compute(r) + communication_seconds) / (r[("wengert", 2, 1, 1)]["ms"] / 1e3) for r in rounds]
        print(f"  {name:40s} {' '.join(f'{v:.2f}' for v in values)}   median {spread(values)}")


if __name__ == "__main__":
    main()
