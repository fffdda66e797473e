"""Optimizers and lr schedules against torch.optim: same parameters, same losses, same numbers."""

import copy
import math
import tracemalloc

import numpy as np
import pytest
import torch

import wengert as wg
from wengert import optim
from wengert.optim import lr_scheduler

SHAPES = [(3, 4), (4,)]
_rng = np.random.default_rng(7)
INITIAL = [_rng.standard_normal(shape) for shape in SHAPES]
C, Y = _rng.standard_normal((3, 4)), _rng.standard_normal(3)


def loss_of(lib, A, b):
    """A fixed smooth loss of both parameters, written once for wengert (lib=wg) and torch."""
    if lib is wg:
        C_, Y_ = wg.tensor(C.astype(A.dtype)), wg.tensor(Y.astype(A.dtype))
    else:
        C_, Y_ = torch.tensor(C, dtype=A.dtype), torch.tensor(Y, dtype=A.dtype)
    residual = A @ b - Y_
    # bounded gradients, so that gradient ascent (maximize=True) stays finite too
    return (lib.sin(A) * C_).sum() + lib.log1p(residual * residual).sum() + lib.tanh(b).sum()


def grouped(params, groups):
    """``params`` as one group, or as one group per tensor with the options in ``groups``."""
    return list(params) if groups is None else [{"params": [p], **g} for p, g in zip(params, groups)]


def make(name, lib, dtype=np.float64, kwargs=None, groups=None):
    """Fresh parameters (copies of INITIAL) and an optimizer ``name`` of ``lib`` over them."""
    if lib is wg:
        params = [wg.tensor(a.astype(dtype), requires_grad=True) for a in INITIAL]
        optimizer = getattr(optim, name)(grouped(params, groups), **(kwargs or {}))
    else:
        params = [torch.tensor(a.astype(dtype), requires_grad=True) for a in INITIAL]
        optimizer = getattr(torch.optim, name)(grouped(params, groups), **(kwargs or {}))
    return params, optimizer


def train_step(lib, params, optimizer):
    optimizer.zero_grad()
    loss_of(lib, *params).backward()
    optimizer.step()


def values(params):
    return [p.detach().numpy().copy() for p in params]


# name, options, per-group options (None: one group). Two groups always differ in lr or another option.
CASES = [
    ("SGD", dict(lr=0.05), None),
    ("SGD", dict(lr=0.02, momentum=0.9), None),
    ("SGD", dict(lr=0.02, momentum=0.9, dampening=0.3), None),
    ("SGD", dict(lr=0.02, momentum=0.9, nesterov=True), None),
    ("SGD", dict(lr=0.02, weight_decay=0.1), None),
    ("SGD", dict(lr=0.01, momentum=0.8, nesterov=True, weight_decay=0.1, maximize=True), None),
    ("SGD", dict(lr=0.02, momentum=0.9), ({"lr": 0.05}, {"momentum": 0.5, "weight_decay": 0.2})),
    ("Adam", dict(lr=0.05), None),
    ("Adam", dict(lr=0.05, amsgrad=True), None),
    ("Adam", dict(lr=0.05, weight_decay=0.1, maximize=True), None),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.95), eps=1e-3, amsgrad=True, weight_decay=0.05),
     ({"lr": 0.1}, {"betas": (0.5, 0.9)})),
    ("AdamW", dict(lr=0.05), None),
    ("AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True, maximize=True), None),
    ("AdamW", dict(lr=0.05), ({"lr": 0.01, "weight_decay": 0.5}, {})),
    ("RMSprop", dict(lr=0.01), None),
    ("RMSprop", dict(lr=0.01, centered=True), None),
    ("RMSprop", dict(lr=0.01, momentum=0.9, alpha=0.9), None),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1, maximize=True, eps=1e-4), None),
    ("RMSprop", dict(lr=0.01), ({"lr": 0.003, "centered": True}, {"momentum": 0.9})),
    ("Adagrad", dict(lr=0.1), None),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05), None),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, weight_decay=0.1, eps=1e-3, maximize=True), None),
    ("Adagrad", dict(lr=0.1), ({"lr": 0.3, "lr_decay": 0.1}, {})),
]
# the grouped case of each optimizer: the most options at once
GROUPED = [case for case in CASES if case[2] is not None]
MAXIMIZING = [case for case in CASES if case[1].get("maximize")]


