"""The optimizer base: parameter groups, per-parameter state, ``zero_grad`` and checkpoints.

Subclasses write one method, ``update(p, g, state, group)``: the rule that changes one
parameter's array ``p`` in place, given its gradient array ``g``. Updates act on arrays,
never on Tensors, so they record no graph. They write only into buffers made once (their
``state`` and the optimizer's scratch arrays) with ``out=`` and in-place operators, so a
step allocates nothing the size of a parameter.
"""

from __future__ import annotations

import copy
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from ..core.backend import add_scaled_blas, namespace
from ..core.errors import TraceError
from ..core.function import recorded
from ..core.grad_mode import enable_grad, watching
from ..core.tensor import Tensor, bump_version
from ..nn.utils import zero_grad_in_place

_UNORDERED = ("params must be an ordered collection (a list), not a set: the order of a set changes "
              "between runs, and state_dict() refers to parameters by position")


class Optimizer:
    """Updates ``params`` (Tensors, or dicts ``{"params": [...], "lr": ...}`` of per-group options)
    from their ``.grad``, as ``torch.optim.Optimizer`` does."""

    def __init__(self, params: Iterable, defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor):
            raise TypeError("params should be an iterable of Tensors or dicts, not a single Tensor: "
                            "wrap it in a list")
        if isinstance(params, (set, frozenset)):
            raise TypeError(_UNORDERED)
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._scratch: dict[tuple, Any] = {}
        self._views: dict[tuple, Any] = {}  # (id(array), shape, which) -> its scratch view
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            options = ", ".join(f"{key}={value}" for key, value in group.items() if key != "params")
            lines.append(f"  group {index}: {len(group['params'])} params, {options}")
        return "\n".join([*lines, ")"])

    # --- parameter groups -----------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options; options it leaves out take the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a param group must be a dict, not {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("a param group needs a 'params' entry")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(_UNORDERED)
        params = list(params)
        for index, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but parameter {index} of the group "
                                f"is a {type(p).__name__}")
            if not p.requires_grad:
                raise ValueError(f"parameter {index} of the group (shape {tuple(p.shape)}) does not require "
                                 "grad, so it would never get a gradient: make it with requires_grad=True")
            if p.node is not None:
                raise ValueError(f"parameter {index} of the group (shape {tuple(p.shape)}) is computed by an "
                                 "op, not a leaf: optimize the leaf tensors it came from")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("a parameter group contains the same parameter twice")
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group = {**param_group, "params": params}
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._check_options(group)
        self.param_groups.append(group)

    def _check_options(self, group: dict[str, Any]) -> None:
        """Raise ValueError for an option out of range; subclasses add theirs."""
        check_at_least(group, "lr")

    # --- the step ---------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: drop them (the default), or zero their arrays in place."""
        recorded(functools.partial(self._zero_grad, set_to_none))

    def _zero_grad(self, set_to_none: bool) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                else:
                    zero_grad_in_place(p)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()`` (called first) if given."""
        watch = watching()
        if watch is not None and watch.trace is not None:  # a compiled step replays the update as an Effect
            if closure is not None:
                raise TraceError(f"{type(self).__name__}.step(closure) inside a trace (wg.compile): call the "
                                 "closure's code in the compiled function, then step() without it")
            recorded(self._update_all)
            return None
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._update_all()
        return loss

    def _update_all(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if grad.shape != p.data.shape:
                    raise ValueError(f"{type(self).__name__}.step: a parameter of shape {tuple(p.shape)} has a "
                                     f"gradient of shape {tuple(grad.shape)}")
                self.update(p.data, grad.data, self.state[p], group)
                bump_version(p)

    def update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Change the array ``p`` in place, given its gradient array ``g`` (never modified)."""
        raise NotImplementedError

    def scratch(self, p: Any, which: int = 0) -> Any:
        """Work array number ``which``, shaped like ``p``, for the update in progress.

        It is a view of one flat buffer per dtype, kept as large as the largest parameter and
        shared by all parameters: scratch space costs one parameter's size, not the model's.
        """
        view = self._views.get((id(p), p.shape, which))
        if view is not None and view.dtype == p.dtype and type(view) is type(p):
            return view  # reshaping a view each step would cost more than some updates
        key = (type(p), p.dtype, which)
        buffer = self._scratch.get(key)
        if buffer is None or buffer.size < p.size:
            buffer = self._scratch[key] = namespace(p).empty(p.size, dtype=p.dtype)
        view = self._views[(id(p), p.shape, which)] = buffer[: p.size].reshape(p.shape)
        return view

    def gradient(self, p: Any, g: Any, maximize: bool, weight_decay: float) -> Any:
        """The gradient the rule follows: ``-g`` when maximizing, plus ``weight_decay * p`` (an L2
        penalty). ``g`` itself if neither applies, else a scratch array: ``g`` is left untouched."""
        if not maximize and not weight_decay:
            return g
        xp = namespace(p)
        out = self.scratch(p, 1)
        if weight_decay:
            xp.multiply(p, weight_decay, out=out)
            if maximize:
                out -= g
            else:
                out += g
        else:
            xp.negative(g, out=out)
        return out

    # --- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index, ...]}]}``, where
        parameters are numbered in group order, as in PyTorch. Arrays are copies: later steps leave it
        unchanged."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            saved = copy.deepcopy({key: value for key, value in group.items() if key != "params"})
            saved["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(saved)
        state = {index[id(p)]: {name: _copy(value) for name, value in values.items()}
                 for p, values in self.state.items() if id(p) in index and values}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore options and state saved by ``state_dict()``, for the same parameters in the same order.

        State arrays are copied and cast to their parameter's dtype. Everything is checked before
        anything changes, so a mismatched checkpoint leaves the optimizer as it was.
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"load_state_dict: the state dict has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        params = {}
        for number, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"load_state_dict: parameter group {number} has {len(saved['params'])} "
                                 f"parameters in the state dict but {len(group['params'])} in this optimizer")
            params.update(zip(saved["params"], group["params"]))
        state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for index, values in state_dict["state"].items():
            if index not in params:
                raise ValueError(f"load_state_dict: state for parameter {index}, which no group lists")
            p = params[index]
            state[p] = {name: _load(value, p, f"state[{index}][{name!r}]") for name, value in values.items()}
        loaded = []
        for saved in saved_groups:
            options = copy.deepcopy({key: value for key, value in saved.items() if key != "params"})
            self._check_options({**self.defaults, **options})
            loaded.append(options)
        for options, group in zip(loaded, self.param_groups):
            params_of_group = group["params"]
            group.clear()  # in place: whoever holds a group dict sees the loaded options
            group.update({"params": params_of_group, **options})
        self.state = state


