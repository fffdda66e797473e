"""Type promotion follows PyTorch: result dtypes, values and gradient dtypes on a table of mixed operands.

Operands: tensors of every dtype with dimensions and 0-d, Python numbers, numpy scalars. PyTorch
treats a numpy scalar like a Python number; wengert treats it as a 0-d array of its dtype, because a
0-d Tensor's data can itself be a numpy scalar (see wengert/core/dtypes.py): the reference for those
operands is PyTorch given a 0-d tensor.
"""

import itertools
import operator
import warnings

import numpy as np
import pytest
import torch

import wengert as wg
from wengert.core.dtypes import promote, result_dtype

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
FLOATS = ["float16", "float32", "float64"]


def values_of(dtype, ndim):
    """Positive values (no 0: division and powers stay finite), exact in every dtype."""
    if dtype == "bool":
        return np.array([True, True, False][:3 if ndim else 1]).reshape((3,) if ndim else ())
    array = np.array([1, 2, 3] if dtype[0] in "iu" else [0.5, 1.5, 2.5], dtype=dtype)
    return array if ndim else array[1].reshape(())


def tensor_operand(dtype, ndim):
    array = values_of(dtype, ndim)
    return pytest.param(wg.tensor(array), torch.tensor(array), id=f"{dtype}{'[3]' if ndim else '[]'}")


TENSORS = [tensor_operand(dtype, ndim) for dtype in DTYPES for ndim in (1, 0)]
NUMBERS = [pytest.param(value, value, id=f"{type(value).__name__}{value}") for value in (True, 2, 2.5)]
NUMPY_SCALARS = [pytest.param(value, torch.tensor(value), id=f"np.{type(value).__name__}{value}")
                 for value in (np.float64(2.5), np.float32(2.5), np.int64(2), np.int8(2), np.bool_(True))]
OPERANDS = TENSORS + NUMBERS + NUMPY_SCALARS
PAIRS = [(a, b) for a, b in itertools.product(OPERANDS, OPERANDS)
         if isinstance(a.values[0], wg.Tensor) or isinstance(b.values[0], wg.Tensor)]

OPS = {
    # name: (wengert, torch); torch.maximum refuses Python numbers: torch.result_type is the reference then
    "add": (operator.add, operator.add),
    "multiply": (operator.mul, operator.mul),
    "true_divide": (operator.truediv, operator.truediv),
    "power": (operator.pow, operator.pow),
    "maximum": (wg.maximum, torch.maximum),
    "where": (lambda a, b: wg.where(wg.tensor([True, False, True]), a, b),
              lambda a, b: torch.where(torch.tensor([True, False, True]), a, b)),
    "less": (operator.lt, operator.lt),
    "equal": (operator.eq, operator.eq),
}


def torch_reference(torch_fn, a, b):
    """PyTorch's result, or None with its dtype from torch.result_type when the op refuses the operands."""
    try:
        return torch_fn(a, b), None
    except (RuntimeError, TypeError):
        if torch_fn is not torch.maximum and torch_fn is not torch.matmul:
            return None, None  # an op PyTorch does not define for these dtypes (pow of bools): no claim
        return None, torch.result_type(a, b)


def mismatches(wg_fn, torch_fn, pairs):
    """Each pair on which wengert's result dtype or values differ from PyTorch's."""
    found = []
    for pair in pairs:
        (ours_a, theirs_a), (ours_b, theirs_b) = pair[0].values, pair[1].values
        name = f"{pair[0].id} . {pair[1].id}"
        theirs, dtype = torch_reference(torch_fn, theirs_a, theirs_b)
        if theirs is None and dtype is None:
            continue
        dtype = str(theirs.dtype if theirs is not None else dtype).removeprefix("torch.")
        try:
            ours = wg_fn(ours_a, ours_b)
        except Exception as error:  # reported as a mismatch
            found.append(f"{name}: {type(error).__name__} {error}")
            continue
        if str(ours.dtype) != dtype:
            found.append(f"{name}: {ours.dtype}, PyTorch {dtype}")
        elif theirs is not None:
            expected = theirs.numpy().astype(np.float64)
            if not np.allclose(ours.numpy().astype(np.float64), expected, rtol=1e-3, equal_nan=True):
                found.append(f"{name}: values {ours.numpy()} != PyTorch's {expected}")
    return found