def case_id(case):
    name, kwargs, groups = case
    return "-".join([name, *kwargs] + (["groups"] if groups else []))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_torch_at_every_step(case):
    name, kwargs, groups = case
    ours, optimizer = make(name, wg, kwargs=kwargs, groups=groups)
    theirs, reference = make(name, torch, kwargs=kwargs, groups=groups)
    start = values(ours)
    for step in range(20):
        train_step(wg, ours, optimizer)
        train_step(torch, theirs, reference)
        for mine, expected in zip(values(ours), values(theirs)):
            assert np.isfinite(mine).all()
            np.testing.assert_allclose(mine, expected, rtol=1e-10, atol=1e-10, err_msg=f"step {step + 1}")
    assert not np.allclose(values(ours)[0], start[0])  # the parameters did move


@pytest.mark.parametrize("case", GROUPED, ids=case_id)
def test_state_and_options_match_torch(case):
    # same option names and defaults, same state names and values, same numbering of parameters
    name, kwargs, groups = case
    ours, optimizer = make(name, wg, kwargs=kwargs, groups=groups)
    theirs, reference = make(name, torch, kwargs=kwargs, groups=groups)
    for _ in range(3):
        train_step(wg, ours, optimizer)
        train_step(torch, theirs, reference)
    mine, expected = optimizer.state_dict(), reference.state_dict()
    assert mine["state"].keys() == expected["state"].keys() == {0, 1}
    for index, state in mine["state"].items():
        assert state.keys() == expected["state"][index].keys()
        for key, value in state.items():
            np.testing.assert_allclose(np.asarray(value), np.asarray(expected["state"][index][key]),
                                       rtol=1e-10, atol=1e-12, err_msg=key)
    for group, reference_group in zip(mine["param_groups"], expected["param_groups"]):
        assert group.keys() <= reference_group.keys()
        assert all(group[key] == reference_group[key] for key in group), (group, reference_group)
    # the defaults: a bare constructor gives torch's options
    bare = getattr(optim, name)(ours).param_groups[0]
    bare_reference = getattr(torch.optim, name)(theirs).param_groups[0]
    assert {key: value for key, value in bare.items() if key != "params"} == {
        key: bare_reference[key] for key in bare if key != "params"}


