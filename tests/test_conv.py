"""Convolutions (issue 10): conv1d, conv2d, conv_transpose2d and their modules against PyTorch in
float64 (outputs, gradients, second derivatives), gradcheck and forward mode on a grid of
hand-picked geometries, PyTorch's initialisation and repr, and clear refusals of bad configurations."""

import math

import numpy as np
import pytest
import torch
from conftest import compare_with_torch, random_array

import wengert as wg
import wengert.nn.functional as F
from wengert import nn
from wengert.ops.conv import conv_weight

TF = torch.nn.functional

# (input shape, weight shape, options): stride 1/2, padding 0/1/same/valid, dilation 1/2,
# groups 1/2/channels (depthwise), odd sizes, batch 1, non-square kernels, unbatched inputs
CONV2D = [
    pytest.param((2, 3, 7, 6), (4, 3, 3, 3), dict(), id="plain"),
    pytest.param((1, 2, 5, 7), (3, 2, 2, 3), dict(stride=2, padding=1), id="stride2-pad1-batch1-nonsquare"),
    pytest.param((2, 4, 6, 5), (6, 2, 3, 1), dict(padding=(1, 0), groups=2), id="groups2"),
    pytest.param((2, 3, 7, 7), (3, 1, 3, 3), dict(padding="same", groups=3), id="depthwise-same"),
    pytest.param((1, 2, 8, 9), (2, 2, 2, 4), dict(padding="same", dilation=(2, 1)), id="same-even-kernel-dilated"),
    pytest.param((2, 2, 9, 8), (3, 2, 3, 2), dict(stride=(2, 3), dilation=2, padding="valid"), id="dilation2-valid"),
    pytest.param((2, 4, 5, 5), (4, 1, 5, 5), dict(padding=2, stride=2, groups=4), id="5x5-stride2-depthwise"),
    pytest.param((6, 6, 5), (4, 3, 3, 2), dict(padding=1, groups=2), id="unbatched"),
    pytest.param((2, 3, 4, 4), (2, 3, 4, 4), dict(), id="kernel-equals-input"),
]

CONV1D = [
    pytest.param((2, 3, 9), (4, 3, 3), dict(), id="plain"),
    pytest.param((1, 4, 10), (4, 2, 4), dict(stride=2, padding=1, groups=2), id="stride2-groups2"),
    pytest.param((2, 3, 7), (3, 1, 3), dict(padding="same", dilation=2, groups=3), id="depthwise-same-dilated"),
    pytest.param((3, 8), (2, 3, 2), dict(padding="valid"), id="unbatched"),
]

# (input shape, weight shape (C_in, C_out / groups, kH, kW), options)
CONV_TRANSPOSE2D = [
    pytest.param((2, 3, 4, 5), (3, 2, 3, 3), dict(), id="plain"),
    pytest.param((1, 2, 3, 4), (2, 3, 3, 2), dict(stride=2, padding=1, output_padding=1), id="stride2-outpad1"),
    pytest.param((2, 4, 3, 3), (4, 1, 2, 3), dict(stride=(2, 3), output_padding=(1, 2), groups=2), id="groups2"),
    pytest.param((2, 3, 4, 3), (3, 1, 3, 3), dict(stride=2, padding=1, groups=3, dilation=2), id="depthwise-dilated"),
    pytest.param((1, 2, 3, 3), (2, 2, 3, 3), dict(stride=1, dilation=2, output_padding=1), id="outpad-below-dilation"),
    pytest.param((2, 4, 4), (2, 3, 2, 3), dict(padding=(0, 1)), id="unbatched"),
]


def arrays_for(input_shape, weight_shape, bias_size, seed=0):
    return [random_array(input_shape, seed), random_array(weight_shape, seed + 1), random_array((bias_size,), seed + 2)]


