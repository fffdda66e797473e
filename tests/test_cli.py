"""``wengert train`` tried as a new user would: in-process runs of ``wengert.cli.main`` on iris, checking
the exit code, the one line on stderr and what is on disk."""

import errno
import json
import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from wengert import checkpoint, training
from wengert.cli import DATASET_DEFAULTS, main
from wengert.training import Config

# sgd with a momentum, so that --lr, --momentum and --weight-decay each change what a step does
BASE = ("--dataset", "iris", "--hidden", "8", "--optimizer", "sgd", "--lr", "0.05", "--batch-size", "16")


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def line(self) -> str:
        """The last line on stderr: the one the user reads."""
        lines = self.err.strip().splitlines()
        return lines[-1] if lines else ""


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """``cli(*args)``: run ``wengert train --quiet ARGS`` in ``tmp_path``, as the shell would."""
    monkeypatch.chdir(tmp_path)

    def run(*args) -> Result:
        try:
            code = main(["train", "--quiet", *map(str, args)])
        except SystemExit as exit:  # argparse exits by itself
            code = exit.code
        out, err = capsys.readouterr()
        assert "Traceback" not in err, err
        return Result(code, out, err)

    return run


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    """A finished 2-epoch run of BASE; tests copy it instead of training it again."""
    folder = tmp_path_factory.mktemp("saved") / "run"
    config = Config(dataset="iris", hidden=[8], optimizer="sgd", lr=0.05, batch_size=16, epochs=2)
    training.train(config, folder, progress=False)
    return folder


def copy_run(source: Path, tmp_path: Path, name: str = "run") -> Path:
    return Path(shutil.copytree(source, tmp_path / name))


