"""``wengert train --distributed ddp|ipm`` under mpiexec, and ``--workers``: one run folder written by
process 0 only, the accuracy of one process, a killed run that resumes to the uninterrupted result."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from wengert import checkpoint, distributed
from wengert.training import RUN_FILES, Config, train

SCRIPTS = Path(__file__).parent / "distributed"
TIME_LIMIT = 60  # seconds: a job that takes longer has hung
ENVIRONMENT = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
OPTIONS = ["--epochs", "3", "--quiet"]  # digits: 20 steps an epoch at the default batch of 64


def launch(command: list, cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=TIME_LIMIT, env=ENVIRONMENT, cwd=cwd)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{command} did not end within {TIME_LIMIT} s (hung); stderr:\n{error.stderr}")


def wengert_on_two(cwd: Path, *options: str) -> subprocess.CompletedProcess:
    return launch(distributed.mpiexec_command(2, "-m", "wengert", "train", *options), cwd)


def arrays(folder: Path) -> dict:
    return checkpoint.read(folder / checkpoint.FILENAME)["model"]


def test_ddp_writes_one_run_from_process_0_alone_and_trains_as_one_process(tmp_path):
    # each process in its own working directory, with the default --out: only process 0's gets files
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    python = [sys.executable, "-m", "wengert", "train", "--distributed", "ddp", *OPTIONS]
    completed = launch([distributed.find_mpiexec(), "-n", "1", "-wdir", str(first), *python, ":",
                        "-n", "1", "-wdir", str(second), *python], tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert sorted(path.name for path in (first / "runs" / "digits-mlp").iterdir()) == sorted(RUN_FILES)
    assert list(second.iterdir()) == []
    assert completed.stdout.count("test accuracy") == 1  # one report, from process 0
    summary = json.loads((first / "runs" / "digits-mlp" / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["distributed"] == "ddp" and summary["steps"] == 60
    alone = train(Config(epochs=3), tmp_path / "alone", progress=False)
    assert abs(summary["test_accuracy"] - alone["test_accuracy"]) < 0.03 and alone["test_accuracy"] > 0.8


@pytest.mark.parametrize("mode", ["ddp", "ipm"])
def test_a_distributed_run_killed_mid_epoch_resumes_to_the_uninterrupted_result(tmp_path, mode):
    options = ["--distributed", mode, "--dropout", "0.2", *OPTIONS]  # dropout: each process's masks matter
    whole = wengert_on_two(tmp_path, *options, "--out", "whole")
    assert whole.returncode == 0, whole.stderr
    started = time.monotonic()
    killed = launch(distributed.mpiexec_command(2, str(SCRIPTS / "killed_run.py"), "kill", "1", "31", "train", *options,
                                                "--out", "killed"), tmp_path)
    assert killed.returncode != 0 and time.monotonic() - started < 30
    assert checkpoint.read(tmp_path / "killed" / checkpoint.FILENAME)["metadata"]["epoch"] == 1
    resumed = wengert_on_two(tmp_path, "--resume", "killed", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    expected, found = arrays(tmp_path / "whole"), arrays(tmp_path / "killed")
    for key, value in expected.items():
        np.testing.assert_allclose(found[key], value, rtol=1e-6, atol=1e-7, err_msg=key)
    summaries = [json.loads((tmp_path / name / "summary.json").read_text()) for name in ("whole", "killed")]
    assert summaries[1]["resumed_from"]["epoch"] == 1
    assert summaries[0]["test_accuracy"] == summaries[1]["test_accuracy"]


def test_workers_starts_the_same_run_through_mpiexec(tmp_path):
    by_hand = wengert_on_two(tmp_path, "--distributed", "ipm", "--mix-every", "3", *OPTIONS, "--out", "by-hand")
    launched = launch([sys.executable, "-m", "wengert", "train", "--workers", "2", "--distributed", "ipm",
                       "--mix-every", "3", *OPTIONS, "--out", "launched"], tmp_path)
    assert by_hand.returncode == 0 and launched.returncode == 0, launched.stderr
    expected, found = arrays(tmp_path / "by-hand"), arrays(tmp_path / "launched")
    assert expected.keys() == found.keys()
    for key, value in expected.items():
        np.testing.assert_array_equal(found[key], value, err_msg=key)
    config = checkpoint.read(tmp_path / "launched" / checkpoint.FILENAME)["metadata"]["config"]
    assert config["distributed"] == "ipm" and config["mix_every"] == 3


def test_requests_that_cannot_run_distributed_are_refused_once_before_anything_is_written(tmp_path):
    odd = wengert_on_two(tmp_path, "--distributed", "ddp", "--batch-size", "63", *OPTIONS, "--out", "odd")
    assert odd.returncode == 2 and odd.stderr.count("--batch-size 63 does not split across 2 processes") == 1
    plain = wengert_on_two(tmp_path, *OPTIONS, "--out", "plain")
    assert plain.returncode == 2 and plain.stderr.count("without --distributed") == 1
    assert not (tmp_path / "odd" / checkpoint.FILENAME).exists() and not (tmp_path / "plain").exists()
    compiled = launch([sys.executable, "-m", "wengert", "train", "--distributed", "ddp", "--compile", *OPTIONS],
                      tmp_path)
    assert compiled.returncode == 2 and "--compile cannot replay DistributedDataParallel" in compiled.stderr


def test_a_distributed_run_on_one_process_is_the_plain_single_process_step(tmp_path):
    # world size 1: DDP averages over itself, IPM mixes with itself; only the shuffling differs from a plain run
    runs = {mode: train(Config(epochs=2, distributed=mode), tmp_path / mode, progress=False) for mode in ("ddp", "ipm")}
    assert runs["ddp"]["processes"] == 1
    for key, value in arrays(tmp_path / "ddp").items():
        np.testing.assert_allclose(arrays(tmp_path / "ipm")[key], value, rtol=1e-5, atol=1e-6, err_msg=key)


def test_an_error_on_one_process_is_reported_and_ends_the_whole_job(tmp_path):
    started = time.monotonic()
    failed = launch(distributed.mpiexec_command(2, str(SCRIPTS / "killed_run.py"), "raise", "1", "5", "train",
                                                "--distributed", "ddp", *OPTIONS, "--out", "failed"), tmp_path)
    assert failed.returncode != 0 and time.monotonic() - started < 30  # process 0 did not wait for it forever
    assert "wengert: process 1: planted failure at step 5" in failed.stderr