def check_at_least(group: dict[str, Any], *names: str, low: float = 0.0) -> None:
    """Raise ValueError unless every option ``names`` of ``group`` is at least ``low``."""
    for name in names:
        if not group[name] >= low:  # written so that NaN fails too
            raise ValueError(f"invalid {name}: {group[name]} (must be >= {low})")


# Elements per block of add_scaled: a float32 block (256 KB) stays in the L2 cache between its
# write and its read, where a whole-parameter temporary would go out to memory and back.
BLOCK = 1 << 16


def add_scaled(y: Any, alpha: float, x: Any, tmp: Any) -> None:
    """``y += alpha * x`` in place, with ``tmp`` (which may be ``x``) holding the product."""
    if alpha == 1:
        y += x
        return
    if add_scaled_blas(y, alpha, x):
        return
    multiply = namespace(x).multiply
    if x.size <= BLOCK or not (y.flags.c_contiguous and x.flags.c_contiguous and tmp.flags.c_contiguous):
        multiply(x, alpha, out=tmp)
        y += tmp
        return
    in_place = tmp is x
    y, x, tmp = y.reshape(-1), x.reshape(-1), tmp.reshape(-1)  # views: all three are contiguous
    for start in range(0, y.size, BLOCK):
        stop = min(start + BLOCK, y.size)
        block = tmp[start:stop] if in_place else tmp[: stop - start]
        multiply(x[start:stop], alpha, out=block)
        y[start:stop] += block


def _is_array(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, Tensor)


def _copy(value: Any) -> Any:
    return value.copy() if _is_array(value) else copy.deepcopy(value)


def _load(value: Any, p: Tensor, where: str) -> Any:
    """A copy of a saved state value, as an array of ``p``'s backend and (if floating) dtype."""
    if isinstance(value, Tensor):
        value = value.data
    if not _is_array(value):
        return copy.deepcopy(value)
    if tuple(value.shape) != tuple(p.shape):
        raise ValueError(f"load_state_dict: {where} has shape {tuple(value.shape)}, but its parameter has "
                         f"shape {tuple(p.shape)}")
    dtype = p.dtype if value.dtype.kind == "f" else value.dtype
    return namespace(p.data).array(value, dtype=dtype, copy=True)
