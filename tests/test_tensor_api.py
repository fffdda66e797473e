"""The Tensor methods a PyTorch user types first, with PyTorch's signatures: each against PyTorch and
finite differences, second derivatives of the ones whose VJPs are not linear maps of the upstream alone,
and the places where PyTorch's meaning and numpy's differ."""

import numpy as np
import pytest
import torch
from conftest import check_gradients, check_op, compare_with_torch, random_array

import wengert as wg

INF = float("inf")
ZEROS = np.array([[1.5, 0.0, 2.0, -3.0, 0.5], [0.0, 2.0, 0.0, 4.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0],
                  [0.0, 0.0, 0.0, 0.0, 0.0], [2.0, -1.0, 0.5, 3.0, 0.0]])


def case(name, wg_fn, torch_fn, *arrays, marks=(), **tolerances):
    """One table row: tuples become random float64 arrays of that shape, arrays pass as they are."""
    arrays = [random_array(a, seed=index) if isinstance(a, tuple) else a for index, a in enumerate(arrays)]
    return pytest.param(wg_fn, torch_fn, arrays, tolerances, id=name, marks=marks)


def indices(shape, high, seed=0):
    return np.random.default_rng(seed).integers(0, high, size=shape)


MASK = random_array((3, 4), seed=5) > 0

