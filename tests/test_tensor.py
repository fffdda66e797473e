"""Tensors: creation, dtypes, conversions, and the Python protocols."""

import numpy as np
import pytest

import wengert as wg


@pytest.mark.parametrize("data, dtype", [
    (1.5, wg.float32), ([1.0, 2.0], wg.float32), ([1, 2], wg.int64), (True, wg.bool_),
    (np.ones(2), wg.float64), (np.ones(2, np.float32), wg.float32), (np.float64(2.0), wg.float64),
    (np.arange(3, dtype=np.int32), wg.int32),
])
def test_tensor_dtype_rules(data, dtype):
    # Python floats default to float32; numpy data keeps its dtype
    assert wg.tensor(data).dtype == dtype


def test_set_default_dtype():
    wg.set_default_dtype(wg.float64)
    assert wg.tensor(1.5).dtype == wg.float64 and wg.zeros(2).dtype == wg.float64
    assert wg.get_default_dtype() == wg.float64
    with pytest.raises(TypeError, match="floating"):
        wg.set_default_dtype(wg.int64)


def test_tensor_copies_its_data_and_from_numpy_shares_it():
    array = np.zeros(3)
    copied, shared = wg.tensor(array), wg.from_numpy(array)
    array[0] = 7.0
    assert copied.tolist() == [0.0, 0.0, 0.0] and shared.tolist() == [7.0, 0.0, 0.0]


def test_bytes_in_the_other_order_are_copied_into_the_machines_or_refused_where_shared():
    # compute paths (BLAS above all) read native bytes; a big-endian step once wrote 4e37 and inf
    big_endian = np.arange(6, dtype=">f4").reshape(2, 3)
    copied = wg.tensor(big_endian)
    assert copied.dtype == wg.float32 and copied.numpy().dtype.isnative
    np.testing.assert_array_equal(copied.numpy(), big_endian)
    with pytest.raises(wg.OpTypeError, match=r"from_numpy: .*not in this machine's order \(dtype >f4\).*wg.tensor"):
        wg.from_numpy(big_endian)


@pytest.mark.parametrize("make, shape, dtype", [
    (lambda: wg.zeros(2, 3), (2, 3), wg.float32),
    (lambda: wg.zeros((2, 3), dtype=wg.float64), (2, 3), wg.float64),
    (lambda: wg.ones(4), (4,), wg.float32),
    (lambda: wg.full((2, 2), 7), (2, 2), wg.int64),
    (lambda: wg.full(3, 0.5), (3,), wg.float32),
    (lambda: wg.arange(5), (5,), wg.int64),
    (lambda: wg.arange(0, 1, 0.25), (4,), wg.float32),
    (lambda: wg.linspace(0, 1, 5), (5,), wg.float32),
    (lambda: wg.eye(3, 2), (3, 2), wg.float32),
    (lambda: wg.rand(2, 5), (2, 5), wg.float32),
    (lambda: wg.randn((3,), dtype=wg.float64), (3,), wg.float64),
    (lambda: wg.zeros_like(wg.ones(2, 3, dtype=wg.float64)), (2, 3), wg.float64),
    (lambda: wg.ones_like(wg.arange(3)), (3,), wg.int64),
    (lambda: wg.full_like(wg.ones(2), 4.0), (2,), wg.float32),
    (lambda: wg.rand_like(wg.ones(2, 2)), (2, 2), wg.float32),
    (lambda: wg.randn_like(wg.ones(1)), (1,), wg.float32),
    (lambda: wg.zeros(()), (), wg.float32),
], ids=lambda value: "" if callable(value) else None)
def test_factories(make, shape, dtype):
    t = make()
    assert (t.shape, t.dtype) == (shape, dtype)


