"""Checkpoints you can trust: safetensors files written atomically, loaded without running code.

One file holds everything: the model's and optimizer's arrays as safetensors tensors, and the
rest (model config, epoch, step, RNG states, optimizer hyperparameters) as JSON in the file's
own metadata header, so arrays and metadata can never come from different saves. A readable
copy of the metadata is written beside it (``checkpoint.json``); loading ignores the copy.

A save writes a temporary file in the same folder, fsyncs it and renames it over the old one
(and fsyncs the folder): a crash or kill at any moment leaves either the old checkpoint or the
new one, never a torn file. Files get the permissions the user's umask gives any new file.

Loading parses JSON and raw arrays only: no pickle, no code. Every part of the file is checked
before anything is loaded (the header's offsets against the file's size, each tensor's dtype and
size, the metadata's structure, the arrays' dtypes and shapes against the model and optimizer
they go into): a damaged file is a ``CheckpointError`` saying what is wrong, never a model
loaded with garbage.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy

from .core.errors import WengertError
from .storage import DamagedFileError, atomic_write, expect, join, parse, read_metadata, sizes, split, to_bytes

FILENAME = "checkpoint.safetensors"
METADATA_KEY = "wengert"
_PARTS = ("metadata", "model", "optimizer")


class CheckpointError(WengertError):
    """A checkpoint that is missing, unreadable or not a wengert checkpoint."""


def save(path: str | os.PathLike, model: Any = None, optimizer: Any = None, metadata: dict | None = None) -> Path:
    """Save ``model.state_dict()``, ``optimizer.state_dict()`` and JSON-able ``metadata`` to ``path``
    (a ``.safetensors`` file, or a folder that gets ``checkpoint.safetensors``). Returns the file's path."""
    path = _file(path)
    arrays: dict[str, numpy.ndarray] = {}
    record: dict[str, Any] = {"metadata": metadata or {}}
    if model is not None:
        record["model"] = split(dict(model.state_dict()), "model", arrays)
    if optimizer is not None:
        record["optimizer"] = split(optimizer.state_dict(), "optimizer", arrays)
    atomic_write(path, to_bytes(arrays, {METADATA_KEY: json.dumps(record)}))
    atomic_write(metadata_copy(path), json.dumps(record["metadata"], indent=2).encode())
    return path


def load(path: str | os.PathLike, model: Any = None, optimizer: Any = None) -> dict:
    """Load a checkpoint into ``model`` and ``optimizer`` (each optional; a model of another
    architecture is refused with the mismatched keys listed) and return its metadata."""
    record = read(path)
    restore(record, model, optimizer, _file(path))
    return record["metadata"]


def restore(record: dict, model: Any = None, optimizer: Any = None, source: str | os.PathLike = "checkpoint") -> None:
    """Load ``record`` (from ``read``) into ``model`` and ``optimizer``, after checking that its
    arrays can be theirs (``check_compatible``); ``source`` names the file in errors."""
    for part, target in (("model", model), ("optimizer", optimizer)):
        if target is not None and part not in record:
            raise CheckpointError(f"{source} holds no {part} state")
    check_compatible(record, model, optimizer, source)
    if model is not None:
        model.load_state_dict(record["model"])
    if optimizer is not None:
        optimizer.load_state_dict(record["optimizer"])


def read(path: str | os.PathLike) -> dict:
    """The whole checkpoint as ``{"metadata": ..., "model": state_dict, "optimizer": state_dict}``,
    after checking the file's structure (a CheckpointError says what is wrong)."""
    path = _file(path)
    try:
        payload = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except OSError as error:
        raise CheckpointError(f"cannot read {path}: {error.strerror}") from None
    try:
        arrays, metadata = parse(payload)
        record = _record(metadata)
        unused = set(arrays)
        result = {key: join(value, arrays, unused) for key, value in record.items()}
        expect(not unused, f"tensor {min(unused, default='')!r} is not referred to by its metadata")
        _check_parts(result)
    except DamagedFileError as damage:
        raise CheckpointError(f"{path} is not a readable wengert checkpoint: {damage}") from None
    return result