CASES = [
    # copies and dtypes
    case("clone", lambda x: x.clone() * 2.0, lambda x: x.clone() * 2.0, (3, 4)),
    case("clone-0d", lambda x: x.clone(), lambda x: x.clone(), ()),
    case("to-float32-and-back", lambda x: x.to(wg.float32).to(wg.float64), lambda x: x.to(torch.float32).double(),
         (2, 3), atol=1e-5, eps=1e-3),
    case("to-same-dtype", lambda x: x.to(wg.float64), lambda x: x.to(torch.float64), (2, 3)),
    case("to-dtype-keyword", lambda x: x.to(dtype=wg.float64), lambda x: x.to(dtype=torch.float64), (2,)),
    case("to-cpu", lambda x: x.to("cpu") * 1.0, lambda x: x.to("cpu") * 1.0, (2,)),
    case("float-double", lambda x: x.float().double(), lambda x: x.float().double(), (3,), atol=1e-5, eps=1e-3),
    case("contiguous-of-transpose", lambda x: x.T.contiguous().view(-1), lambda x: x.T.contiguous().view(-1),
         (3, 4)),
    # view, reshape, unsqueeze, squeeze, permute, expand
    case("view-args", lambda x: x.view(4, 3), lambda x: x.view(4, 3), (3, 4)),
    case("view-tuple-minus1", lambda x: x.view((2, -1, 2)), lambda x: x.view((2, -1, 2)), (3, 4)),
    case("view-0d-to-1", lambda x: x.view(1), lambda x: x.view(1), ()),
    case("view-to-0d", lambda x: x.view(()), lambda x: x.view(()), (1, 1)),
    case("view-of-slice", lambda x: x[1:].view(-1), lambda x: x[1:].view(-1), (3, 4)),
    case("unsqueeze", lambda x: x.unsqueeze(1), lambda x: x.unsqueeze(1), (2, 3)),
    case("unsqueeze-negative", lambda x: x.unsqueeze(-1), lambda x: x.unsqueeze(-1), (2, 3)),
    case("unsqueeze-0d", lambda x: x.unsqueeze(0), lambda x: x.unsqueeze(0), ()),
    case("squeeze-dim", lambda x: x.squeeze(1), lambda x: x.squeeze(1), (2, 1, 3)),
    case("squeeze-dim-not-size1", lambda x: x.squeeze(0), lambda x: x.squeeze(0), (2, 1, 3)),
    case("squeeze-dim-negative", lambda x: x.squeeze(-1), lambda x: x.squeeze(-1), (2, 3, 1)),
    case("squeeze-tuple-mixed", lambda x: x.squeeze((0, 1, 3)), lambda x: x.squeeze((0, 1, 3)), (1, 2, 3, 1)),
    case("squeeze-all", lambda x: x.squeeze(), lambda x: x.squeeze(), (1, 2, 1)),
    case("squeeze-0d", lambda x: x.squeeze(0), lambda x: x.squeeze(0), ()),
    case("squeeze-fn-dim", lambda x: wg.squeeze(x, dim=(0, 1)), lambda x: torch.squeeze(x, (0, 1)), (1, 2, 3)),
    case("permute-args", lambda x: x.permute(2, 0, 1), lambda x: x.permute(2, 0, 1), (2, 3, 4)),
    case("permute-tuple-negative", lambda x: x.permute((-1, 0, 1)), lambda x: x.permute((-1, 0, 1)), (2, 1, 4)),
    case("permute-0d", lambda x: x.permute(), lambda x: x.permute(()), ()),
    case("expand", lambda x: x.expand(4, 3), lambda x: x.expand(4, 3), (1, 3)),
    case("expand-minus1-new-axes", lambda x: x.expand(2, -1, 5), lambda x: x.expand(2, -1, 5), (3, 1)),
    case("expand-tuple", lambda x: x.expand((2, 3)), lambda x: x.expand((2, 3)), (3,)),
    case("expand-0d", lambda x: x.expand(2, 2), lambda x: x.expand(2, 2), ()),
    # flip, roll
    case("flip-one", lambda x: x.flip(0), lambda x: x.flip(0), (3, 4)),
    case("flip-args", lambda x: x.flip(0, -1), lambda x: x.flip(0, -1), (2, 3, 4)),
    case("flip-tuple", lambda x: x.flip((1,)), lambda x: x.flip((1,)), (2, 3, 1)),
    case("flip-0d", lambda x: x.flip(0), lambda x: x.flip(0), ()),
    case("roll", lambda x: x.roll(1, 0), lambda x: x.roll(1, 0), (3, 4)),
    case("roll-negative-dim", lambda x: x.roll(-2, -1), lambda x: x.roll(-2, -1), (3, 4)),
    case("roll-tuples", lambda x: x.roll((1, 5), (0, 1)), lambda x: x.roll((1, 5), (0, 1)), (3, 4)),
    case("roll-flattened", lambda x: x.roll(5), lambda x: x.roll(5), (3, 4)),
    # gather, scatter_add, masked_fill, where
    case("gather-dim1", lambda x, i: x.gather(1, i), lambda x, i: x.gather(1, i), (2, 4), indices((2, 3), 4)),
    case("gather-dim0-repeats", lambda x, i: x.gather(0, i), lambda x, i: x.gather(0, i), (3, 4),
         np.array([[0, 0, 2, 1], [2, 2, 2, 2]])),
    case("gather-negative-dim-smaller-index", lambda x, i: x.gather(-1, i), lambda x, i: x.gather(-1, i), (3, 4),
         indices((2, 2), 4, seed=1)),
    case("gather-3d", lambda x, i: x.gather(1, i), lambda x, i: x.gather(1, i), (2, 3, 4), indices((2, 5, 4), 3)),
    case("gather-0d", lambda x, i: x.gather(0, i), lambda x, i: x.gather(0, i), (), np.array(0)),
    case("scatter_add-dim0", lambda x, i, s: x.scatter_add(0, i, s), lambda x, i, s: x.scatter_add(0, i, s),
         (3, 4), np.array([[0, 1, 2, 0], [0, 0, 0, 2]]), (2, 4)),
    # PyTorch's own backward fails when src is larger than index, so it gets the part it uses
    case("scatter_add-src-larger", lambda x, i, s: x.scatter_add(-1, i, s),
         lambda x, i, s: x.scatter_add(-1, i, s[:2, :3]), (3, 4), indices((2, 3), 4, seed=2), (3, 5)),
    case("scatter_add-1d", lambda x, i, s: x.scatter_add(0, i, s), lambda x, i, s: x.scatter_add(0, i, s),
         (4,), np.array([3, 3, 0, 3, 1]), (5,)),
    case("masked_fill", lambda x, m: x.masked_fill(m, 2.5), lambda x, m: x.masked_fill(m, 2.5), (3, 4), MASK),
    case("masked_fill-broadcast-mask", lambda x, m: x.masked_fill(m, -1.0), lambda x, m: x.masked_fill(m, -1.0),
         (3, 4), np.array([True, False, False, True])),
    case("masked_fill-tensor-value", lambda x, m, v: x.masked_fill(m, v), lambda x, m, v: x.masked_fill(m, v),
         (3, 4), MASK, ()),
    case("where-method", lambda x, c, y: x.where(c, y), lambda x, c, y: x.where(c, y), (3, 4), MASK, (4,)),
    case("where-method-scalar", lambda x, c: x.where(c, 0.0), lambda x, c: x.where(c, 0.0), (3, 4), MASK),
    # scans
    case("cumsum", lambda x: x.cumsum(1), lambda x: x.cumsum(1), (2, 3, 4)),
    case("cumsum-negative", lambda x: x.cumsum(-1), lambda x: x.cumsum(-1), (3, 4)),
    case("cumsum-dim-keyword", lambda x: x.cumsum(dim=0), lambda x: x.cumsum(dim=0), (3, 1)),
    case("cumsum-0d", lambda x: x.cumsum(0), lambda x: x.cumsum(0), ()),
    case("cumprod", lambda x: x.cumprod(1), lambda x: x.cumprod(1), (2, 3, 4)),
    case("cumprod-0d", lambda x: x.cumprod(0), lambda x: x.cumprod(0), ()),
    case("cumprod-zeros-rows", lambda x: x.cumprod(1), lambda x: x.cumprod(1), ZEROS),
    case("cumprod-zeros-columns", lambda x: x.cumprod(0), lambda x: x.cumprod(0), ZEROS),
    # sorting
    case("sort", lambda x: x.sort(), lambda x: x.sort(), (3, 5)),
    case("sort-dim0-descending", lambda x: x.sort(0, descending=True), lambda x: x.sort(0, descending=True), (4, 3)),
    case("sort-0d", lambda x: x.sort(), lambda x: x.sort(), ()),
    case("sort-fn-dim", lambda x: wg.sort(x, dim=1), lambda x: torch.sort(x, dim=1), (2, 3)),
    case("argsort", lambda x: x.argsort(), lambda x: x.argsort(), (3, 5)),
    case("argsort-dim-descending", lambda x: x.argsort(0, True), lambda x: x.argsort(0, True), (3, 5)),
    case("topk", lambda x: x.topk(2), lambda x: x.topk(2), (3, 5)),
    case("topk-smallest-dim0", lambda x: x.topk(3, dim=0, largest=False), lambda x: x.topk(3, 0, largest=False),
         (4, 2)),
    case("topk-all", lambda x: x.topk(5), lambda x: x.topk(5), (5,)),
    case("topk-none", lambda x: x.topk(0), lambda x: x.topk(0), (2, 3)),
    case("topk-0d", lambda x: x.topk(1), lambda x: x.topk(1), ()),
    # norms
    case("norm-default", lambda x: x.norm(), lambda x: x.norm(), (3, 4)),
    case("norm-2-dim", lambda x: x.norm(2, 1), lambda x: x.norm(2, 1), (3, 4)),
    case("norm-fro-tuple-keepdim", lambda x: x.norm("fro", (0, 2), True), lambda x: x.norm("fro", (0, 2), True),
         (2, 3, 4)),
    case("norm-1", lambda x: x.norm(1, dim=0, keepdim=True), lambda x: x.norm(1, dim=0, keepdim=True), (3, 4)),
    case("norm-inf", lambda x: x.norm(INF, dim=-1), lambda x: x.norm(INF, dim=-1), (3, 4)),
    case("norm-minus-inf", lambda x: x.norm(-INF), lambda x: x.norm(-INF), (3, 4)),
    case("norm-3", lambda x: x.norm(3, dim=(1, 0)), lambda x: x.norm(3, dim=(1, 0)), (3, 4)),
    case("norm-half", lambda x: x.norm(0.5, dim=1), lambda x: x.norm(0.5, dim=1), (3, 4)),
    case("norm-0", lambda x: x.norm(0, dim=1), lambda x: x.norm(0, dim=1),
         np.array([[0.0, 1.0, -2.0], [3.0, 0.0, 0.0]])),
    case("norm-0d", lambda x: x.norm(), lambda x: x.norm(), ()),
    # products and triangles
    case("outer", lambda a, b: a.outer(b), lambda a, b: a.outer(b), (3,), (4,)),
    *[case(f"diag-1d-k{k}", lambda x, k=k: x.diag(k), lambda x, k=k: x.diag(k), (3,)) for k in (0, 1, -2)],
    *[case(f"diag-2d-k{k}", lambda x, k=k: x.diag(k), lambda x, k=k: x.diag(k), (3, 4)) for k in (0, 1, -1, 3, -3)],
    *[case(f"{name}-k{k}", lambda x, n=name, k=k: getattr(x, n)(k), lambda x, n=name, k=k: getattr(x, n)(k), (3, 4))
      for name in ("tril", "triu") for k in (0, 1, -1)],
    case("tril-batched-diagonal", lambda x: x.tril(diagonal=-1), lambda x: x.tril(diagonal=-1), (2, 3, 3)),
    case("triu-1xn", lambda x: x.triu(), lambda x: x.triu(), (1, 4)),
    # reductions under PyTorch's names and defaults
    case("var-method-default-unbiased", lambda x: x.var(), lambda x: x.var(), (3, 4)),
    case("std-method-dim", lambda x: x.std(1), lambda x: x.std(1), (3, 4)),
    case("var-dims-keepdim", lambda x: x.var(dim=(0, 2), keepdim=True), lambda x: x.var(dim=(0, 2), keepdim=True),
         (2, 3, 4)),
    case("var-correction0", lambda x: x.var(0, correction=0), lambda x: x.var(0, correction=0), (3, 4)),
    case("std-unbiased-false", lambda x: x.std(1, False), lambda x: x.std(1, False), (3, 4)),
    case("std-correction2-keepdim", lambda x: x.std(-1, keepdim=True, correction=2),
         lambda x: x.std(-1, keepdim=True, correction=2), (3, 4)),
    case("var-fn-dim", lambda x: wg.var(x, dim=1), lambda x: torch.var(x, dim=1), (3, 4)),
    case("std-fn-correction", lambda x: wg.std(x, 0, correction=1), lambda x: torch.std(x, 0, correction=1), (3, 4)),
    case("sum-dim-keepdim", lambda x: x.sum(dim=(0, -1), keepdim=True), lambda x: x.sum(dim=(0, -1), keepdim=True),
         (2, 3, 4)),
    case("mean-fn-dim", lambda x: wg.mean(x, dim=1), lambda x: torch.mean(x, dim=1), (3, 4)),
    case("prod-dim-keepdim", lambda x: x.prod(1, keepdim=True), lambda x: x.prod(1, keepdim=True), (3, 4)),
    case("logsumexp-dim", lambda x: x.logsumexp(dim=0), lambda x: x.logsumexp(dim=0), (3, 4)),
    case("softmax-dim", lambda x: x.softmax(dim=0), lambda x: x.softmax(dim=0), (3, 4)),
    case("log_softmax-dim", lambda x: wg.log_softmax(x, dim=1), lambda x: torch.log_softmax(x, dim=1), (3, 4)),
    case("amax-dims", lambda x: x.amax(dim=(0, 1)), lambda x: x.amax(dim=(0, 1)), (2, 3, 4)),
    case("amin-keepdim", lambda x: x.amin(1, keepdim=True), lambda x: x.amin(1, keepdim=True), (2, 3, 4)),
    case("amax-fn-dim", lambda x: wg.amax(x, dim=-1), lambda x: torch.amax(x, dim=-1), (2, 3)),
    case("max-dim", lambda x: x.max(1), lambda x: x.max(1), (3, 4)),
    case("min-dim-keepdim", lambda x: x.min(dim=0, keepdim=True), lambda x: x.min(dim=0, keepdim=True), (3, 4)),
    case("max-fn-dim", lambda x: wg.max(x, dim=-1), lambda x: torch.max(x, dim=-1), (2, 3, 4)),
    case("min-0d-dim", lambda x: x.min(0), lambda x: x.min(0), ()),
    case("max-all", lambda x: x.max(), lambda x: x.max(), (3, 4)),
    case("max-other", lambda x, y: x.max(y), lambda x, y: x.max(y), (3, 4), (4,)),
    case("min-fn-other", lambda x, y: wg.min(x, y), lambda x, y: torch.min(x, y), (3, 1), (4,)),
    case("argmax-dim-keepdim", lambda x: x.argmax(dim=1, keepdim=True), lambda x: x.argmax(dim=1, keepdim=True),
         (3, 4)),
    case("argmin-dim", lambda x: wg.argmin(x, dim=0), lambda x: torch.argmin(x, dim=0), (3, 4)),
]


