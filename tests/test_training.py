"""Checkpoints, the training loop and the ``wengert train`` command, as a user runs them."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import wengert as wg
from wengert import checkpoint, data, nn, optim, training
from wengert.cli import main
from wengert.training import Config, train

ROOT = Path(__file__).resolve().parent.parent


def wengert_train(*args, check=True, **kwargs):
    """Run ``python -m wengert train ARGS`` in a subprocess, as a user would."""
    result = subprocess.run([sys.executable, "-m", "wengert", "train", "--quiet", *map(str, args)],
                            capture_output=True, text=True, cwd=kwargs.pop("cwd", ROOT), timeout=300, **kwargs)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def small_model(hidden=8):
    return nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 3))


def trained_pair(hidden=8):
    """A model and an Adam optimizer with state, after two steps."""
    wg.manual_seed(0)
    model = small_model(hidden)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    x, y = wg.randn(16, 4), wg.randint(0, 3, (16,))
    for _ in range(2):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model, optimizer


# --- checkpoints -------------------------------------------------------------------------------

def test_checkpoint_round_trip_restores_model_optimizer_and_metadata(tmp_path):
    model, optimizer = trained_pair()
    path = checkpoint.save(tmp_path, model, optimizer, {"epoch": 3, "note": "é"})
    wg.manual_seed(1)
    fresh_model = small_model()
    fresh_optimizer = optim.Adam(fresh_model.parameters(), lr=0.5)
    metadata = checkpoint.load(path, fresh_model, fresh_optimizer)
    assert metadata == {"epoch": 3, "note": "é"}
    for (name, saved), (_, loaded) in zip(model.state_dict().items(), fresh_model.state_dict().items()):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy(), err_msg=name)
    assert fresh_optimizer.param_groups[0]["lr"] == 0.01
    # the optimizers continue identically
    x, y = wg.randn(16, 4), wg.randint(0, 3, (16,))
    for net, opt in ((model, optimizer), (fresh_model, fresh_optimizer)):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    for a, b in zip(model.parameters(), fresh_model.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert json.loads(path.with_suffix(".json").read_text())["epoch"] == 3  # the readable copy


def test_a_transposed_parameter_survives_the_round_trip(tmp_path):
    # safetensors 0.8.0 writes a non-contiguous array's memory in storage order; we save copies.
    model = nn.Linear(3, 2)
    model.weight = nn.Parameter(np.arange(6.0, dtype=np.float32).reshape(3, 2).T)  # a (2, 3) view
    assert not model.weight.data.flags.c_contiguous
    checkpoint.save(tmp_path, model)
    loaded = nn.Linear(3, 2)
    checkpoint.load(tmp_path, loaded)
    np.testing.assert_array_equal(loaded.weight.detach().numpy(), [[0, 2, 4], [1, 3, 5]])


def test_a_crash_mid_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    model, optimizer = trained_pair()
    checkpoint.save(tmp_path, model, optimizer, {"epoch": 1})
    before = (tmp_path / checkpoint.FILENAME).read_bytes()

    def killed(*args):
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(os, "replace", killed)  # the data is written, the rename never happens
    for parameter in model.parameters():
        parameter.data += 1
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(tmp_path, model, optimizer, {"epoch": 2})
    monkeypatch.undo()
    assert (tmp_path / checkpoint.FILENAME).read_bytes() == before
    assert checkpoint.read(tmp_path)["metadata"] == {"epoch": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.json", checkpoint.FILENAME]  # no leftovers


def test_a_checkpoint_is_data_not_code(tmp_path):
    model, optimizer = trained_pair()
    path = checkpoint.save(tmp_path, model, optimizer, {"epoch": 1})
    payload = path.read_bytes()
    header_size = int.from_bytes(payload[:8], "little")
    header = json.loads(payload[8:8 + header_size])  # a JSON header, then raw little-endian arrays
    assert {entry["dtype"] for key, entry in header.items() if key != "__metadata__"} <= {"F32", "F64", "I64"}
    assert b"\x80\x04" not in payload[:2]  # not a pickle
    (tmp_path / "broken.safetensors").write_bytes(payload[: len(payload) // 2])
    with pytest.raises(checkpoint.CheckpointError, match="not a readable wengert checkpoint"):
        checkpoint.read(tmp_path / "broken.safetensors")
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint"):
        checkpoint.read(tmp_path / "missing")


def test_a_checkpoint_of_another_architecture_is_refused_with_the_keys_listed(tmp_path):
    model, _ = trained_pair(hidden=8)
    checkpoint.save(tmp_path, model)
    other = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3), nn.ReLU(), nn.Linear(3, 3))
    before = [p.detach().numpy().copy() for p in other.parameters()]
    with pytest.raises(nn.StateDictError) as error:
        checkpoint.load(tmp_path, other)
    message = str(error.value)
    for key in ("4.weight", "4.bias", "0.weight", "0.bias", "2.weight"):
        assert key in message
    assert "missing keys" in message and "shape mismatch" in message
    for old, parameter in zip(before, other.parameters()):
        np.testing.assert_array_equal(old, parameter.detach().numpy())  # nothing half-loaded


def rewrite(path, edit):
    """Rewrite the checkpoint file ``path`` after ``edit(tensors, record)`` changes its header's tensor
    entries and its wengert record in place (the data bytes stay as they are)."""
    payload = path.read_bytes()
    size = int.from_bytes(payload[:8], "little")
    tensors = json.loads(payload[8:8 + size])
    metadata = tensors.pop("__metadata__")
    record = json.loads(metadata["wengert"])
    edit(tensors, record)
    header = json.dumps({"__metadata__": {**metadata, "wengert": json.dumps(record)}, **tensors}).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + payload[8 + size:])


def set_option(value, name, new):
    """Set every ``[name, ...]`` pair of a saved record's ``__items__`` lists to ``new``."""
    if isinstance(value, list):
        if len(value) == 2 and value[0] == name:
            value[1] = new
        for item in value:
            set_option(item, name, new)
    elif isinstance(value, dict):
        for item in value.values():
            set_option(item, name, new)


