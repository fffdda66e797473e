"""Checkpoints you can trust: safetensors files written atomically, loaded without running code.

One file holds everything: the model's and optimizer's arrays as safetensors tensors, and the
rest (model config, epoch, step, RNG states, optimizer hyperparameters) as JSON in the file's
own metadata header, so arrays and metadata can never come from different saves. A readable
copy of the metadata is written beside it (``checkpoint.json``); loading ignores the copy.

A save writes a temporary file in the same folder, fsyncs it and renames it over the old one
(and fsyncs the folder): a crash or kill at any moment leaves either the old checkpoint or the
new one, never a torn file. Loading parses JSON and raw arrays only: no pickle, no code.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy

from .core.errors import WengertError
from .core.tensor import Tensor

FILENAME = "checkpoint.safetensors"
_METADATA_KEY = "wengert"


class CheckpointError(WengertError):
    """A checkpoint that is missing, unreadable or not a wengert checkpoint."""


def save(path: str | os.PathLike, model: Any = None, optimizer: Any = None, metadata: dict | None = None) -> Path:
    """Save ``model.state_dict()``, ``optimizer.state_dict()`` and JSON-able ``metadata`` to ``path``
    (a file, or a folder that gets ``checkpoint.safetensors``). Returns the file's path."""
    from safetensors.numpy import save as to_bytes

    path = _file(path)
    arrays: dict[str, numpy.ndarray] = {}
    record: dict[str, Any] = {"metadata": metadata or {}}
    if model is not None:
        record["model"] = _split(dict(model.state_dict()), "model", arrays)
    if optimizer is not None:
        record["optimizer"] = _split(optimizer.state_dict(), "optimizer", arrays)
    header = json.dumps(record)
    # safetensors 0.8.0 writes a non-contiguous array's memory in the wrong order: save copies.
    payload = to_bytes({key: numpy.ascontiguousarray(value) for key, value in arrays.items()},
                       metadata={_METADATA_KEY: header})
    atomic_write(path, payload)
    atomic_write(path.with_suffix(".json"), json.dumps(record["metadata"], indent=2).encode())
    return path


def load(path: str | os.PathLike, model: Any = None, optimizer: Any = None) -> dict:
    """Load a checkpoint into ``model`` and ``optimizer`` (each optional; a model of another
    architecture is refused with the mismatched keys listed) and return its metadata."""
    record = read(path)
    if model is not None:
        if "model" not in record:
            raise CheckpointError(f"{_file(path)} holds no model state")
        model.load_state_dict(record["model"])
    if optimizer is not None:
        if "optimizer" not in record:
            raise CheckpointError(f"{_file(path)} holds no optimizer state")
        optimizer.load_state_dict(record["optimizer"])
    return record["metadata"]


def read(path: str | os.PathLike) -> dict:
    """The whole checkpoint as ``{"metadata": ..., "model": state_dict, "optimizer": state_dict}``."""
    from safetensors.numpy import load as from_bytes

    path = _file(path)
    try:
        payload = path.read_bytes()
        header_size = int.from_bytes(payload[:8], "little")
        header = json.loads(payload[8:8 + header_size])
        record = json.loads(header["__metadata__"][_METADATA_KEY])
        arrays = from_bytes(payload)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"{path} is not a readable wengert checkpoint ({error})") from None
    return {key: _join(value, arrays) for key, value in record.items()}


def atomic_write(path: str | os.PathLike, payload: bytes) -> None:
    """Replace ``path`` with ``payload`` all at once: a kill mid-write leaves the old file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # make the rename itself durable
    finally:
        os.close(folder)


def _file(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path / FILENAME if path.is_dir() or not path.suffix else path


def _split(value: Any, key: str, arrays: dict) -> Any:
    """``value`` as JSON, with each array moved into ``arrays`` and replaced by its key."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, numpy.ndarray):
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, numpy.generic):
        return value.item()
    if isinstance(value, dict):  # keys may be ints (optimizer state by parameter index)
        return {"__items__": [[name, _split(item, f"{key}.{name}", arrays)] for name, item in value.items()]}
    if isinstance(value, (list, tuple)):
        return [_split(item, f"{key}.{index}", arrays) for index, item in enumerate(value)]
    return value


def _join(value: Any, arrays: dict) -> Any:
    if isinstance(value, dict) and "__array__" in value:
        return arrays[value["__array__"]]
    if isinstance(value, dict) and "__items__" in value:
        return {name: _join(item, arrays) for name, item in value["__items__"]}
    if isinstance(value, dict):
        return {name: _join(item, arrays) for name, item in value.items()}
    if isinstance(value, list):
        return [_join(item, arrays) for item in value]
    return value
