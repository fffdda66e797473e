"""The training loop behind ``wengert train``: build a model, fit it with minibatches, evaluate,
checkpoint every epoch, and plot the curves.

Every run is a function of its config: the same config gives the same weights, and a run
resumed from its last checkpoint ends where the uninterrupted run ends, because a checkpoint
holds the model, the optimizer, the epoch and both random generators' states.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import checkpoint, nn, optim
from .core.creation import Generator, default_generator, manual_seed
from .core.errors import WengertError
from .core.grad_mode import no_grad
from .data import DataLoader, load_dataset
from .nn import functional as F

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU}
OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop,
              "adagrad": optim.Adagrad}


class TrainingError(WengertError):
    """Training cannot go on (a non-finite loss, say); the message says where and why."""


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
    momentum: float = 0.9
    weight_decay: float = 0.0
    epochs: int = 20
    batch_size: int = 64
    seed: int = 0
    allow_nonfinite: bool = False


def build_model(config: Config, num_features: int, num_classes: int) -> nn.Module:
    """An MLP: Linear layers of ``config.hidden`` sizes with the activation (and dropout) between."""
    if config.model != "mlp":
        raise TrainingError(f"unknown model {config.model!r}; known: mlp")
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


def build_optimizer(config: Config, parameters: Any) -> optim.Optimizer:
    if config.optimizer not in OPTIMIZERS:
        raise TrainingError(f"unknown optimizer {config.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
    options: dict[str, Any] = {"lr": config.lr, "weight_decay": config.weight_decay}
    if config.optimizer in ("sgd", "rmsprop"):
        options["momentum"] = config.momentum
    return OPTIMIZERS[config.optimizer](parameters, **options)


@dataclass
class Run:
    """A model being trained, with everything needed to continue it."""

    config: Config
    model: nn.Module
    optimizer: optim.Optimizer
    loader_generator: Generator
    epoch: int = 0  # epochs completed
    step: int = 0
    history: dict[str, list[float]] = field(default_factory=lambda: {
        "train_loss": [], "train_accuracy": [], "val_loss": [], "val_accuracy": []})

    def metadata(self) -> dict:
        return {"config": asdict(self.config), "epoch": self.epoch, "step": self.step, "history": self.history,
                "rng": {"default": default_generator.get_state(), "loader": self.loader_generator.get_state()}}


def start(config: Config, num_features: int, num_classes: int) -> Run:
    manual_seed(config.seed)  # the initial weights and dropout masks come from this
    model = build_model(config, num_features, num_classes)
    return Run(config, model, build_optimizer(config, model.parameters()), Generator(config.seed + 1))


def resume(folder: str | Path, overrides: dict | None = None) -> tuple[Run, Any]:
    """The run saved in ``folder``, ready to continue (``overrides``: config fields to change,
    such as more epochs; a changed architecture is refused when the weights are loaded)."""
    record = checkpoint.read(folder)
    saved = record["metadata"]
    config = Config(**{**saved["config"], **(overrides or {})})
    splits = load_dataset(config.dataset)
    run = start(config, splits.num_features, splits.num_classes)
    run.model.load_state_dict(record["model"])
    run.optimizer.load_state_dict(record["optimizer"])
    run.epoch, run.step, run.history = saved["epoch"], saved["step"], saved["history"]
    default_generator.set_state(saved["rng"]["default"])
    run.loader_generator.set_state(saved["rng"]["loader"])
    return run, splits


def evaluate(model: nn.Module, loader: DataLoader) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` over ``loader``, without recording a graph."""
    was_training = model.training
    model.eval()
    total_loss = correct = count = 0.0
    with no_grad():
        for features, labels in loader:
            logits = model(features)
            total_loss += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += (logits.argmax(axis=-1) == labels).sum().item()
            count += len(labels)
    model.train(was_training)
    return total_loss / max(count, 1), correct / max(count, 1)