# --- against PyTorch: outputs and gradients ---------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel:UserWarning")  # PyTorch's, not ours
@pytest.mark.parametrize("input_shape, weight_shape, options", CONV2D)
def test_conv2d_and_its_gradients_equal_pytorchs(input_shape, weight_shape, options):
    arrays = arrays_for(input_shape, weight_shape, weight_shape[0])
    compare_with_torch(lambda x, w, b: F.conv2d(x, w, b, **options), lambda x, w, b: TF.conv2d(x, w, b, **options),
                       *arrays, atol=1e-10, rtol=1e-10)
    compare_with_torch(lambda x, w: F.conv2d(x, w, **options), lambda x, w: TF.conv2d(x, w, **options),
                       *arrays[:2], atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("input_shape, weight_shape, options", CONV1D)
def test_conv1d_and_its_gradients_equal_pytorchs(input_shape, weight_shape, options):
    arrays = arrays_for(input_shape, weight_shape, weight_shape[0])
    compare_with_torch(lambda x, w, b: F.conv1d(x, w, b, **options), lambda x, w, b: TF.conv1d(x, w, b, **options),
                       *arrays, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("input_shape, weight_shape, options", CONV_TRANSPOSE2D)
def test_conv_transpose2d_and_its_gradients_equal_pytorchs(input_shape, weight_shape, options):
    groups = options.get("groups", 1)
    arrays = arrays_for(input_shape, weight_shape, weight_shape[1] * groups)
    compare_with_torch(lambda x, w, b: F.conv_transpose2d(x, w, b, **options),
                       lambda x, w, b: TF.conv_transpose2d(x, w, b, **options), *arrays, atol=1e-10, rtol=1e-10)


def test_conv_transpose2d_is_the_gradient_of_conv2d_with_respect_to_its_input():
    x, w = random_array((2, 4, 7, 6), 0), random_array((6, 2, 3, 2), 1)
    options = dict(stride=2, padding=1, dilation=(1, 2), groups=2)
    upstream = random_array(tuple(F.conv2d(wg.tensor(x), wg.tensor(w), **options).shape), 2)
    leaf = wg.tensor(x, requires_grad=True)
    (F.conv2d(leaf, wg.tensor(w), **options) * wg.tensor(upstream)).sum().backward()
    # conv2d's last windows leave the padded input's last column unread at stride 2 (9 = 1 + 2 * 4 rows
    # are read, 7 of 8 columns): output_padding restores the input's width
    transposed = F.conv_transpose2d(wg.tensor(upstream), wg.tensor(w), output_padding=(0, 1), **options)
    np.testing.assert_allclose(transposed.numpy(), leaf.grad.numpy(), rtol=1e-12, atol=1e-12)


# --- finite differences -----------------------------------------------------------------------------

GRADCHECK = [
    pytest.param(F.conv2d, (1, 2, 5, 4), (4, 1, 3, 2), dict(stride=2, padding=1, dilation=(1, 2), groups=2),
                 id="conv2d"),
    pytest.param(F.conv2d, (2, 2, 4, 5), (2, 1, 2, 3), dict(padding="same", groups=2), id="conv2d-depthwise-same"),
    pytest.param(F.conv1d, (2, 2, 7), (3, 2, 3), dict(stride=2, dilation=2, padding=2), id="conv1d"),
    pytest.param(F.conv_transpose2d, (1, 2, 3, 2), (2, 2, 3, 2), dict(stride=2, padding=1, output_padding=(1, 0)),
                 id="conv_transpose2d"),
    pytest.param(F.conv_transpose2d, (2, 4, 2, 3), (4, 1, 2, 2), dict(stride=(1, 2), groups=4, dilation=2),
                 id="conv_transpose2d-depthwise"),
]


def bias_size(function, weight_shape, options):
    return weight_shape[1] * options.get("groups", 1) if function is F.conv_transpose2d else weight_shape[0]


@pytest.mark.parametrize("function, input_shape, weight_shape, options", GRADCHECK)
def test_gradients_equal_finite_differences(function, input_shape, weight_shape, options):
    arrays = arrays_for(input_shape, weight_shape, bias_size(function, weight_shape, options))
    leaves = [wg.tensor(a, requires_grad=True) for a in arrays]
    assert wg.gradcheck(lambda x, w, b: function(x, w, b, **options), *leaves)


@pytest.mark.parametrize("function, input_shape, weight_shape, options", GRADCHECK)
def test_forward_mode_equals_finite_differences(function, input_shape, weight_shape, options):
    arrays = arrays_for(input_shape, weight_shape, bias_size(function, weight_shape, options))
    directions = [random_array(a.shape, 10 + index) for index, a in enumerate(arrays)]
    fn = lambda *xs: function(*xs, **options)  # noqa: E731
    _, tangent = wg.jvp(fn, tuple(wg.tensor(a) for a in arrays), tuple(wg.tensor(d) for d in directions))
    step = 1e-6
    plus = fn(*[wg.tensor(a + step * d) for a, d in zip(arrays, directions)]).numpy()
    minus = fn(*[wg.tensor(a - step * d) for a, d in zip(arrays, directions)]).numpy()
    np.testing.assert_allclose(tangent.numpy(), (plus - minus) / (2 * step), rtol=1e-6, atol=1e-7)
    # a tangent of the bias alone is the bias spread over batch and positions
    _, bias_only = wg.jvp(lambda b: fn(wg.tensor(arrays[0]), wg.tensor(arrays[1]), b), (wg.tensor(arrays[2]),),
                          (wg.tensor(directions[2]),))
    np.testing.assert_allclose(bias_only.numpy(), np.broadcast_to(directions[2].reshape(-1, *(1,) * (plus.ndim - 2)),
                                                                plus.shape))


# --- second derivatives against PyTorch's double backward --------------------------------------------

SECOND = [
    pytest.param(F.conv2d, TF.conv2d, (2, 4, 5, 6), (4, 2, 3, 2), dict(stride=(2, 1), padding=1, groups=2),
                 id="conv2d"),
    pytest.param(F.conv2d, TF.conv2d, (1, 3, 5, 5), (3, 1, 3, 3), dict(padding="same", dilation=2, groups=3),
                 id="conv2d-depthwise"),
    pytest.param(F.conv1d, TF.conv1d, (2, 2, 8), (3, 2, 3), dict(stride=2, padding=1), id="conv1d"),
    pytest.param(F.conv_transpose2d, TF.conv_transpose2d, (2, 4, 3, 3), (4, 1, 3, 2),
                 dict(stride=2, padding=1, output_padding=1, groups=2), id="conv_transpose2d"),
]


@pytest.mark.parametrize("ours, theirs, input_shape, weight_shape, options", SECOND)
def test_second_derivatives_equal_pytorchs(ours, theirs, input_shape, weight_shape, options):
    """d/d(x, w, b) of <v, d<u, f(x, w, b)>/d(x, w)>: through the three conv ops that are each
    other's gradients. The loss squares f, so that the second derivative of the loss is not zero
    even along x-x (f is linear in x)."""
    arrays = arrays_for(input_shape, weight_shape, bias_size(ours, weight_shape, options))
    results = []
    for module, call, make in ((wg, ours, lambda a: wg.tensor(a, requires_grad=True)),
                               (torch, theirs, lambda a: torch.tensor(a, requires_grad=True))):
        x, w, b = [make(a) for a in arrays]
        y = call(x, w, b, **options)
        u = random_array(tuple(y.shape), 5)
        loss = ((torch.tensor(u) if module is torch else wg.tensor(u)) * y * y).sum()
        autograd = torch.autograd if module is torch else wg.autograd
        gx, gw = autograd.grad(loss, [x, w], create_graph=True)
        v = [random_array(tuple(g.shape), 6 + i) for i, g in enumerate((gx, gw))]
        total = sum((g * (torch.tensor(vi) if module is torch else wg.tensor(vi))).sum() for g, vi in zip((gx, gw), v))
        results.append([g.detach().numpy() for g in autograd.grad(total, [x, w, b])])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_conv_weight_op_is_convs_weight_gradient_and_differentiates():
    x, w = random_array((2, 4, 6, 6), 0), random_array((6, 2, 3, 2), 1)
    geometry = dict(stride=(2, 1), dilation=(1, 2), groups=2)
    X, W = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    y = TF.conv2d(X, W, padding=(1, 0), **geometry)
    upstream = random_array(tuple(y.shape), 2)
    (want,) = torch.autograd.grad(y, W, torch.tensor(upstream))
    got = conv_weight(wg.tensor(x), wg.tensor(upstream), kernel=(3, 2), padding=((1, 0), (0, 0)), **geometry)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
    leaves = [wg.tensor(x, requires_grad=True), wg.tensor(upstream, requires_grad=True)]
    assert wg.gradcheck(lambda a, g: conv_weight(a, g, kernel=(3, 2), padding=((1, 0), (0, 0)), **geometry), *leaves)


# --- modules ----------------------------------------------------------------------------------------

MODULES = [
    pytest.param(nn.Conv2d, torch.nn.Conv2d, (3, 8, (3, 2)), dict(stride=2, padding=1), (2, 3, 7, 6), id="Conv2d"),
    pytest.param(nn.Conv2d, torch.nn.Conv2d, (4, 4, 3), dict(padding="same", groups=4, bias=False, dilation=2),
                 (1, 4, 5, 5), id="Conv2d-depthwise"),
    pytest.param(nn.Conv1d, torch.nn.Conv1d, (2, 6, 3), dict(groups=2, padding="valid"), (2, 2, 9), id="Conv1d"),
    pytest.param(nn.ConvTranspose2d, torch.nn.ConvTranspose2d, (4, 6, 3), dict(stride=2, padding=1, output_padding=1,
                 groups=2), (2, 4, 3, 4), id="ConvTranspose2d"),
]


@pytest.mark.parametrize("ours, theirs, arguments, options, input_shape", MODULES)
def test_modules_match_pytorchs_parameters_repr_and_outputs(ours, theirs, arguments, options, input_shape):
    layer, reference = ours(*arguments, **options).double(), theirs(*arguments, **options).double()
    assert repr(layer) == repr(reference)
    own = dict(layer.named_parameters())
    assert {name: tuple(p.shape) for name, p in own.items()} == {
        name: tuple(p.shape) for name, p in reference.named_parameters()}
    reference.load_state_dict({name: torch.tensor(p.numpy()) for name, p in layer.state_dict().items()})
    x = random_array(input_shape, 3)
    np.testing.assert_allclose(layer(wg.tensor(x)).detach().numpy(), reference(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ours, theirs, arguments, options, input_shape", MODULES)
def test_modules_start_from_pytorchs_default_initialisation(ours, theirs, arguments, options, input_shape):
    layer = ours(*arguments, **{**options, "bias": True}, generator=wg.Generator(0))
    weight = layer.weight.detach().numpy()
    fan_in = math.prod(weight.shape[1:])  # PyTorch's fan_in: the weight's axis 1 times the kernel
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform with a = sqrt(5): gain sqrt(1/3), bound gain sqrt(3/fan_in)
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.8 * bound
    assert np.abs(layer.bias.detach().numpy()).max() <= bound
    assert weight.std() == pytest.approx(bound / math.sqrt(3), rel=0.25)  # U(-a, a) has std a / sqrt(3)


def test_a_small_cnn_trains_and_its_gradients_equal_pytorchs():
    wg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding="same"), nn.ReLU(), nn.Conv2d(4, 2, (3, 2), stride=2),
                          nn.Flatten(), nn.Linear(2 * 3 * 4, 3)).double()
    reference = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding="same"), torch.nn.ReLU(),
                                    torch.nn.Conv2d(4, 2, (3, 2), stride=2), torch.nn.Flatten(),
                                    torch.nn.Linear(2 * 3 * 4, 3)).double()
    reference.load_state_dict({name: torch.tensor(p.numpy()) for name, p in model.state_dict().items()})
    x, labels = random_array((5, 1, 7, 9), 1), np.array([0, 2, 1, 1, 0])
    loss = F.cross_entropy(model(wg.tensor(x)), labels)
    loss.backward()
    theirs = TF.cross_entropy(reference(torch.tensor(x)), torch.tensor(labels))
    theirs.backward()
    assert loss.item() == pytest.approx(theirs.item(), rel=1e-12)
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_a_lazy_batch_builds_a_graph_that_runs_at_any_batch_size():
    wg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 5 * 5, 3)).double()
    x = wg.placeholder((None, 1, 5, 5), dtype=wg.float64, name="x")
    graph = wg.Graph([x], [model(x)])
    assert "conv(x, w1, w2" in str(graph)
    for batch in (1, 4):
        value = random_array((batch, 1, 5, 5), batch)
        np.testing.assert_allclose(graph(value).detach().numpy(), model(wg.tensor(value)).detach().numpy(),
                                   rtol=1e-12, atol=1e-12)