def extra_tensor(tensors, record):
    end = max(entry["data_offsets"][1] for entry in tensors.values())
    tensors["stowaway"] = {"dtype": "F32", "shape": [0], "data_offsets": [end, end]}


DAMAGES = {  # name: (what is done to the file, what the error says)
    "truncated": (lambda path: path.write_bytes(path.read_bytes()[:-3]), "the file is truncated"),
    "header cut": (lambda path: path.write_bytes(path.read_bytes()[:40]), "its header claims"),
    "header not json": (lambda path: path.write_bytes(path.read_bytes()[:8] + b"}" + path.read_bytes()[9:]),
                        "its header is not JSON"),
    "not a wengert file": (lambda path: rewrite(path, lambda t, r: r.clear()), "metadata has parts"),
    "offsets span": (lambda path: rewrite(path, lambda t, r: t["model.0.weight"]["data_offsets"].__setitem__(
                         1, t["model.0.weight"]["data_offsets"][0] + 132)),
                     "needs 128 bytes, its data_offsets span 132"),
    "offsets overlap": (lambda path: rewrite(path, lambda t, r: t["model.0.bias"].update(data_offsets=[32, 64])),
                        "tensors overlap or leave a gap"),
    "offsets negative": (lambda path: rewrite(path, lambda t, r: t["model.0.bias"].update(data_offsets=[-32, 0])),
                         "not [begin, end]"),
    "unknown dtype": (lambda path: rewrite(path, lambda t, r: t["model.0.bias"].update(dtype="Q8")),
                      "unknown dtype 'Q8'"),
    "model dtype F32 -> I32": (lambda path: rewrite(path, lambda t, r: t["model.0.weight"].update(dtype="I32")),
                               "model '0.weight' is int32, the model's is float32"),
    "optimizer dtype F32 -> I32": (
        lambda path: rewrite(path, lambda t, r: t["optimizer.state.0.exp_avg"].update(dtype="I32")),
        "optimizer state[0]['exp_avg'] is int32 (8, 4), its parameter is float32 (8, 4)"),
    "shape swapped": (lambda path: rewrite(path, lambda t, r: t["model.0.weight"].update(shape=[4, 8])),
                      "shape mismatch: 0.weight: checkpoint (4, 8), model (8, 4)"),
    "tensor renamed": (lambda path: rewrite(path, lambda t, r: t.__setitem__("model.0.biaz", t.pop("model.0.bias"))),
                       "refers to tensor 'model.0.bias', which it lacks"),
    "unknown tensor": (lambda path: rewrite(path, extra_tensor), "tensor 'stowaway' is not referred to"),
    "epoch a string": (lambda path: rewrite(path, lambda t, r: r["metadata"].update(epoch="1")), "epoch is '1'"),
    "step negative": (lambda path: rewrite(path, lambda t, r: r["metadata"].update(step=-1)), "step is -1"),
    "lr a string": (lambda path: rewrite(path, lambda t, r: r["metadata"]["config"].update(lr="0.001")),
                    "config lr must be a positive finite number, got '0.001'"),
    "hidden a number": (lambda path: rewrite(path, lambda t, r: r["metadata"]["config"].update(hidden=8)),
                        "config hidden must be positive integers, got 8"),
    "history of strings": (lambda path: rewrite(path, lambda t, r: r["metadata"]["history"].update(val_loss=["x"])),
                           "history is not"),
    "rng state broken": (lambda path: rewrite(path, lambda t, r: r["metadata"]["rng"]["loader"].update(state="x")),
                         "rng is not"),
    "unknown config key": (lambda path: rewrite(path, lambda t, r: r["metadata"]["config"].update(colour="red")),
                           "unknown config key 'colour'"),
    "unknown metadata key": (lambda path: rewrite(path, lambda t, r: r["metadata"].update(extra=1)),
                             "unknown metadata key 'extra'"),
    "unknown part": (lambda path: rewrite(path, lambda t, r: r.update(scheduler={})), "metadata has parts"),
    "optimizer option a string": (lambda path: rewrite(path, lambda t, r: set_option(r["optimizer"], "eps", "tiny")),
                                  "option 'eps' is 'tiny'"),
    "optimizer step a string": (lambda path: rewrite(path, lambda t, r: set_option(r["optimizer"], "step", "7")),
                                "state[0]['step'] is '7', not an array or a number"),
}


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved") / "run"
    train(Config(dataset="iris", hidden=[8], epochs=1, batch_size=16), folder, progress=False)
    return folder


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_checkpoint_is_one_clear_error_and_nothing_is_loaded(saved_run, tmp_path, capsys, damage):
    folder = Path(shutil.copytree(saved_run, tmp_path / "run"))
    path = folder / checkpoint.FILENAME
    damaged, says = DAMAGES[damage]
    damaged(path)
    before = path.read_bytes()
    with pytest.raises(checkpoint.CheckpointError, match="is not a readable wengert checkpoint: ") as error:
        training.resume(folder, {"epochs": 2})
    assert says in str(error.value)
    # the command line: one line, exit 1, nothing written
    assert main(["train", "--quiet", "--resume", str(folder), "--epochs", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"wengert: {path} is not a readable wengert checkpoint: ")
    assert says in err
    assert path.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == sorted(training.RUN_FILES)


def test_checkpoint_load_refuses_a_changed_dtype_before_loading_anything(tmp_path):
    model, optimizer = trained_pair()
    path = checkpoint.save(tmp_path, model, optimizer)
    rewrite(path, lambda tensors, record: tensors["model.2.weight"].update(dtype="I32"))
    fresh = small_model()
    before = [p.detach().numpy().copy() for p in fresh.parameters()]
    with pytest.raises(checkpoint.CheckpointError, match=r"model '2\.weight' is int32, the model's is float32"):
        checkpoint.load(path, fresh)
    for old, parameter in zip(before, fresh.parameters()):
        np.testing.assert_array_equal(old, parameter.detach().numpy())


def test_a_folder_name_with_a_dot_is_a_folder_for_save_and_load(tmp_path):
    model, optimizer = trained_pair()
    for name in ("iris-lr0.1", "iris-lr0.01"):
        assert checkpoint.save(tmp_path / name, model, optimizer) == tmp_path / name / checkpoint.FILENAME
        assert (tmp_path / name / "checkpoint.json").is_file()
        checkpoint.load(tmp_path / name, small_model(), optim.Adam(small_model().parameters()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iris-lr0.01", "iris-lr0.1"]


def test_atomic_write_gives_the_umask_mode(tmp_path):
    for umask in (0o022, 0o077, 0o002):
        old = os.umask(umask)
        try:
            checkpoint.atomic_write(tmp_path / "file", b"x")
        finally:
            os.umask(old)
        assert (tmp_path / "file").stat().st_mode & 0o777 == 0o666 & ~umask


# --- the training loop -------------------------------------------------------------------------

class Watched(nn.Module):
    """``inner``, remembering weakly every output it made: each must be gone by its next call."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.made = []

    def forward(self, x):
        assert all(ref() is None for ref in self.made), "an earlier step's logits are still alive"
        out = self.inner(x)
        self.made.append(weakref.ref(out))
        return out


def test_nothing_of_a_step_outlives_it(monkeypatch):
    splits = data.load_dataset("iris")
    run = training.start(Config(dataset="iris", hidden=[8], epochs=2, batch_size=16), 4, 3)
    run.model = Watched(run.model)
    losses = []

    def cross_entropy(*args, **kwargs):
        assert all(ref() is None for ref in losses), "an earlier step's loss is still alive"
        loss = nn.functional.cross_entropy(*args, **kwargs)
        losses.append(weakref.ref(loss))
        return loss

    monkeypatch.setattr(training, "F", SimpleNamespace(cross_entropy=cross_entropy))
    training.fit(run, splits, progress=False)
    assert len(run.model.made) == 2 * (7 + 1)  # 7 steps and one validation batch per epoch
    assert all(ref() is None for ref in run.model.made + losses)
    training.evaluate(run.model, data.DataLoader(splits.test, batch_size=8))
    assert all(ref() is None for ref in run.model.made + losses)


def test_digits_mlp_reaches_097_test_accuracy(tmp_path):
    summary = train(Config(), tmp_path, progress=False)  # the defaults of `wengert train`
    assert summary["test_accuracy"] >= 0.97, summary
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mnist_subset_mlp_reaches_093_test_accuracy(tmp_path):
    summary = train(Config(dataset="mnist", hidden=[256], epochs=12), tmp_path, progress=False)
    assert summary["test_accuracy"] >= 0.93, summary


def test_same_seed_same_weights_and_another_seed_other_weights(tmp_path):
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        train(Config(dataset="iris", hidden=[8], epochs=3, seed=seed, batch_size=16), tmp_path / name, progress=False)
        runs[name] = checkpoint.read(tmp_path / name)["model"]
    for key in runs["a"]:
        np.testing.assert_array_equal(runs["a"][key], runs["b"][key])
    assert any(not np.array_equal(runs["a"][key], runs["c"][key]) for key in runs["a"])


def test_dropout_runs_repeat_too(tmp_path):
    for name in ("a", "b"):
        train(Config(dataset="iris", hidden=[8], epochs=2, dropout=0.5, batch_size=16), tmp_path / name,
              progress=False)
    a, b = (checkpoint.read(tmp_path / name)["model"] for name in ("a", "b"))
    assert all(np.array_equal(a[key], b[key]) for key in a)


# --- the command line -------------------------------------------------------------------------

def test_wengert_train_writes_checkpoint_curves_and_summary(tmp_path):
    result = wengert_train("--dataset", "iris", "--epochs", "5", "--hidden", "16", "--out", tmp_path / "run")
    assert "test accuracy" in result.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["epochs"] == 5 and 0.0 <= summary["test_accuracy"] <= 1.0
    assert f"{summary['test_accuracy']:.4f}" in result.stdout
    metadata = checkpoint.read(tmp_path / "run")["metadata"]
    assert metadata["config"]["hidden"] == [16] and metadata["epoch"] == 5
    assert len(metadata["history"]["val_accuracy"]) == 5
    assert (tmp_path / "run" / "curves.png").stat().st_size > 1000


def test_wengert_train_never_overwrites_a_checkpoint_unasked(tmp_path):
    wengert_train("--dataset", "iris", "--epochs", "1", "--out", tmp_path / "run")
    assert checkpoint.read(tmp_path / "run")["metadata"]["config"]["lr"] == 0.01  # iris's own default
    before = (tmp_path / "run" / checkpoint.FILENAME).read_bytes()
    result = wengert_train("--dataset", "iris", "--epochs", "1", "--out", tmp_path / "run", check=False)
    assert result.returncode == 2 and "--resume" in result.stderr
    assert (tmp_path / "run" / checkpoint.FILENAME).read_bytes() == before
    # without --out, each run gets a new folder under runs/
    for _ in range(2):
        wengert_train("--dataset", "iris", "--epochs", "1", cwd=tmp_path)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["iris-mlp", "iris-mlp-2"]


def test_a_nonfinite_loss_stops_training_with_the_step_and_last_finite_loss(tmp_path):
    args = ("--dataset", "iris", "--optimizer", "sgd", "--lr", "1e30", "--epochs", "3", "--batch-size", "8")
    result = wengert_train(*args, "--out", tmp_path / "a", check=False)
    assert result.returncode == 1
    assert "at step" in result.stderr and "last finite loss was" in result.stderr, result.stderr
    assert "--allow-nonfinite" in result.stderr
    wengert_train(*args, "--out", tmp_path / "b", "--allow-nonfinite")


def test_resume_after_a_kill_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    args = ["--dataset", "digits", "--hidden", "32", "--epochs", "25", "--batch-size", "8", "--seed", "5"]
    wengert_train(*args, "--out", tmp_path / "whole")
    run = subprocess.Popen([sys.executable, "-m", "wengert", "train", "--quiet", *args, "--out", tmp_path / "cut"],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    saved = tmp_path / "cut" / checkpoint.FILENAME
    deadline = time.monotonic() + 120
    while not saved.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)
    run.send_signal(signal.SIGKILL)  # no chance to clean up, possibly mid-save
    run.wait()
    assert run.returncode == -signal.SIGKILL
    killed_at = checkpoint.read(tmp_path / "cut")["metadata"]["epoch"]
    assert 1 <= killed_at < 25, "the run was not interrupted mid-training"
    wengert_train("--resume", tmp_path / "cut")
    whole, resumed = (checkpoint.read(tmp_path / name) for name in ("whole", "cut"))
    assert resumed["metadata"]["epoch"] == 25
    for key, value in whole["model"].items():
        np.testing.assert_array_equal(resumed["model"][key], value, err_msg=key)
    assert resumed["metadata"]["history"] == whole["metadata"]["history"]


def test_help_lists_the_options():
    result = subprocess.run([sys.executable, "-m", "wengert", "train", "--help"], capture_output=True, text=True)
    for option in ("--dataset", "--hidden", "--optimizer", "--lr", "--epochs", "--batch-size", "--seed", "--out",
                   "--resume", "--allow-nonfinite"):
        assert option in result.stdout


# dropout's mask is an op: each replay draws what eager would; the schedule's rate is read at each replay
@pytest.mark.parametrize("dropout, schedule", [(0.0, "constant"), (0.3, "constant"), (0.0, "cosine")])
def test_compiled_training_is_the_eager_run(tmp_path, dropout, schedule):
    summaries = {compiled: train(Config(dataset="iris", hidden=[8], epochs=3, batch_size=16, dropout=dropout,
                                        schedule=schedule, compile=compiled), tmp_path / str(compiled),
                                 progress=False)
                 for compiled in (False, True)}
    assert summaries[True]["test_accuracy"] == summaries[False]["test_accuracy"]
    eager, compiled = (checkpoint.read(tmp_path / str(flag)) for flag in (False, True))
    assert eager["metadata"]["history"] == compiled["metadata"]["history"]
    for key in eager["model"]:
        np.testing.assert_array_equal(eager["model"][key], compiled["model"][key])


def test_a_checkpoint_from_before_compile_existed_resumes(tmp_path):
    train(Config(dataset="iris", hidden=[8], epochs=1, batch_size=16), tmp_path, progress=False)
    path = tmp_path / checkpoint.FILENAME
    payload = path.read_bytes()
    size = int.from_bytes(payload[:8], "little")
    header = json.loads(payload[8:8 + size])
    record = json.loads(header["__metadata__"]["wengert"])
    for option in ("compile", "schedule"):  # as checkpoints were written before these options
        del record["metadata"]["config"][option]
    header["__metadata__"]["wengert"] = json.dumps(record)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + payload[8 + size:])
    run, _ = training.resume(tmp_path, {"epochs": 2})
    assert run.config.compile is False and run.config.schedule == "constant" and run.epoch == 1


def test_a_compiled_resnet_run_is_the_eager_run_running_statistics_included(tmp_path):
    # --compile compiles the whole step, so batch norm's running statistics replay as effects
    config = {"dataset": "digits", "model": "resnet", "epochs": 1, "batch_size": 128}
    summaries = {flag: train(Config(**config, compile=flag), tmp_path / str(flag), progress=False)
                 for flag in (False, True)}
    assert summaries[True]["test_accuracy"] == summaries[False]["test_accuracy"]
    eager, compiled = (checkpoint.read(tmp_path / str(flag)) for flag in (False, True))
    assert eager["metadata"]["history"] == compiled["metadata"]["history"]
    moved = [key for key in eager["model"] if key.endswith("running_mean")]
    assert moved and all(np.abs(eager["model"][key]).max() > 0 for key in moved)
    for key, value in eager["model"].items():
        np.testing.assert_array_equal(compiled["model"][key], value, err_msg=key)
