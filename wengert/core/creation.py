"""Making tensors: from Python data, filled, ranges, and random (seeded by ``manual_seed``)."""

from __future__ import annotations

from typing import Any

from . import backend
from .backend import numpy
from .errors import OpTypeError, call_site
from .tensor import Tensor


def _leaf(array: Any, requires_grad: bool) -> Tensor:
    backend.numpy_warnings_silenced()  # here and in backward, not on every op (see backend)
    if requires_grad and array.dtype.kind != "f":
        raise OpTypeError(f"only floating tensors can require grad, not {array.dtype} (at {call_site()})")
    return Tensor(array, requires_grad)


def _shape(shape: tuple) -> tuple:
    """Accept both ``zeros(2, 3)`` and ``zeros((2, 3))``."""
    if len(shape) == 1 and not isinstance(shape[0], int):
        return tuple(shape[0])
    return tuple(shape)


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, arrays or a Tensor).

    Python floats become the default dtype (float32); numpy arrays keep theirs.
    """
    if isinstance(data, Tensor):
        data = data.data
    keeps_dtype = isinstance(data, (numpy.ndarray, numpy.generic))
    array = numpy.array(data, dtype=dtype)
    if dtype is None and not keeps_dtype and array.dtype == numpy.float64:
        array = array.astype(backend.get_default_dtype())
    if array.dtype == object:
        raise OpTypeError(f"tensor: cannot make a tensor from {type(data).__name__} data (at {call_site()})")
    if not array.dtype.isnative:  # the copy is made in the machine's byte order, which compute paths expect
        array = array.astype(array.dtype.newbyteorder("="))
    return _leaf(array, requires_grad)


def from_numpy(array: Any, requires_grad: bool = False) -> Tensor:
    """A tensor sharing ``array``'s memory and dtype (changes to one show in the other)."""
    array = numpy.asarray(array)
    if not array.dtype.isnative:  # as PyTorch: shared memory cannot change its byte order
        raise OpTypeError(f"from_numpy: the array's bytes are not in this machine's order (dtype {array.dtype.str}), "
                          f"so a tensor cannot share them; wg.tensor(array) copies them into it (at {call_site()})")
    return _leaf(array, requires_grad)


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _leaf(numpy.zeros(_shape(shape), backend.as_dtype(dtype)), requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _leaf(numpy.ones(_shape(shape), backend.as_dtype(dtype)), requires_grad)


def full(shape: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Filled with ``fill_value``; the dtype follows the value (float -> the default dtype)."""
    if dtype is None:
        dtype = numpy.array(fill_value).dtype
        dtype = backend.get_default_dtype() if dtype.kind == "f" else dtype
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _leaf(numpy.full(shape, fill_value, dtype), requires_grad)


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """numpy's arange: int64 for int arguments, else the default float dtype."""
    if dtype is None and not all(isinstance(v, int) for v in (start, stop, step) if v is not None):
        dtype = backend.get_default_dtype()
    array = numpy.arange(start, stop, step) if stop is not None else numpy.arange(start, step=step)
    return _leaf(array.astype(dtype or numpy.int64, copy=False), requires_grad)


def linspace(start: float, stop: float, num: int = 50, dtype: Any = None,
             requires_grad: bool = False) -> Tensor:
    return _leaf(numpy.linspace(start, stop, num, dtype=backend.as_dtype(dtype)), requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _leaf(numpy.eye(n, m, dtype=backend.as_dtype(dtype)), requires_grad)


# --- randomness -------------------------------------------------------------------------

class Generator:
    """A source of random numbers; ``wg.manual_seed`` reseeds the default one."""

    def __init__(self, seed: int | None = None) -> None:
        self.manual_seed(seed)

    def manual_seed(self, seed: int | None) -> Generator:
        self.seed = seed
        self.random = numpy.random.default_rng(seed)
        return self

    def get_state(self) -> dict:
        return self.random.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.random.bit_generator.state = state


default_generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    """Reseed the default generator, so runs that draw the same numbers repeat exactly."""
    return default_generator.manual_seed(seed)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False,
         generator: Generator | None = None) -> Tensor:
    """Uniform on [0, 1)."""
    random = (generator or default_generator).random
    return _leaf(random.random(_shape(shape)).astype(backend.as_dtype(dtype)), requires_grad)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False,
          generator: Generator | None = None) -> Tensor:
    """Standard normal."""
    random = (generator or default_generator).random
    return _leaf(random.standard_normal(_shape(shape)).astype(backend.as_dtype(dtype)), requires_grad)


def randint(low: int, high: int, shape: Any, generator: Generator | None = None) -> Tensor:
    """Integers uniform on [low, high), int64."""
    random = (generator or default_generator).random
    return Tensor(random.integers(low, high, size=shape, dtype=numpy.int64))


# --- the _like forms: same shape (and dtype, unless given) as another tensor ---------------

def _like_dtype(other: Any, dtype: Any) -> Any:
    return dtype if dtype is not None else getattr(other, "dtype", None)


def zeros_like(other: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return zeros(other.shape, dtype=_like_dtype(other, dtype), requires_grad=requires_grad)


def ones_like(other: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return ones(other.shape, dtype=_like_dtype(other, dtype), requires_grad=requires_grad)


def full_like(other: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return full(other.shape, fill_value, dtype=_like_dtype(other, dtype), requires_grad=requires_grad)


def rand_like(other: Any, dtype: Any = None, requires_grad: bool = False,
              generator: Generator | None = None) -> Tensor:
    return rand(other.shape, dtype=_like_dtype(other, dtype), requires_grad=requires_grad, generator=generator)


def randn_like(other: Any, dtype: Any = None, requires_grad: bool = False,
               generator: Generator | None = None) -> Tensor:
    return randn(other.shape, dtype=_like_dtype(other, dtype), requires_grad=requires_grad, generator=generator)
