"""wg.compile fuzzed for aliasing: random programs of products (some large enough for the buffer pool),
elementwise steps that may write over their inputs, views and reductions, each replayed several times
and compared with eager code, while the caller keeps earlier results, views of them, inputs and gradients,
which no later replay may write over."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import wengert as wg
import wengert.nn.functional as F
from wengert import nn, optim

# (batch, features of the batch, widths of the products): 100 rows of 200 or 300 columns make a product of at
# least 64 KiB, which the buffer pool keeps; 256 x 300 x 300 products of a layer's two gradients run side by side
SIZES = {"pooled": (100, 300, (300, 200, 8)), "side by side": (256, 300, (300,)), "small": (6, 8, (8, 300))}
NUMBERS = (2.0, -0.5, 3, 1.0, 0)
LARGEST = 100_000  # elements of any value or parameter: keeps each example fast


@dataclasses.dataclass
class Recipe:
    """A random program on inputs ``v0`` (a batch) and ``v1``: each step makes the next value."""

    dtype: str
    z_dtype: str  # v1's: the same, or the other float dtype (promotions)
    shapes: list  # each value's shape: the two inputs', then each step's
    parameters: list = dataclasses.field(default_factory=list)  # their shapes (W0, W1, ...)
    constants: list = dataclasses.field(default_factory=list)  # shapes of constant tensors (C0, ...)
    steps: list = dataclasses.field(default_factory=list)
    outputs: list = dataclasses.field(default_factory=list)
    single: bool = True

    def _repr_pretty_(self, printer, cycle) -> None:  # hypothesis prints a failing example so
        printer.text(repr(self))

    def __repr__(self) -> str:  # the program as code, for a failing example
        lines = [f"# v0 {self.shapes[0]} {self.dtype}, v1 {self.shapes[1]} {self.z_dtype}, W {self.parameters}, "
                 f"C {self.constants}"]
        lines += [f"v{number} = {_code(step)}" for number, step in enumerate(self.steps, 2)]
        returned = ", ".join(f"v{i}" for i in self.outputs)
        return "\n".join([*lines, f"return {returned}{'' if self.single else ','}"])


def _code(step: tuple) -> str:
    kind, i, *rest = step
    if kind == "matmul":
        return f"v{i} @ W{rest[0]}"
    if kind == "left_matmul":
        return f"W{rest[0]} @ v{i}"
    if kind == "linear":
        return f"F.linear(v{i}, W{rest[0]}{'' if rest[1] is None else f', W{rest[1]}'})"
    if kind == "binary":
        op, operand, swapped = rest
        other = {"value": "v", "parameter": "W", "constant": "C", "number": ""}[operand[0]] + str(operand[1])
        symbol = {"add": "+", "subtract": "-", "multiply": "*"}[op]
        return f"{other} {symbol} v{i}" if swapped else f"v{i} {symbol} {other}"
    if kind == "slice":
        parts = [":" if s == slice(None) else f"{s.start or ''}:{s.stop or ''}" + (f":{s.step}" if s.step else "")
                 for s in rest[0]]
        return f"v{i}[{', '.join(parts)}]"
    if kind == "sum":
        return f"v{i}.sum(axis={rest[0]}, keepdims={rest[1]})"
    if kind == "reshape":
        return f"v{i}.reshape({rest[0]})"
    return {"relu": f"wg.relu(v{i})", "transpose": f"v{i}.T"}[kind]


def _apply(step: tuple, values: list, parameters: list, constants: list):
    kind, i, *rest = step
    v = values[i]
    if kind == "matmul":
        return v @ parameters[rest[0]]
    if kind == "left_matmul":
        return parameters[rest[0]] @ v
    if kind == "linear":
        return F.linear(v, parameters[rest[0]], None if rest[1] is None else parameters[rest[1]])
    if kind == "binary":
        op, (source, which), swapped = rest
        other = {"value": values, "parameter": parameters, "constant": constants}[source][which] if (
            source != "number") else which
        a, b = (other, v) if swapped else (v, other)
        return a + b if op == "add" else a - b if op == "subtract" else a * b
    if kind == "slice":
        return v[rest[0]]
    if kind == "sum":
        return v.sum(axis=rest[0], keepdims=rest[1])
    if kind == "reshape":
        return v.reshape(rest[0])
    return wg.relu(v) if kind == "relu" else v.T


def run(recipe: Recipe, parameters: list, constants: list, x, z):
    """The recipe's program on Tensors: what is compiled, and the eager reference."""
    values = [x, z]
    for step in recipe.steps:
        values.append(_apply(step, values, parameters, constants))
    results = tuple(values[i] for i in recipe.outputs)
    return results[0] if recipe.single else results


