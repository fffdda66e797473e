"""The training loop behind ``wengert train``: build a model, fit it with minibatches, evaluate,
checkpoint every epoch, and plot the curves.

Every run is a function of its config: the same config gives the same weights, and a run
resumed from its last checkpoint ends where the uninterrupted run ends, because a checkpoint
holds the model, the optimizer, the epoch and both random generators' states. A resumed run may
change the options in ``CHANGEABLE`` (the summary and the checkpoint record each change); the
others decide the model's shape or its random streams, and are refused.

A run's folder holds only what the run wrote (``RUN_FILES``): ``train`` refuses, before anything
is trained, a path that is a file, a folder holding anything else, or a folder it cannot write.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy

from . import checkpoint, distributed, nn, optim, storage
from .checkpoint import CheckpointError
from .compile import compile as compile_function
from .core.creation import Generator, default_generator, manual_seed
from .core.errors import WengertError
from .core.grad_mode import no_grad
from .core.tensor import Tensor
from .data import DATASET_NAMES, DataLoader, DistributedSampler, load_dataset
from .distributed.objects import broadcast_object_list
from .models import MODELS, image_model
from .nn import functional as F

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU}
OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop,
              "adagrad": optim.Adagrad}
MOMENTUM_OPTIMIZERS = ("sgd", "rmsprop")
SCHEDULES = ("constant", "cosine")  # the learning rate over the epochs: --lr throughout, or cosine-annealed to 0
DISTRIBUTED_MODES = ("ddp", "ipm")
# What a resumed run may change; the other options decide the model's shape or its random streams.
CHANGEABLE = ("lr", "schedule", "momentum", "weight_decay", "epochs", "batch_size", "allow_nonfinite", "compile")
ADDED_LATER = ("compile", "distributed", "mix_every", "schedule")  # older checkpoints lack these: they take the default
RUN_FILES = (checkpoint.FILENAME, "checkpoint.json", "curves.png", "summary.json")
HISTORY = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


class TrainingError(WengertError):
    """Training cannot go on (a non-finite loss, say); the message says where and why."""


class UsageError(TrainingError):
    """A request that cannot be carried out as given (an option out of range, a folder that is not a
    run's, a resume that would change the model); raised before anything is trained or written."""


@dataclass
class Config:
    """Everything that decides a run's result."""

    dataset: str = "digits"
    model: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [128])
    activation: str = "relu"
    dropout: float = 0.0
    optimizer: str = "adam"
    lr: float = 1e-3
    schedule: str = "constant"
    momentum: float = 0.9
    weight_decay: float = 0.0
    epochs: int = 20
    batch_size: int = 64
    seed: int = 0
    allow_nonfinite: bool = False
    compile: bool = False  # train through wg.compile (the same numbers, less overhead per op)
    distributed: str | None = None  # under mpiexec: "ddp" (gradients averaged) or "ipm" (parameters mixed)
    mix_every: int = 5  # for "ipm": average the replicas every this many steps (and at every epoch's end)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _one_of(names: Any) -> tuple[Callable[[Any], bool], str]:
    return (lambda value: isinstance(value, str) and value in names), "one of " + ", ".join(names)


# Config field -> (whether a value is allowed, what is allowed): for the command line's options and
# for the configs that checkpoints bring back.
LIMITS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "dataset": _one_of(DATASET_NAMES),
    "model": _one_of(("mlp", *MODELS)),
    "hidden": (lambda sizes: isinstance(sizes, list) and all(_integer(n) and n >= 1 for n in sizes),
               "positive integers"),
    "activation": _one_of(tuple(ACTIVATIONS)),
    "dropout": (lambda p: _number(p) and 0 <= p < 1, "a number at least 0 and below 1"),
    "optimizer": _one_of(tuple(OPTIMIZERS)),
    "lr": (lambda lr: _number(lr) and 0 < lr < math.inf, "a positive finite number"),
    "schedule": _one_of(SCHEDULES),
    "momentum": (lambda m: _number(m) and 0 <= m < 1, "a number at least 0 and below 1"),
    "weight_decay": (lambda wd: _number(wd) and 0 <= wd < math.inf, "a finite number, 0 or more"),
    "epochs": (lambda n: _integer(n) and n >= 1, "a positive integer"),
    "batch_size": (lambda n: _integer(n) and n >= 1, "a positive integer"),
    "seed": (lambda n: _integer(n) and n >= 0, "an integer, 0 or more"),
    "allow_nonfinite": (lambda flag: isinstance(flag, bool), "true or false"),
    "compile": (lambda flag: isinstance(flag, bool), "true or false"),
    "distributed": (lambda mode: mode is None or mode in DISTRIBUTED_MODES, "one of " + ", ".join(("ddp", "ipm"))),
    "mix_every": (lambda n: _integer(n) and n >= 1, "a positive integer"),
}


