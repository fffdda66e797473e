"""nn.functional: the fused ``linear`` and ``cross_entropy`` ops and the losses, each against finite
differences and PyTorch in float64 (``check_op``) or hand math; and the errors they raise."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from conftest import check_op, compare_with_torch, random_array

import wengert as wg
import wengert.nn.functional as F
from wengert import nn

REDUCTIONS = ["mean", "sum", "none"]


def probabilities(shape, seed=0):
    """Rows of class probabilities (a softmax of random values), as float64."""
    z = random_array(shape, seed=seed)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --- linear -------------------------------------------------------------------------------------

LINEAR_X_SHAPES = {"1d": (4,), "2d": (3, 4), "3d": (2, 3, 4)}


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("shape", LINEAR_X_SHAPES.values(), ids=LINEAR_X_SHAPES.keys())
def test_linear_matches_hand_math_torch_and_finite_differences(shape, bias):
    x, W, b = random_array(shape), random_array((5, 4), seed=1), random_array((5,), seed=2)
    arrays = (x, W, b) if bias else (x, W)
    expected = x @ W.T + (b if bias else 0.0)
    np.testing.assert_allclose(F.linear(*(wg.tensor(a) for a in arrays)).numpy(), expected, rtol=1e-12)
    check_op(F.linear, TF.linear, *arrays)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_linear_in_float32_stays_float32_and_matches_torch(bias):
    x, W, b = (random_array(shape, seed=i, dtype=np.float32) for i, shape in enumerate([(2, 3, 4), (5, 4), (5,)]))
    arrays = (x, W, b) if bias else (x, W)
    out = F.linear(*(wg.tensor(a, requires_grad=True) for a in arrays))
    assert out.dtype == wg.float32
    compare_with_torch(F.linear, TF.linear, *arrays, atol=1e-5, rtol=1e-5)  # also: each grad keeps float32


MIXED = {"x32-w64-b64": (np.float32, np.float64, np.float64), "x64-w32-b32": (np.float64, np.float32, np.float32),
         "x32-w32-b64": (np.float32, np.float32, np.float64)}


@pytest.mark.parametrize("dtypes", MIXED.values(), ids=MIXED.keys())
def test_linear_with_mixed_dtypes_promotes_as_numpy_and_casts_gradients_back(dtypes):
    x, W, b = (random_array(shape, seed=i, dtype=dtype) for i, (shape, dtype) in enumerate(zip([(3, 4), (5, 4), (5,)],
                                                                                                  dtypes)))
    assert F.linear(wg.tensor(x), wg.tensor(W), wg.tensor(b)).dtype == np.result_type(*dtypes) == np.float64
    compare_with_torch(F.linear, lambda x, W, b: TF.linear(x.double(), W.double(), b.double()), x, W, b)


def test_linear_second_derivative_matches_torch():
    x, W, b = random_array((3, 4)), random_array((2, 4), seed=1), random_array((2,), seed=2)
    ours = [wg.tensor(a, requires_grad=True) for a in (x, W, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, W, b)]
    (g,) = wg.autograd.grad((F.linear(*ours) ** 2).sum(), ours[0], create_graph=True)
    (g_t,) = torch.autograd.grad((TF.linear(*theirs) ** 2).sum(), theirs[0], create_graph=True)
    (g * g).sum().backward()
    (g_t * g_t).sum().backward()
    np.testing.assert_allclose(ours[1].grad.numpy(), theirs[1].grad.numpy(), rtol=1e-10)


# --- cross_entropy ------------------------------------------------------------------------------

LABELS = np.array([0, 3, 1, 3, 2])
WEIGHT = np.array([0.5, 2.0, 1.0, 3.0])
CE_OPTIONS = {
    "plain": {},
    "weight": {"weight": WEIGHT},
    "smoothing": {"label_smoothing": 0.2},
    "weight+smoothing": {"weight": WEIGHT, "label_smoothing": 0.3},
}


def torch_options(options):
    return {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", CE_OPTIONS.values(), ids=CE_OPTIONS.keys())
def test_cross_entropy_with_class_labels_matches_torch(options, reduction):
    z = random_array((5, 4))
    check_op(lambda z: F.cross_entropy(z, LABELS, reduction=reduction, **options),
             lambda z: TF.cross_entropy(z, torch.tensor(LABELS), reduction=reduction, **torch_options(options)), z)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", CE_OPTIONS.values(), ids=CE_OPTIONS.keys())
def test_cross_entropy_with_class_probabilities_matches_torch_also_for_the_targets_gradient(options, reduction):
    z, target = random_array((5, 4)), probabilities((5, 4), seed=1)
    check_op(lambda z, t: F.cross_entropy(z, t, reduction=reduction, **options),
             lambda z, t: TF.cross_entropy(z, t, reduction=reduction, **torch_options(options)), z, target)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", CE_OPTIONS.values(), ids=CE_OPTIONS.keys())
def test_cross_entropy_of_one_sample_with_a_0d_label_matches_torch(options, reduction):
    label = np.array(2)
    out = F.cross_entropy(wg.tensor(random_array((4,))), label, reduction=reduction, **options)
    assert out.shape == ()
    check_op(lambda z: F.cross_entropy(z, label, reduction=reduction, **options),
             lambda z: TF.cross_entropy(z, torch.tensor(label), reduction=reduction, **torch_options(options)),
             random_array((4,)))


def test_cross_entropy_equals_hand_computed_negative_log_softmax():
    z = random_array((5, 4))
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    picked = -log_probs[np.arange(5), LABELS]
    np.testing.assert_allclose(F.cross_entropy(wg.tensor(z), LABELS).item(), picked.mean(), rtol=1e-12)
    weighted = F.cross_entropy(wg.tensor(z), LABELS, weight=WEIGHT).item()
    np.testing.assert_allclose(weighted, (picked * WEIGHT[LABELS]).sum() / WEIGHT[LABELS].sum(), rtol=1e-12)
    # the gradient of the mean is (softmax - onehot) / N
    logits = wg.tensor(z, requires_grad=True)
    F.cross_entropy(logits, LABELS).backward()
    np.testing.assert_allclose(logits.grad.numpy(), (np.exp(log_probs) - np.eye(4)[LABELS]) / 5, rtol=1e-10)


@pytest.mark.parametrize("target_kind", ["labels", "probabilities"])
def test_cross_entropy_with_extreme_logits_stays_finite_and_matches_torch(target_kind):
    z = random_array((4, 5)) * 1000
    z[0] = [1000, -1000, 1000, -1000, 0]
    target = LABELS[:4] if target_kind == "labels" else probabilities((4, 5), seed=3)
    for reduction in REDUCTIONS:
        logits = wg.tensor(z, requires_grad=True)
        loss = F.cross_entropy(logits, target, reduction=reduction)
        loss.sum().backward()
        assert np.isfinite(loss.detach().numpy()).all() and np.isfinite(logits.grad.numpy()).all()
        compare_with_torch(lambda z, r=reduction: F.cross_entropy(z, target, reduction=r),
                           lambda z, r=reduction: TF.cross_entropy(z, torch.tensor(target), reduction=r), z,
                           atol=1e-9, rtol=1e-9)


def test_cross_entropy_backward_is_one_fused_node():
    leaf = wg.tensor(random_array((5, 4)), requires_grad=True)
    loss = F.cross_entropy(leaf, LABELS)
    assert loss.grad_fn.name == "cross_entropy"
    parent = loss.grad_fn.parents[0]  # straight to the logits' accumulator: no softmax or log node between
    assert parent.name == "accumulate_grad" and parent.variable() is leaf
    logits = leaf * 2.0
    loss = F.cross_entropy(logits, probabilities((5, 4)))
    assert loss.grad_fn.name == "cross_entropy" and loss.grad_fn.parents[0] is logits.grad_fn


def test_cross_entropy_second_derivative_matches_torch():
    z = random_array((3, 4))
    labels = np.array([0, 3, 1])
    logits, logits_t = wg.tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
    options = {"label_smoothing": 0.1, "weight": WEIGHT}
    (g,) = wg.autograd.grad(F.cross_entropy(logits, labels, **options), logits, create_graph=True)
    (g_t,) = torch.autograd.grad(TF.cross_entropy(logits_t, torch.tensor(labels), **torch_options(options)),
                                 logits_t, create_graph=True)
    (g * g).sum().backward()
    (g_t * g_t).sum().backward()
    assert np.abs(logits.grad.numpy()).max() > 1e-3  # a real second derivative, not a constant's zero
    np.testing.assert_allclose(logits.grad.numpy(), logits_t.grad.numpy(), rtol=1e-9, atol=1e-12)


# --- nll_loss -----------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_nll_loss_matches_torch(weighted, reduction):
    options = {"weight": WEIGHT} if weighted else {}
    check_op(lambda x: F.nll_loss(x, LABELS, reduction=reduction, **options),
             lambda x: TF.nll_loss(x, torch.tensor(LABELS), reduction=reduction, **torch_options(options)),
             random_array((5, 4)))
    label = np.array(1)
    check_op(lambda x: F.nll_loss(x, label, reduction=reduction, **options),
             lambda x: TF.nll_loss(x, torch.tensor(label), reduction=reduction, **torch_options(options)),
             random_array((4,)))


def test_nll_loss_of_log_softmax_equals_cross_entropy():
    z = wg.tensor(random_array((5, 4)))
    np.testing.assert_allclose(F.nll_loss(F.log_softmax(z, axis=1), LABELS, weight=WEIGHT).item(),
                               F.cross_entropy(z, LABELS, weight=WEIGHT).item(), rtol=1e-12)


# --- regression and binary losses ----------------------------------------------------------------

SHAPES = [(6,), (3, 4), (2, 3, 2)]
def huber(delta):
    return (lambda a, b, **r: F.huber_loss(a, b, delta=delta, **r),
            lambda a, b, **r: TF.huber_loss(a, b, delta=delta, **r))


REGRESSION = {"mse": (F.mse_loss, TF.mse_loss), "l1": (F.l1_loss, TF.l1_loss), "huber-0.5": huber(0.5),
              "huber-1": (F.huber_loss, TF.huber_loss), "huber-2": huber(2.0)}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("losses", REGRESSION.values(), ids=REGRESSION.keys())
def test_regression_losses_match_torch_for_both_arguments(losses, shape, reduction):
    ours, theirs = losses
    x, y = random_array(shape) * 2, random_array(shape, seed=1) * 2
    check_op(lambda a, b: ours(a, b, reduction=reduction), lambda a, b: theirs(a, b, reduction=reduction), x, y)


def test_regression_losses_equal_hand_math():
    x, y = np.array([0.0, 1.0, -3.0, 0.5]), np.array([0.2, -1.0, 1.0, 0.5])
    error = x - y  # 0.2 (inside delta 1), 2 and 4 (outside), 0
    assert F.mse_loss(wg.tensor(x), wg.tensor(y)).item() == pytest.approx((error ** 2).mean(), rel=1e-12)
    assert F.l1_loss(wg.tensor(x), wg.tensor(y), reduction="sum").item() == pytest.approx(6.2, rel=1e-12)
    huber = F.huber_loss(wg.tensor(x), wg.tensor(y), reduction="none").numpy()
    np.testing.assert_allclose(huber, [0.5 * 0.04, 2 - 0.5, 4 - 0.5, 0.0], rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight_shape", [None, "full", "per-column"])
@pytest.mark.parametrize("shape", [(5,), (3, 4)], ids=str)
def test_binary_cross_entropy_matches_torch_for_probabilities_and_targets(shape, weight_shape, reduction):
    p, y = random_array(shape, low=0.05, high=0.95), random_array(shape, seed=1, low=0.0, high=1.0)
    if weight_shape is None:
        check_op(lambda p, y: F.binary_cross_entropy(p, y, reduction=reduction),
                 lambda p, y: TF.binary_cross_entropy(p, y, reduction=reduction), p, y)
        return
    w = random_array(shape if weight_shape == "full" else shape[-1:], seed=2, low=0.5, high=2.0)
    check_op(lambda p, y, w: F.binary_cross_entropy(p, y, weight=w, reduction=reduction),
             lambda p, y, w: TF.binary_cross_entropy(p, y, weight=w.expand(p.shape), reduction=reduction),
             p, y, w, requires_grad=[True, True, False])


def test_binary_cross_entropy_at_exactly_0_and_1_matches_torch_without_nan_or_warnings():
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    with np.errstate(all="raise"):
        compare_with_torch(lambda p: F.binary_cross_entropy(p, y, reduction="none"),
                           lambda p: TF.binary_cross_entropy(p, torch.tensor(y), reduction="none"), p)
    loss = F.binary_cross_entropy(wg.tensor(p), wg.tensor(y), reduction="none").numpy()
    np.testing.assert_allclose(loss, [0, 0, 100, 100, np.log(2)], rtol=1e-12)  # logs clamped at -100
    float32 = F.binary_cross_entropy(wg.tensor(p.astype(np.float32)), wg.tensor(y.astype(np.float32)))
    assert float32.dtype == wg.float32 and np.isfinite(float32.item())


BCE_LOGITS_OPTIONS = {
    "plain": {},
    "weight": {"weight": np.array([0.5, 1.0, 2.0, 1.5])},
    "pos_weight": {"pos_weight": np.array([3.0, 0.5, 1.0, 2.0])},
    "both": {"weight": np.array([0.5, 1.0, 2.0, 1.5]), "pos_weight": np.array([3.0, 0.5, 1.0, 2.0])},
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("options", BCE_LOGITS_OPTIONS.values(), ids=BCE_LOGITS_OPTIONS.keys())
def test_binary_cross_entropy_with_logits_matches_torch(options, shape, reduction):
    x, y = random_array(shape) * 3, random_array(shape, seed=1, low=0.0, high=1.0)
    check_op(lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction=reduction, **options),
             lambda x, y: TF.binary_cross_entropy_with_logits(x, y, reduction=reduction, **torch_options(options)),
             x, y)


@pytest.mark.parametrize("pos_weight", [None, 3.0])
def test_binary_cross_entropy_with_logits_at_exactly_zero_has_gradient_sigmoid_minus_target(pos_weight):
    y = np.array([0.0, 1.0, 0.3, 1.0])
    x = wg.tensor(np.zeros(4), requires_grad=True)
    options = {} if pos_weight is None else {"pos_weight": np.array(pos_weight)}
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="sum", **options)
    assert loss.item() == pytest.approx(np.log(2) * (4 if pos_weight is None else (1 - y + pos_weight * y).sum()))
    loss.backward()
    # d/dx [-(w y log s + (1 - y) log(1 - s))] = (1 - y) s - w y (1 - s), with s = sigmoid(0) = 1/2
    w = 1.0 if pos_weight is None else pos_weight
    np.testing.assert_allclose(x.grad.numpy(), (1 - y) * 0.5 - w * y * 0.5, rtol=1e-12)
    if pos_weight is None:
        np.testing.assert_allclose(x.grad.numpy(), 0.5 - y, rtol=1e-12)


def test_binary_cross_entropy_with_extreme_logits_stays_finite_and_matches_torch():
    x = np.array([-1000.0, -100.0, -20.0, 20.0, 100.0, 1000.0])
    y = np.array([1.0, 0.0, 1.0, 0.0, 0.5, 1.0])
    compare_with_torch(lambda x: F.binary_cross_entropy_with_logits(x, y, reduction="none"),
                       lambda x: TF.binary_cross_entropy_with_logits(x, torch.tensor(y), reduction="none"), x)


# --- loss modules ---------------------------------------------------------------------------------

LOSS_MODULES = {
    "CrossEntropyLoss": (nn.CrossEntropyLoss(weight=WEIGHT, label_smoothing=0.1, reduction="sum"),
                         torch.nn.CrossEntropyLoss(weight=torch.tensor(WEIGHT), label_smoothing=0.1, reduction="sum"),
                         "labels"),
    "NLLLoss": (nn.NLLLoss(weight=WEIGHT), torch.nn.NLLLoss(weight=torch.tensor(WEIGHT)), "labels"),
    "MSELoss": (nn.MSELoss(reduction="none"), torch.nn.MSELoss(reduction="none"), "values"),
    "L1Loss": (nn.L1Loss(), torch.nn.L1Loss(), "values"),
    "HuberLoss": (nn.HuberLoss(delta=0.7), torch.nn.HuberLoss(delta=0.7), "values"),
    "BCELoss": (nn.BCELoss(), torch.nn.BCELoss(), "probabilities"),
    "BCEWithLogitsLoss": (nn.BCEWithLogitsLoss(pos_weight=WEIGHT),
                          torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(WEIGHT)), "probabilities"),
}


@pytest.mark.parametrize("modules", LOSS_MODULES.values(), ids=LOSS_MODULES.keys())
def test_loss_modules_match_torch_modules(modules):
    ours, theirs, target_kind = modules
    x = random_array((5, 4))
    if target_kind == "labels":
        compare_with_torch(lambda x: ours(x, LABELS), lambda x: theirs(x, torch.tensor(LABELS)), x)
        return
    if isinstance(ours, nn.BCELoss):
        x = random_array((5, 4), low=0.1, high=0.9)
    bounds = {"low": 0.0, "high": 1.0} if target_kind == "probabilities" else {}
    target = random_array((5, 4), seed=1, **bounds)
    compare_with_torch(ours, theirs, x, target)


# --- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("labels", [np.array([0, 1, 4]), np.array([0, -1, 2])], ids=["too-large", "negative"])
@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll_loss"])
def test_class_labels_outside_the_classes_are_refused_naming_the_range(loss, labels):
    with pytest.raises(IndexError, match=rf"{loss.__name__}.*\[0, 4\)"):
        loss(wg.tensor(random_array((3, 4))), labels)


def test_float_labels_of_shape_n_are_refused_with_a_hint_about_probabilities():
    with pytest.raises(TypeError, match=r"cross_entropy: class labels must be integers.*float64.*\(3, 4\)"):
        F.cross_entropy(wg.tensor(random_array((3, 4))), np.array([0.0, 1.0, 2.0]))


@pytest.mark.parametrize("labels", [np.array([0, 1]), np.array([[0, 1, 2]]), np.array(1)], ids=str)
def test_labels_of_the_wrong_shape_are_refused_naming_both_shapes(labels):
    with pytest.raises(ValueError, match=r"cross_entropy.*\(3, 4\).*\(3,\)"):
        F.cross_entropy(wg.tensor(random_array((3, 4))), labels)


def test_cross_entropy_refuses_logits_of_three_axes_and_bad_label_smoothing():
    with pytest.raises(ValueError, match=r"cross_entropy.*\(2, 3, 4\)"):
        F.cross_entropy(wg.tensor(random_array((2, 3, 4))), np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(wg.tensor(random_array((3, 4))), LABELS[:3], label_smoothing=1.5)


def test_linear_layer_given_the_wrong_number_of_features_names_the_layer_and_both_sizes():
    layer = nn.Linear(784, 10)
    with pytest.raises(ValueError, match=r"Linear\(in_features=784, out_features=10.*\(32, 100\).*100.*784") as info:
        layer(wg.zeros((32, 100)))
    assert "test_nn_functional.py" in str(info.value)  # and the user's line


@pytest.mark.parametrize("loss", [F.mse_loss, F.l1_loss, F.huber_loss, F.binary_cross_entropy,
                                  F.binary_cross_entropy_with_logits], ids=lambda f: f.__name__)
def test_losses_refuse_targets_of_another_shape_instead_of_broadcasting(loss):
    with pytest.raises(ValueError, match=rf"{loss.__name__}.*\(4, 1\).*\(4,\)"):
        loss(wg.tensor(random_array((4, 1), low=0.1, high=0.9)), wg.tensor(random_array((4,), low=0.1, high=0.9)))


@pytest.mark.parametrize("call", [
    lambda: F.cross_entropy(wg.tensor(random_array((3, 4))), LABELS[:3], reduction="avg"),
    lambda: F.nll_loss(wg.tensor(random_array((3, 4))), LABELS[:3], reduction="avg"),
    lambda: F.mse_loss(wg.ones(3), wg.ones(3), reduction="avg"),
    lambda: F.l1_loss(wg.ones(3), wg.ones(3), reduction="avg"),
    lambda: F.huber_loss(wg.ones(3), wg.ones(3), reduction="avg"),
    lambda: F.binary_cross_entropy(wg.ones(3) / 2, wg.ones(3), reduction="avg"),
    lambda: F.binary_cross_entropy_with_logits(wg.ones(3), wg.ones(3), reduction="avg"),
    lambda: nn.MSELoss(reduction="avg"),
    lambda: nn.CrossEntropyLoss(reduction="avg"),
], ids=["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "huber_loss", "binary_cross_entropy",
        "binary_cross_entropy_with_logits", "MSELoss", "CrossEntropyLoss"])
def test_a_bad_reduction_is_refused_naming_the_loss_and_the_choices(call, request):
    name = request.node.callspec.id
    with pytest.raises(ValueError, match=rf"^{name}: reduction must be one of .*'mean'.*'avg'"):
        call()


@pytest.mark.parametrize("p", [[0.5, 1.5], [-0.1, 0.5], [0.5, float("nan")]], ids=["above", "below", "nan"])
def test_binary_cross_entropy_refuses_values_outside_0_1_and_points_to_the_logits_version(p):
    with pytest.raises(ValueError, match=r"binary_cross_entropy: .*\[0, 1\].*binary_cross_entropy_with_logits"):
        F.binary_cross_entropy(wg.tensor(p), wg.tensor([0.0, 1.0]))


# --- dtypes: mixed class weights and targets, and Linear's input ---------------------------------

WEIGHT_KINDS = {"array": lambda w: w, "tensor": wg.tensor}


@pytest.mark.parametrize("kind", WEIGHT_KINDS.values(), ids=WEIGHT_KINDS.keys())
@pytest.mark.parametrize("loss, torch_loss, prepare", [
    (F.cross_entropy, TF.cross_entropy, lambda z: z),
    (F.nll_loss, TF.nll_loss, lambda z: F.log_softmax(z, axis=1)),
], ids=["cross_entropy", "nll_loss"])
def test_class_weights_of_another_dtype_are_refused_in_forward_naming_both_dtypes(loss, torch_loss, prepare, kind):
    z = wg.tensor(random_array((5, 4), dtype=np.float32), requires_grad=True)
    with pytest.raises(RuntimeError):  # PyTorch refuses too
        torch_loss(torch.tensor(z.detach().numpy()), torch.tensor(LABELS), weight=torch.tensor(WEIGHT))
    with pytest.raises(TypeError, match=rf"{loss.__name__}: class weights of dtype float64 for an input of dtype "
                                        r"float32.*astype\(wg.float32\)") as info:
        loss(prepare(z), LABELS, weight=kind(WEIGHT))
    assert "test_nn_functional.py" in str(info.value)  # the user's line


def test_class_weights_as_a_list_take_the_logits_dtype_and_a_wrong_count_is_refused():
    z = wg.tensor(random_array((5, 4), dtype=np.float32), requires_grad=True)
    from_list = F.cross_entropy(z, LABELS, weight=WEIGHT.tolist())
    from_array = F.cross_entropy(z, LABELS, weight=WEIGHT.astype(np.float32))
    assert from_list.dtype == wg.float32 and from_list.item() == from_array.item()
    for loss in (F.cross_entropy, F.nll_loss):
        with pytest.raises(ValueError, match=rf"{loss.__name__}: class weights must have shape \(4,\).*\(3,\)"):
            loss(z, LABELS, weight=np.ones(3, dtype=np.float32))


@pytest.mark.parametrize("dtypes", [(np.float32, np.float64), (np.float64, np.float32)], ids=["f32-f64", "f64-f32"])
@pytest.mark.parametrize("options", CE_OPTIONS.values(), ids=CE_OPTIONS.keys())
def test_probability_targets_of_another_float_dtype_promote_as_in_torch_with_each_gradient_in_its_inputs_dtype(
        options, dtypes):
    logits_dtype, target_dtype = dtypes
    options = {key: value.astype(logits_dtype) if isinstance(value, np.ndarray) else value
               for key, value in options.items()}
    z, target = random_array((5, 4), dtype=logits_dtype), probabilities((5, 4), seed=1).astype(target_dtype)
    ours = [wg.tensor(z, requires_grad=True), wg.tensor(target, requires_grad=True)]
    theirs = [torch.tensor(z, requires_grad=True), torch.tensor(target, requires_grad=True)]
    loss, torch_loss = F.cross_entropy(*ours, **options), TF.cross_entropy(*theirs, **torch_options(options))
    assert str(loss.dtype) == str(torch_loss.dtype).removeprefix("torch.") == "float64"
    loss.backward()
    torch_loss.backward()
    for mine, reference in zip(ours, theirs):
        assert str(mine.grad.dtype) == str(reference.grad.dtype).removeprefix("torch.") == str(mine.dtype)
        np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(loss.item(), torch_loss.item(), rtol=1e-6)


def test_a_loss_modules_float64_weights_are_refused_with_float32_logits_until_cast_with_the_module():
    ours = nn.CrossEntropyLoss(weight=WEIGHT)
    theirs = torch.nn.CrossEntropyLoss(weight=torch.tensor(WEIGHT))
    z = random_array((5, 4), dtype=np.float32)
    with pytest.raises(TypeError, match=r"loss.to\(wg.float32\)"):
        ours(wg.tensor(z), LABELS)
    compare_with_torch(lambda z: ours.to(wg.float32)(z, LABELS), lambda z: theirs.float()(z, torch.tensor(LABELS)), z,
                       atol=1e-6, rtol=1e-5)
    assert ours.weight.dtype == wg.float32


LINEAR_BAD_INPUTS = {
    "float64-tensor": lambda: wg.tensor(random_array((2, 3))),
    "float64-array": lambda: random_array((2, 3)),
    "int64-tensor": lambda: wg.tensor(np.ones((2, 3), dtype=np.int64)),
}


@pytest.mark.parametrize("make_input", LINEAR_BAD_INPUTS.values(), ids=LINEAR_BAD_INPUTS.keys())
def test_linear_layer_refuses_input_of_another_dtype_naming_the_layer_both_dtypes_and_the_fix(make_input):
    x = make_input()
    with pytest.raises(RuntimeError, match="same dtype"):  # PyTorch refuses too
        torch.nn.Linear(3, 2, dtype=torch.float32)(torch.tensor(np.asarray(x)))
    with pytest.raises(TypeError, match=rf"Linear\(in_features=3, out_features=2, bias=True\): input has dtype "
                                        rf"{x.dtype} but the layer's parameters are float32.*x.astype\(wg.float32\)"
                       ) as info:
        nn.Linear(3, 2)(x)
    assert "test_nn_functional.py" in str(info.value)
    assert ("dtype=wg.float64" in str(info.value)) == (x.dtype == np.float64)  # no integer layers offered


def test_linear_layer_takes_input_of_its_own_dtype_tensor_or_array():
    layer = nn.Linear(3, 2)
    x = random_array((2, 3), dtype=np.float32)
    np.testing.assert_array_equal(layer(x).detach().numpy(), layer(wg.tensor(x)).detach().numpy())
    wide = nn.Linear(3, 2, dtype=wg.float64)
    assert wide(wg.tensor(random_array((2, 3)))).dtype == wg.float64