@pytest.mark.parametrize("wg_fn, torch_fn, arrays, tolerances", CASES)
def test_method_matches_torch_and_finite_differences(wg_fn, torch_fn, arrays, tolerances):
    check_op(wg_fn, torch_fn, *arrays, **tolerances)


def first_output(out):
    return out[0] if isinstance(out, tuple) else out


def grad_of(fn, weights, autograd, sin, tensor, enable_grad):
    """x -> d/dx sum(w * sin(fn(x))): fn's VJP applied to a gradient that depends on x, so this
    gradient's own gradient is right only if fn's VJP records a graph (create_graph). Grad mode is
    switched on because gradcheck evaluates its function under no_grad."""
    def gradient(x):
        with enable_grad():
            loss = (sin(first_output(fn(x))) * tensor(weights)).sum()
            return autograd.grad(loss, x, create_graph=True)[0]
    return gradient


def same(name, fn, array):
    """A second-order row whose lambda reads the same in wengert and PyTorch."""
    return pytest.param(fn, fn, array, id=name)


GATHER_INDEX = np.array([[0, 0, 3], [2, 1, 1], [3, 3, 3]])
SCATTER_INDEX = np.array([[0, 2, 2, 0]])
SECOND_ORDER = [
    same("cumsum", lambda x: x.cumsum(1), (3, 4)),
    pytest.param(wg.cumsum, lambda x: torch.cumsum(x.flatten(), 0), (2, 3), id="cumsum-fn-flattened"),
    same("cumprod", lambda x: x.cumprod(-1), (3, 4)),
    same("cumprod-zeros", lambda x: x.cumprod(1), ZEROS),
    same("cumprod-zeros-dim0", lambda x: x.cumprod(0), ZEROS[:, :3]),
    pytest.param(lambda x: x.gather(1, wg.tensor(GATHER_INDEX)), lambda x: x.gather(1, torch.tensor(GATHER_INDEX)),
                 (3, 4), id="gather"),
    pytest.param(lambda x: x.scatter_add(0, wg.tensor(SCATTER_INDEX), x[:1] * x[1:2]),
                 lambda x: x.scatter_add(0, torch.tensor(SCATTER_INDEX), x[:1] * x[1:2]), (3, 4), id="scatter_add"),
    same("norm-2", lambda x: x.norm(dim=1), (3, 4)),
    same("norm-3", lambda x: x.norm(3), (3, 4)),
    same("norm-1", lambda x: x.norm(1, dim=0), (3, 4)),
    same("norm-inf", lambda x: x.norm(INF, dim=0), (3, 4)),
    same("sort", lambda x: x.sort(dim=0), (4, 3)),
    same("sort-descending", lambda x: x.sort(descending=True), (3, 4)),
    same("topk", lambda x: x.topk(2, dim=0), (4, 3)),
    same("max-dim", lambda x: x.max(1), (3, 4)),
    same("flip-roll", lambda x: x.flip(0).roll(1, 1), (3, 4)),
    same("tril-diag", lambda x: x.tril(-1).diag(-1).diag(), (3, 4)),
    pytest.param(lambda x: x.masked_fill(wg.tensor(MASK), 1.0), lambda x: x.masked_fill(torch.tensor(MASK), 1.0),
                 (3, 4), id="masked_fill"),
    same("std-times-prod", lambda x: x.std(dim=1) * x.prod(0).sum(), (3, 4)),
]


