"""The backend's speed paths: a batch through a layer written column-major, SGD-style updates by
BLAS axpy, and matrix products side by side by BLAS gemm_batch; each must give numpy's values,
and fall back where it does not apply."""

import os

import numpy as np
import pytest

from wengert.core import backend, blas
from wengert.core.backend import add_scaled_blas, batch_matmul


@pytest.mark.parametrize("rows, inner, columns", [(3, 5, 7), (7, 5, 3), (4, 4, 4), (1, 9, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_batch_matmul_gives_the_product_in_the_faster_layout(rows, inner, columns, dtype):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((rows, inner)) * 4).astype(dtype)
    b = (rng.standard_normal((inner, columns)) * 4).astype(dtype)
    product = batch_matmul(a, b)
    np.testing.assert_allclose(product, a @ b, rtol=1e-6)
    assert product.dtype == (a @ b).dtype
    if rows < columns and dtype != np.int64 and rows > 1:  # column-major exactly where it pays
        assert product.flags.f_contiguous and not product.flags.c_contiguous
    else:
        assert product.flags.c_contiguous
    out = np.empty_like(product)
    assert batch_matmul(a, b, out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-6)


def test_numpys_own_blas_axpy_and_gemm_batch_are_found():
    assert set(blas._AXPY) == {"f", "d"}, "numpy's BLAS axpy was not found: optimizer steps fall back to numpy"
    assert set(blas._GEMM_BATCH) == {"f", "d"}, "numpy's BLAS gemm_batch was not found or failed its check"


def test_a_gemm_batch_or_axpy_that_gives_wrong_values_is_dropped_at_its_check(monkeypatch):
    monkeypatch.setattr(blas, "_GEMM_BATCH", {"f": lambda *arguments: None, "d": blas._GEMM_BATCH["d"]})
    monkeypatch.setattr(blas, "_AXPY", {"f": blas._AXPY["f"], "d": lambda *arguments: None})
    monkeypatch.setattr(blas, "_PLANS", {})
    assert blas._works()  # float64's gemm_batch and float32's axpy still pass
    assert set(blas._GEMM_BATCH) == {"d"} and set(blas._AXPY) == {"f"}  # the ones that wrote nothing: dropped
    assert not blas.axpy(np.ones(5000), 1.0, np.ones(5000))  # float64 updates then run by numpy
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((256, 256)).astype(np.float32), rng.standard_normal((256, 256)).astype(np.float32)
    assert blas.products([(a, b), (a, b)]) is None  # float32 products then run one by one, as numpy's


def _operand(rng, shape, dtype, order):
    """A matrix of ``shape`` laid out row-major ("C"), column-major ("F"), or as a view with a leading
    dimension longer than its rows ("padded")."""
    if order == "padded":
        return rng.standard_normal((shape[0], shape[1] + 5)).astype(dtype)[:, :shape[1]]
    return np.asarray(rng.standard_normal(shape).astype(dtype), order=order)


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-4), (np.float64, 1e-12)])
@pytest.mark.parametrize("orders", [("C", "C"), ("F", "C"), ("C", "F"), ("F", "F"), ("padded", "C"), ("C", "padded")])
def test_products_side_by_side_give_numpys_products(dtype, tolerance, orders):
    rng = np.random.default_rng(4)
    # a layer's two gradients at batch 128: the input's (through W) and the weight's (from the batch)
    upstream, W, x = _operand(rng, (128, 256), dtype, orders[0]), _operand(rng, (256, 600), dtype, orders[1]), \
        _operand(rng, (128, 600), dtype, orders[1])
    pairs = [(upstream, W), (upstream.T, x)]
    found = blas.products(pairs)
    if blas.threads() < 2:
        assert found is None  # one core: numpy's calls, one by one
        return
    assert found is not None
    for value, (a, b) in zip(found, pairs):
        np.testing.assert_allclose(value, a @ b, rtol=tolerance, atol=tolerance)
        assert value.flags.c_contiguous
    upstream, W, x = _operand(rng, (128, 256), dtype, orders[0]), _operand(rng, (256, 600), dtype, orders[1]), \
        _operand(rng, (128, 600), dtype, orders[1])
    again = [(upstream, W), (upstream.T, x)]  # the same plan (shapes, layouts), other arrays
    assert [(a.strides, b.strides) for a, b in again] == [(a.strides, b.strides) for a, b in pairs]
    for value, (a, b) in zip(blas.products(again), again):
        np.testing.assert_allclose(value, a @ b, rtol=tolerance, atol=tolerance)
    column_major, row_major = np.full((600, 128), np.nan, dtype).T, np.full((256, 600), np.nan, dtype)
    written = blas.products([(upstream.T, x), (upstream, W)], [row_major, column_major])  # into given arrays
    assert written[0] is row_major and written[1] is column_major
    np.testing.assert_allclose(row_major, upstream.T @ x, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(column_major, upstream @ W, rtol=tolerance, atol=tolerance)
    lone = blas.products([(upstream.T, x)])  # one weight's gradient alone: split in row blocks,
    if orders[1] == "F":  # but not where each block would read x across the grain
        assert lone is None
    else:
        np.testing.assert_allclose(lone[0], upstream.T @ x, rtol=tolerance, atol=tolerance)


def test_products_decline_what_would_not_run_side_by_side():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((256, 256)), rng.standard_normal((256, 256))
    declined = [
        [(a[:8, :8], b[:8, :8]), (a[:8, :8], b[:8, :8])],  # small: OpenBLAS's small-matrix kernels, one by one
        [(a[:128, :128], b[:128, :128])] * 2,  # too small to pay for the call
        [(rng.standard_normal((1024, 32)), rng.standard_normal((32, 1024)))] * 2,  # large, but a short inner
        # dimension: no faster side by side
        [(a, b.astype(np.float32))],  # mixed dtypes
        [(a[:, ::2], b[::2])],  # strides BLAS cannot read
        [(a.astype(np.int64), b.astype(np.int64))] * 2,  # integers
        [(a, b.T.copy().T)],  # alone, reading b across the grain: numpy's own call is as good
        [(a, b), (a, b[:, :10].copy())],  # one of the two too small
        [(a.astype(">f8"), b.astype(">f8"))] * 2,  # bytes in the other order
    ]
    for pairs in declined:
        assert blas.products(pairs) is None
    strided = np.empty((256, 512))[:, ::2]  # an out neither row- nor column-major
    assert blas.products([(a, b), (a, b)], [strided, None]) is None
    assert blas.products([(a, b), (a, b)], [np.empty((256, 255)), None]) is None  # an out of another shape
    assert blas.products([(a, b), (a, b)]) is not None or blas.threads() < 2  # the same pair, as it is, runs
    wide = [(rng.standard_normal((1024, 64)), rng.standard_normal((64, 1024)))] * 2  # an inner 64 is long enough
    assert blas.products(wide) is not None or blas.threads() < 2


def test_products_run_one_by_one_when_blas_has_one_thread():
    threadpoolctl = pytest.importorskip("threadpoolctl")  # installed with scikit-learn, in the test extra
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((256, 128)), rng.standard_normal((128, 256))
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert blas.threads() == 1
        assert blas.products([(a, b), (a, b)]) is None
    assert blas.threads() >= 1


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-6), (np.float64, 1e-15)])
def test_add_scaled_blas_is_y_plus_alpha_x_in_place(dtype, tolerance):
    rng = np.random.default_rng(1)
    y, x = rng.standard_normal((70, 90)).astype(dtype), rng.standard_normal((70, 90)).astype(dtype)
    expected = y + dtype(-0.3) * x
    array = y
    assert add_scaled_blas(y, -0.3, x)
    assert y is array
    np.testing.assert_allclose(y, expected, rtol=tolerance, atol=tolerance)


