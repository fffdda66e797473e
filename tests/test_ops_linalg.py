"""Matrix products (matmul, @, dot, outer, einsum): numpy's semantics, gradients checked two ways."""

import operator
import re

import numpy as np
import pytest
import torch
from conftest import check_op, random_array

import wengert as wg


def arrays_of(*shapes):
    return [random_array(shape, seed=index) for index, shape in enumerate(shapes)]


MATMUL_SHAPES = {
    "1d@1d": ((4,), (4,)),
    "2d@1d": ((3, 4), (4,)),
    "1d@2d": ((4,), (4, 2)),
    "2d@2d": ((3, 4), (4, 2)),
    "size1-axes": ((1, 4), (4, 1)),
    "3d@3d": ((2, 3, 4), (2, 4, 5)),
    "3d@2d": ((2, 3, 4), (4, 5)),
    "broadcast-batch": ((2, 1, 3, 4), (5, 4, 2)),
    "nd@1d": ((2, 1, 3, 4), (4,)),
    "1d@nd": ((4,), (2, 3, 4, 5)),
}


@pytest.mark.parametrize("form", [wg.matmul, operator.matmul, wg.Tensor.matmul], ids=["wg.matmul", "@", "method"])
@pytest.mark.parametrize("shapes", MATMUL_SHAPES.values(), ids=MATMUL_SHAPES.keys())
def test_matmul_matches_numpy_torch_and_finite_differences(form, shapes):
    a, b = arrays_of(*shapes)
    np.testing.assert_allclose(form(wg.tensor(a), wg.tensor(b)).numpy(), np.matmul(a, b), rtol=1e-12)
    check_op(form, torch.matmul, a, b)


@pytest.mark.parametrize("shapes", [((3, 4), (4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,))],
                         ids=lambda shapes: "{}@{}".format(*shapes))
def test_numpy_array_with_tensor_at_operator_gives_tensor_with_gradient(shapes):
    a, b = arrays_of(*shapes)
    left = a @ wg.tensor(b, requires_grad=True)  # numpy's @ defers to the tensor
    right = wg.tensor(a, requires_grad=True) @ b
    for result in left, right:
        assert isinstance(result, wg.Tensor) and result.requires_grad
        np.testing.assert_allclose(result.detach().numpy(), a @ b, rtol=1e-12)
    check_op(lambda y: a @ y, lambda y: torch.tensor(a) @ y, b)
    check_op(lambda x: x @ b, lambda x: x @ torch.tensor(b), a)


def test_matmul_of_float32_and_float64_promotes_and_casts_gradients_back():
    a, b = random_array((3, 4), dtype=np.float32), random_array((4, 2), seed=1)
    assert wg.matmul(wg.tensor(a), wg.tensor(b)).dtype == wg.float64
    check_op(wg.matmul, lambda x, y: x.double() @ y, a, b)


def torch_dot(a, b):
    """numpy's dot in torch: a product for 0-d, else a's last axis against b's second-last (or only) one."""
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return torch.tensordot(a, b, dims=([a.ndim - 1], [max(b.ndim - 2, 0)]))


@pytest.mark.parametrize("shapes", [
    ((), (3, 4)), ((2, 3), ()), ((), ()), ((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 2)), ((3, 4), (4, 2)),
    ((2, 3, 4), (4,)), ((2, 3, 4), (4, 5)), ((4,), (2, 4, 3)), ((2, 4), (3, 4, 5)), ((2, 1, 4), (3, 4, 2)),
], ids=lambda shapes: "{}.{}".format(*shapes))
def test_dot_matches_numpy_values_and_tensordot_gradients(shapes):
    a, b = arrays_of(*shapes)
    np.testing.assert_allclose(wg.dot(wg.tensor(a), wg.tensor(b)).numpy(), np.dot(a, b), rtol=1e-12)
    check_op(wg.dot, torch_dot, a, b)