def test_float32_stays_float32():
    layer = nn.Conv2d(2, 3, 3)
    y = layer(wg.tensor(random_array((1, 2, 5, 5), 0, dtype=np.float32)))
    assert y.dtype == np.float32 and y.shape == (1, 3, 3, 3)


# --- refusals ---------------------------------------------------------------------------------------

def refusal(error, match, call):
    with pytest.raises(error, match=match):
        call()


X4, W4 = wg.tensor(random_array((1, 3, 3, 3))), wg.tensor(random_array((8, 3, 5, 5)))


@pytest.mark.parametrize("call, error, match", [
    pytest.param(lambda: F.conv2d(X4, W4), wg.OpValueError, r"conv2d: kernel 5x5 larger than the padded input 3x3",
                 id="kernel-too-large"),
    pytest.param(lambda: F.conv2d(X4, W4[:, :, :3, :3], dilation=2), wg.OpValueError,
                 r"conv2d: kernel 3x3 \(dilated to 5x5\) larger than the padded input 3x3", id="dilated-too-large"),
    pytest.param(lambda: F.conv2d(wg.tensor(random_array((8,))), W4), wg.OpValueError,
                 r"conv2d expects a 3-d or 4-d input \(C, H, W\) or \(N, C, H, W\), got shape \(8,\)", id="rank"),
    pytest.param(lambda: F.conv1d(X4, W4), wg.OpValueError, r"conv1d expects a 2-d or 3-d input \(C, L\)",
                 id="conv1d-rank"),
    pytest.param(lambda: F.conv2d(X4, W4[0]), wg.OpValueError, r"conv2d: weight must be 4-d .* got shape \(3, 5, 5\)",
                 id="weight-rank"),
    pytest.param(lambda: F.conv2d(X4, W4[:, :2], groups=2), wg.OpValueError,
                 r"conv2d: input of shape \(1, 3, 3, 3\) has 3 channels, but weight \(8, 2, 5, 5\) with groups=2 "
                 r"expects 4", id="channels"),
    pytest.param(lambda: F.conv2d(X4, W4[:7, :1], groups=3), wg.OpValueError,
                 r"conv2d: out_channels 7 .* not divisible by groups 3", id="out-channels-groups"),
    pytest.param(lambda: F.conv2d(X4, W4[:, :, :1, :1], wg.tensor(np.zeros(3))), wg.OpValueError,
                 r"conv2d: bias must have shape \(8,\)", id="bias-shape"),
    pytest.param(lambda: F.conv2d(X4, W4[:, :, :1, :1], stride=2, padding="same"), wg.OpValueError,
                 r"padding='same' is not supported for strided convolutions", id="same-strided"),
    pytest.param(lambda: F.conv2d(X4, W4[:, :, :1, :1], padding="full"), wg.OpValueError,
                 r"padding must be an int, 2 ints, 'same' or 'valid'", id="padding-word"),
    pytest.param(lambda: F.conv2d(X4, W4[:, :, :1, :1], stride=0), wg.OpValueError, r"stride must be an int or 2 ints",
                 id="stride-zero"),
    pytest.param(lambda: F.conv2d(X4, W4[:, :, :1, :1], padding=(1, 2, 3)), wg.OpValueError,
                 r"padding must be an int or 2 ints", id="padding-length"),
    pytest.param(lambda: F.conv2d(X4, W4.astype(wg.float32)), wg.OpTypeError, r"conv2d: .* one floating dtype",
                 id="dtypes"),
    pytest.param(lambda: F.conv_transpose2d(X4, W4[:3], stride=2, output_padding=2), wg.OpValueError,
                 r"output_padding \(2, 2\) must be smaller than either stride", id="output-padding"),
    pytest.param(lambda: F.conv_transpose2d(X4, W4[:3, :, :1, :1], padding=2), wg.OpValueError,
                 r"conv_transpose2d: output size -1x-1 is not positive", id="transpose-size"),
    pytest.param(lambda: F.conv_transpose2d(X4, W4), wg.OpValueError,
                 r"conv_transpose2d: input of shape \(1, 3, 3, 3\) has 3 channels, but weight \(8, 3, 5, 5\)",
                 id="transpose-channels"),
    pytest.param(lambda: F.conv_transpose2d(X4, W4[:3], padding="same"), wg.OpValueError,
                 r"conv_transpose2d: padding must be an int", id="transpose-same"),
])
def test_bad_configurations_are_clear_errors(call, error, match):
    refusal(error, match, call)


