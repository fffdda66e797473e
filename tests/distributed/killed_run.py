"""``wengert train`` whose process RANK kills itself (SIGKILL: no cleanup, no message) before global
step STEP, as a machine that dies would. Usage: killed_run.py RANK STEP train-options..."""

import os
import signal
import sys

from wengert import cli, distributed, training

rank, step = int(sys.argv[1]), int(sys.argv[2])
train_step = training._train_step


def dying_step(run, features, labels):
    if run.step + 1 == step and distributed.get_rank() == rank:
        os.kill(os.getpid(), signal.SIGKILL)
    return train_step(run, features, labels)


training._train_step = dying_step
sys.exit(cli.main(sys.argv[3:]))