@pytest.mark.parametrize("case", GROUPED, ids=case_id)
def test_float32_parameters_stay_float32(case):
    name, kwargs, groups = case
    ours, optimizer = make(name, wg, dtype=np.float32, kwargs=kwargs, groups=groups)
    theirs, reference = make(name, torch, dtype=np.float32, kwargs=kwargs, groups=groups)
    for _ in range(5):
        train_step(wg, ours, optimizer)
        train_step(torch, theirs, reference)
    for p in ours:
        assert p.dtype == np.float32
        assert all(v.dtype == np.float32 for v in optimizer.state[p].values() if isinstance(v, np.ndarray))
    for mine, expected in zip(values(ours), values(theirs)):
        np.testing.assert_allclose(mine, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", GROUPED + MAXIMIZING, ids=case_id)
def test_state_dict_round_trip_equals_training_without_a_break(case):
    name, kwargs, groups = case
    straight, optimizer = make(name, wg, kwargs=kwargs, groups=groups)
    for _ in range(10):
        train_step(wg, straight, optimizer)

    first, optimizer = make(name, wg, kwargs=kwargs, groups=groups)
    for _ in range(5):
        train_step(wg, first, optimizer)
    saved, at_five = optimizer.state_dict(), values(first)
    snapshot = copy.deepcopy(saved)
    for _ in range(5):  # the saved state must not follow later steps
        train_step(wg, first, optimizer)
    for index, state in snapshot["state"].items():
        for key, value in state.items():
            np.testing.assert_array_equal(saved["state"][index][key], value)
    assert saved["param_groups"] == snapshot["param_groups"]

    # a fresh optimizer with default options learns them from the checkpoint
    resumed = [wg.tensor(a, requires_grad=True) for a in at_five]
    fresh = getattr(optim, name)(grouped(resumed, None if groups is None else [{}, {}]))
    fresh.load_state_dict(saved)
    for state in saved["state"].values():  # loading copied the arrays
        for value in state.values():
            if isinstance(value, np.ndarray):
                value[...] = np.nan
    for _ in range(5):
        train_step(wg, resumed, fresh)
    for mine, expected in zip(values(resumed), values(straight)):
        np.testing.assert_array_equal(mine, expected)


def test_state_dict_layout():
    a, b = (wg.tensor(x, requires_grad=True) for x in INITIAL)
    optimizer = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert optimizer.state_dict() == {"state": {}, "param_groups": [
        {"params": [0], "lr": 0.1, "momentum": 0.9, "dampening": 0, "weight_decay": 0, "nesterov": False,
         "maximize": False},
        {"params": [1], "lr": 0.5, "momentum": 0.9, "dampening": 0, "weight_decay": 0, "nesterov": False,
         "maximize": False}]}
    b.grad = wg.tensor(np.ones(4))
    optimizer.step()  # only b has a gradient, so only b has state
    saved = optimizer.state_dict()
    assert list(saved["state"]) == [1]
    assert saved["state"][1]["momentum_buffer"] is not optimizer.state[b]["momentum_buffer"]


def test_load_state_dict_casts_and_copies_to_the_parameters_dtype():
    source, optimizer = make("Adam", wg, kwargs=dict(lr=0.05, amsgrad=True))
    train_step(wg, source, optimizer)
    saved = optimizer.state_dict()
    params = [wg.tensor(a.astype(np.float32), requires_grad=True) for a in INITIAL]
    target = optim.Adam(params, lr=1.0)
    target.load_state_dict(saved)
    assert target.param_groups[0]["lr"] == 0.05 and target.param_groups[0]["amsgrad"] is True
    assert target.param_groups[0]["params"][0] is params[0]
    for index, p in enumerate(params):
        state = target.state[p]
        assert state["step"] == 1
        for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            assert state[key].dtype == np.float32
            np.testing.assert_allclose(state[key], saved["state"][index][key], rtol=1e-6)


@pytest.mark.parametrize("change, message", [
    (lambda saved: saved["param_groups"].pop(), "parameter groups"),
    (lambda saved: saved["param_groups"][1]["params"].append(2), "group 1 has 2 parameters"),
    (lambda saved: saved["state"][0].update(exp_avg=np.zeros((4, 3))), "shape"),
    (lambda saved: saved["state"].update({5: {}}), "parameter 5"),
])
def test_load_state_dict_refuses_a_mismatched_checkpoint(change, message):
    params, optimizer = make("Adam", wg, groups=({}, {}))
    train_step(wg, params, optimizer)
    saved = optimizer.state_dict()
    change(saved)
    params_before, state_before = values(params), copy.deepcopy(optimizer.state_dict())
    with pytest.raises(ValueError, match=message):
        optimizer.load_state_dict(saved)
    after = optimizer.state_dict()  # nothing changed
    assert after["param_groups"] == state_before["param_groups"]
    np.testing.assert_array_equal(after["state"][0]["exp_avg"], state_before["state"][0]["exp_avg"])
    np.testing.assert_array_equal(values(params)[0], params_before[0])


# --- construction errors, zero_grad, step details ---------------------------------------------

def _leaf(shape=(3,)):
    return wg.tensor(np.ones(shape), requires_grad=True)


P = _leaf()


@pytest.mark.parametrize("build, error, message", [
    (lambda: optim.SGD(P), TypeError, "single Tensor"),
    (lambda: optim.SGD([]), ValueError, "empty parameter list"),
    (lambda: optim.SGD([P, P]), ValueError, "same parameter twice"),
    (lambda: optim.SGD([{"params": [P]}, {"params": [P]}]), ValueError, "more than one parameter group"),
    (lambda: optim.SGD([P, np.ones(3)]), TypeError, "can only optimize Tensors.*ndarray"),
    (lambda: optim.SGD([wg.tensor(np.ones(3))]), ValueError, "does not require grad"),
    (lambda: optim.SGD([P * 2]), ValueError, "not a leaf"),
    (lambda: optim.SGD({P}), TypeError, "not a set"),
    (lambda: optim.SGD([{"lr": 0.1}]), ValueError, "'params'"),
    (lambda: optim.SGD([P], lr=-0.1), ValueError, "invalid lr"),
    (lambda: optim.SGD([{"params": [P], "lr": -1.0}]), ValueError, "invalid lr"),
    (lambda: optim.Adam([P], lr=-1e-3), ValueError, "invalid lr"),
    (lambda: optim.SGD([P], momentum=-0.5), ValueError, "invalid momentum"),
    (lambda: optim.SGD([P], nesterov=True), ValueError, "Nesterov"),
    (lambda: optim.SGD([P], momentum=0.9, dampening=0.1, nesterov=True), ValueError, "Nesterov"),
    (lambda: optim.Adam([P], betas=(0.9, 1.0)), ValueError, "betas"),
    (lambda: optim.AdamW([P], eps=-1.0), ValueError, "invalid eps"),
    (lambda: optim.RMSprop([P], alpha=-0.1), ValueError, "invalid alpha"),
    (lambda: optim.Adagrad([P], lr_decay=-0.1), ValueError, "invalid lr_decay"),
    (lambda: optim.Adagrad([P], weight_decay=float("nan")), ValueError, "invalid weight_decay"),
])
def test_construction_errors(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_add_param_group():
    a, b = _leaf(), _leaf((2,))
    optimizer = optim.SGD([a], lr=0.1, momentum=0.9)
    optimizer.add_param_group({"params": b, "lr": 0.5})
    assert optimizer.param_groups[1]["params"] == [b]
    assert optimizer.param_groups[1]["lr"] == 0.5 and optimizer.param_groups[1]["momentum"] == 0.9
    with pytest.raises(ValueError, match="more than one parameter group"):
        optimizer.add_param_group({"params": [a]})
    assert len(optimizer.param_groups) == 2


def test_zero_grad_drops_or_zeroes_in_place():
    p = _leaf()
    optimizer = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    grad, array = p.grad, p.grad.data
    optimizer.zero_grad(set_to_none=False)
    assert p.grad is grad and p.grad.data is array
    np.testing.assert_array_equal(array, np.zeros(3))
    (p * p).sum().backward()  # accumulates into the zeroed gradient
    np.testing.assert_array_equal(p.grad.numpy(), 2 * np.ones(3))
    optimizer.zero_grad()
    assert p.grad is None


def test_step_skips_parameters_without_a_gradient_and_leaves_gradients_alone():
    a, b = _leaf(), _leaf()
    optimizer = optim.SGD([a, b], lr=0.1, momentum=0.9, weight_decay=0.5, maximize=True)
    a.grad = wg.tensor(np.full(3, 2.0))
    optimizer.step()
    np.testing.assert_allclose(a.detach().numpy(), np.ones(3) - 0.1 * (0.5 * 1.0 - 2.0), rtol=1e-15)
    np.testing.assert_array_equal(a.grad.numpy(), np.full(3, 2.0))  # maximize and decay used a copy
    np.testing.assert_array_equal(b.detach().numpy(), np.ones(3))
    assert b not in optimizer.state and a.is_leaf and a.node is None


def test_step_refuses_a_gradient_of_the_wrong_shape():
    p = _leaf()
    p.grad = wg.tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"shape \(3,\) has a gradient of shape \(4,\)"):
        optim.Adam([p]).step()


def test_step_calls_the_closure_with_grad_enabled_and_returns_its_loss():
    p = _leaf()
    optimizer = optim.SGD([p], lr=0.1)

    def closure():
        optimizer.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with wg.no_grad():
        loss = optimizer.step(closure)
    assert loss.item() == 3.0
    np.testing.assert_allclose(p.detach().numpy(), np.full(3, 0.8))


def test_a_step_invalidates_graphs_that_saved_the_parameter():
    # as in PyTorch: backward through a graph recorded before the step would use the old values
    p = _leaf()
    optimizer = optim.SGD([p], lr=0.1)
    loss = (p * p).sum()
    loss.backward(retain_graph=True)
    loss.backward(retain_graph=True)  # fine before the step
    optimizer.step()
    with pytest.raises(wg.BackwardError, match="modified in place"):
        loss.backward()
    (p * p).sum().backward()  # a graph recorded after the step is fine


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True)),
    ("Adam", {}),
    ("Adam", dict(amsgrad=True, weight_decay=0.1)),
    ("AdamW", {}),
    ("RMSprop", dict(centered=True, momentum=0.9)),
    ("Adagrad", dict(lr_decay=0.1)),
])
def test_step_allocates_nothing_parameter_sized(name, kwargs):
    n = 1_000_000
    p = wg.tensor(np.linspace(-1.0, 1.0, n), requires_grad=True)
    p.grad = wg.tensor(np.cos(np.arange(n, dtype=np.float64)))
    optimizer = getattr(optim, name)([p], **kwargs)
    optimizer.step()  # the first step makes the state and the scratch arrays

    def arrays():
        found = [p.data, *optimizer.state[p].values(), *optimizer._scratch.values()]
        return [(id(a), a.ctypes.data) for a in found if isinstance(a, np.ndarray)]

    before, start = arrays(), p.detach().numpy().copy()
    assert len(before) >= 3
    tracemalloc.start()
    try:
        for _ in range(3):
            optimizer.step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * n / 50, f"a step allocated {peak} bytes"  # one parameter-sized array is 8 MB
    assert arrays() == before
    assert not np.array_equal(p.detach().numpy(), start)