def test_add_scaled_blas_declines_what_it_cannot_do_and_leaves_y_alone():
    rng = np.random.default_rng(2)
    big = rng.standard_normal((100, 100))
    cases = [
        (big[:, :50].copy(), big[:, :50]),  # x a strided view
        (rng.standard_normal(10), rng.standard_normal(10)),  # small: numpy is as fast
        (big.astype(np.float32), big),  # mixed dtypes
        (np.arange(10_000), np.arange(10_000)),  # integers
        (big.T.copy(order="C").T, big),  # y column-major
        (big.astype(">f8"), big.astype(">f8")),  # bytes in the other order: BLAS would read them as garbage
    ]
    read_only = big.copy()
    read_only.flags.writeable = False
    cases.append((read_only, big))
    for y, x in cases:
        before = y.copy()
        assert not add_scaled_blas(y, 2.0, x)
        np.testing.assert_array_equal(y, before)


@pytest.mark.parametrize("rows, inner, columns", [(512, 32, 784), (300, 8, 300), (256, 64, 1000), (300, 65, 400),
                                                  (100, 4, 500)])
def test_matmul_in_column_blocks_gives_the_product(rows, inner, columns):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((inner, rows)).T  # a weight's gradient: the batch's rows, transposed
    b = rng.standard_normal((inner, columns))
    np.testing.assert_allclose(backend.matmul(a, b), a @ b, rtol=1e-12, atol=1e-12)
    out = np.full((rows, columns), np.nan)
    assert backend.matmul(a, b, out=out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-12)  # every block written


def test_importing_wengert_keeps_freed_arrays_for_reuse_unless_told_not_to():
    # a LeNet-5 training step frees and makes the same arrays every step; glibc's defaults give many of
    # them back to the OS, and fault their pages in afresh the next step
    import subprocess
    import sys

    program = ("import resource, numpy, wengert as wg\n"
               "model = wg.models.LeNet5()\n"
               "x = wg.tensor(numpy.ones((64, 1, 28, 28), numpy.float32))\n"
               "def step():\n"
               "    model.zero_grad()\n"
               "    model(x).sum().backward()\n"
               "for _ in range(3): step()\n"
               "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
               "for _ in range(5): step()\n"
               "print(wg.core.backend.MALLOC_TUNED, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)")
    results = {}
    for setting in ("", "system"):
        environment = {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")}
        output = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True,
                                env={**environment, "WENGERT_MALLOC": setting}).stdout.split()
        results[setting] = (output[0] == "True", int(output[1]))
    assert results[""][0] and not results["system"][0]
    assert results["system"][1] > 5 * 1000, results  # thousands of pages a step, faulted in again each time
    assert results[""][1] < 5 * 100, results  # the same pages, reused
