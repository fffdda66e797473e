"""The file format under checkpoints and ``wg.save``: safetensors, written atomically, read with
every byte checked.

A safetensors file is an 8-byte header length, a JSON header (each tensor's dtype, shape and
byte range, plus a ``__metadata__`` mapping of strings) and the tensors' bytes, little-endian,
one after another. ``to_bytes`` writes one; ``parse`` reads one back only after checking that
the header is JSON, that each entry has a known dtype and a shape and range that agree, and that
the ranges tile the data exactly, so a damaged file is a ``DamagedFileError`` saying what is wrong,
never arrays of garbage. The format is simple enough that numpy alone reads and writes it; the
safetensors library reads our files (a test checks). ``split`` and ``join`` turn a tree of
dicts, lists and arrays into JSON plus named arrays and back.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from pathlib import Path
from typing import Any

import numpy

from .core.tensor import Tensor

# safetensors dtype names -> numpy dtypes (safetensors stores little-endian)
DTYPES = {"BOOL": "?", "U8": "u1", "I8": "i1", "U16": "<u2", "I16": "<i2", "F16": "<f2", "U32": "<u4",
          "I32": "<i4", "F32": "<f4", "U64": "<u8", "I64": "<i8", "F64": "<f8"}
_NAMES = {numpy.dtype(code): name for name, code in DTYPES.items()}
STORABLE = ("uint8", "int8", "uint16", "int16", "float16", "uint32", "int32", "float32", "uint64", "int64", "float64")


class DamagedFileError(Exception):
    """What is wrong with a file (the caller adds which file, and what it was expected to be)."""


def expect(condition: Any, problem: str) -> None:
    """Raise ``DamagedFileError(problem)`` unless ``condition``."""
    if not condition:
        raise DamagedFileError(problem)


def storable(dtype: Any) -> bool:
    """Whether safetensors can store arrays of ``dtype``."""
    return numpy.dtype(dtype).newbyteorder("<") in _NAMES


def to_bytes(arrays: dict[str, numpy.ndarray], metadata: dict[str, str]) -> bytes:
    """The safetensors file of ``arrays`` (little-endian, one after another) with ``metadata``."""
    header: dict[str, Any] = {"__metadata__": metadata}
    chunks, offset = [], 0
    for name, array in arrays.items():
        # not ascontiguousarray: it turns a 0-d array into shape (1,)
        array = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)
        header[name] = {"dtype": _NAMES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        chunks.append(array.tobytes())
        offset += array.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # the format aligns the data to 8 bytes
    return len(text).to_bytes(8, "little") + text + b"".join(chunks)


def parse(payload: bytes) -> tuple[dict[str, numpy.ndarray], dict]:
    """The arrays of a safetensors file and its ``__metadata__`` (a dict, maybe empty), checked."""
    tensors, metadata, data = _header(payload)
    return _arrays(tensors, data), metadata


def read_metadata(path: str | os.PathLike) -> dict:
    """The ``__metadata__`` of the safetensors file at ``path``, reading its header alone."""
    with open(path, "rb") as file:
        size = int.from_bytes(file.read(8), "little")
        return _header(size.to_bytes(8, "little") + file.read(min(size, 1 << 30)))[1]


def _header(payload: bytes) -> tuple[dict, dict, memoryview]:
    """A safetensors file's tensor entries, its ``__metadata__`` (a dict, maybe empty) and its data."""
    expect(len(payload) >= 8, f"it is {len(payload)} bytes long, too short for a safetensors header")
    size = int.from_bytes(payload[:8], "little")
    expect(size <= len(payload) - 8, f"its header claims {size} bytes, but {len(payload) - 8} follow")
    try:
        tensors = json.loads(payload[8:8 + size])
    except ValueError as error:
        raise DamagedFileError(f"its header is not JSON ({error})") from None
    expect(isinstance(tensors, dict), "its header is not a JSON object")
    metadata = tensors.pop("__metadata__", None) or {}
    expect(isinstance(metadata, dict), "its header's __metadata__ is not a JSON object")
    return tensors, metadata, memoryview(payload)[8 + size:]


def sizes(value: Any, count: int | None = None) -> bool:
    """Whether ``value`` is a list of ``count`` (any number if None) non-negative integers."""
    return (isinstance(value, list) and (count is None or len(value) == count)
            and all(type(item) is int and item >= 0 for item in value))


def _arrays(tensors: dict, data: memoryview) -> dict[str, numpy.ndarray]:
    """Each tensor of the header as an array, after checking that the tensors tile the data exactly."""
    arrays, spans = {}, []
    for name, entry in tensors.items():
        expect(isinstance(entry, dict) and set(entry) == {"dtype", "shape", "data_offsets"},
                f"tensor {name!r} has entry {entry!r}, not dtype, shape and data_offsets")
        expect(entry["dtype"] in DTYPES, f"tensor {name!r} has unknown dtype {entry['dtype']!r}")
        dtype, shape, offsets = numpy.dtype(DTYPES[entry["dtype"]]), entry["shape"], entry["data_offsets"]
        expect(sizes(shape), f"tensor {name!r} has shape {shape!r}, not a list of sizes")
        expect(sizes(offsets, 2) and offsets[0] <= offsets[1],
                f"tensor {name!r} has data_offsets {offsets!r}, not [begin, end]")
        begin, end = offsets
        count = math.prod(shape)
        expect(end - begin == count * dtype.itemsize,
                f"tensor {name!r} ({entry['dtype']}, shape {tuple(shape)}) needs {count * dtype.itemsize} bytes, "
                f"its data_offsets span {end - begin}")
        expect(end <= len(data), f"tensor {name!r} ends at byte {end} of the data, which has only {len(data)} "
                                  "(the file is truncated)")
        spans.append((begin, end, name))
        native = dtype.newbyteorder("=")
        arrays[name] = numpy.frombuffer(data[begin:end], dtype=dtype).astype(native).reshape(shape)
    position = 0
    for begin, end, name in sorted(spans):
        expect(begin == position, f"tensor {name!r} starts at byte {begin} of the data, expected {position} "
                                   "(tensors overlap or leave a gap)")
        position = end
    expect(position == len(data), f"the data has {len(data) - position} bytes after its last tensor")
    return arrays


def split(value: Any, key: str, arrays: dict) -> Any:
    """``value`` as JSON, with each array moved into ``arrays`` and replaced by its key."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, numpy.ndarray):
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, numpy.generic):
        return value.item()
    if isinstance(value, dict):  # keys may be ints (optimizer state by parameter index)
        return {"__items__": [[name, split(item, f"{key}.{name}", arrays)] for name, item in value.items()]}
    if isinstance(value, (list, tuple)):
        return [split(item, f"{key}.{index}", arrays) for index, item in enumerate(value)]
    return value


def join(value: Any, arrays: dict, unused: set) -> Any:
    """The inverse of ``_split``; marks each array it uses off ``unused``."""
    if isinstance(value, dict) and "__array__" in value:
        key = value["__array__"]
        expect(isinstance(key, str) and key in arrays, f"its metadata refers to tensor {key!r}, which it lacks")
        unused.discard(key)
        return arrays[key]
    if isinstance(value, dict) and "__items__" in value:
        items = value["__items__"]
        expect(isinstance(items, list) and all(isinstance(item, list) and len(item) == 2 for item in items),
                f"its metadata has a malformed mapping {items!r}"[:200])
        return {name: join(item, arrays, unused) for name, item in items}
    if isinstance(value, dict):
        return {name: join(item, arrays, unused) for name, item in value.items()}
    if isinstance(value, list):
        return [join(item, arrays, unused) for item in value]
    return value


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
