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
import math
import os
import secrets
from pathlib import Path
from typing import Any

import numpy

from .core.errors import WengertError
from .core.tensor import Tensor

FILENAME = "checkpoint.safetensors"
_METADATA_KEY = "wengert"
_PARTS = ("metadata", "model", "optimizer")
# safetensors dtype names -> numpy dtypes (safetensors stores little-endian)
_DTYPES = {"BOOL": "?", "U8": "u1", "I8": "i1", "U16": "<u2", "I16": "<i2", "F16": "<f2", "U32": "<u4",
           "I32": "<i4", "F32": "<f4", "U64": "<u8", "I64": "<i8", "F64": "<f8"}


class CheckpointError(WengertError):
    """A checkpoint that is missing, unreadable or not a wengert checkpoint."""


class _DamageError(Exception):
    """What is wrong with a checkpoint file (read() adds the file's name)."""


def save(path: str | os.PathLike, model: Any = None, optimizer: Any = None, metadata: dict | None = None) -> Path:
    """Save ``model.state_dict()``, ``optimizer.state_dict()`` and JSON-able ``metadata`` to ``path``
    (a ``.safetensors`` file, or a folder that gets ``checkpoint.safetensors``). Returns the file's path."""
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
        tensors, record, data = _header(payload)
        arrays = _arrays(tensors, data)
        unused = set(arrays)
        result = {key: _join(value, arrays, unused) for key, value in record.items()}
        _expect(not unused, f"tensor {min(unused, default='')!r} is not referred to by its metadata")
        _check_parts(result)
    except _DamageError as damage:
        raise CheckpointError(f"{path} is not a readable wengert checkpoint: {damage}") from None
    return result