# --- learning-rate schedules -----------------------------------------------------------------

def _two_group_optimizers():
    ours = optim.SGD([{"params": [_leaf()]}, {"params": [_leaf()], "lr": 0.02}], lr=0.1)
    theirs = torch.optim.SGD([{"params": [torch.ones(3, requires_grad=True)]},
                              {"params": [torch.ones(3, requires_grad=True)], "lr": 0.02}], lr=0.1)
    return ours, theirs


SCHEDULES = [
    [("StepLR", dict(step_size=4, gamma=0.5))],
    [("StepLR", dict(step_size=1, gamma=0.9))],
    [("CosineAnnealingLR", dict(T_max=10, eta_min=0.001))],  # 30 epochs: down, up, and down again
    [("CosineAnnealingLR", dict(T_max=7))],
    [("LinearLR", {})],
    [("LinearLR", dict(start_factor=0.1, end_factor=0.6, total_iters=12))],
    [("LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=20))],
    [("LinearLR", dict(start_factor=0.2, total_iters=5)), ("CosineAnnealingLR", dict(T_max=25))],  # warm-up
    [("StepLR", dict(step_size=3, gamma=0.7)), ("LinearLR", dict(start_factor=0.5, total_iters=6))],
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: "+".join(name for name, _ in s))
def test_schedules_match_torch(schedule):
    ours, theirs = _two_group_optimizers()
    mine = [getattr(lr_scheduler, name)(ours, **kwargs) for name, kwargs in schedule]
    reference = [getattr(torch.optim.lr_scheduler, name)(theirs, **kwargs) for name, kwargs in schedule]
    history, expected = [], []
    for epoch in range(30):
        if epoch == 17:  # a manual change carries on: the schedules are recursive
            for optimizer in (ours, theirs):
                optimizer.param_groups[0]["lr"] *= 3
        ours.step()
        theirs.step()
        for scheduler in mine:
            scheduler.step()
        for scheduler in reference:
            scheduler.step()
        history.append([g["lr"] for g in ours.param_groups] + mine[-1].get_last_lr())
        expected.append([g["lr"] for g in theirs.param_groups] + reference[-1].get_last_lr())
        assert mine[0].last_epoch == reference[0].last_epoch == epoch + 1
    np.testing.assert_allclose(history, expected, rtol=1e-12, atol=1e-15)
    assert len({tuple(row) for row in history}) > 3  # the lr did change


_FALL_THEN_PLATEAU = [1.0 / (1 + t) for t in range(8)] + [0.125 * (1 + 1e-6 * (-1) ** t) for t in range(12)] + [
    0.1, 0.09, 0.0899999, 0.09, 0.09, 0.5, 0.09, 0.09, 0.09, 0.09]


@pytest.mark.parametrize("kwargs", [
    {},
    dict(patience=2, cooldown=3, factor=0.5, min_lr=0.004),
    dict(patience=0, factor=0.5, eps=0.004),
    dict(mode="max", threshold_mode="abs", threshold=0.01, patience=1, min_lr=[0.01, 0.001]),
    dict(mode="max", patience=3, threshold=0.01),
], ids=str)
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    ours, theirs = _two_group_optimizers()
    mine = lr_scheduler.ReduceLROnPlateau(ours, **kwargs)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, **kwargs)
    history, expected = [], []
    for epoch, loss in enumerate(_FALL_THEN_PLATEAU):
        metric = 2.0 - loss if kwargs.get("mode") == "max" else loss  # "max" watches a rising metric
        mine.step(wg.tensor(metric) if epoch % 2 else metric)  # a tensor or a number
        reference.step(metric)
        history.append(mine.get_last_lr() + [g["lr"] for g in ours.param_groups])
        expected.append(reference.get_last_lr() + [g["lr"] for g in theirs.param_groups])
    np.testing.assert_allclose(history, expected, rtol=1e-12)
    assert history[-1] != history[0]  # the plateau did reduce the lr
    assert mine.last_epoch == len(_FALL_THEN_PLATEAU)


@pytest.mark.parametrize("build", [
    lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.01),
    lambda opt: lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=12),
    lambda opt: lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5),
], ids=["cosine", "linear", "plateau"])
def test_scheduler_state_dict_round_trip(build):
    def run(scheduler, epochs, start):
        for epoch in range(start, start + epochs):
            if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
                scheduler.step(1.0 if epoch % 3 else 0.5 ** epoch)
            else:
                scheduler.step()
        return [g["lr"] for g in scheduler.optimizer.param_groups]

    straight = build(_two_group_optimizers()[0])
    expected = run(straight, 14, 0)

    first = build(_two_group_optimizers()[0])
    run(first, 7, 0)
    saved_optimizer, saved = first.optimizer.state_dict(), first.state_dict()
    assert "optimizer" not in saved
    run(first, 3, 7)
    # as in PyTorch: make the scheduler, then load the optimizer (its lrs), then the scheduler
    optimizer = _two_group_optimizers()[0]
    resumed = build(optimizer)
    optimizer.load_state_dict(saved_optimizer)
    resumed.load_state_dict(saved)
    assert resumed.last_epoch == 7
    assert run(resumed, 7, 7) == expected