def config_problems(values: dict) -> list[str]:
    """What is wrong with a config given as a dict: unknown or missing fields, values out of ``LIMITS``."""
    names = [item.name for item in fields(Config)]
    problems = [f"unknown config key {key!r}" for key in values if key not in names]
    problems += [f"config key {name!r} is missing" for name in names
                 if name not in values and name not in ADDED_LATER]
    problems += [f"config {name} must be {LIMITS[name][1]}, got {values[name]!r}"
                 for name in names if name in values and not LIMITS[name][0](values[name])]
    if not problems and values.get("compile") and values.get("distributed") == "ddp":
        problems.append("--compile cannot replay DistributedDataParallel's all-reduces, started from gradient hooks "
                        "during backward: use --distributed ipm, or train without --compile")
    return problems


def momentum_problem(optimizer: str) -> str | None:
    """Why ``--momentum`` would be ignored by ``optimizer`` (None where it is used)."""
    if optimizer in MOMENTUM_OPTIMIZERS:
        return None
    return f"--momentum applies to {' and '.join(MOMENTUM_OPTIMIZERS)} only; {optimizer} does not use it"


def build_model(config: Config, num_features: int, num_classes: int) -> nn.Module:
    """An MLP: Linear layers of ``config.hidden`` sizes with the activation (and dropout) between; or
    a convolutional model of ``wengert.models`` (lenet5, resnet) for datasets of square images."""
    if config.model in MODELS:
        try:
            return image_model(config.model, num_features, num_classes)
        except WengertError as error:
            raise TrainingError(f"--model {config.model}: {error}") from None
    if config.model != "mlp":
        raise TrainingError(f"unknown model {config.model!r}; known: mlp, {', '.join(MODELS)}")
    if config.activation not in ACTIVATIONS:
        raise TrainingError(f"unknown activation {config.activation!r}; known: {', '.join(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    sizes = [num_features, *config.hidden]
    for fan_in, fan_out in itertools.pairwise(sizes):
        layers += [nn.Linear(fan_in, fan_out), ACTIVATIONS[config.activation]()]
        if config.dropout:
            layers.append(nn.Dropout(config.dropout))
    layers.append(nn.Linear(sizes[-1], num_classes))
    return nn.Sequential(*layers)


def optimizer_options(config: Config) -> dict[str, Any]:
    """The optimizer options that ``config`` sets (the rest keep the optimizer's defaults)."""
    options: dict[str, Any] = {"lr": config.lr, "weight_decay": config.weight_decay}
    if config.optimizer in MOMENTUM_OPTIMIZERS:
        options["momentum"] = config.momentum
    return options


def epoch_lr(config: Config, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (counted from 0): ``lr`` throughout, or for "cosine"
    ``lr * (1 + cos(pi * epoch / epochs)) / 2`` (PyTorch's CosineAnnealingLR stepped once an epoch), so
    that the last epochs take small steps and the weights settle. A function of the epoch and the
    config alone: a resumed run goes on along the same curve, or, given more epochs, along the
    longer curve from the epoch it is at."""
    if config.schedule == "cosine":
        return config.lr * (1 + math.cos(math.pi * epoch / config.epochs)) / 2
    return config.lr


def build_optimizer(config: Config, parameters: Any) -> optim.Optimizer:
    if config.optimizer not in OPTIMIZERS:
        raise TrainingError(f"unknown optimizer {config.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[config.optimizer](parameters, **optimizer_options(config))


@dataclass
class Run:
    """A model being trained, with everything needed to continue it."""

    config: Config
    model: nn.Module
    optimizer: optim.Optimizer
    loader_generator: Generator
    epoch: int = 0  # epochs completed
    step: int = 0
    history: dict[str, list[float]] = field(default_factory=lambda: {key: [] for key in HISTORY})
    # one entry per resume that changed options: {"at_epoch": 20, "changed": {"lr": [0.001, 0.01]}}
    resumes: list[dict] = field(default_factory=list)
    step_function: Callable[[Any, Any], tuple] | None = None  # (features, labels) -> (loss, logits): one step
    replica: nn.Module | None = None  # with --distributed ddp: the model wrapped in DistributedDataParallel
    mixer: Any = None  # with --distributed ipm: the distributed.ParameterMixing of the model

    def __post_init__(self) -> None:
        self.step_function = training_step(self)

    def metadata(self) -> dict:
        return {"config": asdict(self.config), "epoch": self.epoch, "step": self.step, "history": self.history,
                "rng": {"default": default_generator.get_state(), "loader": self.loader_generator.get_state()},
                "resumes": self.resumes}


def training_step(run: Run) -> Callable[[Any, Any], tuple]:
    """(features, labels) -> (the batch's mean cross-entropy, its logits), after one optimizer step.

    Eagerly, the weights are left alone when the loss is not finite and the run does not allow that.
    With ``--compile`` the whole step (forward, backward, the optimizer's step, batch norm's running
    statistics) goes through ``wg.compile``: the same numbers, traced once per batch shape and replayed
    with less overhead per op. A replay cannot branch on the loss, so it steps; the run then stops
    with the same error, and the checkpoint on disk is the last epoch's either way."""
    config = run.config

    def step(features: Any, labels: Any) -> tuple:
        logits = (run.replica or run.model)(features)
        loss = F.cross_entropy(logits, labels)
        if config.compile or math.isfinite(loss.item()) or config.allow_nonfinite:
            run.optimizer.zero_grad()
            loss.backward()
            run.optimizer.step()
        return loss, logits

    return compile_function(step) if config.compile else step


def start(config: Config, num_features: int, num_classes: int) -> Run:
    manual_seed(config.seed)  # the initial weights and dropout masks come from this
    model = build_model(config, num_features, num_classes)
    return Run(config, model, build_optimizer(config, model.parameters()), Generator(config.seed + 1))


# --- run folders --------------------------------------------------------------------------------

def run_folder(path: str | Path) -> Path:
    """The run folder that ``path`` names: a folder ``wengert train`` wrote, or the checkpoint file in it."""
    path = Path(path)
    if path.is_file():
        if path.name != checkpoint.FILENAME:
            raise UsageError(f"{path} is a file, not a run: --resume takes a run folder or the "
                             f"{checkpoint.FILENAME} in it")
        return path.parent
    if not path.is_dir():
        raise UsageError(f"no run at {path}: --resume takes a folder that wengert train wrote")
    if not (path / checkpoint.FILENAME).is_file():
        raise UsageError(f"{path} holds no {checkpoint.FILENAME}: not a wengert run folder")
    return path


def prepare_folder(folder: Path, overwrite: bool = False, resuming: bool = False) -> None:
    """Create ``folder`` for a run's files and check that it can be written; refuse (UsageError) a path
    that is a file, a folder holding anything but a wengert run, or another run's folder (unless
    ``overwrite``; ``resuming``: it is the run being continued). Nothing the user made is overwritten."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file, not a folder: a run's files go in a folder; choose another --out")
    names = sorted(entry.name for entry in folder.iterdir() if not storage.is_temporary(entry.name)) \
        if folder.is_dir() else []
    if names and not checkpoint.is_checkpoint(folder / checkpoint.FILENAME):
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise UsageError(f"{folder} holds files that are not a wengert run ({shown}); "
                         "choose a new or empty folder for --out")
    if names and not (overwrite or resuming):
        raise UsageError(f"{folder} already holds a run; pass --resume {shlex.quote(str(folder))} to continue it, "
                         "--overwrite to replace it, or another --out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".wengert-probe"  # written as checkpoints are: a folder that takes it takes them
        storage.atomic_write(probe, b"")
        probe.unlink()
    except OSError as error:
        raise UsageError(f"cannot write in {folder}: {error.strerror or error}") from None


def option_name(name: str) -> str:
    """The ``wengert train`` option for config field ``name``: ``--batch-size`` for batch_size."""
    return "--" + name.replace("_", "-")


def shown(value: Any) -> str:
    """A config value as the command line writes it: ``256 128`` for hidden [256, 128]."""
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def _flag(name: str, value: Any) -> str:
    """The ``wengert train`` option that sets config field ``name`` to ``value``."""
    if isinstance(value, bool):
        return option_name(name) if value else option_name(name).replace("--", "--no-", 1)
    return f"{option_name(name)} {shown(value)}"


def saved_state(folder: Path, config: Config, source: Path | None = None) -> str:
    """What ``folder`` holds after a run stopped, and the command that continues it with ``config``."""
    try:
        saved = checkpoint.read(folder / checkpoint.FILENAME)["metadata"]
        epoch, saved_config = saved["epoch"], saved["config"]
    except (CheckpointError, KeyError, TypeError):
        if source is not None and source.resolve() != folder.resolve():
            return f"Nothing was saved in {folder}; the run in {source} is unchanged."
        return f"No epoch was finished, so {folder} holds no checkpoint to resume."
    options = "".join(f" {_flag(name, getattr(config, name))}" for name in CHANGEABLE
                      if saved_config.get(name) != getattr(config, name))
    return (f"{folder / checkpoint.FILENAME} holds epoch {epoch} of {saved_config.get('epochs')}; continue with: "
            f"wengert train --resume {shlex.quote(str(folder))}{options}")


# --- resuming -----------------------------------------------------------------------------------

def _check_metadata(metadata: dict, source: Path) -> None:
    """Refuse (CheckpointError) training metadata of the wrong structure or types, before any use."""
    keys = {"config", "epoch", "step", "history", "rng"}
    problems = [f"unknown metadata key {key!r}" for key in sorted(set(metadata) - keys - {"resumes"})]
    problems += [f"metadata key {key!r} is missing" for key in sorted(keys - set(metadata))]
    if not problems:
        config, epoch, history, rng = (metadata[key] for key in ("config", "epoch", "history", "rng"))
        problems += config_problems(config) if isinstance(config, dict) else [f"config is {config!r}, not a mapping"]
        problems += [f"{key} is {metadata[key]!r}, not a count" for key in ("epoch", "step")
                     if not (_integer(metadata[key]) and metadata[key] >= 0)]
        if _integer(epoch) and not (isinstance(history, dict) and set(history) == set(HISTORY) and all(
                isinstance(values, list) and len(values) == epoch and all(map(_number, values))
                for values in history.values())):
            problems.append(f"history is not {', '.join(HISTORY)}, each a list of {epoch!r} numbers")
        if not (isinstance(rng, dict) and set(rng) == {"default", "loader"} and all(map(_rng_state, rng.values()))):
            problems.append("rng is not the default and loader generators' states")
        if not isinstance(metadata.get("resumes", []), list):
            problems.append(f"resumes is {metadata['resumes']!r}, not a list")
    if problems:
        raise CheckpointError(f"{source} is not a readable wengert checkpoint: " + "; ".join(problems))


def _rng_state(state: Any) -> bool:
    try:
        Generator(0).set_state(state)  # a scratch generator: the state is tried, not used
    except (TypeError, ValueError, KeyError):
        return False
    return True


def _resumed_config(saved: Config, overrides: dict, source: Path, epoch: int) -> tuple[Config, dict]:
    """The config to continue a run with, and what it changes (``{name: [old, new]}``); UsageError where
    an override would change the model, do nothing, or ask for no more epochs."""
    unknown = sorted(set(overrides) - {item.name for item in fields(Config)})
    if unknown:
        raise UsageError(f"unknown config fields {', '.join(unknown)}")
    fixed = [name for name, value in overrides.items() if name not in CHANGEABLE and value != getattr(saved, name)]
    if fixed:
        values = [f"{name.replace('_', ' ')} {shown(getattr(saved, name))}" for name in fixed if name != "dataset"]
        trained = " ".join([f"on {saved.dataset}"] * ("dataset" in fixed)
                           + [f"with {', '.join(values)}"] * bool(values))
        raise UsageError(f"the run in {source} was trained {trained}; {'/'.join(map(option_name, fixed))} cannot "
                         "change on resume (start a new run with another --out instead)")
    if "momentum" in overrides and momentum_problem(saved.optimizer):
        raise UsageError(momentum_problem(saved.optimizer))
    config = Config(**{**asdict(saved), **overrides})
    problems = config_problems(asdict(config))
    if problems:
        raise UsageError("; ".join(problems))
    if config.epochs <= epoch:
        raise UsageError(f"{source} already has {epoch} epochs; pass --epochs above {epoch} to train more")
    changed = {name: [getattr(saved, name), getattr(config, name)] for name in CHANGEABLE
               if getattr(saved, name) != getattr(config, name)}
    return config, changed


def _read_run(source: str | Path, overrides: dict | None) -> tuple[Path, dict, Config, dict]:
    """Everything needed to resume the run in ``source``, checked, without building anything:
    its folder, its checkpoint record, the config to continue with and what that changes."""
    folder = run_folder(source)
    record = checkpoint.read(folder / checkpoint.FILENAME)
    _check_metadata(record["metadata"], folder / checkpoint.FILENAME)
    config, changed = _resumed_config(Config(**record["metadata"]["config"]), overrides or {}, folder,
                                      record["metadata"]["epoch"])
    return folder, record, config, changed


def _restore(record: dict, config: Config, changed: dict, splits: Any, source: Path) -> Run:
    """The run that ``record`` saved, continuing with ``config``."""
    saved = record["metadata"]
    run = start(Config(**saved["config"]), splits.num_features, splits.num_classes)
    try:
        # The model comes from the saved config, so any key or shape it lacks is damage too.
        checkpoint.restore(record, run.model, run.optimizer, source)
    except (nn.StateDictError, ValueError) as error:
        raise CheckpointError(f"{source} is not a readable wengert checkpoint: {error}") from None
    run.config = config
    run.step_function = training_step(run)
    for group in run.optimizer.param_groups:  # the command line's options win over the saved ones
        group.update(optimizer_options(config))
    run.epoch, run.step, run.history = saved["epoch"], saved["step"], saved["history"]
    run.resumes = [*saved.get("resumes", []), *([{"at_epoch": run.epoch, "changed": changed}] if changed else [])]
    default_generator.set_state(saved["rng"]["default"])
    run.loader_generator.set_state(saved["rng"]["loader"])
    return run


def resume(source: str | Path, overrides: dict | None = None) -> tuple[Run, Any]:
    """The run saved in ``source`` (its folder or checkpoint file), ready to continue, and its dataset's
    splits. ``overrides``: config fields to change (only those in ``CHANGEABLE``, such as more epochs)."""
    folder, record, config, changed = _read_run(source, overrides)
    splits = load_dataset(config.dataset)
    return _restore(record, config, changed, splits, folder / checkpoint.FILENAME), splits


# --- the loop -----------------------------------------------------------------------------------

def _correct(logits: Any, labels: Any) -> int:
    """How many rows of ``logits`` (N, C) have their largest value at ``labels`` (N,)."""
    return int((logits.detach().argmax(axis=-1) == labels).sum().item())


def _evaluate_batch(model: nn.Module, features: Any, labels: Any) -> tuple[float, int]:
    logits = model(features)
    return F.cross_entropy(logits, labels, reduction="sum").item(), _correct(logits, labels)


def evaluate(model: nn.Module, loader: DataLoader) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` over ``loader``, without recording a graph."""
    was_training = model.training
    model.eval()
    total_loss = correct = count = 0.0
    try:
        with no_grad():
            for features, labels in loader:
                # A function per batch: its logits are gone before the next batch's are made.
                loss, right = _evaluate_batch(model, features, labels)
                total_loss, correct, count = total_loss + loss, correct + right, count + len(labels)
    finally:
        model.train(was_training)
    return total_loss / max(count, 1), correct / max(count, 1)


def _train_step(run: Run, features: Any, labels: Any) -> tuple[float, int]:
    """One minibatch step: the batch's mean loss and its correct predictions. The logits, the loss and
    the graph with its activations die when this returns: none of a step outlives it."""
    loss, logits = run.step_function(features, labels)
    if run.mixer is not None:
        run.mixer.step()
    return loss.item(), _correct(logits, labels)


def fit(run: Run, splits: Any, folder: str | Path | None = None, progress: bool = True) -> Run:
    """Train ``run`` until ``config.epochs``, checkpointing into ``folder`` (a folder) after every epoch.

    Distributed (``config.distributed``, under mpiexec): each rank trains on its shard, a
    ``config.batch_size // world_size`` slice of every global batch; the epoch's loss and accuracy are
    summed over the ranks, and only rank 0 validates, shows progress and writes (pass ``folder`` None
    elsewhere). Dropout masks come from a generator seeded per epoch and rank, so that a resumed run
    draws what the uninterrupted run drew without saving every rank's generator."""
    from tqdm import tqdm

    config = run.config
    rank, world = _rank_and_world(config)
    sampler = None
    if config.distributed:
        sampler = DistributedSampler(splits.train, num_replicas=world, rank=rank, shuffle=True, seed=config.seed)
        train_loader = DataLoader(splits.train, batch_size=config.batch_size // world, sampler=sampler)
    else:
        train_loader = DataLoader(splits.train, batch_size=config.batch_size, shuffle=True,
                                  generator=run.loader_generator)
    val_loader = DataLoader(splits.val, batch_size=1024)
    width = len(str(config.epochs))
    last_finite = (None, None)
    for epoch in range(run.epoch, config.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
            manual_seed(config.seed + 1_000_003 * (epoch + 1) + rank)
        if config.schedule != "constant":  # a constant rate is the optimizer's own, as built or as resumed
            for group in run.optimizer.param_groups:
                group["lr"] = epoch_lr(config, epoch)
        bar = tqdm(total=len(train_loader), desc=f"epoch {epoch + 1:{width}d}/{config.epochs}",
                   disable=not progress or rank != 0, leave=True, dynamic_ncols=True, unit="batch")
        total_loss = correct = count = 0.0
        for features, labels in train_loader:
            value, right = _train_step(run, features, labels)
            batch = len(labels)
            del features, labels  # the batch goes with its step (the loop would hold it through the next)
            run.step += 1
            if math.isfinite(value):
                last_finite = (run.step, value)
            elif not config.allow_nonfinite:
                step, finite = last_finite
                raise TrainingError(
                    f"the loss became {value} at step {run.step} (epoch {epoch + 1}"
                    + (f", rank {rank}" if world > 1 else "") + "); the last finite loss "
                    + (f"was {finite:.6g} at step {step}" if step else "was never seen")
                    + ". Lower the learning rate, or pass --allow-nonfinite to go on anyway.")
            total_loss += value * batch
            correct += right
            count += batch
            bar.set_postfix(loss=f"{total_loss / count:.4f}", acc=f"{correct / count:.3f}", refresh=False)
            bar.update()
        run.epoch = epoch + 1
        if sampler is not None:
            if run.mixer is not None:  # the replicas agree at every epoch's end: one checkpoint holds the run
                run.mixer.mix()
            total_loss, correct, count = _summed_over_ranks(total_loss, correct, count)
            if rank != 0:
                bar.close()
                continue
        val_loss, val_accuracy = evaluate(run.model, val_loader)
        for key, value in zip(HISTORY, (total_loss / count, correct / count, val_loss, val_accuracy)):
            run.history[key].append(value)
        bar.set_postfix(loss=f"{total_loss / count:.4f}", acc=f"{correct / count:.3f}",
                        val_loss=f"{val_loss:.4f}", val_acc=f"{val_accuracy:.3f}")
        bar.close()
        if folder is not None:
            checkpoint.save(Path(folder) / checkpoint.FILENAME, run.model, run.optimizer, run.metadata())
    return run


def _rank_and_world(config: Config) -> tuple[int, int]:
    """This process's rank and the number of processes: (0, 1) unless the run is distributed."""
    if not config.distributed:
        return 0, 1
    return distributed.get_rank(), distributed.get_world_size()


def _summed_over_ranks(*values: float) -> list[float]:
    totals = Tensor(numpy.asarray(values, dtype=numpy.float64))
    distributed.all_reduce(totals)
    return totals.data.tolist()


def plot(history: dict, path: str | Path, title: str = "") -> Path:
    """Training and validation loss and accuracy per epoch, as a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = range(1, len(history["train_loss"]) + 1)
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4))
    for axes, metric in ((loss_axes, "loss"), (accuracy_axes, "accuracy")):
        axes.plot(epochs, history[f"train_{metric}"], label="train")
        axes.plot(epochs, history[f"val_{metric}"], label="validation")
        axes.set_xlabel("epoch")
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.set_ylabel(metric)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle(title)
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=100)
    plt.close(figure)
    storage.atomic_write(path, image.getvalue())
    return Path(path)


def launched_by_mpiexec() -> bool:
    """Whether an MPI launcher started this process (it sets these variables in each process)."""
    return any(name in os.environ for name in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK"))


def _checked_request(config: Config, folder: Path, resume_from: str | Path | None, overrides: dict | None,
                     overwrite: bool, world: int) -> tuple:
    """(the run folder to resume or None, its checkpoint record, the config, what it changes), all checked
    (also against the number of processes, ``world``), with ``folder`` ready for the run's files; raises
    UsageError or CheckpointError before anything runs or is written."""
    source = record = None
    changed: dict = {}
    if resume_from is not None:
        source, record, config, changed = _read_run(resume_from, overrides)
    else:
        problems = config_problems(asdict(config))
        if problems:
            raise UsageError("; ".join(problems))
    if world > 1 and not config.distributed:
        raise UsageError(f"started on {world} processes (mpiexec) without --distributed: pass --distributed ddp "
                         "or ipm, or run one process")
    if config.distributed and config.batch_size % world:
        raise UsageError(f"--batch-size {config.batch_size} does not split across {world} processes: pass a "
                         f"multiple of {world} (each process takes batch-size / {world} of every step's batch)")
    prepare_folder(folder, overwrite, resuming=source is not None and source.resolve() == folder.resolve())
    return source, record, config, changed


def train(config: Config, folder: str | Path, resume_from: str | Path | None = None, overrides: dict | None = None,
          progress: bool = True, overwrite: bool = False) -> dict:
    """Run (or resume) a training job end to end; write the checkpoint, the curves and a summary
    into the folder ``folder``. Returns the summary (test accuracy, times, paths, what a resume changed).

    ``resume_from``: a run folder (or its checkpoint file) to continue, with ``overrides`` (config fields
    in ``CHANGEABLE``); ``config`` is then unused. ``overwrite``: ``folder`` may hold another run, to be
    replaced. Everything is checked before training (UsageError, CheckpointError). A stop (Ctrl-C, a
    non-finite loss) gets a note saying what ``folder`` holds and how to continue.
    """
    folder = Path(folder)
    started = time.perf_counter()
    distributed_run = config.distributed or (overrides or {}).get("distributed") or launched_by_mpiexec()
    rank = distributed.get_rank() if distributed_run else 0
    world = distributed.get_world_size() if distributed_run else 1
    # Rank 0 checks the request, reads the run to resume and prepares the folder; the others get what
    # it found (the folder and the checkpoint may be on its disk only) and write nothing, ever.
    found: list = [None, None]
    if rank == 0:
        try:
            found[1] = _checked_request(config, folder, resume_from, overrides, overwrite, world)
        except (UsageError, CheckpointError) as error:
            found[0] = error
    if distributed_run:
        broadcast_object_list(found)
    if found[0] is not None:
        raise found[0]
    source, record, config, changed = found[1]
    try:
        splits = load_dataset(config.dataset)
        if source is not None:
            run = _restore(record, config, changed, splits, source / checkpoint.FILENAME)
        else:
            run = start(config, splits.num_features, splits.num_classes)
        del record  # its arrays are loaded: do not hold a second copy through training
        if config.distributed == "ddp":
            run.replica = nn.parallel.DistributedDataParallel(run.model)
        elif config.distributed == "ipm":
            run.mixer = distributed.ParameterMixing(run.model, every=config.mix_every, optimizer=run.optimizer)
        if rank != 0:
            fit(run, splits, None, progress=False)
            return {"rank": rank, "epochs": run.epoch, "steps": run.step}
        first_epoch = run.epoch
        fit(run, splits, folder, progress)
        test_loss, test_accuracy = evaluate(run.model, DataLoader(splits.test, batch_size=1024))
        summary = {
            "dataset": run.config.dataset, "epochs": run.epoch, "steps": run.step,
            "test_loss": test_loss, "test_accuracy": test_accuracy,
            "final_val_accuracy": run.history["val_accuracy"][-1],
            "seconds": time.perf_counter() - started,
            "resumed_from": None if source is None else {"folder": str(source), "epoch": first_epoch},
            "changed": changed,
            "checkpoint": str(folder / checkpoint.FILENAME), "curves": str(folder / "curves.png"),
            "summary": str(folder / "summary.json"),
            "processes": world, "distributed": run.config.distributed,
        }
        described = f"{run.config.model} {run.config.hidden}" if run.config.model == "mlp" else run.config.model
        plot(run.history, folder / "curves.png", f"{run.config.dataset}: {described}")
        storage.atomic_write(folder / "summary.json", json.dumps(summary, indent=2).encode())
    except (KeyboardInterrupt, TrainingError) as stop:
        stop.add_note(saved_state(folder, config, source))
        raise
    return summary