def _shape_of(step: tuple, recipe: Recipe) -> tuple:
    """The shape of the value ``step`` makes."""
    kind, i, *rest = step
    shape = recipe.shapes[i]
    if kind == "matmul":
        return shape[:-1] + recipe.parameters[rest[0]][1:]
    if kind == "left_matmul":
        return (recipe.parameters[rest[0]][0], shape[1])
    if kind == "linear":
        return (*shape[:-1], recipe.parameters[rest[0]][0])
    if kind == "binary":
        source, which = rest[1]
        shapes = {"value": recipe.shapes, "parameter": recipe.parameters, "constant": recipe.constants}
        return np.broadcast_shapes(shape, () if source == "number" else shapes[source][which])
    if kind == "relu":
        return shape
    if kind == "reshape":
        return rest[0]
    stand_in = np.broadcast_to(np.zeros((), np.float32), shape)  # numpy's rules, on no memory
    return np.shape(_apply(step, [None] * i + [stand_in], [], []))


@st.composite
def recipes(draw, size: str) -> Recipe:
    """Random programs: products (by parameters of widths that make some of them pooled), relu,
    +, -, * (with values, parameters, constants and numbers, broadcasting), reshapes, transposes,
    slices and sums; returning the last value and perhaps intermediate ones too."""
    batch, features, widths = SIZES[size]
    z_shape = draw(st.sampled_from([(batch, features), (features,), (batch, 1), (1, features)]))
    dtype = draw(st.sampled_from(["float64", "float32"]))
    z_dtype = draw(st.sampled_from([dtype, dtype, "float32" if dtype == "float64" else "float64"]))
    recipe = Recipe(dtype, z_dtype, [(batch, features), z_shape])
    for _ in range(draw(st.integers(1, 7))):
        last = len(recipe.shapes) - 1
        i = last - draw(st.integers(0, min(3, last)))  # mostly recent values: chains
        shape = recipe.shapes[i]
        counts = len(recipe.parameters), len(recipe.constants)
        kind = draw(st.sampled_from(["matmul", "linear", "relu", "binary", "binary", "matmul", "linear",
                                     "left_matmul", "reshape", "transpose", "slice", "sum"]))
        if (kind == "left_matmul" and len(shape) != 2) or (kind in ("matmul", "linear") and not shape):
            kind = "relu"
        if kind == "matmul":  # by a matrix, or a vector (a matrix-vector product)
            recipe.parameters.append(draw(st.sampled_from([(shape[-1], width) for width in widths] + [shape[-1:]])))
            step = ("matmul", i, len(recipe.parameters) - 1)
        elif kind == "left_matmul":
            recipe.parameters.append((draw(st.sampled_from(widths)), shape[0]))
            step = ("left_matmul", i, len(recipe.parameters) - 1)
        elif kind == "linear":
            width = draw(st.sampled_from(widths))
            recipe.parameters.append((width, shape[-1]))
            bias = None
            if draw(st.booleans()):
                recipe.parameters.append((width,))
                bias = len(recipe.parameters) - 1
            step = ("linear", i, len(recipe.parameters) - 2 if bias is not None else len(recipe.parameters) - 1,
                    bias)
        elif kind == "binary":
            step = ("binary", i, draw(st.sampled_from(["add", "subtract", "multiply"])),
                    _operand(draw, recipe, shape), draw(st.booleans()))
        elif kind == "reshape":
            options = [shape, (math.prod(shape),)]
            if len(shape) == 2:
                options.append(shape[::-1])
                if shape[0] % 2 == 0:  # a stack of two matrices
                    options.append((2, shape[0] // 2, shape[1]))
            if len(shape) == 1 and shape[0] % 2 == 0:
                options.append((2, shape[0] // 2))
            step = ("reshape", i, draw(st.sampled_from(options)))
        elif kind == "slice" and any(length >= 2 for length in shape):
            axis = draw(st.sampled_from([a for a, length in enumerate(shape) if length >= 2]))
            cut = draw(st.sampled_from([slice(None, shape[axis] // 2), slice(1, None), slice(None, None, 2)]))
            step = ("slice", i, (slice(None),) * axis + (cut,))
        elif kind == "sum" and shape:
            step = ("sum", i, draw(st.sampled_from([None, *range(len(shape)), -1])), draw(st.booleans()))
        else:
            step = ("transpose" if kind == "transpose" else "relu", i)
        new_shape = _shape_of(step, recipe)
        if any(math.prod(shape) > LARGEST for shape in [new_shape, *recipe.parameters[counts[0]:]]):
            del recipe.parameters[counts[0]:], recipe.constants[counts[1]:]  # too large: no step
            continue
        recipe.steps.append(step)
        recipe.shapes.append(new_shape)
    if not recipe.steps:
        recipe.steps.append(("relu", 0))
        recipe.shapes.append(recipe.shapes[0])
    last = len(recipe.shapes) - 1
    first = draw(st.sampled_from([last, *range(2, last + 1)]))  # mostly the last value
    extras = draw(st.lists(st.integers(2, last), max_size=2))
    recipe.outputs = [_use_every_input(recipe, first), *extras]
    recipe.single = len(recipe.outputs) == 1 and draw(st.booleans())
    return recipe


def _operand(draw, recipe: Recipe, shape: tuple) -> tuple:
    """The other operand of a binary step on a value of ``shape``: a value it broadcasts with, a
    parameter or constant vector along its last axis (or a column), or a number."""
    fits = [j for j, other in enumerate(recipe.shapes) if _broadcasts(shape, other)]
    choice = draw(st.sampled_from(["value", "number", "parameter", "constant"]))
    if choice == "value" and fits:
        return ("value", draw(st.sampled_from(fits)))
    if choice in ("parameter", "constant") and shape:
        shapes = recipe.parameters if choice == "parameter" else recipe.constants
        shapes.append(draw(st.sampled_from([shape[-1:], (1, shape[-1]), (*shape[:-1], 1), shape])))
        return (choice, len(shapes) - 1)
    return ("number", draw(st.sampled_from(NUMBERS)))


def _broadcasts(a: tuple, b: tuple) -> bool:
    try:
        return math.prod(np.broadcast_shapes(a, b)) <= LARGEST
    except ValueError:
        return False


def _use_every_input(recipe: Recipe, first: int) -> int:
    """The first output, with steps added that make it read both inputs (a compiled function must
    use each of them)."""
    read = _ancestors(recipe, first)
    for source in (0, 1):
        if source not in read:
            recipe.steps.append(("sum", source, None, False))
            recipe.shapes.append(())
            recipe.steps.append(("binary", first, "add", ("value", len(recipe.shapes) - 1), False))
            recipe.shapes.append(recipe.shapes[first])
            first = len(recipe.shapes) - 1
    return first


def _ancestors(recipe: Recipe, index: int) -> set:
    found, stack = set(), [index]
    while stack:
        value = stack.pop()
        if value in found:
            continue
        found.add(value)
        if value >= 2:
            step = recipe.steps[value - 2]
            stack.append(step[1])
            if step[0] == "binary" and step[3][0] == "value":
                stack.append(step[3][1])
    return found


# --- checking one program ----------------------------------------------------------------------------

def _tolerances(dtype) -> dict:
    return {"rtol": 1e-10, "atol": 1e-10} if np.dtype(dtype) == np.float64 else {"rtol": 2e-4, "atol": 2e-4}


def _assert_close(got, want, dtype, message: str) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype, (message, got.shape, want.shape, got.dtype, want.dtype)
    tolerance = _tolerances(dtype)
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=tolerance["rtol"], atol=tolerance["atol"] * scale, err_msg=message)


class Kept:
    """Arrays the caller holds (earlier results, views of them, inputs, gradients), each with a copy
    taken when it was kept: no later call may change them."""

    def __init__(self) -> None:
        self.pairs: list = []

    def keep(self, array, what: str) -> None:
        self.pairs.append((array, array.copy(), what))

    def assert_unchanged(self, when: str) -> None:
        for array, copy, what in self.pairs:
            assert np.array_equal(array, copy, equal_nan=True), f"{what}: changed {when}"


def _sharing(arrays: list) -> list:
    return [[np.shares_memory(a, b) for b in arrays] for a in arrays]


@dataclasses.dataclass
class Plan:
    """What the caller does around each call: which results (or views of them) to keep, whether to
    differentiate now or later, how to treat the gradients, whether to feed a result back as input."""

    grad: bool
    calls: list  # per call: (keep each output as, "now" | "later" | "never" backward, gradients, feed back)
    x_requires_grad: bool
    z_requires_grad: bool
    frozen: bool  # parameters that do not require grad: the trace takes them for constants


@st.composite
def plans(draw, recipe: Recipe) -> Plan:
    calls = [(draw(st.lists(st.sampled_from(["tensor", "rows", "transpose", "columns", "nothing"]),
                            min_size=len(recipe.outputs), max_size=len(recipe.outputs))),
              draw(st.sampled_from(["now", "later", "never"])),
              draw(st.sampled_from(["accumulate", "drop", "hold and drop"])), draw(st.booleans()))
             for _ in range(draw(st.integers(3, 4)))]
    return Plan(draw(st.booleans()), calls, *(draw(st.booleans()) for _ in range(3)))


def _window(normals, shape: tuple, rng):
    """Normal numbers of ``shape``, from a random place of ``normals`` (faster than drawing them anew)."""
    start = rng.integers(0, normals.size - math.prod(shape) + 1)
    return normals[start:start + math.prod(shape)].reshape(shape)


def _view(array, how: str):
    """A view of ``array`` as a caller might keep one (never a copy)."""
    if how == "rows":
        return array[:2] if array.ndim else array
    if how == "columns":
        return array[..., 1:3] if array.ndim else array
    if how == "transpose":
        return array.T
    return array


def check_against_eager(recipe: Recipe, plan: Plan, seed: int) -> None:
    """Compile the recipe, call it per ``plan`` on new inputs each time, and compare every result and
    gradient with eager code's; everything the caller kept must keep its values throughout."""
    rng = np.random.default_rng(seed)
    dtype, z_dtype = np.dtype(recipe.dtype), np.dtype(recipe.z_dtype)
    precision = min(dtype, z_dtype, key=lambda d: d.itemsize)  # of the tolerances
    normals = rng.standard_normal(2 * 300 * 300).astype(dtype)  # parameters: windows of it, scaled by 1/sqrt(fan-in)
    arrays = [_window(normals, shape, rng) / dtype.type(math.sqrt(shape[-1] if len(shape) == 2 else 1))
              for shape in recipe.parameters]
    mine = [wg.tensor(a, requires_grad=not plan.frozen) for a in arrays]
    theirs = [wg.tensor(a, requires_grad=not plan.frozen) for a in arrays]
    constants = [wg.tensor(rng.standard_normal(shape).astype(dtype)) for shape in recipe.constants]
    compiled = wg.compile(lambda x, z: run(recipe, mine, constants, x, z))
    kept, deferred = Kept(), []
    fed_back = None
    mode = contextlib.nullcontext if plan.grad else wg.no_grad
    for number, (keep_as, backward, gradients, feed_back) in enumerate(plan.calls):
        x_array = fed_back if fed_back is not None else rng.standard_normal(recipe.shapes[0]).astype(dtype)
        z_array = rng.standard_normal(recipe.shapes[1]).astype(z_dtype)
        x_mine, z_mine = (wg.Tensor(x_array, plan.grad and plan.x_requires_grad),
                          wg.Tensor(z_array, plan.grad and plan.z_requires_grad))
        # copies of the same layout (a fed-back result is column-major: reshaping it copies, as numpy does)
        x_theirs, z_theirs = (wg.Tensor(x_array.copy(order="K"), x_mine.requires_grad),
                              wg.Tensor(z_array.copy(order="K"), z_mine.requires_grad))
        kept.keep(x_array, f"input x of call {number}")
        kept.keep(z_array, f"input z of call {number}")
        with mode():
            got, want = compiled(x_mine, z_mine), run(recipe, theirs, constants, x_theirs, z_theirs)
        got, want = ((got,), (want,)) if recipe.single else (got, want)
        for index, (result, reference) in enumerate(zip(got, want)):
            _assert_close(result.detach().numpy(), reference.detach().numpy(), precision,
                          f"output {index}, call {number}")
        # results share memory with each other, the inputs and the parameters exactly where eager ones do
        sides = [[t.detach().numpy() for t in (*results, x, z, *parameters)]
                 for results, x, z, parameters in [(got, x_mine, z_mine, mine), (want, x_theirs, z_theirs, theirs)]]
        sharing, eager_sharing = _sharing(sides[0]), _sharing(sides[1])
        for i, j in itertools.combinations(range(len(sides[0])), 2):
            assert sharing[i][j] == eager_sharing[i][j], f"memory shared unlike eager's: {i}, {j}, call {number}"
        fed_back = None
        if feed_back and got[0].shape == recipe.shapes[0] and got[0].dtype == dtype:
            fed_back = got[0].detach().numpy()  # the next call's batch is this result itself
        assert not plan.grad or got[0].requires_grad == want[0].requires_grad, number
        if plan.grad and want[0].requires_grad:
            weights = wg.tensor(rng.standard_normal(got[0].shape).astype(got[0].dtype))
            differentiated = ([_loss(got[0], weights, x_mine, z_mine), _loss(want[0], weights, x_theirs, z_theirs)],
                              [(x_mine, z_mine), (x_theirs, z_theirs)], number)
            if backward == "now":
                _backward_and_compare(*differentiated, mine, theirs, precision, kept)
            elif backward == "later":
                deferred.append(differentiated)
            del differentiated  # never: the call's graph (and what its backward would read) is dropped
        for index, (result, how) in enumerate(zip(got, keep_as)):
            if how != "nothing":
                kept.keep(_view(result.detach().numpy(), how), f"output {index} of call {number} kept as {how}")
        del got, want, result
        kept.assert_unchanged(f"after call {number}")
        if gradients != "accumulate":
            for parameter, twin in zip(mine, theirs):
                if gradients == "hold and drop" and parameter.grad is not None:
                    kept.keep(parameter.grad.numpy(), f"a parameter's gradient dropped after call {number}")
                parameter.grad = twin.grad = None
    for differentiated in deferred:  # backward after later calls: what its call kept must be intact
        _backward_and_compare(*differentiated, mine, theirs, precision, kept)
    kept.assert_unchanged("at the end")


def _loss(output, weights, *inputs):
    """A scalar of the first output; inputs that require grad are read eagerly too, so that their
    gradients from the compiled call and from eager code add up."""
    loss = (output * weights).sum()
    for leaf in inputs:
        if leaf.requires_grad:
            loss = loss + (leaf * leaf).sum()
    return loss


def _backward_and_compare(losses: list, leaves: list, number: int, mine: list, theirs: list, dtype,
                          kept: Kept) -> None:
    """Differentiate a compiled call's loss and its eager twin; compare the gradients they add."""
    when = f"backward of call {number}"
    for loss in losses:
        loss.backward()
    for parameter, twin in [*zip(leaves[0], leaves[1]), *zip(mine, theirs)]:
        assert (parameter.grad is None) == (twin.grad is None), when  # None where the loss does not read it
        if twin.grad is not None:
            _assert_close(parameter.grad.numpy(), twin.grad.numpy(), dtype, f"gradient, {when}")
    for x in leaves[0]:
        if x.grad is not None:
            kept.keep(x.grad.numpy(), f"an input's gradient, {when}")
    grads = [p.grad.numpy() for p in [*leaves[0], *mine] if p.grad is not None]
    assert not any(np.shares_memory(a, b) for n, a in enumerate(grads) for b in grads[n + 1:]), when


@pytest.mark.parametrize("size", sorted(SIZES))
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_random_compiled_programs_match_eager_code_and_never_write_over_what_the_caller_keeps(size, data):
    """Each random program, compiled and called 3-4 times with and without grad, gives eager code's
    results and gradients, shares memory where eager code does, and leaves what the caller kept alone."""
    recipe = data.draw(recipes(size), label="recipe")
    plan = data.draw(plans(recipe), label="plan")
    check_against_eager(recipe, plan, seed=data.draw(st.integers(0, 1000), label="seed"))


# --- a whole training step -------------------------------------------------------------------------

def _model(seed: int, widths: tuple, dtype):
    wg.manual_seed(seed)
    layers = [nn.Linear(300, widths[0])]
    for before, after in itertools.pairwise(widths):
        layers += [nn.ReLU(), nn.Linear(before, after)]
    return nn.Sequential(*layers).to(dtype)


def _training_step(model, optimizer, set_to_none: bool, with_logits: bool):
    def step(x, y):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=set_to_none)
        loss.backward()
        optimizer.step()
        return (loss, logits) if with_logits else loss

    return step


@settings(max_examples=50, deadline=None)
@example(dtype=wg.float32, batch=256, widths=(300, 300, 10), optimizer="SGD with momentum", set_to_none=True,
         with_logits=True, holds=["gradients", "nothing", "gradient rows", "logits", "nothing"])  # side by side
@example(dtype=wg.float64, batch=256, widths=(300, 300, 10), optimizer="Adam", set_to_none=False,
         with_logits=False, holds=["nothing", "gradients", "nothing", "gradient rows"])
@given(dtype=st.sampled_from([wg.float64, wg.float32]), batch=st.sampled_from([100, 256, 4]),
       widths=st.sampled_from([(300, 10), (300, 300, 10), (200, 300, 10)]),
       optimizer=st.sampled_from(["SGD", "SGD with momentum", "Adam"]),
       set_to_none=st.booleans(), with_logits=st.booleans(),
       holds=st.lists(st.sampled_from(["gradients", "gradient rows", "logits", "nothing"]), min_size=4, max_size=5))
def test_a_compiled_training_step_matches_eager_steps_and_leaves_kept_gradients_and_results_alone(
        dtype, batch, widths, optimizer, set_to_none, with_logits, holds):
    """nn.Linear layers whose products and weight gradients are pooled, an optimizer, the whole step compiled;
    the caller keeps gradients (of earlier steps), views of them, and results: a later step writes over
    none (a dropped gradient is never written again; one zeroed in place changes as eager code's does)."""
    models = [_model(1, widths, dtype) for _ in range(2)]
    optimizers = [optim.Adam(model.parameters(), lr=1e-3) if optimizer == "Adam" else
                  optim.SGD(model.parameters(), lr=0.05, momentum=0.9 if "momentum" in optimizer else 0.0)
                  for model in models]
    eager = _training_step(models[0], optimizers[0], set_to_none, with_logits)
    compiled = wg.compile(_training_step(models[1], optimizers[1], set_to_none, with_logits))
    rng = np.random.default_rng(batch)
    kept, held = Kept(), []  # held: (compiled gradient, eager gradient), Tensors kept across steps
    for number, hold in enumerate(holds):
        x = rng.standard_normal((batch, 300)).astype(dtype)
        y = rng.integers(0, widths[-1], batch)
        got, want = compiled(wg.tensor(x), wg.tensor(y)), eager(wg.tensor(x), wg.tensor(y))
        got, want = (got, want) if with_logits else ((got,), (want,))
        for index, (result, reference) in enumerate(zip(got, want)):
            _assert_close(result.detach().numpy(), reference.detach().numpy(), dtype, f"output {index}, step {number}")
        for mine, theirs in zip(models[1].parameters(), models[0].parameters()):
            _assert_close(mine.detach().numpy(), theirs.detach().numpy(), dtype, f"parameter after step {number}")
            _assert_close(mine.grad.numpy(), theirs.grad.numpy(), dtype, f"gradient of step {number}")
        grads = [p.grad.numpy() for p in models[1].parameters()]
        assert not any(np.shares_memory(a, b) for n, a in enumerate(grads) for b in grads[n + 1:]), number
        if hold == "logits" and with_logits:
            kept.keep(got[1].detach().numpy()[:2], f"rows of step {number}'s logits")
            kept.keep(got[1].detach().numpy().T, f"step {number}'s logits, transposed")
        kept.keep(got[0].detach().numpy(), f"step {number}'s loss")
        if hold.startswith("gradient"):
            for mine, theirs in zip(models[1].parameters(), models[0].parameters()):
                held.append((mine.grad, theirs.grad))
                if set_to_none:  # dropped by the next step's zero_grad: never to be written again
                    kept.keep(mine.grad.numpy()[:2] if hold == "gradient rows" else mine.grad.numpy(),
                              f"a gradient of step {number}")
        del got, want, result, grads
        kept.assert_unchanged(f"after step {number}")
    for mine, theirs in held:  # a gradient the caller kept has eager code's values, zeroed in place or not
        _assert_close(mine.numpy(), theirs.numpy(), dtype, "a kept gradient")
    assert compiled.traces == 1


# --- minimal reproductions of what the fuzzing found ---------------------------------------------------

def test_two_results_computed_alike_are_two_arrays_as_in_eager_code():
    """Found by the fuzzing: common subexpressions merged two outputs into one array, which the caller
    got twice (as two Tensors with versions of their own): changing the detached one in place changed
    the other, and silently the first output's gradient (relu's backward reads that array)."""
    rng = np.random.default_rng(0)
    W = wg.tensor(rng.standard_normal((4, 4)), requires_grad=True)
    x = wg.tensor(rng.standard_normal((3, 4)))

    def twice(t):
        return wg.relu(t @ W), wg.relu(t @ W)

    gradients = []
    for function in (twice, wg.compile(twice)):
        W.grad = None
        out, extra = function(x)
        with wg.no_grad():
            extra -= 100.0  # the caller's own result, changed in place
        out.sum().backward()
        gradients.append(W.grad.numpy())
    np.testing.assert_allclose(gradients[1], gradients[0], rtol=1e-12)
    assert not np.shares_memory(out.detach().numpy(), extra.numpy())


def test_a_parameter_the_first_output_does_not_read_gets_no_gradient_so_an_optimizer_leaves_it_alone():
    """Found by the fuzzing (not aliasing): a compiled function gave a parameter that only a later output
    reads a zero gradient where eager code leaves ``.grad`` None; weight decay (or momentum, or Adam)
    then moved that parameter under compile only."""
    results = []
    for compile_it in (False, True):
        a = wg.tensor(np.ones(3), requires_grad=True)
        b = wg.tensor(np.ones(3), requires_grad=True)
        optimizer = optim.SGD([a, b], lr=0.1, weight_decay=0.5)

        def two_heads(x, a=a, b=b):
            return (x * a).sum(), (x * b).sum()

        function = wg.compile(two_heads) if compile_it else two_heads
        loss, _ = function(wg.tensor(np.ones(3)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        results.append((b.grad, b.detach().numpy().copy()))
    assert results[1][0] is None  # as eager code's
    np.testing.assert_array_equal(results[1][1], results[0][1])


@pytest.mark.parametrize("compiled", [False, True])
def test_one_result_returned_twice_is_one_array_as_in_eager_code(compiled):
    """What a fix of two results computed alike (above) must keep: a function that returns one Tensor
    twice gives the caller one array twice, and views of an input stay views of it, not copies."""
    def same_twice(t):
        doubled = t * 2
        return doubled + 1, doubled, doubled, t[:2], t[:2]

    x = wg.tensor(np.arange(12.0).reshape(3, 4))
    with wg.no_grad():
        _, first, second, rows, again = (wg.compile(same_twice) if compiled else same_twice)(x)
    assert np.shares_memory(first.numpy(), second.numpy())
    assert np.shares_memory(rows.numpy(), x.numpy()) and np.shares_memory(again.numpy(), x.numpy())


def _relu_layer():
    rng = np.random.default_rng(0)
    return wg.tensor(rng.standard_normal((4, 4)), requires_grad=True), wg.tensor(rng.standard_normal((3, 4)))


@pytest.mark.parametrize("compiled", [False, True])
def test_a_compiled_result_changed_in_place_before_backward_is_caught_as_in_eager_code(compiled):
    """Found while fuzzing: the compiled call's backward reads relu's output, the very array the caller
    got; a change to it in place went unnoticed (eager code raises), and the gradient came out wrong."""
    W, x = _relu_layer()

    def layer(t):
        return wg.relu(t @ W)

    out = (wg.compile(layer) if compiled else layer)(x)
    total = out.sum()
    with wg.no_grad():
        out -= 100.0
    with pytest.raises(wg.BackwardError, match="modified in place"):
        total.backward()


@pytest.mark.parametrize("compiled", [False, True])
def test_a_detached_second_result_changed_in_place_before_backward_is_caught_as_in_eager_code(compiled):
    """Found while fuzzing: a second result came back detached but, unlike ``Tensor.detach()``, with a
    version count of its own, while the first result's backward reads the same array: changing it in
    place went unnoticed and the gradient came out wrong (eager code raises)."""
    W, x = _relu_layer()

    def loss_and_hidden(t):
        hidden = wg.relu(t @ W)
        return (hidden * hidden).sum(), hidden

    loss, hidden = (wg.compile(loss_and_hidden) if compiled else loss_and_hidden)(x)
    changed = hidden if compiled else hidden.detach()  # eagerly, the second result is not detached
    with wg.no_grad():
        changed -= 100.0
    with pytest.raises(wg.BackwardError, match="modified in place"):
        loss.backward()


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("which", ["first", "second"])
def test_a_view_of_what_the_backward_reads_changed_in_place_is_caught_as_in_eager_code(which, compiled):
    """As above, with the result a view (a transpose) of relu's output, which the compiled call's
    backward reads: eagerly a view shares its base's version count, and the change is refused."""
    W, x = _relu_layer()

    def first_transposed(t):
        return wg.relu(t @ W).T

    def loss_and_transposed(t):
        hidden = wg.relu(t @ W)
        return (hidden * hidden).sum(), hidden.T

    function = first_transposed if which == "first" else loss_and_transposed
    results = (wg.compile(function) if compiled else function)(x)
    if which == "first":
        loss, view = results.sum(), results
    else:
        loss, view = results[0], results[1] if compiled else results[1].detach()
    with wg.no_grad():
        view -= 100.0
    with pytest.raises(wg.BackwardError, match="modified in place"):
        loss.backward()
