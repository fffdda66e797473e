"""Pooling, normalization and Dropout2d (issue 10): functions and modules against PyTorch in float64,
finite differences, second derivatives, running statistics, checkpoints and clear errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from conftest import compare_with_torch, random_array

import wengert as wg
import wengert.nn.functional as F
from wengert import nn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:torch")  # torch.func's own warnings

# --- pooling against PyTorch: outputs and input gradients ------------------------------------------

# (input shape, kernel_size, stride, padding, dilation, ceil_mode): odd sizes, batch 1, unbatched (C, H, W),
# rectangular kernels, overlapping and gapped windows, ceil_mode windows that run past the padding
MAX_POOLS = [
    ((2, 3, 6, 6), 2, None, 0, 1, False),
    ((1, 2, 7, 5), 3, 2, 1, 1, True),
    ((2, 1, 7, 6), 3, 2, 1, 2, False),
    ((1, 3, 5, 7), (2, 3), (1, 2), (1, 1), 1, True),
    ((3, 7, 7), 3, 3, 1, 1, True),
    ((2, 2, 9, 8), (3, 2), (2, 3), (0, 1), (2, 1), True),
    ((1, 1, 4, 4), 2, 3, 1, 1, False),
    ((1, 2, 7, 5), 2, 2, 0, 1, False),  # windows that tile the input (a reshape), the last row and column unread
    ((2, 1, 6, 9), (2, 3), (2, 3), 0, 1, True),
]


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation, ceil_mode", MAX_POOLS)
def test_max_pool2d_matches_pytorch(shape, kernel, stride, padding, dilation, ceil_mode):
    x = random_array(shape, seed=len(shape) + sum(shape))
    compare_with_torch(lambda t: F.max_pool2d(t, kernel, stride, padding, dilation, ceil_mode),
                       lambda t: TF.max_pool2d(t, kernel, stride, padding, dilation, ceil_mode), x, atol=1e-12)


def test_max_pool2d_returns_pytorchs_indices():
    x = random_array((2, 3, 7, 6), seed=3)
    ours, our_indices = F.max_pool2d(wg.tensor(x), 3, 2, 1, 2, True, return_indices=True)
    theirs, their_indices = TF.max_pool2d(torch.tensor(x), 3, 2, 1, 2, True, return_indices=True)
    np.testing.assert_array_equal(our_indices.numpy(), their_indices.numpy())
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("shape, kernel, stride, padding", [((2, 3, 6, 6), 2, None, 0), ((1, 2, 7, 6), 3, 1, 1),
                                                            ((1, 1, 5, 5), 3, 2, 1)])
def test_max_pool2d_gives_a_tied_windows_gradient_to_one_element_as_pytorch(shape, kernel, stride, padding):
    x = np.ones(shape)
    x[..., 1, :] = 2.0  # ties within rows too
    ours = wg.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    F.max_pool2d(ours, kernel, stride, padding).sum().backward()
    TF.max_pool2d(theirs, kernel, stride, padding).sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    out = F.max_pool2d(wg.tensor(x), kernel, stride, padding)
    assert ours.grad.numpy().sum() == out.numpy().size  # one unit of gradient per window, not split


def test_max_pool2d_picks_as_pytorch_where_windows_hold_only_minus_infinity_or_nan():
    x = np.full((1, 1, 4, 4), -np.inf)
    x[0, 0, 3, 3], x[0, 0, 1, 2] = 1.0, np.nan  # a NaN wins its windows; an all -inf window takes its first element
    ours, theirs = wg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = F.max_pool2d(ours, 3, 2, 1, ceil_mode=True)
    out.sum().backward()
    TF.max_pool2d(theirs, 3, 2, 1, ceil_mode=True).sum().backward()
    np.testing.assert_array_equal(out.detach().numpy(), TF.max_pool2d(torch.tensor(x), 3, 2, 1, ceil_mode=True))
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())  # never given to the padding
    tiles = np.array([[[[1.0, np.nan, -np.inf, -np.inf], [2.0, 0.0, -np.inf, -np.inf]]]])  # windows that tile
    ours, theirs = wg.tensor(tiles, requires_grad=True), torch.tensor(tiles, requires_grad=True)
    out = F.max_pool2d(ours, 2)
    out.sum().backward()
    TF.max_pool2d(theirs, 2).sum().backward()
    np.testing.assert_array_equal(out.detach().numpy(), TF.max_pool2d(torch.tensor(tiles), 2))
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


# (input shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
AVG_POOLS = [
    ((2, 3, 6, 6), 2, None, 0, False, True, None),
    ((1, 2, 7, 5), 3, 2, 1, True, True, None),
    ((1, 2, 7, 5), 3, 2, 1, True, False, None),
    ((2, 1, 5, 7), (2, 3), (1, 2), (1, 1), False, False, None),
    ((3, 5, 5), 3, 1, 1, False, True, 4),
    ((1, 1, 4, 4), 2, 3, 1, True, True, None),
]


@pytest.mark.parametrize("shape, kernel, stride, padding, ceil_mode, include_pad, divisor", AVG_POOLS)
def test_avg_pool2d_matches_pytorch(shape, kernel, stride, padding, ceil_mode, include_pad, divisor):
    x = random_array(shape, seed=sum(shape))
    compare_with_torch(lambda t: F.avg_pool2d(t, kernel, stride, padding, ceil_mode, include_pad, divisor),
                       lambda t: TF.avg_pool2d(t, kernel, stride, padding, ceil_mode, include_pad, divisor), x,
                       atol=1e-12)


@pytest.mark.parametrize("shape, output_size", [((2, 3, 6, 6), 1), ((2, 3, 6, 6), (3, 2)), ((1, 2, 7, 5), (4, 3)),
                                                ((1, 2, 7, 5), (2, None)), ((3, 5, 9), (5, 9)), ((1, 1, 3, 3), 5)])
def test_adaptive_avg_pool2d_matches_pytorch(shape, output_size):
    x = random_array(shape, seed=sum(shape))
    compare_with_torch(lambda t: F.adaptive_avg_pool2d(t, output_size),
                       lambda t: TF.adaptive_avg_pool2d(t, output_size), x, atol=1e-12)


# --- normalization against PyTorch ---------------------------------------------------------------

@pytest.mark.parametrize("shape, training, affine, momentum", [
    ((4, 3), True, True, 0.1), ((4, 3), False, True, 0.1), ((5, 2), True, False, 0.3),
    ((2, 3, 4, 5), True, True, 0.1), ((2, 3, 4, 5), False, False, 0.1), ((1, 2, 3, 3), True, False, 1.0),
    ((3, 2, 5), True, True, 0.1),
])
def test_batch_norm_matches_pytorch_and_moves_the_running_statistics_alike(shape, training, affine, momentum):
    channels = shape[1]
    x = random_array(shape, seed=1) * 2 + 0.5
    weight, bias = random_array((channels,), 2), random_array((channels,), 3)
    running = {"mean": random_array((channels,), 4), "var": random_array((channels,), 5, 0.5, 2.0)}
    ours_running = {key: wg.tensor(value.copy()) for key, value in running.items()}
    theirs_running = {key: torch.tensor(value.copy()) for key, value in running.items()}
    compare_with_torch(
        lambda t, w, b: F.batch_norm(t, ours_running["mean"], ours_running["var"], w, b, training, momentum),
        lambda t, w, b: TF.batch_norm(t, theirs_running["mean"], theirs_running["var"], w, b, training, momentum),
        x, *((weight, bias) if affine else (None, None)), atol=1e-10, rtol=1e-10)
    for key in running:
        np.testing.assert_allclose(ours_running[key].numpy(), theirs_running[key].numpy(), rtol=1e-12)
        assert training == (not np.allclose(ours_running[key].numpy(), running[key]))  # moved only in training


@pytest.mark.parametrize("module, shape, momentum", [(nn.BatchNorm2d, (2, 3, 4, 4), 0.1),
                                                     (nn.BatchNorm2d, (3, 3, 2, 5), None),
                                                     (nn.BatchNorm1d, (6, 3), None), (nn.BatchNorm1d, (2, 3, 4), 0.1)])
def test_batch_norm_modules_running_statistics_after_three_steps_equal_pytorchs(module, shape, momentum):
    ours = module(3, momentum=momentum, dtype=wg.float64)
    theirs = getattr(torch.nn, module.__name__)(3, momentum=momentum)
    for step in range(3):
        x = random_array(shape, seed=10 + step) * (step + 1) + step
        np.testing.assert_allclose(ours(wg.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                                   atol=1e-10)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(getattr(ours, name).numpy(), getattr(theirs, name).numpy(), rtol=1e-12)
    assert int(ours.num_batches_tracked.item()) == 3
    ours.eval()
    theirs.eval()
    x = random_array(shape, seed=20)
    np.testing.assert_allclose(ours(wg.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                                   atol=1e-10)
    assert int(ours.num_batches_tracked.item()) == 3  # eval leaves the statistics alone


def test_batch_norm_without_running_statistics_normalizes_by_the_batch_in_eval_too():
    ours = nn.BatchNorm2d(2, track_running_stats=False, dtype=wg.float64).eval()
    theirs = torch.nn.BatchNorm2d(2, track_running_stats=False).eval()
    x = random_array((3, 2, 2, 2), seed=6)
    assert ours.running_mean is None and dict(ours.named_buffers()) == {}
    np.testing.assert_allclose(ours(wg.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               atol=1e-12)


@pytest.mark.parametrize("shape, normalized_shape, affine", [((4, 5), 5, True), ((2, 3, 4), (3, 4), True),
                                                             ((2, 3, 4), [4], False), ((6,), (6,), True)])
def test_layer_norm_matches_pytorch(shape, normalized_shape, affine):
    normalized = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    x = random_array(shape, seed=7) * 3 + 1
    params = (random_array(normalized, 8), random_array(normalized, 9)) if affine else (None, None)
    compare_with_torch(lambda t, w, b: F.layer_norm(t, normalized_shape, w, b),
                       lambda t, w, b: TF.layer_norm(t, normalized, w, b), x, *params, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("shape, groups", [((2, 4, 3, 3), 1), ((2, 4, 3, 3), 2), ((2, 4, 3, 3), 4), ((3, 6), 3),
                                           ((1, 6, 5), 2)])
def test_group_norm_matches_pytorch(shape, groups):
    channels = shape[1]
    x = random_array(shape, seed=11) * 2 - 1
    compare_with_torch(lambda t, w, b: F.group_norm(t, groups, w, b), lambda t, w, b: TF.group_norm(t, groups, w, b),
                       x, random_array((channels,), 12), random_array((channels,), 13), atol=1e-10, rtol=1e-10)


# --- finite differences, forward mode and second derivatives --------------------------------------

GRADCHECKS = {
    "max_pool2d": (lambda x: F.max_pool2d(x, 3, 2, 1, 1, True), [(1, 2, 5, 6)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, (3, 2), (2, 1), 1, True, False), [(1, 2, 5, 6)]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (3, 4)), [(1, 2, 5, 6)]),
    "batch_norm": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [(3, 2, 2, 2), (2,), (2,)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (2, 3), w, b), [(2, 2, 3), (2, 3), (2, 3)]),
    "group_norm": (lambda x, w, b: F.group_norm(x, 2, w, b), [(2, 4, 3), (4,), (4,)]),
}


@pytest.mark.parametrize("name", sorted(GRADCHECKS))
def test_gradients_equal_finite_differences(name):
    fn, shapes = GRADCHECKS[name]
    inputs = [wg.tensor(random_array(shape, seed), requires_grad=True) for seed, shape in enumerate(shapes)]
    assert wg.gradcheck(fn, *inputs, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(GRADCHECKS))
def test_forward_mode_equals_pytorchs(name):
    fn, shapes = GRADCHECKS[name]
    theirs = {"max_pool2d": lambda x: TF.max_pool2d(x, 3, 2, 1, 1, True),
              "avg_pool2d": lambda x: TF.avg_pool2d(x, (3, 2), (2, 1), 1, True, False),
              "adaptive_avg_pool2d": lambda x: TF.adaptive_avg_pool2d(x, (3, 4)),
              "batch_norm": lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True),
              "layer_norm": lambda x, w, b: TF.layer_norm(x, (2, 3), w, b),
              "group_norm": lambda x, w, b: TF.group_norm(x, 2, w, b)}[name]
    primals = [random_array(shape, seed) for seed, shape in enumerate(shapes)]
    tangents = [random_array(shape, 20 + seed) for seed, shape in enumerate(shapes)]
    out, tangent = wg.jvp(fn, tuple(primals), tuple(tangents))
    their_out, their_tangent = torch.func.jvp(theirs, tuple(map(torch.tensor, primals)),
                                              tuple(map(torch.tensor, tangents)))
    np.testing.assert_allclose(np.asarray(out), their_out.numpy(), atol=1e-12)
    np.testing.assert_allclose(np.asarray(tangent), their_tangent.numpy(), atol=1e-10)


def _second_derivatives(library, fn, arrays, v, u):
    """d/dx <u, d<v, fn(x)>/dx> for each input x, in wengert or in PyTorch."""
    if library == "torch":
        leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
        firsts = torch.autograd.grad((fn(*leaves) * torch.tensor(v)).sum(), leaves, create_graph=True)
        total = sum((g * torch.tensor(w)).sum() for g, w in zip(firsts, u))
        found = torch.autograd.grad(total, leaves, allow_unused=True)
        return [np.zeros(a.shape) if g is None else g.detach().numpy() for a, g in zip(arrays, found)]
    leaves = [wg.tensor(a, requires_grad=True) for a in arrays]
    firsts = wg.autograd.grad((fn(*leaves) * wg.tensor(v)).sum(), leaves, create_graph=True)
    total = sum((g * wg.tensor(w)).sum() for g, w in zip(firsts, u))
    found = wg.autograd.grad(total, leaves, allow_unused=True)
    return [np.zeros(a.shape) if g is None else g.numpy() for a, g in zip(arrays, found)]


@pytest.mark.parametrize("shape, training", [((3, 2, 2, 2), True), ((4, 3), True), ((4, 3), False)])
def test_batch_norms_second_derivatives_equal_pytorchs(shape, training):
    channels = shape[1]
    arrays = [random_array(shape, 0), random_array((channels,), 1), random_array((channels,), 2)]
    running_mean, running_var = random_array((channels,), 3), random_array((channels,), 4, 0.5, 2.0)

    def ours(x, w, b):
        return F.batch_norm(x, wg.tensor(running_mean.copy()), wg.tensor(running_var.copy()), w, b, training)

    def theirs(x, w, b):
        return TF.batch_norm(x, torch.tensor(running_mean.copy()), torch.tensor(running_var.copy()), w, b, training)

    v = random_array(shape, 5)
    u = [random_array(a.shape, 6 + index) for index, a in enumerate(arrays)]
    for got, want in zip(_second_derivatives("wg", ours, arrays, v, u),
                         _second_derivatives("torch", theirs, arrays, v, u)):
        np.testing.assert_allclose(got, want, atol=1e-10)


def test_layer_norms_and_max_pools_second_derivatives_equal_pytorchs():
    arrays = [random_array((2, 2, 3), 0), random_array((2, 3), 1), random_array((2, 3), 2)]
    v = random_array((2, 2, 3), 3)
    u = [random_array(a.shape, 4 + index) for index, a in enumerate(arrays)]
    for got, want in zip(_second_derivatives("wg", lambda x, w, b: F.layer_norm(x, (2, 3), w, b), arrays, v, u),
                         _second_derivatives("torch", lambda x, w, b: TF.layer_norm(x, (2, 3), w, b), arrays, v, u)):
        np.testing.assert_allclose(got, want, atol=1e-10)
    # through a max pool: the gradient routes through the winners, the Hessian is that of x^3 there
    x = random_array((1, 2, 5, 6), 7)
    def fn(pool):
        return lambda t: pool(t, 3, 2, 1) ** 3

    v, u = random_array((1, 2, 3, 3), 8), [random_array(x.shape, 9)]
    got = _second_derivatives("wg", fn(F.max_pool2d), [x], v, u)[0]
    np.testing.assert_allclose(got, _second_derivatives("torch", fn(TF.max_pool2d), [x], v, u)[0], atol=1e-10)


# --- Dropout2d ----------------------------------------------------------------------------------

def test_dropout2d_zeroes_whole_channels_and_scales_the_rest():
    x = wg.tensor(random_array((8, 6, 3, 3), 1, 1.0, 2.0), requires_grad=True)
    y = F.dropout2d(x, p=0.5, generator=wg.Generator(3))
    ratio = y.detach().numpy() / x.detach().numpy()
    per_channel = ratio.reshape(8, 6, -1)
    assert np.allclose(per_channel, per_channel[..., :1])  # one decision per channel
    assert set(np.round(np.unique(per_channel), 12)) == {0.0, 2.0}
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), ratio)  # the gradient is the same mask
    again = F.dropout2d(wg.tensor(x.detach().numpy()), p=0.5, generator=wg.Generator(3))
    np.testing.assert_array_equal(again.numpy(), y.detach().numpy())  # the generator decides


def test_dropout2d_module_is_the_identity_in_eval_and_refuses_bad_p():
    layer = nn.Dropout2d(0.3)
    x = wg.tensor(random_array((2, 3, 2, 2), 0))
    assert layer.eval()(x) is x and repr(layer) == "Dropout2d(p=0.3)"
    assert F.dropout2d(x, 1.0).numpy().sum() == 0.0
    with pytest.raises(wg.WengertError, match=r"p must lie in \[0, 1\]"):
        nn.Dropout2d(1.5)
    with pytest.raises(wg.WengertError, match=r"dropout2d: input must have shape .* got \(3,\)"):
        F.dropout2d(wg.tensor(np.ones(3)))


# --- modules: repr, parameters and buffers ----------------------------------------------------------

@pytest.mark.parametrize("build", [
    lambda m: m.MaxPool2d(3, 2, 1, ceil_mode=True), lambda m: m.MaxPool2d((2, 3)), lambda m: m.AvgPool2d(3, 1, 1),
    lambda m: m.AdaptiveAvgPool2d((2, None)), lambda m: m.AdaptiveAvgPool2d(1),
    lambda m: m.BatchNorm1d(3, momentum=None), lambda m: m.BatchNorm1d(3, bias=False),
    lambda m: m.BatchNorm2d(4, eps=1e-3, affine=False), lambda m: m.LayerNorm([3, 4]),
    lambda m: m.LayerNorm(5, elementwise_affine=False), lambda m: m.GroupNorm(2, 4),
])
def test_modules_print_and_initialise_as_pytorchs(build):
    ours, theirs = build(nn), build(torch.nn)
    assert repr(ours) == repr(theirs)
    our_state, their_state = ours.state_dict(), theirs.state_dict()
    assert list(our_state) == list(their_state)
    for key, value in their_state.items():
        np.testing.assert_array_equal(our_state[key].numpy(), value.numpy())
    assert [name for name, _ in ours.named_parameters()] == [name for name, _ in theirs.named_parameters()]


def test_modules_match_pytorchs_in_a_small_network():
    wg.manual_seed(0)
    x = random_array((2, 3, 8, 8), 1)
    layers = [("BatchNorm2d", (3,)), ("MaxPool2d", (2,)), ("GroupNorm", (3, 3)), ("AvgPool2d", (3, 1, 1)),
              ("LayerNorm", ((4, 4),)), ("AdaptiveAvgPool2d", ((3, 2),))]
    ours = nn.Sequential(*[getattr(nn, name)(*args) for name, args in layers]).double()
    theirs = torch.nn.Sequential(*[getattr(torch.nn, name)(*args) for name, args in layers])
    compare_with_torch(ours, theirs, x, atol=1e-10, rtol=1e-10)


def test_a_batchnorm2d_checkpoint_keeps_its_running_statistics(tmp_path):
    layer = nn.BatchNorm2d(3, dtype=wg.float64)
    for seed in range(2):
        layer(wg.tensor(random_array((4, 3, 2, 2), seed) + seed))
    assert set(layer.state_dict()) == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
    wg.save(layer.state_dict(), tmp_path / "bn.wg")
    restored = nn.BatchNorm2d(3, dtype=wg.float64)
    restored.load_state_dict(wg.load(tmp_path / "bn.wg"))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_array_equal(getattr(restored, name).numpy(), getattr(layer, name).numpy())
    assert not np.allclose(restored.running_var.numpy(), 1.0) and restored.num_batches_tracked.item() == 2
    x = wg.tensor(random_array((2, 3, 2, 2), 9))
    np.testing.assert_array_equal(restored.eval()(x).detach().numpy(), layer.eval()(x).detach().numpy())


def test_batch_norm_buffers_follow_the_modules_dtype_but_the_count_stays_an_integer():
    layer = nn.BatchNorm1d(2).double()
    assert layer.running_mean.dtype == wg.float64 and layer.num_batches_tracked.dtype == wg.int64


# --- clear errors --------------------------------------------------------------------------------

def test_pooling_refuses_bad_configurations_naming_the_shapes():
    x = wg.tensor(np.ones((1, 2, 4, 4)))
    with pytest.raises(wg.WengertError, match=r"max_pool2d: kernel \(6, 6\) does not fit .* \(1, 2, 4, 4\)"):
        F.max_pool2d(x, 6)
    with pytest.raises(wg.WengertError, match=r"avg_pool2d: kernel \(7, 7\) does not fit .* padded by \(1, 1\)"):
        F.avg_pool2d(x, 7, padding=1)
    with pytest.raises(wg.WengertError, match=r"padding \(2, 2\) must be at most half"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(wg.WengertError, match=r"input must have shape \(N, C, H, W\) or \(C, H, W\), got \(4, 4\)"):
        F.avg_pool2d(wg.tensor(np.ones((4, 4))), 2)
    with pytest.raises(wg.WengertError, match=r"stride must be an int >= 1"):
        F.max_pool2d(x, 2, stride=0)
    with pytest.raises(wg.WengertError, match=r"MaxPool2d\(kernel_size=5.*\): max_pool2d: kernel \(5, 5\) does not"):
        nn.MaxPool2d(5)(x)
    with pytest.raises(wg.WengertError, match=r"AdaptiveAvgPool2d\(output_size=2\).*got \(2, 4\)"):
        nn.AdaptiveAvgPool2d(2)(wg.tensor(np.ones((2, 4))))


def test_normalization_refuses_bad_configurations_naming_the_layer_and_the_shapes():
    with pytest.raises(wg.WengertError, match=r"BatchNorm2d\(3, .*\): input of shape \(2, 4, 5, 5\) has 4 channels"):
        nn.BatchNorm2d(3)(wg.tensor(np.ones((2, 4, 5, 5), np.float32)))
    with pytest.raises(wg.WengertError, match=r"BatchNorm2d\(3, .*\): input must have shape \(N, C, H, W\), got \(2,"):
        nn.BatchNorm2d(3)(wg.tensor(np.ones((2, 3), np.float32)))
    with pytest.raises(wg.WengertError, match=r"BatchNorm1d.*more than 1 value per channel .* \(1, 3\)"):
        nn.BatchNorm1d(3)(wg.tensor(np.ones((1, 3), np.float32)))
    with pytest.raises(wg.WengertError, match=r"LayerNorm\(\(4,\).*\(2, 3\) does not end in normalized_shape \(4,\)"):
        nn.LayerNorm(4)(wg.tensor(np.ones((2, 3), np.float32)))
    with pytest.raises(wg.WengertError, match=r"GroupNorm: num_channels=5 must be divisible by num_groups=2"):
        nn.GroupNorm(2, 5)
    with pytest.raises(wg.WengertError, match=r"group_norm: 6 channels .* \(2, 6\)\) do not divide into 4 groups"):
        F.group_norm(wg.tensor(np.ones((2, 6))), 4)
    with pytest.raises(wg.WengertError, match=r"batch_norm: weight of shape \(2,\) .* \(4, 3\)"):
        F.batch_norm(wg.tensor(np.ones((4, 3))), None, None, np.ones(2), training=True)
    with pytest.raises(wg.WengertError, match=r"eval mode .* needs running_mean"):
        F.batch_norm(wg.tensor(np.ones((4, 3))), None, None)
    with pytest.raises(wg.WengertError, match=r"float64 .* float32"):
        nn.BatchNorm1d(3)(wg.tensor(np.ones((4, 3))))


def test_batch_norm_training_is_refused_where_a_graph_would_not_update_its_running_statistics():
    bn = wg.nn.BatchNorm2d(3).double()
    x = wg.tensor(np.random.default_rng(0).standard_normal((2, 3, 4, 4)))
    with pytest.raises(wg.core.errors.TraceError, match="running statistics"):
        bn(wg.placeholder((None, 3, 4, 4), wg.float64))
    assert int(bn.num_batches_tracked.item()) == 0  # refused before counting the batch
    # a compiled loss to differentiate outside would be a program with effects: refused, naming the fix
    with pytest.raises(wg.WengertError, match=r"running_statistics.*compile the training step"):
        wg.compile(lambda t: bn(t).sum())(wg.tensor(x.numpy(), requires_grad=True))
    cumulative = wg.nn.BatchNorm2d(3, momentum=None).double()
    with pytest.raises(wg.core.errors.TraceError, match="momentum=None"):
        wg.compile(lambda t: cumulative(t).sum())(x)
    bn.eval()  # eval mode reads them only: it compiles
    np.testing.assert_allclose(wg.compile(lambda t: bn(t).sum())(x).item(), bn(x).sum().item(), rtol=1e-12)


def test_a_compiled_training_step_replays_batch_norms_running_statistics_bit_for_bit():
    rng = np.random.default_rng(0)
    batches = [(wg.tensor(rng.standard_normal((5, 1, 6, 6))), wg.tensor(rng.integers(0, 3, 5))) for _ in range(5)]
    runs = []
    for compiled in (False, True):
        wg.manual_seed(0)
        model = wg.nn.Sequential(wg.nn.Conv2d(1, 4, 3, padding=1), wg.nn.BatchNorm2d(4), wg.nn.ReLU(),
                                 wg.nn.Flatten(), wg.nn.Linear(144, 3)).double()
        optimizer = wg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x, y, model=model, optimizer=optimizer):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss

        run = wg.compile(step) if compiled else step
        losses = [run(x, y).item() for x, y in batches]
        runs.append((losses, {key: value.numpy().copy() for key, value in model.state_dict().items()}))
        if compiled:
            assert run.traces == 1
    (eager_losses, eager_state), (compiled_losses, compiled_state) = runs
    assert compiled_losses == eager_losses and len(set(eager_losses)) == 5
    assert compiled_state["1.num_batches_tracked"].item() == 5
    for key, value in eager_state.items():  # the weights, and the running statistics that moved 5 times
        np.testing.assert_array_equal(compiled_state[key], value, err_msg=key)
    assert not np.allclose(eager_state["1.running_mean"], 0)