@pytest.mark.parametrize("call, match", [
    pytest.param(lambda: nn.Conv2d(3, 8, 3, groups=2), r"Conv2d\(3, 8, groups=2\): in_channels 3 not divisible by "
                 r"groups 2", id="in-groups"),
    pytest.param(lambda: nn.ConvTranspose2d(4, 6, 3, groups=4), r"ConvTranspose2d\(4, 6, groups=4\): out_channels 6 "
                 r"not divisible by groups 4", id="out-groups"),
    pytest.param(lambda: nn.Conv2d(3, 8, 3, stride=2, padding="same"), r"padding='same' is not supported",
                 id="same-strided"),
    pytest.param(lambda: nn.Conv1d(3, 8, 0), r"Conv1d\(3, 8, groups=1\): kernel_size must be", id="kernel-zero"),
    pytest.param(lambda: nn.Conv2d(3, 8, 3, padding_mode="reflect"), r"padding_mode 'reflect' is not supported",
                 id="padding-mode"),
    pytest.param(lambda: nn.Conv2d(3, 8, 3)(wg.tensor(random_array((1, 4, 5, 5)))),
                 r"Conv2d\(3, 8, kernel_size=\(3, 3\), stride=\(1, 1\)\): expects an input \(N, 3, \.\.\.\) .* "
                 r"got shape \(1, 4, 5, 5\)", id="input-channels"),
])
def test_bad_module_configurations_name_the_layer(call, match):
    refusal(wg.OpValueError, match, call)


def test_a_float64_input_to_a_float32_layer_is_refused():
    refusal(wg.OpTypeError, r"Conv2d\(2, 3.*dtype float64 .* float32", lambda: nn.Conv2d(2, 3, 1)(
        wg.tensor(random_array((1, 2, 3, 3)))))


def test_a_second_backward_through_a_conv_recomputes_what_the_first_used_up():
    rng = np.random.default_rng(5)
    x = wg.tensor(rng.standard_normal((2, 3, 6, 6)))
    w = wg.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    out = (F.conv2d(x, w, stride=2, padding=1) ** 2).sum()
    out.backward(retain_graph=True)  # the weight's gradient reads the forward's columns, once
    first = w.grad.numpy().copy()
    out.backward()  # the columns are gone: made again
    np.testing.assert_allclose(w.grad.numpy(), 2 * first, rtol=1e-12)
    tw = torch.tensor(w.detach().numpy(), requires_grad=True)
    (torch.nn.functional.conv2d(torch.tensor(x.numpy()), tw, stride=2, padding=1) ** 2).sum().backward()
    np.testing.assert_allclose(first, tw.grad.numpy(), rtol=1e-10)