@pytest.mark.parametrize("wg_fn, torch_fn, shape_or_array", SECOND_ORDER)
def test_second_derivatives_match_torch_and_finite_differences(wg_fn, torch_fn, shape_or_array):
    array = random_array(shape_or_array) if isinstance(shape_or_array, tuple) else shape_or_array
    weights = random_array(first_output(wg_fn(wg.tensor(array))).shape, seed=9)
    ours = grad_of(wg_fn, weights, wg.autograd, wg.sin, wg.tensor, wg.enable_grad)
    check_gradients(ours, array)
    theirs = grad_of(torch_fn, weights, torch.autograd, torch.sin, torch.tensor, torch.enable_grad)
    compare_with_torch(ours, theirs, array)


# --- where PyTorch's meaning and numpy's differ --------------------------------------------------

def test_view_shares_memory_and_writes_show_through():
    x = wg.tensor(np.arange(12.0).reshape(3, 4))
    y = x.view(2, 6)
    assert np.shares_memory(y.data, x.data)
    y[1, 5] = -1.0
    assert x[2, 3].item() == -1.0


def test_reshape_is_a_view_where_numpy_can_make_one_and_a_copy_where_not():
    x = wg.tensor(np.arange(12.0).reshape(3, 4))
    assert np.shares_memory(x.reshape(4, 3).data, x.data)
    transposed = x.T.reshape(12)
    assert not np.shares_memory(transposed.data, x.data)
    np.testing.assert_array_equal(transposed.numpy(), np.arange(12.0).reshape(3, 4).T.reshape(12))


