"""gradcheck itself: it passes right gradients and names the worst element of a wrong one."""

import numpy as np
import pytest

import wengert as wg


class OffByTwo(wg.Function):
    """exp with a backward that is wrong in one element."""

    def forward(ctx, x):
        y = wg.namespace(x).exp(x)
        ctx.save(y)
        return y

    def backward(ctx, upstream):
        (y,) = ctx.saved
        grad = upstream * y
        grad[1] += 2.0
        return grad


def test_right_gradients_pass_for_any_output_shape():
    x = wg.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    assert wg.gradcheck(lambda t: t.tanh(), x)
    assert wg.gradcheck(lambda t: (t * t).sum(), x)
    assert wg.gradcheck(lambda t: (t.exp(), t.sum(axis=0)), x)  # several outputs
    assert wg.gradcheck(lambda t: t.exp(), wg.tensor(0.3, requires_grad=True))  # 0-d


def test_a_wrong_gradient_is_reported_with_input_element_and_values():
    x = wg.tensor([0.1, 0.2, 0.3], dtype=wg.float64)
    y = wg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(wg.GradcheckError, match=r"input 1 \(shape \(3,\)\): at element \(1,\) backward gives"):
        wg.gradcheck(lambda a, b: OffByTwo.apply(b) * a, x, y)
    assert wg.gradcheck(lambda b: OffByTwo.apply(b), y, raise_exception=False) is False


def test_gradcheck_works_in_float64_even_for_float32_inputs():
    # float32 finite differences at eps=1e-6 would be noise; gradcheck promotes to float64
    x = wg.tensor([0.5, 1.5], requires_grad=True)
    assert x.dtype == wg.float32
    assert wg.gradcheck(lambda t: t.log() * t, x)


def test_gradcheck_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="requires grad"):
        wg.gradcheck(lambda t: t * 2, wg.ones(2))


class NaNInOneElement(wg.Function):
    """2x, except that element 0 of the output is NaN; backward claims 3 (wrong everywhere)."""

    def forward(ctx, x):
        y = x * 2
        y[0] = np.nan
        return y

    def backward(ctx, upstream):
        return upstream * 3


def test_a_nan_finite_difference_fails_instead_of_passing_anything():
    x = wg.tensor([0.5, 1.5], requires_grad=True)
    with pytest.raises(wg.GradcheckError, match=r"at element \(\d,\) finite differences gives nan"):
        wg.gradcheck(NaNInOneElement.apply, x)


def test_an_infinite_backward_fails_and_says_where():
    x = wg.tensor([0.0, 1.0], dtype=wg.float64, requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"), pytest.raises(
            wg.GradcheckError, match=r"at element \(0,\) backward gives inf"):
        wg.gradcheck(wg.sqrt, x)