@pytest.fixture(params=["float32", "float64"])
def default_dtype(request):
    """The same default float dtype in both libraries (conftest sets PyTorch's to float64)."""
    wg.set_default_dtype(request.param)
    torch.set_default_dtype(getattr(torch, request.param))
    yield request.param
    torch.set_default_dtype(torch.float64)


@pytest.mark.parametrize("name", OPS)
def test_result_dtype_and_values_match_pytorch_for_every_pair_of_operand_kinds(name, default_dtype):
    wg_fn, torch_fn = OPS[name]
    pairs = PAIRS
    if name == "power":  # PyTorch refuses pow of bool tensors (a bool tensor ** True gives bool, numpy's int8)
        pairs = [pair for pair in PAIRS if not all(is_bool(operand.values[1]) for operand in pair)]
    found = mismatches(wg_fn, torch_fn, pairs)
    assert not found, f"{len(found)} of {len(pairs)} pairs differ:\n" + "\n".join(found)


def is_bool(value):
    return value is True or getattr(value, "dtype", None) == torch.bool


def test_matmul_promotes_like_pytorch_would(default_dtype):
    """PyTorch's matmul refuses mixed dtypes; wengert promotes them as every other op does."""
    pairs = [(a, b) for a, b in itertools.product(TENSORS, TENSORS) if a.values[0].ndim and b.values[0].ndim]
    found = mismatches(wg.matmul, torch.matmul, pairs)
    assert not found, f"{len(found)} of {len(pairs)} pairs differ:\n" + "\n".join(found)


@pytest.mark.parametrize("case, expected", [
    # the rules the README states, each on one example
    (lambda: wg.ones(3) * wg.tensor([1, 2, 3]), "float32"),
    (lambda: wg.ones(3) * np.float64(2), "float32"),
    (lambda: wg.ones(3) + wg.tensor(1.0, dtype=wg.float64), "float32"),
    (lambda: wg.ones(3) + wg.ones(3, dtype=wg.float64), "float64"),
    (lambda: wg.tensor([1, 2]) * 2.5, "float32"),
    (lambda: wg.tensor([1, 2]) / 2, "float32"),
    (lambda: wg.tensor([1, 2]) / wg.tensor([3, 4]), "float32"),
    (lambda: wg.tensor([1, 2], dtype=wg.int8) + 1000 // 10, "int8"),
    (lambda: wg.tensor([1, 2], dtype=wg.int8) + wg.tensor(5), "int8"),
    (lambda: wg.tensor(1.0, dtype=wg.float16) + wg.tensor(1.0, dtype=wg.float64), "float64"),
    (lambda: wg.tensor(1.0, dtype=wg.float16) + 1.0, "float16"),
    (lambda: wg.add(1.0, 2.0), "float32"),
    (lambda: wg.add(1, 2), "int64"),
], ids=["f32*i64", "f32*np.float64", "f32+f64[]", "f32+f64", "i64*2.5", "i64/2", "i64/i64", "i8+int", "i8+i64[]",
        "f16[]+f64[]", "f16[]+float", "float+float", "int+int"])
def test_stated_rules(case, expected):
    assert str(case().dtype) == expected


UNARY_FLOAT_OPS = {
    "exp": (wg.exp, torch.exp), "log": (wg.log, torch.log), "log1p": (wg.log1p, torch.log1p),
    "expm1": (wg.expm1, torch.expm1), "sqrt": (wg.sqrt, torch.sqrt), "sin": (wg.sin, torch.sin),
    "cos": (wg.cos, torch.cos), "tanh": (wg.tanh, torch.tanh), "sigmoid": (wg.sigmoid, torch.sigmoid),
    "erf": (wg.erf, torch.erf), "gelu": (wg.gelu, torch.nn.functional.gelu),
    "softplus": (wg.softplus, torch.nn.functional.softplus),
}


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"])
@pytest.mark.parametrize("name", UNARY_FLOAT_OPS)
def test_float_functions_of_integers_give_the_default_float_dtype(name, dtype, default_dtype):
    wg_fn, torch_fn = UNARY_FLOAT_OPS[name]
    array = values_of(dtype, 1)
    try:
        theirs = torch_fn(torch.tensor(array))
    except (RuntimeError, TypeError):  # PyTorch's gelu and softplus refuse integers: the rule still applies
        theirs = torch_fn(torch.tensor(array, dtype=torch.get_default_dtype()))
    ours = wg_fn(wg.tensor(array))
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-3 if dtype == "float16" else 1e-6)