def test_view_that_needs_a_copy_is_an_error_naming_op_shape_and_line():
    x = wg.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    with pytest.raises(wg.OpValueError, match=r"(?s)^view: .*\(4, 3\).*reshape.*test_tensor_api\.py"):
        x.T.view(12)
    with pytest.raises(wg.OpValueError, match="view"):  # a size that does not fit is an error too
        x.view(5, 2)


def test_detach__cuts_the_tensor_from_its_graph_in_place():
    x = wg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    z = y * y
    assert y.detach_() is y
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    assert not (y * 2.0).requires_grad
    z.sum().backward()  # the graph recorded before detach_ is untouched
    np.testing.assert_allclose(x.grad.numpy(), 18 * np.array([1.0, 2.0]))


def test_clone_copies_and_to_returns_self_when_nothing_changes():
    x = wg.tensor([1.0, 2.0], requires_grad=True)
    copy = x.clone()
    assert not np.shares_memory(copy.data, x.data) and copy.requires_grad
    assert x.to(wg.float32) is x and x.float() is x and x.to("cpu") is x
    assert x.to(wg.float32, copy=True) is not x
    other = wg.tensor(np.zeros(2))
    assert x.to(other).dtype == wg.float64 and x.double().dtype == wg.float64
    assert x.long().dtype == wg.int64 and x.int().dtype == wg.int32 and x.bool().dtype == wg.bool_
    assert x.half().dtype == wg.float16 and not x.long().requires_grad
    with pytest.raises(wg.OpValueError, match="cuda"):
        x.to("cuda")