def test_dot_method_and_0d_python_number():
    a, b = arrays_of((2, 3), (3,))
    np.testing.assert_allclose(wg.tensor(a).dot(wg.tensor(b)).numpy(), a.dot(b), rtol=1e-12)
    check_op(lambda x: wg.dot(x, 2.5), lambda x: x * 2.5, a)


@pytest.mark.parametrize("shapes", [((3,), (4,)), ((1,), (4,)), ((2, 3), (4,)), ((), (2,))],
                         ids=lambda shapes: "{}x{}".format(*shapes))
def test_outer_matches_numpy_torch_and_finite_differences(shapes):
    a, b = arrays_of(*shapes)
    np.testing.assert_allclose(wg.outer(wg.tensor(a), wg.tensor(b)).numpy(), np.outer(a, b), rtol=1e-12)
    check_op(wg.outer, lambda x, y: torch.outer(x.flatten(), y.flatten()), a, b)


EINSUMS = [
    ("ij,jk->ik", (3, 4), (4, 2)),
    ("bij,bjk->bik", (2, 3, 4), (2, 4, 5)),
    ("i,i->", (4,), (4,)),
    ("ij->", (3, 4)),
    ("ij->ji", (3, 4)),
    ("ij,ij->ij", (3, 4), (3, 4)),
    ("i,j->ij", (3,), (4,)),
    ("ij,jk", (3, 4), (4, 2)),  # implicit output: the letters used once, sorted
    ("ji", (3, 4)),  # implicit output transposes
    ("...ij,...jk->...ik", (2, 1, 3, 4), (5, 4, 2)),  # ellipsis, broadcasting batch axes
    ("...ij,...jk", (2, 3, 4), (4, 5)),
    ("...i,...i->...", (2, 3), (3,)),
    ("ij,j->", (3, 4), (4,)),  # i is summed in one operand only
    ("ijk->i", (2, 3, 4)),
    ("ij,kj->ik", (3, 1), (2, 1)),
    ("ab, bc ,cd->ad", (2, 3), (3, 4), (4, 2)),  # three operands, spaces
    ("i,->i", (3,), ()),  # a 0-d operand
]
EINSUM_CASES = [pytest.param(s, shapes, id=s.replace(" ", "")) for s, *shapes in EINSUMS] + [
    pytest.param("ij,ij->i", [(3, 1), (3, 4)], id="size1-broadcast-ij,ij->i"),
    pytest.param("ij,ij->", [(3, 4), (1, 4)], id="size1-broadcast-ij,ij->"),
]


@pytest.mark.parametrize("subscripts, shapes", EINSUM_CASES)
def test_einsum_matches_numpy_torch_and_finite_differences(subscripts, shapes):
    arrays = arrays_of(*shapes)
    np.testing.assert_allclose(wg.einsum(subscripts, *map(wg.tensor, arrays)).numpy(),
                               np.einsum(subscripts, *arrays), rtol=1e-12)
    check_op(lambda *xs: wg.einsum(subscripts, *xs), lambda *xs: torch.einsum(subscripts, *xs), *arrays)


@pytest.mark.parametrize("subscripts", ["ii->", "ii->i", "ij,jj->i"])
def test_einsum_repeated_index_needing_gradient_is_a_clear_error(subscripts):
    operands = [wg.tensor(random_array((3, 3), seed=s), requires_grad=True) for s in range(subscripts.count(",") + 1)]
    with pytest.raises(ValueError, match=r"einsum: operand \d repeats an index"):
        wg.einsum(subscripts, *operands)
    # without a gradient to compute, the trace or diagonal is fine
    plain = [operand.detach().numpy() for operand in operands]
    np.testing.assert_allclose(wg.einsum(subscripts, *map(wg.tensor, plain)).numpy(),
                               np.einsum(subscripts, *plain), rtol=1e-12)


