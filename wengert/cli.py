"""``wengert train``: train a model on a named dataset from the command line; ``wengert graph``: draw it.

    wengert train                                   # an MLP on digits, in seconds
    wengert train --dataset mnist --hidden 256 128 --epochs 15
    wengert train --resume runs/digits-mlp --epochs 30   # continue a run
    wengert graph --hidden 64 32 --backward         # the loss's graph and its backward pass, as pictures

Every option is checked before anything is trained or written; a problem is one line on stderr
(exit 2 for a request that cannot be carried out as given, 1 for a failure, 130 for Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from . import distributed, viz
from .core.errors import WengertError
from .data import DATASET_NAMES, load_dataset
from .models import MODELS
from .nn import functional as F
from .training import (
    ACTIVATIONS,
    CHANGEABLE,
    DISTRIBUTED_MODES,
    LIMITS,
    OPTIMIZERS,
    SCHEDULES,
    Config,
    UsageError,
    launched_by_mpiexec,
    momentum_problem,
    option_name,
    run_folder,
    shown,
    start,
    train,
)

# Where an option is not given, a dataset may pick its own default: iris has 108 training
# samples (few steps per epoch, so a larger step); mnist's 784 inputs want a wider layer.
DATASET_DEFAULTS = {"iris": {"lr": 1e-2}, "mnist": {"hidden": [256], "epochs": 12}}


def _checked(name: str, convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` for config field ``name``: ``convert``, then ``LIMITS[name]`` (a bad value is
    refused before anything runs, naming the option and what it allows)."""
    allowed, allowed_text = LIMITS[name]

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not allowed([value] if name == "hidden" else value):  # hidden's type is per layer
            raise argparse.ArgumentTypeError(f"must be {allowed_text}, got {text!r}")
        return value

    return parse


def _default(name: str) -> str:
    """Help text for the default of config field ``name``, with the datasets that pick their own."""
    defaults = [f"default {shown(getattr(Config(), name))}"]
    defaults += [f"{dataset} {shown(own[name])}" for dataset, own in DATASET_DEFAULTS.items() if name in own]
    return "; ".join(defaults)


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="wengert", description="wengert: a deep-learning framework you can read.")
    commands = main.add_subparsers(dest="command", required=True)
    changeable = ", ".join(map(option_name, CHANGEABLE))
    run = commands.add_parser(
        "train", help="train a model on a dataset",
        description="Train a model on a dataset, checkpointing every epoch into a run folder.",
        epilog=f"With --resume, options not given keep the run's values; {changeable} may change, "
               "the others may not.")
    # Options default to None so that, on --resume, only the ones given override the saved config.
    _add_model_options(run, "dataset to train on")
    run.add_argument("--dropout", type=_checked("dropout", float), metavar="P",
                     help=f"dropout after each hidden layer, 0 <= P < 1 ({_default('dropout')})")
    run.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help=f"optimizer ({_default('optimizer')})")
    run.add_argument("--lr", type=_checked("lr", float), help=f"learning rate ({_default('lr')})")
    run.add_argument("--schedule", choices=SCHEDULES,
                     help=f"learning rate over the epochs: constant, or cosine-annealed from --lr to 0 "
                          f"({_default('schedule')})")
    run.add_argument("--momentum", type=_checked("momentum", float),
                     help=f"for sgd and rmsprop, 0 <= MOMENTUM < 1 ({_default('momentum')})")
    run.add_argument("--weight-decay", type=_checked("weight_decay", float),
                     help=f"L2 penalty ({_default('weight_decay')})")
    run.add_argument("--epochs", type=_checked("epochs", int), help=f"epochs in all ({_default('epochs')})")
    run.add_argument("--batch-size", type=_checked("batch_size", int),
                     help=f"samples per step ({_default('batch_size')})")
    run.add_argument("--seed", type=_checked("seed", int),
                     help=f"seed of the initial weights, dropout and shuffling ({_default('seed')})")
    run.add_argument("--allow-nonfinite", action=argparse.BooleanOptionalAction, default=None,
                     help="keep training when the loss becomes NaN or infinite (default: stop)")
    run.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                     help="compile the whole training step (forward, backward, optimizer step) with wg.compile: "
                          "traced once per batch shape, replayed as straight-line code; the same numbers "
                          "(default: eager)")
    run.add_argument("--distributed", choices=DISTRIBUTED_MODES,
                     help="under mpiexec, train on every process: ddp averages the gradients of each step "
                          "(DistributedDataParallel), ipm trains a replica per process and averages them every "
                          "--mix-every steps; --batch-size is the global batch, split across the processes; only "
                          "process 0 shows progress and writes the run (default: one process)")
    run.add_argument("--mix-every", type=_checked("mix_every", int), metavar="K",
                     help=f"for --distributed ipm: steps between averagings ({_default('mix_every')})")
    run.add_argument("--workers", type=int, metavar="N",
                     help="start N processes through the environment's mpiexec, as `mpiexec -n N wengert train "
                          "--distributed ddp ...` would (with --distributed ipm, that)")
    run.add_argument("--out", type=Path, metavar="DIR",
                     help="a new or empty folder for the run's files (default: a new runs/DATASET-MODEL[-N])")
    run.add_argument("--resume", type=Path, metavar="DIR",
                     help="continue the run saved in DIR (or in DIR/checkpoint.safetensors)")
    run.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    run.add_argument("--quiet", action="store_true", help="no progress bars")

    draw = commands.add_parser(
        "graph", help="draw the model's computation graph",
        description="Draw the graph of the loss of the model that `wengert train` builds with the same options "
                    "(each layer's ops in a labelled box), and with --backward its backward pass, as SVG and PNG.",
        epilog="Graphviz's dot program draws the pictures where it is installed; elsewhere they are drawn with "
               "grandalf and matplotlib.")
    _add_model_options(draw, "dataset whose features and classes size the model")
    draw.add_argument("--batch-size", type=_checked("batch_size", int),
                      help=f"rows of the example batch traced ({_default('batch_size')})")
    draw.add_argument("--backward", action="store_true", help="also draw the backward pass (a training step's)")
    draw.add_argument("--out", type=Path, metavar="DIR",
                      help="folder for the pictures, made if needed; pictures of the same names are replaced "
                           "(default: runs/graph-DATASET-MODEL)")
    return main