def is_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file whose header says wengert wrote it (its arrays are not checked)."""
    try:
        _record(read_metadata(path))
    except (OSError, DamagedFileError):
        return False
    return True


def check_compatible(record: dict, model: Any = None, optimizer: Any = None,
                     source: str | os.PathLike = "checkpoint") -> None:
    """Refuse (CheckpointError) arrays of ``record`` that cannot be what ``model`` and ``optimizer`` saved:
    a dtype of another kind than its parameter's (a damaged header), optimizer state shaped unlike its
    parameter, optimizer options of other names or types. Nothing is loaded; missing or mismatched
    model keys and shapes are left to ``model.load_state_dict``, which lists them."""
    problems = []
    if model is not None and "model" in record:
        saved = record["model"]
        for key, tensor in model.state_dict().items():
            value = saved.get(key)
            same_shape = value is not None and tuple(value.shape) == tuple(tensor.shape)
            if same_shape and value.dtype.kind != tensor.dtype.kind:
                problems.append(f"model {key!r} is {value.dtype}, the model's is {tensor.dtype}")
    if optimizer is not None and "optimizer" in record:
        problems += _optimizer_problems(record["optimizer"], optimizer)
    if problems:
        raise CheckpointError(f"{source} is not a readable wengert checkpoint: " + "; ".join(problems))


def metadata_copy(path: str | os.PathLike) -> Path:
    """The readable JSON copy of the checkpoint file ``path``'s metadata: ``checkpoint.json``
    beside ``checkpoint.safetensors``."""
    path = Path(path)
    return path.with_suffix(".json") if path.suffix == ".safetensors" else path.with_name(path.name + ".json")


def _file(path: str | os.PathLike) -> Path:
    # Only an existing file or a .safetensors name is a file: "runs/iris-lr0.1" is a folder.
    path = Path(path)
    return path if path.is_file() or (path.suffix == ".safetensors" and not path.is_dir()) else path / FILENAME


def _record(metadata: dict) -> dict:
    """The wengert record in a checkpoint's safetensors metadata: its parts, as JSON."""
    expect(isinstance(metadata.get(METADATA_KEY), str),
           "its header has no wengert metadata (a safetensors file wengert did not write?)")
    try:
        record = json.loads(metadata[METADATA_KEY])
    except ValueError as error:
        raise DamagedFileError(f"its wengert metadata is not JSON ({error})") from None
    expect(isinstance(record, dict) and isinstance(record.get("metadata"), dict) and set(record) <= set(_PARTS),
           f"its wengert metadata has parts {sorted(record) if isinstance(record, dict) else record!r}, "
           f"expected metadata, model, optimizer")
    return record


def _check_parts(record: dict) -> None:
    """The model part is a mapping of names to arrays; the optimizer part is a ``state_dict``."""
    model = record.get("model", {})
    expect(isinstance(model, dict) and all(isinstance(value, numpy.ndarray) for value in model.values()),
            "its model state is not a mapping of names to arrays")
    if "optimizer" not in record:
        return
    optimizer = record["optimizer"]
    expect(isinstance(optimizer, dict) and set(optimizer) == {"state", "param_groups"},
            "its optimizer state does not have exactly 'state' and 'param_groups'")
    groups, state = optimizer["param_groups"], optimizer["state"]
    expect(isinstance(groups, list) and all(isinstance(group, dict) and sizes(group.get("params"))
                                             for group in groups),
            "its optimizer param_groups are not a list of groups with params")
    expect(isinstance(state, dict) and all(type(index) is int and isinstance(values, dict)
                                            for index, values in state.items()),
            "its optimizer state is not a mapping of parameter numbers to values")


def _same_kind(saved: Any, own: Any) -> bool:
    """Whether a saved optimizer option could be ``own``'s: numbers for numbers, flags for flags,
    sequences of as many such values (JSON turns tuples into lists)."""
    if isinstance(own, bool) or own is None or isinstance(own, str):
        return type(saved) is type(own)
    if isinstance(own, (int, float)):
        return isinstance(saved, (int, float)) and not isinstance(saved, bool)
    if isinstance(own, (list, tuple)):
        return (isinstance(saved, (list, tuple)) and len(saved) == len(own)
                and all(_same_kind(a, b) for a, b in zip(saved, own)))
    return True


def _optimizer_problems(saved: dict, optimizer: Any) -> list[str]:
    """What in the saved optimizer state cannot belong to ``optimizer`` (its groups, options, state arrays)."""
    groups = optimizer.param_groups
    if len(saved["param_groups"]) != len(groups):
        return [f"{len(saved['param_groups'])} optimizer parameter groups, the optimizer has {len(groups)}"]
    problems, params = [], {}
    for number, (group, own) in enumerate(zip(saved["param_groups"], groups)):
        if len(group["params"]) != len(own["params"]):
            problems.append(f"optimizer group {number} has {len(group['params'])} parameters, "
                            f"the optimizer's has {len(own['params'])}")
        params.update(zip(group["params"], own["params"]))
        options = {key for key in (set(group) | set(own)) if key != "params"}
        for key in sorted(options):
            if key not in group or key not in own or not _same_kind(group[key], own[key]):
                problems.append(f"optimizer group {number} option {key!r} is {group.get(key, 'missing')!r}, "
                                f"the optimizer's is {own.get(key, 'missing')!r}")
    for index, values in saved["state"].items():
        p = params.get(index)
        if p is None:
            problems.append(f"optimizer state for parameter {index}, which no group lists")
            continue
        for name, value in values.items():
            if isinstance(value, numpy.ndarray):
                if tuple(value.shape) != tuple(p.shape) or value.dtype.kind != p.dtype.kind:
                    problems.append(f"optimizer state[{index}][{name!r}] is {value.dtype} {tuple(value.shape)}, "
                                    f"its parameter is {p.dtype} {tuple(p.shape)}")
            elif not (isinstance(value, (int, float)) and not isinstance(value, bool)):
                problems.append(f"optimizer state[{index}][{name!r}] is {value!r}, not an array or a number")
    return problems