def test_squeeze_method_leaves_a_non_size1_dim_alone_but_numpy_names_refuse_it():
    x = wg.ones((2, 1, 3))
    assert x.squeeze(0).shape == (2, 1, 3) and x.squeeze((0, 1)).shape == (2, 3)
    assert wg.squeeze(x, dim=0).shape == (2, 1, 3)
    with pytest.raises(wg.OpValueError, match="squeeze"):
        wg.squeeze(x, 0)
    with pytest.raises(wg.OpValueError, match="squeeze"):
        x.squeeze(axis=0)
    with pytest.raises(wg.OpIndexError, match="squeeze"):
        x.squeeze(3)


def test_max_with_dim_returns_values_and_indices_and_numpy_axis_returns_values():
    array = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.5]])
    x = wg.tensor(array)
    values, indices = x.max(1)
    np.testing.assert_array_equal(values.numpy(), [3.0, 2.0])
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    assert x.max(dim=1).indices is not None and x.min(0).values.shape == (3,)
    assert wg.max(x, 1).shape == (2,) and x.max(axis=1).shape == (2,)
    with pytest.raises(wg.OpTypeError, match="amax"):
        x.max(dim=(0, 1))


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_with_dim_gives_a_tie_gradient_to_one_element_as_torch_and_amax_shares_it(name):
    ties = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [-1.0, -1.0, 0.0]])
    compare_with_torch(lambda x: getattr(x, name)(1), lambda x: getattr(x, name)(1), ties)
    compare_with_torch(lambda x: getattr(x, "a" + name)(1), lambda x: getattr(x, "a" + name)(1), ties)


def test_var_and_std_defaults_follow_the_names_used():
    array = random_array((4, 3))
    x = wg.tensor(array)
    np.testing.assert_allclose(x.var().item(), array.var(ddof=1))
    np.testing.assert_allclose(wg.var(x).item(), array.var())
    np.testing.assert_allclose(x.var(axis=0).numpy(), array.var(axis=0))
    np.testing.assert_allclose(x.std(0).numpy(), array.std(axis=0, ddof=1))
    np.testing.assert_allclose(wg.std(x, dim=0).numpy(), array.std(axis=0, ddof=1))
    np.testing.assert_allclose(x.std(axis=1, ddof=1).numpy(), x.std(1, correction=1).numpy())
    with pytest.raises(wg.OpTypeError, match="ddof"):
        wg.var(x, ddof=1, correction=1)
    with pytest.raises(wg.OpTypeError, match="axis"):
        wg.sum(x, axis=0, dim=0)


