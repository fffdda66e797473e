"""Run under mpiexec -n 2: DistributedDataParallel and ParameterMixing against single-process references
that every rank computes by itself. Each rank prints RESULT lines (JSON) for tests/test_distributed.py."""

import json

import numpy as np

import wengert as wg
import wengert.nn.functional as F
from wengert import data, nn, optim
from wengert import distributed as dist

rank, size = dist.get_rank(), dist.get_world_size()
PER_RANK, STEPS = 8, 20
rng = np.random.default_rng(7)
X = rng.standard_normal((STEPS * PER_RANK * size, 5))
Y = np.sin(X @ rng.standard_normal((5, 2)))


def report(case, **values):
    print("RESULT " + json.dumps({"case": case, "rank": rank, **values}), flush=True)


def make_model(seed):
    wg.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 2)).double()


def loss_of(model, rows):
    return F.mse_loss(model(wg.tensor(X[rows])), wg.tensor(Y[rows]))


def global_rows(step):
    return np.arange(step * PER_RANK * size, (step + 1) * PER_RANK * size)


def my_rows(step, which=None):
    rows = global_rows(step)
    which = rank if which is None else which
    return rows[which * PER_RANK:(which + 1) * PER_RANK]


def relative_error(model, reference):
    worst = 0.0
    for mine, theirs in zip(model.parameters(), reference.parameters()):
        worst = max(worst, float(np.max(np.abs(mine.data - theirs.data)) / np.max(np.abs(theirs.data))))
    return worst


def single_process(make_optimizer, steps=STEPS):
    """The reference: one process, batches of PER_RANK * size rows, from rank 0's initial weights."""
    model = make_model(0)
    optimizer = make_optimizer(model.parameters())
    for step in range(steps):
        optimizer.zero_grad()
        loss_of(model, global_rows(step)).backward()
        optimizer.step()
    return model


def data_parallel(make_optimizer, bucket_cap_mb=4.0, micro_batches=1):
    """DDP from initial weights that differ on every rank (wrapping copies rank 0's)."""
    model = nn.parallel.DistributedDataParallel(make_model(rank), bucket_cap_mb=bucket_cap_mb)
    optimizer = make_optimizer(model.parameters())
    for step in range(STEPS):
        optimizer.zero_grad()
        parts = np.array_split(my_rows(step), micro_batches)
        for index, rows in enumerate(parts):
            last = index == micro_batches - 1
            with (model.no_sync() if not last else _nothing()):
                (loss_of(model, rows) / micro_batches).backward()
        optimizer.step()
    return model


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc_info):
        return False


def sgd_momentum(parameters):
    return optim.SGD(parameters, lr=0.05, momentum=0.9)


def adam(parameters):
    return optim.Adam(parameters, lr=0.01)


def sgd(parameters):
    return optim.SGD(parameters, lr=0.1)


# --- DDP equals single-process training with the whole batch ----------------------------------------
reference = single_process(sgd_momentum)
trained = data_parallel(sgd_momentum)
report("ddp sgd-momentum", error=relative_error(trained.module, reference), buckets=len(trained.bucket_sizes))

reference = single_process(adam)
trained = data_parallel(adam, bucket_cap_mb=0.0005)
report("ddp adam small buckets", error=relative_error(trained.module, reference), buckets=len(trained.bucket_sizes))

reference = single_process(sgd_momentum)
trained = data_parallel(sgd_momentum, bucket_cap_mb=0.0005, micro_batches=2)
report("ddp no_sync accumulation", error=relative_error(trained.module, reference), buckets=len(trained.bucket_sizes))

# inside no_sync the gradients stay local (they differ between ranks); the next backward averages them
model = nn.parallel.DistributedDataParallel(make_model(0))
with model.no_sync():
    loss_of(model, my_rows(0)).backward()
local = [wg.tensor(np.zeros(3)) for _ in range(size)]
dist.all_gather(local, wg.tensor(next(model.parameters()).grad.data.reshape(-1)[:3].copy()))
loss_of(model, my_rows(1)).backward()
synced = [wg.tensor(np.zeros(3)) for _ in range(size)]
dist.all_gather(synced, wg.tensor(next(model.parameters()).grad.data.reshape(-1)[:3].copy()))
report("ddp no_sync stays local", local_differ=not np.array_equal(local[0].data, local[1].data),
       synced_equal=np.array_equal(synced[0].data, synced[1].data))

# a replica that differs from rank 0's: at the end every rank holds the same values
gathered = [wg.tensor(np.zeros(3)) for _ in range(size)]
dist.all_gather(gathered, wg.tensor(next(trained.module.parameters()).data.reshape(-1)[:3].copy()))
report("ddp replicas equal", equal=all(np.array_equal(gathered[0].data, other.data) for other in gathered))

# --- parameter mixing ------------------------------------------------------------------------------
ddp_sgd = data_parallel(sgd)
model = make_model(rank)
optimizer = sgd(model.parameters())
mixer = dist.ParameterMixing(model, every=1)
for step in range(STEPS):
    optimizer.zero_grad()
    loss_of(model, my_rows(step)).backward()
    optimizer.step()
    mixer.step()
report("mixing every=1 equals ddp", error=relative_error(model, ddp_sgd.module))

MIXED_STEPS = 17  # mixes after steps 5, 10 and 15; steps 16 and 17 leave the replicas apart
model = make_model(rank)
optimizer = sgd_momentum(model.parameters())
mixer = dist.ParameterMixing(model, every=5, optimizer=optimizer)
for step in range(MIXED_STEPS):
    optimizer.zero_grad()
    loss_of(model, my_rows(step)).backward()
    optimizer.step()
    mixer.step()

replicas = [make_model(0) for _ in range(size)]
optimizers = [sgd_momentum(replica.parameters()) for replica in replicas]
for step in range(MIXED_STEPS):
    for which, (replica, replica_optimizer) in enumerate(zip(replicas, optimizers)):
        replica_optimizer.zero_grad()
        loss_of(replica, my_rows(step, which)).backward()
        replica_optimizer.step()
    if (step + 1) % 5 == 0:  # average the parameters and the momentum buffers
        groups = [list(replica.parameters()) for replica in replicas]
        for tensors in zip(*groups):
            mean = np.mean([tensor.data for tensor in tensors], axis=0)
            for tensor in tensors:
                tensor.data[...] = mean
        for tensors in zip(*groups):
            buffers = [replica_optimizer.state[tensor]["momentum_buffer"]
                       for tensor, replica_optimizer in zip(tensors, optimizers)]
            mean = np.mean(buffers, axis=0)
            for buffer in buffers:
                buffer[...] = mean
others = [relative_error(model, replica) for replica in replicas]
report("mixing every=5 equals averaged replicas", error=others[rank], error_to_other_replica=others[1 - rank])

# --- parameter mixing trains digits ----------------------------------------------------------------
splits = data.load_dataset("digits", dtype=np.float64)
wg.manual_seed(rank)
model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)).double()
optimizer = optim.Adam(model.parameters(), lr=3e-3)
mixer = dist.ParameterMixing(model, every=5, optimizer=optimizer)
sampler = data.DistributedSampler(splits.train, seed=1)
loader = data.DataLoader(splits.train, batch_size=16, sampler=sampler)
for epoch in range(8):
    sampler.set_epoch(epoch)
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        mixer.step()
mixer.mix()
x, y = splits.test.tensors
with wg.no_grad():
    accuracy = float(np.mean(np.argmax(model(x).data, axis=1) == y.data))
report("mixing every=5 trains digits", accuracy=accuracy, shard=len(sampler), train=len(splits.train))