@pytest.mark.parametrize("make, op", [
    (wg.matmul, "matmul"),
    (lambda a, b: a @ b, "matmul"),
    (lambda a, b: wg.einsum("ij,jk->ik", a, b), "einsum"),
], ids=["matmul", "@", "einsum"])
@pytest.mark.parametrize("requires_grad", [False, True], ids=["plain", "requires-grad"])
def test_product_shape_mismatch_error_names_op_shapes_dtype_and_call_site(make, op, requires_grad):
    a = wg.ones((3, 4), dtype=wg.float64).requires_grad_(requires_grad)
    with pytest.raises(ValueError) as error:
        make(a, wg.ones((5, 2), dtype=wg.float64))
    message = str(error.value)
    assert isinstance(error.value, wg.OpValueError) and message.startswith(f"{op}:")
    assert "(3, 4)" in message and "(5, 2)" in message and "float64" in message
    assert "test_ops_linalg.py" in message


@pytest.mark.parametrize("a_shape, b_shape, reason", [
    ((3, 4), (5, 6), "inner dimensions 4 and 5 differ"),
    ((4,), (5,), "inner dimensions 4 and 5 differ"),
    ((2, 3, 4), (5,), "inner dimensions 4 and 5 differ"),
    ((2, 3, 4), (3, 4, 5), r"batch dimensions \(2,\) and \(3,\) do not broadcast"),
    ((), (3,), "both operands need at least one dimension"),
], ids=["2d", "1d", "nd@1d", "batch", "0d"])
def test_matmul_error_says_which_dimensions_disagree(a_shape, b_shape, reason):
    a, b = wg.ones(a_shape, requires_grad=True), wg.ones(b_shape)
    with pytest.raises(wg.OpValueError, match=rf"^matmul: {re.escape(str(a_shape))} @ {re.escape(str(b_shape))}: "
                                              f"{reason}") as error:
        a @ b
    assert "gufunc" not in str(error.value) and "test_ops_linalg.py" in str(error.value)


@pytest.mark.parametrize("subscripts, shapes, reason", [
    ("ij,jk->ik", [(3, 4), (5, 2)], "index j has size 4 in operand 0 and 5 in operand 1"),
    ("ijk->i", [(3, 4)], "operand 0 has 2 dimensions but its subscripts 'ijk' name 3"),
    ("ij,jk->iz", [(3, 4), (4, 2)], "output index z appears in no operand"),
    ("ij,jk->ik", [(3, 4)], "names 2 operands, got 1"),
], ids=["sizes", "ndim", "output", "count"])
def test_einsum_error_names_the_operand_shapes_and_the_index(subscripts, shapes, reason):
    operands = [wg.ones(shape) for shape in shapes]
    with pytest.raises(wg.OpValueError, match=re.escape(reason)) as error:
        wg.einsum(subscripts, *operands)
    message = str(error.value)
    assert message.startswith("einsum:") and all(str(shape) in message for shape in shapes)


@pytest.mark.parametrize("form", [wg.matmul, lambda a, b: wg.einsum("ij,jk->ik", a, b)], ids=["matmul", "einsum"])
@pytest.mark.parametrize("a_dtype, b_dtype", [(np.int64, np.float32), (np.float32, np.float16), (np.int8, np.int32)],
                         ids=["int64@float32", "float32@float16", "int8@int32"])
def test_products_promote_like_pytorch_and_cast_gradients_back(form, a_dtype, b_dtype):
    a, b = (np.arange(12).reshape(3, 4) % 5).astype(a_dtype), (np.arange(8).reshape(4, 2) % 3).astype(b_dtype)
    expected_dtype = torch.promote_types(torch.tensor(a).dtype, torch.tensor(b).dtype)
    x, y = wg.tensor(a, requires_grad=a.dtype.kind == "f"), wg.tensor(b, requires_grad=b.dtype.kind == "f")
    out = form(x, y)
    assert str(out.dtype) == str(expected_dtype).removeprefix("torch.")
    tx, ty = torch.tensor(a).to(expected_dtype), torch.tensor(b).to(expected_dtype)
    np.testing.assert_allclose(out.detach().numpy(), (tx @ ty).numpy(), rtol=1e-3)
    if out.requires_grad:
        out.sum().backward()
        for tensor in (x, y):
            assert tensor.grad is None or tensor.grad.dtype == tensor.dtype