def _add_model_options(command: argparse.ArgumentParser, dataset_help: str) -> None:
    """The options that decide the model, shared by ``train`` and ``graph``."""
    command.add_argument("--dataset", choices=DATASET_NAMES, help=f"{dataset_help} ({_default('dataset')})")
    command.add_argument("--model", choices=["mlp", *MODELS], help=f"model family ({_default('model')}): an MLP "
                         "of --hidden sizes, or a convolutional network (wengert.models) for image datasets")
    command.add_argument("--hidden", type=_checked("hidden", int), nargs="+", metavar="SIZE",
                         help=f"hidden layer sizes ({_default('hidden')})")
    command.add_argument("--activation", choices=sorted(ACTIVATIONS),
                         help=f"activation after each hidden layer ({_default('activation')})")


def _fresh_folder(base: Path) -> Path:
    """``base``, or ``base-2``, ``base-3``...: the first that does not exist or is an empty folder."""
    candidate, number = base, 1
    while candidate.exists() and not (candidate.is_dir() and not any(candidate.iterdir())):
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate


def _with_notes(error: BaseException) -> str:
    return " ".join(filter(None, [str(error), *getattr(error, "__notes__", [])]))


GRAPH_OPTIONS = ("dataset", "model", "hidden", "activation", "batch_size")


def _draw_graphs(args: argparse.Namespace) -> list[Path]:
    """``wengert graph``: trace the loss of the model ``train`` would build on one batch of the dataset and
    draw it (and its backward pass) into ``args.out``; returns the files written."""
    given = {name: getattr(args, name) for name in GRAPH_OPTIONS if getattr(args, name) is not None}
    own = {key: value for key, value in DATASET_DEFAULTS.get(given.get("dataset", Config.dataset), {}).items()
           if key in GRAPH_OPTIONS}
    config = Config(**{**own, **given})
    folder = args.out or Path("runs") / f"graph-{config.dataset}-{config.model}"
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file, not a folder: the pictures go in a folder; choose another --out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot write in {folder}: {error.strerror or error}") from None
    splits = load_dataset(config.dataset)
    model = start(config, splits.num_features, splits.num_classes).model  # as train starts it, seeded
    features, labels = splits.train.tensors
    rows = min(config.batch_size, len(splits.train))
    feed = {"x": features.data[:rows], "y": labels.data[:rows]}
    graph = viz.trace(lambda x, y: F.cross_entropy(model(x), y), *feed.values(), names=list(feed), modules=model)
    sizes = "-".join(map(str, [splits.num_features, *config.hidden, splits.num_classes]))
    name = f"{config.dataset}: {config.model} {sizes}, {config.activation}"
    # the values (and, for the loss, the gradients) of the first training batch at the initial weights
    pictures = [("forward", graph, feed, f"{name}: cross-entropy loss of the first batch")]
    if args.backward:
        backward = graph.backward_graph(wrt=list(graph.parameters))  # a training step's: no gradient for the batch
        pictures.append(("backward", backward, {**feed, "df": backward.examples["df"]},  # df = 1, as the loss's dtype
                         f"{name}: backward pass of the loss"))
    engine = "graphviz" if viz.graphviz_available() else "matplotlib"
    if engine == "matplotlib":
        print(f"wengert: note: {viz.GRAPHVIZ_HINT}", file=sys.stderr)
    return [viz.draw(target, folder / f"{stem}.{suffix}", feed=values, title=title, engine=engine)
            for stem, target, values, title in pictures for suffix in viz.FORMATS]