def is_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file whose header says wengert wrote it (its arrays are not checked)."""
    try:
        with open(path, "rb") as file:
            size = int.from_bytes(file.read(8), "little")
            _header(size.to_bytes(8, "little") + file.read(min(size, 1 << 30)))
    except (OSError, _DamageError):
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


def atomic_write(path: str | os.PathLike, payload: bytes) -> None:
    """Replace ``path`` with ``payload`` all at once: a kill mid-write leaves the old file intact.
    The file gets the mode a new file gets (0o666 less the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:  # mkstemp would make the file 0o600 whatever the umask; os.open applies it
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # make the rename itself durable
    finally:
        os.close(folder)


def is_temporary(name: str) -> bool:
    """Whether ``name`` is one of atomic_write's temporary files (left behind only by a kill)."""
    return name.startswith(".") and name.endswith(".tmp")


def metadata_copy(path: str | os.PathLike) -> Path:
    """The readable JSON copy of the checkpoint file ``path``'s metadata: ``checkpoint.json``
    beside ``checkpoint.safetensors``."""
    path = Path(path)
    return path.with_suffix(".json") if path.suffix == ".safetensors" else path.with_name(path.name + ".json")


def _file(path: str | os.PathLike) -> Path:
    # Only an existing file or a .safetensors name is a file: "runs/iris-lr0.1" is a folder.
    path = Path(path)
    return path if path.is_file() or (path.suffix == ".safetensors" and not path.is_dir()) else path / FILENAME


def _expect(condition: Any, problem: str) -> None:
    if not condition:
        raise _DamageError(problem)


def _safetensors_header(payload: bytes) -> tuple[dict, dict, memoryview]:
    """A safetensors file's tensor entries, its ``__metadata__`` (a dict, maybe empty) and its data."""
    _expect(len(payload) >= 8, f"it is {len(payload)} bytes long, too short for a safetensors header")
    size = int.from_bytes(payload[:8], "little")
    _expect(size <= len(payload) - 8, f"its header claims {size} bytes, but {len(payload) - 8} follow")
    try:
        tensors = json.loads(payload[8:8 + size])
    except ValueError as error:
        raise _DamageError(f"its header is not JSON ({error})") from None
    _expect(isinstance(tensors, dict), "its header is not a JSON object")
    metadata = tensors.pop("__metadata__", None) or {}
    _expect(isinstance(metadata, dict), "its header's __metadata__ is not a JSON object")
    return tensors, metadata, memoryview(payload)[8 + size:]


def _header(payload: bytes) -> tuple[dict, dict, memoryview]:
    """The tensor entries of a safetensors header, the wengert record in its metadata, and the data."""
    tensors, metadata, data = _safetensors_header(payload)
    _expect(isinstance(metadata.get(_METADATA_KEY), str),
            "its header has no wengert metadata (a safetensors file wengert did not write?)")
    try:
        record = json.loads(metadata[_METADATA_KEY])
    except ValueError as error:
        raise _DamageError(f"its wengert metadata is not JSON ({error})") from None
    _expect(isinstance(record, dict) and isinstance(record.get("metadata"), dict) and set(record) <= set(_PARTS),
            f"its wengert metadata has parts {sorted(record) if isinstance(record, dict) else record!r}, "
            f"expected metadata, model, optimizer")
    return tensors, record, data


def _sizes(value: Any, count: int | None = None) -> bool:
    """Whether ``value`` is a list of ``count`` (any number if None) non-negative integers."""
    return (isinstance(value, list) and (count is None or len(value) == count)
            and all(type(item) is int and item >= 0 for item in value))


def _arrays(tensors: dict, data: memoryview) -> dict[str, numpy.ndarray]:
    """Each tensor of the header as an array, after checking that the tensors tile the data exactly."""
    arrays, spans = {}, []
    for name, entry in tensors.items():
        _expect(isinstance(entry, dict) and set(entry) == {"dtype", "shape", "data_offsets"},
                f"tensor {name!r} has entry {entry!r}, not dtype, shape and data_offsets")
        _expect(entry["dtype"] in _DTYPES, f"tensor {name!r} has unknown dtype {entry['dtype']!r}")
        dtype, shape, offsets = numpy.dtype(_DTYPES[entry["dtype"]]), entry["shape"], entry["data_offsets"]
        _expect(_sizes(shape), f"tensor {name!r} has shape {shape!r}, not a list of sizes")
        _expect(_sizes(offsets, 2) and offsets[0] <= offsets[1],
                f"tensor {name!r} has data_offsets {offsets!r}, not [begin, end]")
        begin, end = offsets
        count = math.prod(shape)
        _expect(end - begin == count * dtype.itemsize,
                f"tensor {name!r} ({entry['dtype']}, shape {tuple(shape)}) needs {count * dtype.itemsize} bytes, "
                f"its data_offsets span {end - begin}")
        _expect(end <= len(data), f"tensor {name!r} ends at byte {end} of the data, which has only {len(data)} "
                                  "(the file is truncated)")
        spans.append((begin, end, name))
        native = dtype.newbyteorder("=")
        arrays[name] = numpy.frombuffer(data[begin:end], dtype=dtype).astype(native).reshape(shape)
    position = 0
    for begin, end, name in sorted(spans):
        _expect(begin == position, f"tensor {name!r} starts at byte {begin} of the data, expected {position} "
                                   "(tensors overlap or leave a gap)")
        position = end
    _expect(position == len(data), f"the data has {len(data) - position} bytes after its last tensor")
    return arrays


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


def _join(value: Any, arrays: dict, unused: set) -> Any:
    """The inverse of ``_split``; marks each array it uses off ``unused``."""
    if isinstance(value, dict) and "__array__" in value:
        key = value["__array__"]
        _expect(isinstance(key, str) and key in arrays, f"its metadata refers to tensor {key!r}, which it lacks")
        unused.discard(key)
        return arrays[key]
    if isinstance(value, dict) and "__items__" in value:
        items = value["__items__"]
        _expect(isinstance(items, list) and all(isinstance(item, list) and len(item) == 2 for item in items),
                f"its metadata has a malformed mapping {items!r}"[:200])
        return {name: _join(item, arrays, unused) for name, item in items}
    if isinstance(value, dict):
        return {name: _join(item, arrays, unused) for name, item in value.items()}
    if isinstance(value, list):
        return [_join(item, arrays, unused) for item in value]
    return value


def _check_parts(record: dict) -> None:
    """The model part is a mapping of names to arrays; the optimizer part is a ``state_dict``."""
    model = record.get("model", {})
    _expect(isinstance(model, dict) and all(isinstance(value, numpy.ndarray) for value in model.values()),
            "its model state is not a mapping of names to arrays")
    if "optimizer" not in record:
        return
    optimizer = record["optimizer"]
    _expect(isinstance(optimizer, dict) and set(optimizer) == {"state", "param_groups"},
            "its optimizer state does not have exactly 'state' and 'param_groups'")
    groups, state = optimizer["param_groups"], optimizer["state"]
    _expect(isinstance(groups, list) and all(isinstance(group, dict) and _sizes(group.get("params"))
                                             for group in groups),
            "its optimizer param_groups are not a list of groups with params")
    _expect(isinstance(state, dict) and all(type(index) is int and isinstance(values, dict)
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