def test_factory_values():
    np.testing.assert_array_equal(wg.full((2,), 3.0).numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(wg.arange(2, 8, 3).numpy(), [2, 5])
    np.testing.assert_allclose(wg.linspace(0, 1, 3).numpy(), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(wg.eye(2).numpy(), np.eye(2))
    uniform = wg.rand(1000).numpy()
    assert 0.0 <= uniform.min() and uniform.max() < 1.0


def test_manual_seed_makes_runs_repeat():
    wg.manual_seed(42)
    first = wg.randn(5).tolist() + wg.rand(3).tolist()
    wg.manual_seed(42)
    assert wg.randn(5).tolist() + wg.rand(3).tolist() == first
    wg.manual_seed(43)
    assert wg.randn(5).tolist() != first[:5]


def test_generator_is_independent_of_the_default_one():
    a, b = wg.Generator(7), wg.Generator(7)
    assert wg.randn(3, generator=a).tolist() == wg.randn(3, generator=b).tolist()


def test_requires_grad_only_for_floating_tensors():
    with pytest.raises(wg.OpTypeError, match="int64"):
        wg.arange(3, requires_grad=True)
    assert wg.ones(2, requires_grad=True).requires_grad


def test_properties():
    t = wg.zeros(2, 3, 4)
    assert (t.shape, t.ndim, t.size, t.numel(), len(t)) == ((2, 3, 4), 3, 24, 24, 2)
    assert t.is_leaf and t.grad is None and t.grad_fn is None


def test_conversions():
    t = wg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert isinstance(np.asarray(t), np.ndarray) and np.asarray(t).dtype == np.float32
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert t.numpy().tolist() == t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert wg.tensor(2.5).item() == 2.5 and float(wg.tensor(2.5)) == 2.5 and int(wg.tensor(3)) == 3
    with pytest.raises(TypeError, match="one-element"):
        t.item()
    with pytest.raises(TypeError, match="0-d"):
        len(wg.tensor(1.0))


def test_numpy_of_a_tensor_that_requires_grad_needs_detach():
    x = wg.ones(2, requires_grad=True)
    with pytest.raises(wg.BackwardError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0, 1.0]


def test_iteration_yields_rows_that_carry_gradients():
    x = wg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    rows = list(x)
    assert [row.tolist() for row in rows] == [[1.0, 2.0], [3.0, 4.0]]
    (rows[1] * 2).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0], [2.0, 2.0]]


def test_truth_value():
    assert bool(wg.tensor([1.0])) and not bool(wg.tensor(0.0))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(wg.ones(2))


def test_repr_shows_values_dtype_and_graph():
    assert repr(wg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(wg.tensor([1.0], dtype=wg.float64)) == "tensor([1.], dtype=float64)"
    assert repr(wg.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    assert repr(wg.tensor([1.0], requires_grad=True) * 2) == "tensor([2.], grad_fn=<multiply>)"


def test_tensors_are_thin_and_hash_by_identity():
    t = wg.ones(2)
    assert not hasattr(t, "__dict__")
    with pytest.raises(AttributeError):
        t.anything = 1
    assert len({t, wg.ones(2)}) == 2


def test_numpy_interoperates():
    x = wg.tensor([1.0, 2.0], requires_grad=True)
    for result in (np.ones(2) * x, np.exp(x), np.add(np.ones(2), x)):
        assert isinstance(result, wg.Tensor) and result.requires_grad
    (np.ones(2) * x).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_in_place_ops_on_plain_tensors():
    t = wg.zeros(3)
    t += 1
    t *= 4
    t -= wg.ones(3)
    t /= 3
    assert t.tolist() == [1.0, 1.0, 1.0]
    t[1] = 5.0
    t[wg.tensor([0, 2])] = wg.tensor([7.0, 8.0])
    assert t.tolist() == [7.0, 5.0, 8.0]
    t.fill_(2.0)
    assert t.tolist() == [2.0, 2.0, 2.0]
    t.copy_(wg.tensor([1.0, 2.0, 3.0]))
    t.zero_()
    assert t.tolist() == [0.0, 0.0, 0.0]