def test_sort_function_returns_values_like_numpy_and_method_values_and_indices():
    array = random_array((3, 4))
    x = wg.tensor(array)
    np.testing.assert_array_equal(wg.sort(x).numpy(), np.sort(array))
    np.testing.assert_array_equal(wg.sort(x, axis=0).numpy(), np.sort(array, axis=0))
    np.testing.assert_array_equal(wg.sort(x, axis=None).numpy(), np.sort(array, axis=None))
    np.testing.assert_array_equal(wg.argsort(x, axis=None).numpy(), np.argsort(array, axis=None, kind="stable"))
    values, order = x.sort(0)
    np.testing.assert_array_equal(values.numpy(), np.sort(array, axis=0))
    np.testing.assert_array_equal(order.numpy(), np.argsort(array, axis=0))


@pytest.mark.parametrize("descending", [False, True])
def test_sort_is_stable_and_puts_nan_where_torch_does(descending):
    array = np.array([[2.0, np.nan, 1.0, 2.0, -np.inf, 1.0, np.nan, 2.0], [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0]])
    ours = wg.tensor(array).sort(descending=descending)
    theirs = torch.tensor(array).sort(descending=descending, stable=True)
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    np.testing.assert_array_equal(wg.argsort(wg.tensor(array), descending=descending).numpy(), theirs.indices.numpy())


def test_all_and_any_take_dim_in_method_and_function_forms():
    flags = random_array((2, 3, 4)) > 0
    x = wg.tensor(flags)
    for name in ("all", "any"):
        for wg_out, axis, keepdims in [(getattr(x, name)(dim=1), 1, False), (getattr(x, name)(1, True), 1, True),
                                       (getattr(wg, name)(x, dim=(0, 2), keepdim=True), (0, 2), True)]:
            expected = getattr(np, name)(flags, axis=axis, keepdims=keepdims)
            assert wg_out.dtype == wg.bool_ and wg_out.shape == expected.shape
            np.testing.assert_array_equal(wg_out.numpy(), expected)


def test_isnan_isinf_isfinite_match_numpy_and_carry_no_gradient():
    array = np.array([[0.0, np.nan, -np.inf], [np.inf, -1.5, np.nan]])
    x = wg.tensor(array, requires_grad=True)
    for name in ("isnan", "isinf", "isfinite"):
        for out in (getattr(x, name)(), getattr(wg, name)(x), getattr(np, name)(x)):
            assert isinstance(out, wg.Tensor) and out.dtype == wg.bool_ and not out.requires_grad
            np.testing.assert_array_equal(out.numpy(), getattr(np, name)(array))
            np.testing.assert_array_equal(out.numpy(), getattr(torch, name)(torch.tensor(array)).numpy())


def test_norm_gradient_at_zero_is_zero_not_nan_like_torch():
    for p in (2, "fro", 3, 1, 0.5):
        compare_with_torch(lambda x, p=p: x.norm(p, dim=1), lambda x, p=p: x.norm(p, dim=1),
                           np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.0]]))
        x = wg.tensor(np.zeros(3), requires_grad=True)
        x.norm(p).backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.zeros(3))


