"""Run under mpiexec -n 2 with a mode: rank 1 fails while rank 0 waits for it in a collective, and the
job must end (not hang). ``mismatch``: the ranks build models of different shapes and wrapping fails."""

import json
import os
import signal
import sys

import numpy as np

import wengert as wg
from wengert import distributed as dist
from wengert import nn

mode = sys.argv[1]
rank = dist.get_rank()
tensor = wg.tensor(np.ones(4))
dist.all_reduce(tensor)  # both ranks are up and talking

if mode == "mismatch":
    wg.manual_seed(0)
    hidden = 4 if rank == 0 else 5
    model = nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, 1))
    try:
        nn.parallel.DistributedDataParallel(model)
    except dist.ReplicaMismatchError as error:
        print("RESULT " + json.dumps({"rank": rank, "error": str(error)}), flush=True)
    sys.exit(0)

if rank == 1:
    if mode == "raise":
        raise RuntimeError("a failure on purpose in rank 1")
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "exit":
        os._exit(3)
    if mode == "sys.exit":
        with dist.abort_on_failure():
            sys.exit(3)
dist.all_reduce(tensor)  # rank 0 waits here for a rank that will never come
print("RESULT " + json.dumps({"rank": rank, "finished": True}), flush=True)