def fit(run: Run, splits: Any, folder: str | Path | None = None, progress: bool = True) -> Run:
    """Train ``run`` until ``config.epochs``, checkpointing into ``folder`` after every epoch."""
    from tqdm import tqdm

    config = run.config
    train_loader = DataLoader(splits.train, batch_size=config.batch_size, shuffle=True,
                              generator=run.loader_generator)
    val_loader = DataLoader(splits.val, batch_size=1024)
    last_finite = (None, None)
    for epoch in range(run.epoch, config.epochs):
        width = len(str(config.epochs))
        bar = tqdm(total=len(train_loader), desc=f"epoch {epoch + 1:{width}d}/{config.epochs}", disable=not progress,
                   leave=True, dynamic_ncols=True, unit="batch")
        total_loss = correct = count = 0.0
        for features, labels in train_loader:
            logits = run.model(features)
            loss = F.cross_entropy(logits, labels)
            value = loss.item()
            run.step += 1
            if not math.isfinite(value):
                if not config.allow_nonfinite:
                    step, finite = last_finite
                    raise TrainingError(
                        f"the loss became {value} at step {run.step} (epoch {epoch + 1}); the last finite loss "
                        + (f"was {finite:.6g} at step {step}" if step else "was never seen")
                        + ". Lower the learning rate, or pass --allow-nonfinite to go on anyway. "
                        f"The last checkpoint (epoch {run.epoch}) is kept.")
            else:
                last_finite = (run.step, value)
            run.optimizer.zero_grad()
            loss.backward()
            run.optimizer.step()
            batch = len(labels)
            total_loss += value * batch
            correct += (logits.detach().argmax(axis=-1) == labels).sum().item()
            count += batch
            bar.set_postfix(loss=f"{total_loss / count:.4f}", acc=f"{correct / count:.3f}", refresh=False)
            bar.update()
        val_loss, val_accuracy = evaluate(run.model, val_loader)
        run.epoch = epoch + 1
        for key, value in (("train_loss", total_loss / count), ("train_accuracy", correct / count),
                           ("val_loss", val_loss), ("val_accuracy", val_accuracy)):
            run.history[key].append(value)
        bar.set_postfix(loss=f"{total_loss / count:.4f}", acc=f"{correct / count:.3f}",
                        val_loss=f"{val_loss:.4f}", val_acc=f"{val_accuracy:.3f}")
        bar.close()
        if folder is not None:
            checkpoint.save(folder, run.model, run.optimizer, run.metadata())
    return run


def plot(history: dict, path: str | Path, title: str = "") -> Path:
    """Training and validation loss and accuracy per epoch, as a PNG."""
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
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def train(config: Config, folder: str | Path, resume_from: str | Path | None = None, overrides: dict | None = None,
          progress: bool = True) -> dict:
    """Run (or resume) a training job end to end; write the checkpoint, the curves and a summary
    into ``folder``. Returns the summary (test accuracy, times, paths)."""
    folder = Path(folder)
    started = time.perf_counter()
    if resume_from is not None:
        run, splits = resume(resume_from, overrides)
    else:
        splits = load_dataset(config.dataset)
        run = start(config, splits.num_features, splits.num_classes)
    fit(run, splits, folder, progress)
    test_loss, test_accuracy = evaluate(run.model, DataLoader(splits.test, batch_size=1024))
    summary = {
        "dataset": run.config.dataset, "epochs": run.epoch, "steps": run.step,
        "test_loss": test_loss, "test_accuracy": test_accuracy,
        "final_val_accuracy": run.history["val_accuracy"][-1] if run.history["val_accuracy"] else None,
        "seconds": time.perf_counter() - started,
        "checkpoint": str(folder / checkpoint.FILENAME), "curves": str(folder / "curves.png"),
    }
    if run.history["train_loss"]:
        plot(run.history, folder / "curves.png", f"{run.config.dataset}: {run.config.model} {run.config.hidden}")
    checkpoint.atomic_write(folder / "summary.json", json.dumps(summary, indent=2).encode())
    return summary
