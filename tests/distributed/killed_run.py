"""``wengert train`` whose process RANK fails before global step STEP, as HOW says: ``kill`` (SIGKILL:
no cleanup, no message, as a machine that dies) or ``raise`` (a TrainingError, which the command line
reports and then ends the job with). Usage: killed_run.py HOW RANK STEP train-options..."""

import os
import signal
import sys

from wengert import cli, distributed, training

how, rank, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
train_step = training._train_step


def failing_step(run, features, labels):
    if run.step + 1 == step and distributed.get_rank() == rank:
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise training.TrainingError(f"planted failure at step {step}")
    return train_step(run, features, labels)


training._train_step = failing_step
sys.exit(cli.main(sys.argv[4:]))