FLOAT_OPERANDS = [tensor_operand(dtype, ndim) for dtype in FLOATS for ndim in (1, 0)]
GRAD_OPS = {
    "add": (operator.add, operator.add), "multiply": (operator.mul, operator.mul),
    "true_divide": (operator.truediv, operator.truediv), "power": (operator.pow, operator.pow),
    "maximum": (wg.maximum, torch.maximum), "where": OPS["where"],
    "matmul": (wg.matmul, lambda a, b: torch.matmul(a.to(torch.promote_types(a.dtype, b.dtype)),
                                                   b.to(torch.promote_types(a.dtype, b.dtype)))),
}


GRAD_CASES = [pytest.param(name, a, b, id=f"{name}-{a.id}.{b.id}")
              for name in GRAD_OPS for a, b in itertools.product(FLOAT_OPERANDS, FLOAT_OPERANDS)
              if name != "matmul" or (a.values[0].ndim and b.values[0].ndim)]


@pytest.mark.parametrize("name, a, b", GRAD_CASES)
def test_gradients_come_back_in_each_inputs_dtype_and_match_pytorch(name, a, b):
    wg_fn, torch_fn = GRAD_OPS[name]
    (ours_a, theirs_a), (ours_b, theirs_b) = a.values, b.values
    x, y = wg.tensor(ours_a, requires_grad=True), wg.tensor(ours_b, requires_grad=True)
    tx, ty = theirs_a.clone().requires_grad_(), theirs_b.clone().requires_grad_()
    ours, theirs = wg_fn(x, y), torch_fn(tx, ty)
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    ours.sum().backward()
    theirs.sum().backward()
    for mine, reference in [(x, tx), (y, ty)]:
        assert mine.grad.dtype == mine.dtype
        tolerance = 2e-3 if "float16" in (str(ours.dtype), str(mine.dtype)) else 1e-6
        np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), rtol=tolerance)


def test_second_derivative_through_a_promoting_op_reaches_both_inputs():
    """The op saves its inputs, not cast copies, so create_graph links them to their tensors."""
    x = wg.tensor([0.5, 1.5], dtype=wg.float32, requires_grad=True)
    y = wg.tensor([2.0, 3.0], dtype=wg.float64, requires_grad=True)
    (grad_y,) = wg.autograd.grad((x * x * y).sum(), y, create_graph=True)  # x^2, in float64
    (grad_x,) = wg.autograd.grad(grad_y.sum(), x)
    assert grad_x.dtype == wg.float32
    np.testing.assert_allclose(grad_x.numpy(), 2 * np.array([0.5, 1.5]), rtol=1e-7)


def test_promote_returns_its_input_untouched_when_dtypes_agree():
    a, b = np.ones(3, np.float32), np.zeros((2, 3), np.float32)
    for values in [(a, b), (a, 2.5), (a, 2), (a, True), (a, None, 1.0)]:
        assert promote(values) is values
    assert promote((a,), floating=True) == (a,) and promote((a,), floating=True)[0] is a
    cast = promote((np.ones(3, np.int64), 2.5))
    assert cast[0].dtype == wg.get_default_dtype() and cast[1] == 2.5


def test_result_dtype_reads_lists_as_wg_tensor_does():
    assert result_dtype(([1.5, 2.5], np.ones(2, np.int32))) == wg.get_default_dtype()
    assert result_dtype(([1, 2], np.ones(2, np.int8))) == np.int64  # both have dimensions: int64 wins


def test_numpy_warnings_inside_wengert_are_silenced_but_not_the_users():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning would raise
        assert wg.log(wg.tensor(0.0)).item() == -np.inf
        x = wg.tensor([0.0, 1.0], requires_grad=True)
        (wg.log(x) + wg.exp(x * 1000)).backward(wg.ones(2))  # log 0, exp overflow, and 1/0 in backward
        assert np.isinf(x.grad.numpy()).all()
        with pytest.raises(RuntimeWarning):
            np.log(np.zeros(1))  # the user's own numpy code still warns