@pytest.mark.parametrize("make, error, message", [
    (lambda x: x.gather(1, wg.tensor([[-1, 0]])), wg.OpIndexError, r"gather: index values must be in \[0, 3\)"),
    (lambda x: x.gather(1, wg.tensor([[3, 0]])), wg.OpIndexError, r"gather: index values"),
    (lambda x: x.gather(0, wg.tensor([0, 1])), wg.OpValueError, r"gather: index has 1 dimensions"),
    (lambda x: x.gather(0, wg.tensor([[0.0]])), wg.OpTypeError, r"gather: index must be an integer"),
    (lambda x: x.gather(0, wg.tensor([[0, 0, 0, 0]])), wg.OpValueError, r"gather: index of shape \(1, 4\)"),
    (lambda x: x.gather(2, wg.tensor([[0]])), wg.OpIndexError, r"gather: dim must be"),
    (lambda x: x.scatter_add(0, wg.tensor([[2, 0]]), wg.ones((1, 3))), wg.OpIndexError, r"scatter_add: index values"),
    (lambda x: x.scatter_add(0, wg.tensor([[0, 0]]), wg.ones((1, 1))), wg.OpValueError,
     r"scatter_add: index of shape \(1, 2\) is larger than src"),
    (lambda x: x.masked_fill(x > 0, 1.0).masked_fill(wg.tensor([1, 0, 1]), 0.0), wg.OpTypeError,
     r"masked_fill: the mask must be a bool"),
    (lambda x: x.masked_fill(wg.tensor([[[True]]] * 2), 0.0), wg.OpValueError, r"masked_fill: a mask of shape"),
    (lambda x: x.topk(4), wg.OpIndexError, r"topk: k=4 is out of range"),
    (lambda x: x.norm("nuc"), wg.OpTypeError, r"norm: p must be"),
    (lambda x: x.norm(-1), wg.OpValueError, r"norm: p must be"),
    (lambda x: x.permute(0, 0), wg.OpValueError, r"permute: dims \(0, 0\)"),
    (lambda x: x.expand(3, 3), wg.OpValueError, r"expand: cannot expand shape \(2, 3\)"),
    (lambda x: x.expand(3), wg.OpValueError, r"expand: 1 sizes"),
    (lambda x: x.sum(0).tril(), wg.OpValueError, r"tril: takes an input of at least 2"),
    (lambda x: wg.diag(wg.ones((2, 2, 2))), wg.OpValueError, r"diag: takes a 1-D or 2-D"),
    (lambda x: wg.einsum(x, [0, 99], [0]), wg.OpValueError, r"einsum: a sublist"),
], ids=["gather-negative", "gather-too-large", "gather-rank", "gather-float-index", "gather-index-too-wide",
        "gather-dim", "scatter_add-range", "scatter_add-src-small", "masked_fill-int-mask", "masked_fill-shape",
        "topk-k", "norm-nuc", "norm-negative", "permute", "expand-size", "expand-rank", "tril-1d", "diag-3d",
        "einsum-sublist"])
def test_bad_arguments_raise_errors_naming_the_op_and_call_site(make, error, message):
    x = wg.tensor(random_array((2, 3)), requires_grad=True)
    with pytest.raises(error, match=message) as raised:
        make(x)
    assert "test_tensor_api.py" in str(raised.value)


# --- regressions ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "prod", "var", "std", "amax", "logsumexp", "argmax",
                                  "all", "any"])
@pytest.mark.parametrize("value", [[1.0, -2.0, 3.5], 3.0, [[1, 2], [3, 4]], 0])
def test_reductions_accept_python_numbers_and_lists_as_numpy_does(name, value):
    out = getattr(wg, name)(value)
    if name == "logsumexp":
        expected = np.log(np.sum(np.exp(np.asarray(value, dtype=float))))
    else:
        expected = getattr(np, name)(value)
    assert isinstance(out, wg.Tensor)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    if np.asarray(value).dtype.kind == "f":  # floats become the default dtype, as in wg.tensor
        assert out.dtype == wg.get_default_dtype() or out.dtype == bool or name == "argmax"


def test_reduction_of_a_list_of_tensors_stacks_them_and_keeps_gradients():
    a, b = wg.tensor(2.0, requires_grad=True), wg.tensor(-3.0, requires_grad=True)
    total = wg.sum([a, b * b])
    assert total.item() == 11.0
    total.backward()
    assert a.grad.item() == 1.0 and b.grad.item() == -6.0


@pytest.mark.parametrize("arguments, subscripts", [
    (((3, 4), [0, 1], (4, 5), [1, 2], [0, 2]), "ij,jk->ik"),
    (((3, 4), [0, 1], (4, 5), [1, 2]), "ij,jk"),
    (((2, 3, 4), [Ellipsis, 0, 1], (4,), [1], [Ellipsis, 0]), "...ij,j->...i"),
    (((3, 3), [5, 30], (3,), [30], [5]), "ab,b->a"),
    (((4,), [0], (4,), [0], []), "i,i->"),
], ids=["matmul", "implicit-output", "ellipsis", "far-apart-ints", "inner"])
def test_einsum_sublist_form_matches_the_subscripts_form_numpy_and_torch(arguments, subscripts):
    arrays = [random_array(a, seed=i) for i, a in enumerate(arguments[0::2]) if isinstance(a, tuple)]
    sublists = [a for a in arguments if not isinstance(a, tuple)]

    def interleave(operands):
        mixed = [part for pair in zip(operands, sublists) for part in pair]
        return mixed + sublists[len(operands):]

    np.testing.assert_allclose(wg.einsum(*interleave([wg.tensor(a) for a in arrays])).numpy(),
                               np.einsum(*interleave(arrays)), rtol=1e-12)
    check_op(lambda *ops: wg.einsum(*interleave(ops)), lambda *ops: torch.einsum(subscripts, *ops), *arrays)