def _graph(args: argparse.Namespace) -> int:
    try:
        written = _draw_graphs(args)
    except UsageError as error:
        print(f"wengert: {error}", file=sys.stderr)
        return 2
    except (WengertError, ImportError, OSError) as error:
        print(f"wengert: {_with_notes(error)}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def _launch_workers(args: argparse.Namespace, argv: list[str]) -> int:
    """``wengert train --workers N ...``: the same command on N processes through mpiexec, each with an
    equal share of the machine's cores for its BLAS threads (unless the environment sets them)."""
    if args.workers < 1:
        raise UsageError(f"--workers must be a positive integer, got {args.workers}")
    rest, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token == "--workers":
            skip = True
        elif not token.startswith("--workers="):
            rest.append(token)
    if args.distributed is None:
        rest += ["--distributed", "ddp"]
    try:
        command = distributed.mpiexec_command(args.workers, "-m", "wengert", *rest)
    except FileNotFoundError as error:
        raise UsageError(str(error)) from None
    threads = str(max(1, (os.cpu_count() or 1) // args.workers))
    environment = {"OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads, **os.environ}
    return subprocess.run(command, env=environment).returncode


def _rank() -> int:
    return distributed.get_rank() if distributed.is_initialized() else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    if args.command == "graph":
        return _graph(args)
    if args.workers is not None and not launched_by_mpiexec():
        try:
            return _launch_workers(args, argv)
        except UsageError as error:
            print(f"wengert: {error}", file=sys.stderr)
            return 2
    given = {item.name: getattr(args, item.name) for item in fields(Config)
             if getattr(args, item.name, None) is not None}
    try:
        if args.resume is not None:
            source = run_folder(args.resume)
            summary = train(Config(), args.out or source, resume_from=source, overrides=given,
                            progress=not args.quiet, overwrite=args.overwrite)
        else:
            config = Config(**{**DATASET_DEFAULTS.get(given.get("dataset", Config.dataset), {}), **given})
            if "momentum" in given and momentum_problem(config.optimizer):
                raise UsageError(momentum_problem(config.optimizer))
            folder = args.out or _fresh_folder(Path("runs") / f"{config.dataset}-{config.model}")
            summary = train(config, folder, progress=not args.quiet, overwrite=args.overwrite)
    except UsageError as error:  # in a distributed run, every process finds it: process 0 says it
        if _rank() == 0:
            print(f"wengert: {error}", file=sys.stderr)
        return 2
    except (WengertError, ImportError) as error:
        rank = _rank()
        print(f"wengert: {'' if rank == 0 else f'process {rank}: '}{_with_notes(error)}", file=sys.stderr)
        distributed.abort(1)  # the others may be waiting for this process in a collective
        return 1
    except KeyboardInterrupt as interrupt:
        # \n: end the progress bar's line first
        if _rank() == 0:
            print(f"\nwengert: interrupted. {_with_notes(interrupt) or 'Training had not begun; nothing was written.'}",
                  file=sys.stderr)
        distributed.abort(130)
        return 130
    if _rank() != 0:
        return 0
    print(f"test accuracy {summary['test_accuracy']:.4f} (loss {summary['test_loss']:.4f}) after "
          f"{summary['epochs']} epochs in {summary['seconds']:.1f} s")
    if summary["changed"]:
        print("changed on resume: " + ", ".join(f"{name}: {shown(old)} -> {shown(new)}"
                                                for name, (old, new) in summary["changed"].items()))
    for name in ("checkpoint", "curves", "summary"):
        if Path(summary[name]).is_file():  # never name a file that is not there
            print(f"{name + ':':12}{summary[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
