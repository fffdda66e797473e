"""``wg.save(obj, path)`` and ``wg.load(path)``: tensors, state dicts and nested containers of them,
in one safetensors file that loads without running code (no pickle).

The arrays are the file's safetensors tensors; the structure around them is JSON in the file's
metadata, under its own key (a training checkpoint uses another). What JSON cannot tell apart is
tagged, so that a load gives back what was saved:

    Tensor t      {"tensor": array, "requires_grad": bool}  (a Parameter: "parameter")
    tuple         {"tuple": [items]}
    dict          {"dict": [[key, value], ...]}             (keys: str, int, float, bool or None)
    list, array, str, int, float, bool, None   themselves

Every dict in the JSON is therefore a tag, and a file is checked entry by entry before anything is
built from it: one that wengert did not write, or that is damaged, is a ``SerializationError``.
Only numpy is needed to write and read the format.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy

from .checkpoint import METADATA_KEY as _CHECKPOINT_KEY
from .core.errors import WengertError
from .core.tensor import Tensor
from .nn.module import Parameter
from .storage import STORABLE, DamagedFileError, atomic_write, expect, join, parse, split, storable, to_bytes

_KEY = "wengert.save"  # the metadata entry that holds the structure
_FORMAT = 1
_KEY_TYPES = (str, int, float, bool, type(None))


class SerializationError(WengertError, ValueError):
    """An object that ``wg.save`` cannot store, or a file that ``wg.load`` cannot read."""


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` to the file ``path``, atomically (a kill mid-write leaves the old file intact).

    ``obj`` may be a Tensor, a numpy array, or dicts, lists and tuples nesting them with numbers,
    strings and None: a model's or an optimizer's ``state_dict()``, say.
    """
    arrays: dict[str, numpy.ndarray] = {}
    structure = split(_tagged(obj, "obj"), "obj", arrays)
    record = json.dumps({"format": _FORMAT, "object": structure})
    atomic_write(path, to_bytes(arrays, {_KEY: record}))


def load(path: str | os.PathLike) -> Any:
    """What ``save`` wrote to ``path``: Tensors where Tensors were saved, arrays where arrays were,
    tuples as tuples, dicts with their keys' types."""
    with open(path, "rb") as file:
        payload = file.read()
    try:
        arrays, metadata = parse(payload)
        record = _record(metadata)
        unused = set(arrays)
        structure = join(record["object"], arrays, unused)
        expect(not unused, f"tensor {min(unused, default='')!r} is not referred to by its structure")
        return _untagged(structure)
    except DamagedFileError as damage:
        raise SerializationError(f"not a readable wengert file: {os.fspath(path)}: {damage}") from None


# --- saving ---------------------------------------------------------------------------------------

def _tagged(value: Any, where: str) -> Any:
    """``value`` with what JSON would lose tagged (see the module's docstring); ``where`` names it in errors."""
    if isinstance(value, Tensor):
        kind = "parameter" if isinstance(value, Parameter) else "tensor"
        return {kind: _checked_array(value.data, where), "requires_grad": value.requires_grad}
    if isinstance(value, numpy.ndarray):
        return _checked_array(value, where)
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, (*_KEY_TYPES, numpy.integer)):
                raise SerializationError(f"wg.save: {where} has a key of type {type(key).__name__}; keys "
                                         "must be strings, numbers, booleans or None")
        return {"dict": [[key, _tagged(item, f"{where}[{key!r}]")] for key, item in value.items()]}
    if isinstance(value, (list, tuple)):
        items = [_tagged(item, f"{where}[{index}]") for index, item in enumerate(value)]
        return {"tuple": items} if isinstance(value, tuple) else items
    if isinstance(value, (str, int, float, type(None))) or (
            isinstance(value, numpy.generic) and value.dtype.kind in "biuf"):
        return value
    raise SerializationError(f"wg.save: {where} is a {type(value).__name__}; only Tensors, numpy arrays, "
                             "dicts, lists, tuples, numbers, strings and None can be saved (wengert never pickles)")


def _checked_array(array: Any, where: str) -> numpy.ndarray:
    array = numpy.asarray(array)
    if not storable(array.dtype):
        raise SerializationError(f"wg.save: {where} has dtype {array.dtype}, which safetensors cannot store "
                                 f"(it stores bool and {', '.join(STORABLE)})")
    return array


# --- loading --------------------------------------------------------------------------------------

def _record(metadata: dict) -> dict:
    """The wg.save record in a file's safetensors metadata."""
    expect(_KEY in metadata or _CHECKPOINT_KEY not in metadata,
           "it is a training checkpoint: load it with wengert.checkpoint.load or read")
    expect(isinstance(metadata.get(_KEY), str), "its header has no wg.save record (a safetensors file "
                                                "that wg.save did not write?)")
    try:
        record = json.loads(metadata[_KEY])
    except ValueError as error:
        raise DamagedFileError(f"its wg.save record is not JSON ({error})") from None
    expect(isinstance(record, dict) and record.get("format") == _FORMAT and "object" in record,
           f"its wg.save record is not format {_FORMAT} with an object")
    return record


def _untagged(value: Any) -> Any:
    """The inverse of ``_tagged``, checking each entry."""
    if isinstance(value, numpy.ndarray) or value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, list):
        return [_untagged(item) for item in value]
    expect(isinstance(value, dict), f"it holds an entry of type {type(value).__name__}")
    tag = sorted(value)
    if tag in (["requires_grad", "tensor"], ["parameter", "requires_grad"]):
        array, requires_grad = value.get("tensor", value.get("parameter")), value["requires_grad"]
        expect(isinstance(array, numpy.ndarray) and isinstance(requires_grad, bool)
                and not (requires_grad and array.dtype.kind != "f"), f"it has a malformed tensor entry {tag}")
        return Tensor(array, requires_grad) if "tensor" in value else Parameter(array, requires_grad)
    if tag == ["tuple"] and isinstance(value["tuple"], list):
        return tuple(_untagged(item) for item in value["tuple"])
    if tag == ["dict"] and isinstance(value["dict"], list):
        pairs = value["dict"]
        expect(all(isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], _KEY_TYPES) for pair in pairs),
                "it has a malformed dict entry")
        return {key: _untagged(item) for key, item in pairs}
    raise DamagedFileError(f"it has an unknown entry with keys {tag}"[:200])