def snapshot(folder: Path) -> dict:
    """Every file in ``folder`` with its bytes: to show that nothing was touched."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def weights(folder: Path) -> dict:
    return checkpoint.read(folder / checkpoint.FILENAME)["model"]


# --- 1. options given at resume win, and the summary says what changed ---------------------------

@pytest.mark.parametrize("option, name, value", [("--lr", "lr", 0.2), ("--momentum", "momentum", 0.5),
                                                 ("--weight-decay", "weight_decay", 0.01)])
def test_an_option_given_at_resume_is_the_one_trained_with(cli, two_epochs, tmp_path, option, name, value):
    folder = copy_run(two_epochs, tmp_path)
    old = getattr(Config(**checkpoint.read(folder)["metadata"]["config"]), name)
    result = cli("--resume", folder, "--epochs", 3, option, value)
    assert result.code == 0, result.err
    assert f"{name}: {old} -> {value}" in result.out
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["changed"][name] == [old, value] and summary["changed"]["epochs"] == [2, 3]
    saved = checkpoint.read(folder)
    assert saved["metadata"]["config"][name] == value
    assert saved["optimizer"]["param_groups"][0][name] == value
    assert saved["metadata"]["resumes"] == [{"at_epoch": 2, "changed": summary["changed"]}]
    # the weights are those of the saved run continued by hand with the new value
    run, splits = training.resume(copy_run(two_epochs, tmp_path, "by-hand"), {"epochs": 3})
    for group in run.optimizer.param_groups:
        group[name] = value
    training.fit(run, splits, progress=False)
    unchanged = copy_run(two_epochs, tmp_path, "unchanged")
    assert cli("--resume", unchanged, "--epochs", 3).code == 0
    for key, array in weights(folder).items():
        np.testing.assert_array_equal(array, run.model.state_dict()[key].numpy(), err_msg=key)
    assert any(not np.array_equal(weights(unchanged)[key], array) for key, array in weights(folder).items())


def test_a_batch_size_given_at_resume_sets_the_steps(cli, two_epochs, tmp_path):
    folder = copy_run(two_epochs, tmp_path)
    result = cli("--resume", folder, "--epochs", 3, "--batch-size", 54)
    assert result.code == 0, result.err
    steps_before = checkpoint.read(two_epochs)["metadata"]["step"]
    assert json.loads((folder / "summary.json").read_text())["steps"] == steps_before + 108 // 54
    assert "batch_size: 16 -> 54" in result.out


@pytest.mark.parametrize("args, saved", [
    (["--dataset", "digits", "--hidden", "16"], "on iris with hidden 8"),
    (["--activation", "tanh"], "with activation relu"),
    (["--dropout", "0.5"], "with dropout 0.0"),
    (["--seed", "3"], "with seed 0"),
    (["--optimizer", "adam"], "with optimizer sgd"),
])
def test_an_option_that_decides_the_model_cannot_change_on_resume(cli, two_epochs, tmp_path, args, saved):
    folder = copy_run(two_epochs, tmp_path)
    before = snapshot(folder)
    result = cli("--resume", folder, "--epochs", 5, *args)
    options = "/".join(arg for arg in args if arg.startswith("--"))
    assert result.code == 2
    assert f"was trained {saved}; {options} cannot change on resume" in result.line
    assert snapshot(folder) == before


def test_an_option_given_at_resume_with_its_saved_value_is_no_change(cli, two_epochs, tmp_path):
    folder = copy_run(two_epochs, tmp_path)
    result = cli("--resume", folder, "--epochs", 3, "--dataset", "iris", "--hidden", 8, "--lr", 0.05)
    assert result.code == 0, result.err
    assert json.loads((folder / "summary.json").read_text())["changed"] == {"epochs": [2, 3]}


def test_momentum_for_an_optimizer_without_one_is_refused(cli, tmp_path):
    result = cli("--dataset", "iris", "--optimizer", "adam", "--momentum", 0.5, "--out", tmp_path / "run")
    assert result.code == 2 and "--momentum applies to sgd and rmsprop only; adam does not use it" in result.line
    assert not (tmp_path / "run").exists()


# --- 2. a run folder is always a folder, and nothing the user made is overwritten ------------------

def test_out_with_a_dot_in_its_name_is_a_folder_and_runs_do_not_collide(cli, tmp_path):
    for name, lr in (("iris-lr0.1", 0.1), ("iris-lr0.01", 0.01)):
        result = cli("--dataset", "iris", "--epochs", 1, "--lr", lr, "--out", f"runs/{name}")
        assert result.code == 0, result.err
    for name, lr in (("iris-lr0.1", 0.1), ("iris-lr0.01", 0.01)):
        folder = tmp_path / "runs" / name
        assert sorted(p.name for p in folder.iterdir()) == sorted(training.RUN_FILES)
        assert checkpoint.read(folder / checkpoint.FILENAME)["metadata"]["config"]["lr"] == lr
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["iris-lr0.01", "iris-lr0.1"]
    for line in result.out.splitlines()[1:]:  # every path printed is there
        assert Path(line.split()[-1]).is_file(), line


def test_out_naming_a_file_is_refused_and_the_file_kept(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = cli("--dataset", "iris", "--out", tmp_path / "notes.txt")
    assert result.code == 2 and "notes.txt is a file, not a folder" in result.line
    assert (tmp_path / "notes.txt").read_text() == "mine" and sorted(os.listdir(tmp_path)) == ["notes.txt"]


@pytest.mark.parametrize("name", ["summary.json", "curves.png", "notes.txt", "checkpoint.safetensors"])
def test_a_folder_with_files_of_the_users_is_refused(cli, tmp_path, name):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / name).write_text("mine")
    result = cli("--dataset", "iris", "--epochs", 1, "--out", folder)
    assert result.code == 2 and f"holds files that are not a wengert run ({name})" in result.line
    assert snapshot(folder) == {name: b"mine"}
    assert cli("--dataset", "iris", "--epochs", 1, "--out", folder, "--overwrite").code == 2
    assert snapshot(folder) == {name: b"mine"}


def test_the_default_folder_skips_one_holding_the_users_files(cli, tmp_path):
    (tmp_path / "runs" / "iris-mlp").mkdir(parents=True)
    (tmp_path / "runs" / "iris-mlp" / "summary.json").write_text("mine")
    assert cli("--dataset", "iris", "--epochs", 1).code == 0
    assert (tmp_path / "runs" / "iris-mlp" / "summary.json").read_text() == "mine"
    assert (tmp_path / "runs" / "iris-mlp-2" / checkpoint.FILENAME).is_file()


def test_resume_takes_the_folder_or_the_checkpoint_file_in_it(cli, two_epochs, tmp_path):
    folder = copy_run(two_epochs, tmp_path)
    result = cli("--resume", folder / checkpoint.FILENAME, "--epochs", 3)
    assert result.code == 0, result.err
    assert sorted(p.name for p in folder.iterdir()) == sorted(training.RUN_FILES)
    assert checkpoint.read(folder)["metadata"]["epoch"] == 3
    (folder / "other.safetensors").write_bytes((folder / checkpoint.FILENAME).read_bytes())
    result = cli("--resume", folder / "other.safetensors", "--epochs", 4)
    assert result.code == 2 and "other.safetensors is a file, not a run" in result.line
    result = cli("--resume", tmp_path / "nowhere", "--epochs", 4)
    assert result.code == 2 and "no run at" in result.line


# --- 3. bad options: one line naming the option and what it allows, before anything runs -----------

@pytest.mark.parametrize("option, value, allowed", [
    ("--hidden", "0", "positive integers"), ("--hidden", "-5", "positive integers"),
    ("--seed", "-1", "an integer, 0 or more"),
    ("--lr", "-0.1", "a positive finite number"), ("--lr", "nan", "a positive finite number"),
    ("--lr", "inf", "a positive finite number"), ("--lr", "0", "a positive finite number"),
    ("--momentum", "-1", "a number at least 0 and below 1"), ("--momentum", "1.5", "a number at least 0 and below 1"),
    ("--weight-decay", "-1", "a finite number, 0 or more"), ("--batch-size", "0", "a positive integer"),
    ("--epochs", "-1", "a positive integer"), ("--epochs", "0", "a positive integer"),
    ("--dropout", "1.5", "a number at least 0 and below 1"), ("--epochs", "2.5", "a positive integer"),
])
def test_a_bad_option_is_one_line_and_exit_2_before_anything_runs(cli, tmp_path, option, value, allowed):
    result = cli("--dataset", "iris", option, value)
    assert result.code == 2
    assert result.line.endswith(f"argument {option}: must be {allowed}, got {value!r}"), result.line
    assert os.listdir(tmp_path) == [] and result.out == ""


def test_an_out_that_cannot_be_written_is_refused_before_training(cli, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make creating files under the folder fail as it would
        real_open = os.open

        def refuse(path, flags, *args, **kwargs):
            if str(path).startswith(str(locked)) and flags & os.O_CREAT:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse)
    result = cli("--dataset", "iris", "--epochs", 1, "--out", locked / "run")
    assert result.code == 2 and "cannot write in" in result.line and "Permission denied" in result.line
    assert result.out == ""
    assert not (locked / "run" / checkpoint.FILENAME).exists()


def test_resuming_a_finished_run_into_a_new_folder(cli, two_epochs, tmp_path):
    before = snapshot(two_epochs)
    result = cli("--resume", two_epochs, "--out", tmp_path / "new")
    assert result.code == 2 and result.line.endswith(
        f"{two_epochs} already has 2 epochs; pass --epochs above 2 to train more")
    assert not (tmp_path / "new").exists()
    result = cli("--resume", two_epochs, "--out", tmp_path / "new", "--epochs", 3)
    assert result.code == 0, result.err
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == sorted(training.RUN_FILES)
    assert checkpoint.read(tmp_path / "new")["metadata"]["epoch"] == 3
    assert snapshot(two_epochs) == before


# --- 5. --epochs 0, interrupts: say what is on disk and how to continue ----------------------------

def interrupt_at(monkeypatch, step: int) -> None:
    """Make training raise KeyboardInterrupt (a Ctrl-C) at training step ``step`` (counted from 1)."""
    real_step, count = training._train_step, [0]

    def step_or_interrupt(*args):
        count[0] += 1
        if count[0] == step:
            raise KeyboardInterrupt
        return real_step(*args)

    monkeypatch.setattr(training, "_train_step", step_or_interrupt)


def test_ctrl_c_in_the_first_epoch_says_nothing_was_saved(cli, tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        interrupt_at(patch, 3)
        result = cli(*BASE, "--epochs", 3, "--out", tmp_path / "run")
    assert result.code == 130
    assert "kept" not in result.err and result.line.endswith(f"so {tmp_path / 'run'} holds no checkpoint to resume.")
    assert not (tmp_path / "run" / checkpoint.FILENAME).exists()
    assert cli(*BASE, "--epochs", 1, "--out", tmp_path / "run").code == 0  # the empty folder is reusable


def test_ctrl_c_later_names_the_saved_epoch_and_a_resume_command_that_works(cli, tmp_path, monkeypatch):
    steps_per_epoch = -(-108 // 16)
    with monkeypatch.context() as patch:
        interrupt_at(patch, steps_per_epoch + 2)  # in epoch 2, after epoch 1 was saved
        result = cli(*BASE, "--epochs", 3, "--out", tmp_path / "cut")
    assert result.code == 130
    assert f"{tmp_path / 'cut' / checkpoint.FILENAME} holds epoch 1 of 3" in result.line
    command = result.line.split("continue with: ")[1]
    assert command == f"wengert train --resume {shlex.quote(str(tmp_path / 'cut'))}"
    assert cli(*shlex.split(command)[2:]).code == 0
    assert cli(*BASE, "--epochs", 3, "--out", tmp_path / "whole").code == 0
    for key, array in weights(tmp_path / "whole").items():
        np.testing.assert_array_equal(weights(tmp_path / "cut")[key], array, err_msg=key)


def test_a_cosine_schedule_anneals_each_epoch_as_pytorchs_and_a_resume_picks_it_up(cli, tmp_path, monkeypatch):
    import torch

    steps_per_epoch, epochs = -(-108 // 16), 4
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    expected = []
    for _ in range(epochs):  # PyTorch's recipe: the scheduler stepped once after each epoch
        expected += [optimizer.param_groups[0]["lr"]] * steps_per_epoch
        optimizer.step()
        scheduler.step()
    used, real_step = [], training._train_step

    def recording(run, *args):
        used.append(run.optimizer.param_groups[0]["lr"])
        return real_step(run, *args)

    with monkeypatch.context() as patch:
        patch.setattr(training, "_train_step", recording)
        assert cli(*BASE, "--schedule", "cosine", "--epochs", epochs, "--out", tmp_path / "whole").code == 0
    assert used == pytest.approx(expected, rel=1e-12, abs=1e-15) and len(set(used)) == epochs
    with monkeypatch.context() as patch:
        interrupt_at(patch, 2 * steps_per_epoch + 3)  # in epoch 3, at a learning rate below --lr
        result = cli(*BASE, "--schedule", "cosine", "--epochs", epochs, "--out", tmp_path / "cut")
    assert result.code == 130
    assert cli("--resume", tmp_path / "cut").code == 0
    for key, array in weights(tmp_path / "whole").items():
        np.testing.assert_array_equal(weights(tmp_path / "cut")[key], array, err_msg=key)
    assert checkpoint.read(tmp_path / "cut")["metadata"]["config"]["schedule"] == "cosine"
    refused = cli(*BASE, "--schedule", "linear")  # argparse quotes the choices or not, by Python version
    assert refused.code == 2 and re.search(r"--schedule: invalid choice: 'linear' \(choose from '?constant'?, "
                                           r"'?cosine'?\)$", refused.line), refused.line


def test_ctrl_c_in_a_resume_names_the_options_it_needs(cli, two_epochs, tmp_path, monkeypatch):
    folder = copy_run(two_epochs, tmp_path)
    interrupt_at(monkeypatch, 2)
    result = cli("--resume", folder, "--epochs", 5, "--lr", 0.2)
    assert result.code == 130
    assert result.line.endswith(f"holds epoch 2 of 2; continue with: wengert train --resume "
                                f"{shlex.quote(str(folder))} --lr 0.2 --epochs 5")


def test_a_nonfinite_loss_in_the_first_epoch_claims_no_checkpoint(cli, tmp_path):
    result = cli(*BASE, "--lr", "1e30", "--epochs", 3, "--out", tmp_path / "run")
    assert result.code == 1 and "at step" in result.line and "--allow-nonfinite" in result.line
    assert "kept" not in result.line and "holds no checkpoint" in result.line


# --- 6. resuming with no more epochs to train ---------------------------------------------------

@pytest.mark.parametrize("epochs", [[], ["--epochs", "1"], ["--epochs", "2"]])
def test_resume_without_more_epochs_is_refused_and_the_run_untouched(cli, two_epochs, tmp_path, epochs):
    folder = copy_run(two_epochs, tmp_path)
    before = snapshot(folder)
    result = cli("--resume", folder, *epochs)
    assert result.code == 2
    assert result.line == f"wengert: {folder} already has 2 epochs; pass --epochs above 2 to train more"
    assert snapshot(folder) == before


# --- 7. --help ------------------------------------------------------------------------------------

def test_help_shows_one_default_per_option_and_each_datasets_own(cli, tmp_path):
    result = cli("--help")
    assert result.code == 0
    blocks = [block for block in re.split(r"\n  (?=-)", result.out.split("options:")[1]) if block.strip()]
    assert "None" not in result.out
    for block in blocks:
        assert len(re.findall(r"default", block)) <= 1, block
    help_of = {block.split()[0].rstrip(","): " ".join(block.split()) for block in blocks}
    defaults = Config()
    assert f"(default {defaults.lr}; iris {DATASET_DEFAULTS['iris']['lr']})" in help_of["--lr"]
    assert f"(default {defaults.epochs}; mnist {DATASET_DEFAULTS['mnist']['epochs']})" in help_of["--epochs"]
    assert f"(default {defaults.hidden[0]}; mnist {DATASET_DEFAULTS['mnist']['hidden'][0]})" in help_of["--hidden"]
    assert f"(default {defaults.batch_size})" in help_of["--batch-size"]
    # and the dataset's own default is the one a run uses
    assert cli("--dataset", "iris", "--epochs", 1, "--out", tmp_path / "run").code == 0
    assert checkpoint.read(tmp_path / "run")["metadata"]["config"]["lr"] == DATASET_DEFAULTS["iris"]["lr"]


# --- 8. files get the user's umask ---------------------------------------------------------------

@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_file_gets_the_users_umask(cli, tmp_path, umask):
    old = os.umask(umask)
    try:
        assert cli("--dataset", "iris", "--epochs", 1, "--out", tmp_path / "run").code == 0
        assert cli("--resume", tmp_path / "run", "--epochs", 2).code == 0  # files replaced keep it too
    finally:
        os.umask(old)
    modes = {path.name: path.stat().st_mode & 0o777 for path in (tmp_path / "run").iterdir()}
    assert modes == dict.fromkeys(training.RUN_FILES, 0o666 & ~umask)


# --- 9. wengert graph: the pictures of the model train would build ---------------------------------

@pytest.fixture
def graph_cli(capsys, monkeypatch, tmp_path):
    """``graph_cli(*args)``: run ``wengert graph ARGS`` in ``tmp_path``, as the shell would."""
    monkeypatch.chdir(tmp_path)

    def run(*args) -> Result:
        try:
            code = main(["graph", *map(str, args)])
        except SystemExit as exit:
            code = exit.code
        out, err = capsys.readouterr()
        assert "Traceback" not in err, err
        return Result(code, out, err)

    return run


def svg_lines(path: Path) -> set:
    """The text lines an SVG picture shows."""
    return set(re.findall(r"<text[^>]*>([^<]*)</text>", path.read_text()))


def test_graph_draws_the_loss_and_its_backward_pass_of_the_model_train_builds(graph_cli, tmp_path):
    from wengert import viz

    result = graph_cli("--dataset", "iris", "--hidden", 8, 4, "--activation", "tanh", "--batch-size", 16,
                       "--backward", "--out", tmp_path / "pictures")
    assert result.code == 0
    written = [tmp_path / "pictures" / name for name in ("forward.svg", "forward.png", "backward.svg", "backward.png")]
    assert result.out.splitlines() == [str(path) for path in written]
    for path in written:
        assert path.stat().st_size > 5_000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" if path.suffix == ".png" else b"<svg" in path.read_bytes()
    if viz.graphviz_available():
        assert result.err == ""
    else:
        assert result.err.splitlines() == [f"wengert: note: {viz.GRAPHVIZ_HINT}"]
    shown = svg_lines(tmp_path / "pictures" / "forward.svg")
    model = training.build_model(Config(dataset="iris", hidden=[8, 4], activation="tanh"), 4, 3)
    for name, parameter in model.named_parameters():  # the same layers, named as train's checkpoints name them
        assert {name, f"{tuple(parameter.shape)} float32"} <= shown
    assert {"x", "(16, 4) float32", "tanh", "0: Linear", "1: Tanh", "4: Linear", "cross_entropy"} <= shown
    backward = svg_lines(tmp_path / "pictures" / "backward.svg")
    assert {"d0.weight", "d4.bias", "0: Linear backward", "1: Tanh backward"} <= backward
    assert "dx" not in backward  # a training step's backward pass: the batch gets no gradient


def test_graph_writes_into_runs_graph_dataset_model_by_default(graph_cli, tmp_path):
    result = graph_cli("--dataset", "iris", "--hidden", 4)
    assert result.code == 0
    folder = tmp_path / "runs" / "graph-iris-mlp"
    assert sorted(path.name for path in folder.iterdir()) == ["forward.png", "forward.svg"]
    assert result.out.splitlines() == [str(Path("runs/graph-iris-mlp/forward.svg")),
                                       str(Path("runs/graph-iris-mlp/forward.png"))]


@pytest.mark.parametrize("args, message", [
    (["--hidden", "0"], "argument --hidden: must be positive integers, got '0'"),
    (["--dataset", "nope"], "argument --dataset: invalid choice: 'nope'"),
    (["--batch-size", "0"], "argument --batch-size: must be a positive integer, got '0'"),
    (["--activation", "swish"], "argument --activation: invalid choice: 'swish'"),
    (["--epochs", "3"], "unrecognized arguments: --epochs 3"),  # a training option, not a drawing one
])
def test_graph_refuses_bad_options_in_one_line_and_writes_nothing(graph_cli, tmp_path, args, message):
    result = graph_cli("--dataset", "iris", *args)
    assert result.code == 2
    assert re.match(r"wengert( graph)?: error: ", result.line) and message in result.line
    assert not any(tmp_path.iterdir())


def test_graph_refuses_an_out_that_is_a_file(graph_cli, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = graph_cli("--dataset", "iris", "--out", tmp_path / "notes.txt")
    assert result.code == 2
    assert result.line == f"wengert: {tmp_path / 'notes.txt'} is a file, not a folder: the pictures go in a folder; " \
                          "choose another --out"
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_train_compile_gives_the_eager_run(cli, tmp_path):
    assert cli("--dataset", "iris", "--epochs", 2, "--out", "eager").code == 0
    assert cli("--dataset", "iris", "--epochs", 2, "--out", "compiled", "--compile").code == 0
    eager, compiled = (json.loads((tmp_path / name / "summary.json").read_text()) for name in ("eager", "compiled"))
    assert compiled["test_accuracy"] == eager["test_accuracy"] and compiled["test_loss"] == eager["test_loss"]


def test_train_compile_with_dropout_gives_the_eager_run(cli, tmp_path):
    for name, flags in (("eager", ()), ("compiled", ("--compile",))):
        assert cli("--dataset", "iris", "--epochs", 2, "--dropout", 0.5, "--out", name, *flags).code == 0
    eager, compiled = (json.loads((tmp_path / name / "summary.json").read_text()) for name in ("eager", "compiled"))
    assert compiled["test_loss"] == eager["test_loss"]