def test_scheduler_errors():
    optimizer = _two_group_optimizers()[0]
    with pytest.raises(TypeError, match="not an Optimizer"):
        lr_scheduler.StepLR("sgd", step_size=2)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(optimizer, step_size=2, last_epoch=4)
    with pytest.raises(ValueError, match="start_factor"):
        lr_scheduler.LinearLR(optimizer, start_factor=0)
    with pytest.raises(ValueError, match="step_size"):
        lr_scheduler.StepLR(optimizer, step_size=0)
    with pytest.raises(ValueError, match="factor must be < 1"):
        lr_scheduler.ReduceLROnPlateau(optimizer, factor=1.0)
    with pytest.raises(ValueError, match="2 min_lrs"):
        lr_scheduler.ReduceLROnPlateau(optimizer, min_lr=[0.1])
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.02]  # failed constructions changed nothing


def test_schedule_changes_the_steps_the_optimizer_takes():
    p = _leaf()
    optimizer = optim.SGD([p], lr=1.0)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    positions = []
    for _ in range(3):
        p.grad = wg.tensor(np.ones(3))
        optimizer.step()
        scheduler.step()
        positions.append(p.detach().numpy()[0])
    np.testing.assert_allclose(positions, [0.0, -0.5, -0.75])
    assert math.isclose(scheduler.get_last_lr()[0], 0.125)


def test_rmsprop_takes_momentum_switched_on_after_a_state_load():
    # a run resumed with --momentum: the saved state has no momentum buffer yet
    p = wg.tensor([1.0, -2.0], requires_grad=True)
    first = optim.RMSprop([p], lr=0.01)
    (p * p).sum().backward()
    first.step()
    second = optim.RMSprop([p], lr=0.01, momentum=0.9)
    second.load_state_dict(first.state_dict())
    second.param_groups[0]["momentum"] = 0.9
    before = p.detach().numpy().copy()
    second.step()
    assert not np.allclose(p.detach().numpy(), before)
    assert "momentum_buffer" in second.state[p]
