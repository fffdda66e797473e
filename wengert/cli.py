"""``wengert train``: train a model on a named dataset from the command line.

    wengert train                                   # an MLP on digits, in seconds
    wengert train --dataset mnist --hidden 256 128 --epochs 15
    wengert train --resume runs/digits-mlp --epochs 30   # continue a run
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from . import checkpoint
from .core.errors import WengertError
from .training import ACTIVATIONS, OPTIMIZERS, Config, train

DATASETS = ("digits", "iris", "mnist")
# Where an option is not given, a dataset may pick its own default: iris has 108 training
# samples (few steps per epoch, so a larger step); mnist's 784 inputs want a wider layer.
DATASET_DEFAULTS = {"iris": {"lr": 1e-2}, "mnist": {"hidden": [256], "epochs": 12}}


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="wengert", description="wengert: a deep-learning framework you can read.")
    commands = main.add_subparsers(dest="command", required=True)
    run = commands.add_parser("train", help="train a model on a dataset",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    defaults = Config()
    # Options default to None so that, on --resume, only the ones given override the saved config.
    run.add_argument("--dataset", choices=DATASETS,
                     help=f"dataset to train on (default {defaults.dataset}); iris defaults to --lr 0.01, "
                          "mnist to --hidden 256 --epochs 12")
    run.add_argument("--model", choices=["mlp"], help="model family (default mlp)")
    run.add_argument("--hidden", type=int, nargs="+", metavar="SIZE",
                     help=f"hidden layer sizes (default {' '.join(map(str, defaults.hidden))})")
    run.add_argument("--activation", choices=sorted(ACTIVATIONS), help=f"default {defaults.activation}")
    run.add_argument("--dropout", type=float, help=f"dropout after each hidden layer (default {defaults.dropout})")
    run.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help=f"default {defaults.optimizer}")
    run.add_argument("--lr", type=float, help=f"learning rate (default {defaults.lr})")
    run.add_argument("--momentum", type=float, help=f"for sgd and rmsprop (default {defaults.momentum})")
    run.add_argument("--weight-decay", type=float, help=f"default {defaults.weight_decay}")
    run.add_argument("--epochs", type=int, help=f"default {defaults.epochs}")
    run.add_argument("--batch-size", type=int, help=f"default {defaults.batch_size}")
    run.add_argument("--seed", type=int, help=f"default {defaults.seed}")
    run.add_argument("--allow-nonfinite", action="store_true", default=None,
                     help="keep training when the loss becomes NaN or infinite")
    run.add_argument("--out", type=Path, help="output folder (default: a new runs/DATASET-MODEL[-N])")
    run.add_argument("--resume", type=Path, metavar="DIR", help="continue the run saved in DIR")
    run.add_argument("--overwrite", action="store_true", help="replace a checkpoint already in --out")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    return main


def _fresh_folder(base: Path) -> Path:
    """``base``, or ``base-2``, ``base-3``...: the first that holds no checkpoint (never overwrite one)."""
    candidate, number = base, 1
    while (candidate / checkpoint.FILENAME).exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    given = {field.name: getattr(args, field.name) for field in fields(Config)
             if getattr(args, field.name, None) is not None}
    try:
        if args.resume is not None:
            folder = args.out or args.resume
            summary = train(Config(), folder, resume_from=args.resume, overrides=given, progress=not args.quiet)
        else:
            config = Config(**{**DATASET_DEFAULTS.get(given.get("dataset", Config.dataset), {}), **given})
            if args.out is None:
                folder = _fresh_folder(Path("runs") / f"{config.dataset}-{config.model}")
            elif (args.out / checkpoint.FILENAME).exists() and not args.overwrite:
                print(f"wengert: {args.out} already holds a checkpoint; pass --resume {args.out} to continue it, "
                      "--overwrite to replace it, or another --out", file=sys.stderr)
                return 2
            else:
                folder = args.out
            summary = train(config, folder, progress=not args.quiet)
    except (WengertError, ImportError) as error:
        print(f"wengert: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nwengert: interrupted; the last epoch's checkpoint is kept", file=sys.stderr)
        return 130
    print(f"test accuracy {summary['test_accuracy']:.4f} (loss {summary['test_loss']:.4f}) after "
          f"{summary['epochs']} epochs in {summary['seconds']:.1f} s")
    print(f"checkpoint: {summary['checkpoint']}\ncurves:     {summary['curves']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
