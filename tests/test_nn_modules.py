"""nn modules: registration and tree walks, modes, state dicts, default initialization, layers,
gradient clipping and a short training run, each against PyTorch's equivalent or hand math."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from conftest import check_op, compare_with_torch, random_array

import wengert as wg
import wengert.nn.functional as F
from wengert import nn
from wengert.nn import init

# --- a model with every kind of container, in wengert and in torch ------------------------------


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(wg.ones(3))
        self.fc = nn.Linear(3, 4)
        self.heads = nn.ModuleList([nn.Linear(4, 2), nn.Sequential(nn.Tanh(), nn.Linear(4, 5))])
        self.by_name = nn.ModuleDict({"b": nn.Linear(2, 2, bias=False), "a": nn.Sequential(nn.ReLU(), nn.Linear(2, 3))})
        self.offset = nn.Parameter(wg.zeros(2))  # registered after the submodules

    def forward(self, x):
        h = self.fc(x * self.scale)
        return self.by_name["a"](self.by_name["b"](self.heads[0](h)) + self.offset)


class TorchBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(3))
        self.fc = torch.nn.Linear(3, 4)
        self.heads = torch.nn.ModuleList([torch.nn.Linear(4, 2), torch.nn.Sequential(torch.nn.Tanh(),
                                                                                     torch.nn.Linear(4, 5))])
        self.by_name = torch.nn.ModuleDict({"b": torch.nn.Linear(2, 2, bias=False),
                                            "a": torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(2, 3))})
        self.offset = torch.nn.Parameter(torch.zeros(2))

    def forward(self, x):
        h = self.fc(x * self.scale)
        return self.by_name["a"](self.by_name["b"](self.heads[0](h)) + self.offset)


def models():
    return nn.Sequential(Block(), nn.Linear(3, 2)), torch.nn.Sequential(TorchBlock(), torch.nn.Linear(3, 2))


def torch_state_as_numpy(model):
    return {key: value.detach().numpy().copy() for key, value in model.state_dict().items()}


def snapshot(model):
    return {key: value.numpy().copy() for key, value in model.state_dict().items()}


# --- finding parameters and modules ---------------------------------------------------------------

def test_named_parameters_are_found_recursively_in_registration_order_with_torchs_names():
    ours, theirs = models()
    names = [name for name, _ in ours.named_parameters()]
    assert names == [name for name, _ in theirs.named_parameters()]
    assert names[:3] == ["0.scale", "0.offset", "0.fc.weight"]  # a module's own parameters come first
    assert [p.shape for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in ours.parameters())
    assert ours[0].heads[1][1].weight is dict(ours.named_parameters())["0.heads.1.1.weight"]


def test_a_shared_parameter_or_module_is_listed_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(model.modules())) == 3  # Sequential, Linear, ReLU
    tied = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    tied[1].weight = tied[0].weight
    torch_tied = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 3))
    torch_tied[1].weight = torch_tied[0].weight
    assert [n for n, _ in tied.named_parameters()] == [n for n, _ in torch_tied.named_parameters()]
    assert len(list(tied.parameters())) == 3


def test_state_dict_of_shared_modules_and_tied_weights_has_torchs_keys():
    shared, torch_shared = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    ours, theirs = nn.Sequential(shared, nn.ReLU(), shared), torch.nn.Sequential(torch_shared, torch.nn.ReLU(),
                                                                                   torch_shared)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    ours.load_state_dict(torch_state_as_numpy(theirs))
    np.testing.assert_array_equal(shared.weight.data, torch_shared.weight.detach().numpy().astype(np.float32))


def test_reassigning_an_attribute_replaces_its_registration():
    block = Block()
    names = [name for name, _ in block.named_parameters()]
    old = block.fc
    block.fc = nn.Linear(3, 7)
    assert block.fc is not old and block.fc.out_features == 7
    assert [name for name, _ in block.named_parameters()] == names  # it keeps its place, as in torch
    assert dict(block.named_parameters())["fc.weight"].shape == (7, 3)
    assert not any(p is old.weight for p in block.parameters())
    block.fc = nn.Parameter(wg.zeros(5))  # a module replaced by a parameter
    assert "fc" in dict(block.named_parameters()) and "fc" not in dict(block.named_children())
    block.fc = None
    assert block.fc is None and "fc" not in dict(block.named_parameters())
    block.heads = nn.Identity()
    assert [name for name, _ in block.named_children()] == ["heads", "by_name"]


@pytest.mark.parametrize("name, value", [("weight", "tensor"), ("weight", 3), ("child", "tensor")], ids=str)
def test_assigning_a_plain_value_to_a_parameter_or_submodule_name_is_refused_not_silently_unregistered(name, value):
    layer = nn.Linear(2, 3)
    layer.child = nn.ReLU()
    value = layer.weight * 2 if value == "tensor" else value
    with pytest.raises(TypeError, match=rf"Linear\.{name} is a registered"):
        setattr(layer, name, value)
    assert "weight" in dict(layer.named_parameters()) and "child" in dict(layer.named_children())


def test_a_reassigned_buffer_stays_a_buffer():
    layer = nn.Linear(2, 2)
    layer.register_buffer("running_mean", wg.zeros(2))
    layer.running_mean = layer.running_mean * 0.9 + 1.0
    assert list(layer.state_dict()) == ["weight", "bias", "running_mean"]
    np.testing.assert_array_equal(layer.state_dict()["running_mean"].numpy(), [1.0, 1.0])
    assert [name for name, _ in layer.named_buffers()] == ["running_mean"]
    assert len(list(layer.parameters())) == 2


def test_children_and_modules_walk_like_torch():
    ours, theirs = models()
    block, torch_block = ours[0], theirs[0]
    assert [type(m).__name__ for m in block.children()] == [type(m).__name__ for m in torch_block.children()]
    assert [name for name, _ in block.named_children()] == ["fc", "heads", "by_name"]
    assert [type(m).__name__ for m in ours.modules()] == [type(m).__name__.removeprefix("Torch")
                                                          for m in theirs.modules()]
    assert [name for name, _ in ours.named_modules()] == [name for name, _ in theirs.named_modules()]
    assert next(iter(ours.modules())) is ours


def test_containers_index_iterate_and_grow():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and seq[-1] is layers[2] and list(seq) == layers
    assert list(seq[1:]) == layers[1:]
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and [name for name, _ in seq.named_children()][-1] == "3"
    module_list = nn.ModuleList(layers[:1]).extend(layers[1:])
    assert len(module_list) == 3 and module_list[1] is layers[1]
    assert [n for n, _ in module_list.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    module_dict = nn.ModuleDict({"x": layers[0]})
    module_dict["y"] = layers[2]
    assert list(module_dict) == ["x", "y"] and "y" in module_dict and module_dict["y"] is layers[2]
    named = nn.Sequential({"encoder": nn.Linear(2, 2), "act": nn.ReLU()})
    assert [n for n, _ in named.named_parameters()] == ["encoder.weight", "encoder.bias"]
    with pytest.raises(TypeError, match=r"Sequential item 1.*function"):
        nn.Sequential(nn.ReLU(), F.relu)


def test_train_and_eval_propagate_to_every_submodule():
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.9))),
                          nn.ModuleList([nn.Dropout(0.9)]))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    x = wg.tensor(random_array((8, 4)))
    np.testing.assert_array_equal(model[1](x).numpy(), x.numpy())  # dropout is the identity in eval
    model.train()
    assert all(m.training for m in model.modules())
    assert (model[1](x).numpy() == 0).any()
    model.train(False)
    assert not model[1][0].training


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad_clears_every_parameters_gradient(set_to_none):
    model, _ = models()
    model(wg.tensor(random_array((5, 3), dtype=np.float32))).sum().backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None for name, g in grads.items() if not name.startswith("0.heads.1"))
    model.zero_grad(set_to_none=set_to_none)
    for name, p in model.named_parameters():
        if set_to_none or grads[name] is None:
            assert p.grad is None
        else:
            assert p.grad is grads[name] and not p.grad.numpy().any()  # zeroed in place


def test_calling_a_module_runs_forward_with_its_arguments():
    class Recorder(nn.Module):
        def forward(self, x, scale=1.0):
            self.seen = (x, scale)
            return x * scale

    recorder = Recorder()
    x = wg.ones(2)
    out = recorder(x, scale=3.0)
    assert recorder.seen == (x, 3.0)
    np.testing.assert_array_equal(out.numpy(), [3.0, 3.0])
    with pytest.raises(NotImplementedError, match="Module defines no forward"):
        nn.Module()(x)


def test_repr_matches_torch_for_nested_sequentials_and_custom_modules():
    ours = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    assert repr(ours) == repr(theirs)
    nested = nn.Sequential(nn.Sequential(nn.Linear(2, 3, bias=False), nn.Tanh()), nn.Flatten(), nn.Embedding(5, 2))
    torch_nested = torch.nn.Sequential(torch.nn.Sequential(torch.nn.Linear(2, 3, bias=False), torch.nn.Tanh()),
                                       torch.nn.Flatten(), torch.nn.Embedding(5, 2))
    assert repr(nested) == repr(torch_nested)
    assert repr(models()[0]).replace("TorchBlock", "Block") == repr(models()[1]).replace("TorchBlock", "Block")


def test_assigning_attributes_before_super_init_is_a_clear_error():
    class Forgetful(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)
            super().__init__()

    with pytest.raises(wg.WengertError, match=r"Forgetful: call super\(\).__init__\(\) before assigning"):
        Forgetful()


def test_parameter_is_a_leaf_that_requires_grad_and_refuses_integers():
    p = nn.Parameter(wg.zeros(3))
    assert p.requires_grad and p.is_leaf and repr(p).startswith("Parameter containing:\n")
    assert not nn.Parameter(wg.zeros(3), requires_grad=False).requires_grad
    with pytest.raises(TypeError, match="floating"):
        nn.Parameter(wg.arange(3))


# --- state dicts -----------------------------------------------------------------------------------

def test_state_dict_keys_equal_torchs_and_a_round_trip_copies_a_model():
    wg.manual_seed(1)
    source, theirs = models()
    wg.manual_seed(2)
    target = models()[0]
    assert list(source.state_dict()) == list(theirs.state_dict())
    x = wg.tensor(random_array((4, 3), dtype=np.float32))
    assert not np.allclose(source(x).detach().numpy(), target(x).detach().numpy())
    target.load_state_dict(source.state_dict())
    np.testing.assert_array_equal(source(x).detach().numpy(), target(x).detach().numpy())
    source[1].weight.data[0, 0] = 123.0  # a copy, not shared
    assert target[1].weight.data[0, 0] != 123.0


def test_state_dict_shares_memory_with_the_parameters():
    layer = nn.Linear(2, 2)
    state = layer.state_dict()
    assert np.shares_memory(state["weight"].data, layer.weight.data) and not state["weight"].requires_grad


def test_load_state_dict_is_in_place_so_an_optimizer_holding_the_parameters_keeps_working():
    model = nn.Sequential(nn.Linear(3, 2))
    held = list(model.parameters())  # what an optimizer keeps
    arrays = [p.data for p in held]
    state = {key: value.numpy() + 1.0 for key, value in nn.Sequential(nn.Linear(3, 2)).state_dict().items()}
    model.load_state_dict(state)
    assert [p for p in model.parameters()] == held and all(p.data is a for p, a in zip(held, arrays))
    np.testing.assert_array_equal(model[0].weight.data, state["0.weight"])
    F.mse_loss(model(wg.ones((1, 3))), wg.zeros((1, 2))).backward()
    for p in held:  # the optimizer's step now moves the model
        p.data -= 0.1 * p.grad.data
    assert not np.array_equal(model[0].weight.data, state["0.weight"])


def test_load_state_dict_keeps_each_parameters_dtype():
    layer = nn.Linear(2, 2)  # float32
    layer.load_state_dict({"weight": np.ones((2, 2)), "bias": np.zeros(2)})
    assert layer.weight.dtype == wg.float32 and layer.weight.data.sum() == 4.0


def test_missing_unexpected_and_mismatched_keys_are_all_named_and_the_model_is_left_unchanged():
    model = models()[0]
    before = snapshot(model)
    state = snapshot(model)
    del state["0.fc.bias"], state["1.weight"]
    state["0.extra"] = np.zeros(1)
    state["0.fc.weight"] = np.zeros((4, 4))
    state["0.offset"] = np.zeros(3)
    state["0.scale"] = np.full(3, 7.0)  # a good key: it must not be loaded either
    with pytest.raises(nn.StateDictError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    for key in ["0.fc.bias", "1.weight", "0.extra", "0.fc.weight", "0.offset", "missing", "unexpected", "shape"]:
        assert key in message
    assert "(4, 4)" in message and "(4, 3)" in message
    assert isinstance(info.value, KeyError) and not message.startswith("'")
    for key, value in snapshot(model).items():
        np.testing.assert_array_equal(value, before[key])


@pytest.mark.parametrize("problem", ["missing", "unexpected", "mismatch"])
def test_each_kind_of_bad_state_dict_is_refused_alone(problem):
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    before = snapshot(model)
    state = {key: value + 1.0 for key, value in snapshot(model).items()}
    if problem == "missing":
        del state["2.bias"], state["0.weight"]
    elif problem == "unexpected":
        state["1.weight"], state["3.bias"] = np.zeros(1), np.zeros(1)
    else:
        state["2.weight"], state["0.bias"] = np.zeros((3, 1)), np.zeros(4)
    keys = {"missing": ["0.weight", "2.bias"], "unexpected": ["1.weight", "3.bias"], "mismatch": ["0.bias", "2.weight"]}
    with pytest.raises(nn.StateDictError, match=r"{}.*{}".format(*keys[problem])):
        model.load_state_dict(state)
    for key, value in snapshot(model).items():
        np.testing.assert_array_equal(value, before[key])


def test_load_state_dict_not_strict_loads_what_fits_but_still_refuses_wrong_shapes():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    before = snapshot(model)
    model.load_state_dict({"0.weight": np.ones((3, 2)), "9.bias": np.zeros(4)}, strict=False)
    np.testing.assert_array_equal(model[0].weight.data, np.ones((3, 2)))
    np.testing.assert_array_equal(model[1].weight.data, before["1.weight"])
    with pytest.raises(nn.StateDictError, match=r"0\.bias.*\(5,\).*\(3,\)"):
        model.load_state_dict({"0.bias": np.zeros(5)}, strict=False)


def test_a_torch_models_weights_give_the_same_outputs():
    ours, theirs = models()
    for p in theirs.parameters():  # not the default initial values: ones and zeros would hide a mix-up
        torch.nn.init.normal_(p)
    ours.load_state_dict(torch_state_as_numpy(theirs))
    x = random_array((6, 3), dtype=np.float32)
    np.testing.assert_allclose(ours(wg.tensor(x)).detach().numpy(), theirs.float()(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


# --- default initialization and initializers ------------------------------------------------------

def test_linear_default_init_is_uniform_within_one_over_sqrt_fan_in():
    wg.manual_seed(0)
    layer = nn.Linear(1000, 400)
    bound = 1 / math.sqrt(1000)
    w, b = layer.weight.data, layer.bias.data
    assert w.shape == (400, 1000) and b.shape == (400,) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.99 * bound  # it fills the whole interval
    assert w.var() == pytest.approx(1 / (3 * 1000), rel=0.02)  # uniform: bound^2 / 3
    assert abs(w.mean()) < 0.02 * bound
    assert np.histogram(w, bins=10, range=(-bound, bound))[0].min() > 0.95 * w.size / 10  # flat


def test_manual_seed_makes_models_repeat_and_different_seeds_differ():
    def model(seed):
        wg.manual_seed(seed)
        return nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3), nn.Embedding(6, 2))

    first, second, other = snapshot(model(7)), snapshot(model(7)), snapshot(model(8))
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
        assert not np.array_equal(first[key], other[key])


def test_a_layers_own_generator_makes_it_repeat_regardless_of_the_global_seed():
    wg.manual_seed(1)
    a = nn.Linear(3, 3, generator=wg.Generator(5))
    wg.manual_seed(2)
    b = nn.Linear(3, 3, generator=wg.Generator(5))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)


FAN_SHAPES = {"2d": ((300, 200), 200, 300), "4d": ((64, 32, 3, 3), 32 * 9, 64 * 9)}


@pytest.mark.parametrize("shape, fan_in, fan_out", FAN_SHAPES.values(), ids=FAN_SHAPES.keys())
def test_fan_in_and_fan_out_follow_torchs_layout(shape, fan_in, fan_out):
    assert init.fan_in_and_fan_out(wg.zeros(shape)) == (fan_in, fan_out)
    assert init.fan_in_and_fan_out(wg.zeros(shape)) == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


def test_fan_of_a_vector_is_an_error():
    with pytest.raises(ValueError, match="2 or more axes"):
        init.xavier_uniform_(wg.zeros(5))


def uniform_bound(fan_in, fan_out, name):
    """The bound (uniform) or std (normal) each initializer should give, from the formulas in the papers."""
    return {"xavier_uniform_": math.sqrt(6 / (fan_in + fan_out)), "xavier_normal_": math.sqrt(2 / (fan_in + fan_out)),
            "kaiming_uniform_": math.sqrt(2) * math.sqrt(3 / fan_in), "kaiming_normal_": math.sqrt(2 / fan_in),
            "kaiming_uniform_fan_out": math.sqrt(2) * math.sqrt(3 / fan_out),
            "kaiming_normal_fan_out": math.sqrt(2 / fan_out)}[name]


INITIALIZERS = {
    "xavier_uniform_": lambda t: init.xavier_uniform_(t),
    "xavier_normal_": lambda t: init.xavier_normal_(t),
    "kaiming_uniform_": lambda t: init.kaiming_uniform_(t, nonlinearity="relu"),
    "kaiming_normal_": lambda t: init.kaiming_normal_(t, nonlinearity="relu"),
    "kaiming_uniform_fan_out": lambda t: init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"),
    "kaiming_normal_fan_out": lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"),
}


@pytest.mark.parametrize("shape, fan_in, fan_out", FAN_SHAPES.values(), ids=FAN_SHAPES.keys())
@pytest.mark.parametrize("name", INITIALIZERS, ids=str)
def test_initializers_give_the_right_bound_or_std(name, shape, fan_in, fan_out):
    tensor = nn.Parameter(wg.zeros(shape, dtype=wg.float64))
    assert INITIALIZERS[name](tensor) is tensor
    values = tensor.data
    expected = uniform_bound(fan_in, fan_out, name)
    assert abs(values.mean()) < 0.02 * expected
    if "uniform" in name:
        assert np.abs(values).max() <= expected and np.abs(values).max() > 0.99 * expected
        assert values.std() == pytest.approx(expected / math.sqrt(3), rel=0.02)
    else:
        assert values.std() == pytest.approx(expected, rel=0.02)
        assert np.abs(values).max() > 3 * expected  # a normal's tails, not a uniform's edge


def test_kaiming_uniform_with_torchs_linear_default_gives_one_over_sqrt_fan_in():
    tensor = wg.zeros((500, 400), dtype=wg.float64)
    init.kaiming_uniform_(tensor, a=math.sqrt(5))
    assert np.abs(tensor.data).max() <= 1 / math.sqrt(400) and np.abs(tensor.data).max() > 0.99 / math.sqrt(400)


@pytest.mark.parametrize("nonlinearity, param", [
    ("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None), ("sigmoid", None),
    ("tanh", None), ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 0), ("selu", None),
    ("leaky_relu", math.sqrt(5)),
], ids=str)
def test_calculate_gain_equals_torchs(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15)


def test_calculate_gain_of_an_unknown_nonlinearity_is_an_error():
    assert init.calculate_gain("identity") == 1.0
    with pytest.raises(ValueError, match=r"calculate_gain.*'swish'"):
        init.calculate_gain("swish")


def test_simple_fills():
    t = wg.zeros((2, 3))
    assert init.constant_(t, 2.5) is t and (t.data == 2.5).all()
    init.ones_(t)
    assert (t.data == 1).all() and t.dtype == wg.float32
    init.zeros_(t)
    assert not t.data.any()
    init.uniform_(t, 2.0, 3.0)
    assert ((t.data >= 2) & (t.data < 3)).all()


# --- dropout ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_zeros_about_p_of_elements_and_scales_the_rest_by_exactly_one_over_1_minus_p(p):
    x = wg.ones((400, 500), dtype=wg.float64)
    y = F.dropout(x, p).numpy()
    assert set(np.unique(y)) == {0.0, 1 / (1 - p)}
    assert (y == 0).mean() == pytest.approx(p, abs=0.01)
    assert y.mean() == pytest.approx(1.0, abs=0.02)  # the expected value is kept


def test_dropout_gradient_flows_only_through_the_kept_elements():
    x = wg.tensor(random_array((50, 40), low=1.0, high=2.0), requires_grad=True)
    y = F.dropout(x, 0.4)
    kept = y.detach().numpy() != 0
    np.testing.assert_allclose(y.detach().numpy(), x.detach().numpy() * kept / 0.6, rtol=1e-15)
    upstream = random_array((50, 40), seed=1)
    y.backward(wg.tensor(upstream))
    np.testing.assert_allclose(x.grad.numpy(), upstream * kept / 0.6, rtol=1e-15)


def test_dropout_keeps_float32():
    assert F.dropout(wg.ones((3, 3)), 0.3).dtype == wg.float32


def test_dropout_with_p_0_or_in_eval_is_the_identity_and_p_1_zeros_everything():
    x = wg.tensor(random_array((6, 7)), requires_grad=True)
    assert F.dropout(x, 0.0) is x and F.dropout(x, 0.7, training=False) is x
    layer = nn.Dropout(0.7).eval()
    assert layer(x) is x
    zeros = F.dropout(x, 1.0)
    assert not zeros.detach().numpy().any()
    zeros.sum().backward()
    assert not x.grad.numpy().any()
    with pytest.raises(ValueError, match="p must lie in"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="p must lie in"):
        F.dropout(x, -0.1)


def test_dropout_masks_repeat_with_a_seeded_generator_or_the_global_seed():
    x = wg.ones((10, 10))
    a = nn.Dropout(0.5, generator=wg.Generator(3))(x).numpy()
    b = nn.Dropout(0.5, generator=wg.Generator(3))(x).numpy()
    np.testing.assert_array_equal(a, b)
    wg.manual_seed(4)
    c = F.dropout(x).numpy()
    wg.manual_seed(4)
    np.testing.assert_array_equal(c, F.dropout(x).numpy())


# --- embedding, flatten, activations ---------------------------------------------------------------

def test_embedding_picks_rows_and_accumulates_gradients_of_repeated_indices_like_torch():
    weight = random_array((6, 3))
    indices = np.array([[0, 2, 0], [5, 0, 2]])
    np.testing.assert_array_equal(F.embedding(wg.tensor(indices), wg.tensor(weight)).numpy(), weight[indices])
    check_op(F.embedding, TF.embedding, indices, weight, requires_grad=[False, True])
    w = wg.tensor(weight, requires_grad=True)
    F.embedding(indices, w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[:, 0], [3, 0, 2, 0, 0, 1])  # counts of each index


def test_embedding_module_is_a_parameter_lookup_with_standard_normal_init():
    wg.manual_seed(0)
    layer = nn.Embedding(2000, 50)
    assert layer.weight.shape == (2000, 50) and [n for n, _ in layer.named_parameters()] == ["weight"]
    assert layer.weight.data.std() == pytest.approx(1.0, rel=0.02)
    indices = wg.tensor(np.array([[3, 1999], [3, 0]]))
    out = layer(indices)
    assert out.shape == (2, 2, 50)
    np.testing.assert_array_equal(out.detach().numpy(), layer.weight.data[indices.numpy()])


@pytest.mark.parametrize("indices", [np.array([0, 6]), np.array([-1, 2])], ids=["too-large", "negative"])
def test_embedding_indices_out_of_range_are_refused_naming_the_range(indices):
    with pytest.raises(IndexError, match=r"embedding: .*\[0, 6\)"):
        nn.Embedding(6, 2)(wg.tensor(indices))


def test_embedding_float_indices_are_refused():
    with pytest.raises(TypeError, match=r"embedding: indices must be integers.*float"):
        nn.Embedding(6, 2)(wg.tensor([0.0, 1.0]))


@pytest.mark.parametrize("args", [(), (0,), (1, 2), (2, -1)], ids=str)
def test_flatten_merges_axes_like_torch_default_all_but_the_batch_axis(args):
    x = random_array((2, 3, 4, 5))
    assert nn.Flatten()(wg.tensor(x)).shape == (2, 60)
    check_op(nn.Flatten(*args), torch.nn.Flatten(*args), x)


ACTIVATIONS = {
    "ReLU": (nn.ReLU(), F.relu, torch.nn.ReLU()),
    "Sigmoid": (nn.Sigmoid(), F.sigmoid, torch.nn.Sigmoid()),
    "Tanh": (nn.Tanh(), F.tanh, torch.nn.Tanh()),
    "LeakyReLU": (nn.LeakyReLU(0.2), lambda x: F.leaky_relu(x, 0.2), torch.nn.LeakyReLU(0.2)),
    "LeakyReLU-default": (nn.LeakyReLU(), F.leaky_relu, torch.nn.LeakyReLU()),
    "GELU": (nn.GELU(), F.gelu, torch.nn.GELU()),
    "GELU-tanh": (nn.GELU("tanh"), lambda x: F.gelu(x, "tanh"), torch.nn.GELU("tanh")),
    "Softmax": (nn.Softmax(dim=1), lambda x: F.softmax(x, axis=1), torch.nn.Softmax(dim=1)),
    "Softmax-last": (nn.Softmax(), F.softmax, torch.nn.Softmax(dim=-1)),
    "Identity": (nn.Identity(), lambda x: x, torch.nn.Identity()),
}


@pytest.mark.parametrize("modules", ACTIVATIONS.values(), ids=ACTIVATIONS.keys())
def test_activation_modules_equal_their_functions_and_torch(modules):
    module, function, torch_module = modules
    x = random_array((3, 4, 2)) * 2
    np.testing.assert_array_equal(module(wg.tensor(x)).numpy(), function(wg.tensor(x)).numpy())
    check_op(module, torch_module, x)
    assert not list(module.parameters())


# --- gradient clipping ------------------------------------------------------------------------------

@pytest.mark.parametrize("max_norm", [0.5, 1e6], ids=["clips", "no-clip"])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf], ids=["l2", "l1", "inf"])
def test_clip_grad_norm_equals_torchs(norm_type, max_norm):
    shapes = [(3, 4), (4,), (2, 2, 2)]
    grads = [random_array(shape, seed=i) for i, shape in enumerate(shapes)]
    ours = [nn.Parameter(wg.zeros(shape, dtype=wg.float64)) for shape in shapes]
    theirs = [torch.nn.Parameter(torch.zeros(shape)) for shape in shapes]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = wg.tensor(g.copy()), torch.tensor(g.copy())
    untouched = nn.Parameter(wg.zeros(2))  # no gradient: skipped
    total = nn.utils.clip_grad_norm_([*ours, untouched], max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert total == pytest.approx(expected.item(), rel=1e-12)
    for p, q, g in zip(ours, theirs, grads):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)
        if max_norm > 1e3:
            np.testing.assert_array_equal(p.grad.numpy(), g)
    assert untouched.grad is None


def test_clip_grad_norm_of_a_single_tensor_and_of_non_finite_gradients():
    p = nn.Parameter(wg.zeros(2, dtype=wg.float64))
    p.grad = wg.tensor(np.array([3.0, 4.0]))
    assert nn.utils.clip_grad_norm_(p, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-6)
    p.grad = wg.tensor(np.array([np.inf, 1.0]))
    with pytest.raises(ValueError, match=r"clip_grad_norm_.*inf"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)


# --- end to end -------------------------------------------------------------------------------------

def test_training_an_mlp_with_plain_sgd_tracks_torch_step_by_step():
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    ours = nn.Sequential(nn.Linear(6, 16, dtype=wg.float64), nn.ReLU(), nn.Linear(16, 4, dtype=wg.float64))
    ours.load_state_dict(torch_state_as_numpy(theirs))
    x, labels = random_array((32, 6)), np.random.default_rng(1).integers(0, 4, 32)
    lr = 0.5
    losses = []
    for _ in range(5):
        ours.zero_grad()
        theirs.zero_grad()
        loss = F.cross_entropy(ours(wg.tensor(x)), labels)
        loss_t = TF.cross_entropy(theirs(torch.tensor(x)), torch.tensor(labels))
        loss.backward()
        loss_t.backward()
        assert loss.item() == pytest.approx(loss_t.item(), abs=1e-10, rel=0)
        losses.append(loss.item())
        for p in ours.parameters():
            p.data -= lr * p.grad.data
        with torch.no_grad():
            for q in theirs.parameters():
                q -= lr * q.grad
    assert losses[-1] < losses[0]  # it learned something
    for key, value in torch_state_as_numpy(theirs).items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value, rtol=1e-9, atol=1e-12)


def test_loss_of_a_model_matches_compare_with_torch_for_all_parameters():
    wg.set_default_dtype(wg.float64)  # the fixture restores float32
    ours, theirs = models()
    ours.load_state_dict(torch_state_as_numpy(theirs))
    assert all(p.dtype == wg.float64 for p in ours.parameters())
    x = random_array((4, 3))
    compare_with_torch(ours, theirs, x)
    F.mse_loss(ours(wg.tensor(x)), wg.zeros((4, 2), dtype=wg.float64)).backward()
    TF.mse_loss(theirs(torch.tensor(x)), torch.zeros(4, 2)).backward()
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        expected = np.zeros(tuple(q.shape)) if q.grad is None else q.grad.numpy()
        got = np.zeros(p.shape) if p.grad is None else p.grad.numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12, err_msg=name)


# --- load_state_dict's answer and refusal of dtypes of another kind -------------------------------

def test_load_state_dict_returns_the_missing_and_unexpected_keys_like_torch():
    ours, theirs = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)), torch.nn.Sequential(torch.nn.Linear(2, 3),
                                                                                           torch.nn.Linear(3, 1))
    full = snapshot(ours)
    for strict, state in [(True, full), (False, full), (False, {"0.weight": full["0.weight"], "9.bias": np.zeros(4)})]:
        result = ours.load_state_dict(state, strict=strict)
        expected = theirs.load_state_dict({key: torch.tensor(value) for key, value in state.items()}, strict=strict)
        assert result == tuple(expected) and result.missing_keys == expected.missing_keys
        assert result.unexpected_keys == expected.unexpected_keys and repr(result) == repr(expected)


@pytest.mark.parametrize("key, value, kinds", [
    ("0.weight", np.ones((3, 2), dtype=np.int64), r"0\.weight: checkpoint int64, model float32"),
    ("0.bias", np.ones(3, dtype=bool), r"0\.bias: checkpoint bool, model float32"),
    ("0.steps", np.ones(1, dtype=np.float32), r"0\.steps: checkpoint float32, model int64"),
], ids=["int-into-float", "bool-into-float", "float-into-int"])
def test_load_state_dict_refuses_a_dtype_of_another_kind_naming_the_key_and_both_dtypes(key, value, kinds):
    model = nn.Sequential(nn.Linear(2, 3))
    model[0].register_buffer("steps", wg.zeros(1, dtype=wg.int64))
    before = snapshot(model)
    state = {**before, key: value}
    with pytest.raises(nn.StateDictError, match=kinds):
        model.load_state_dict(state)
    for name, array in snapshot(model).items():
        np.testing.assert_array_equal(array, before[name])
    state[key] = value.astype(before[key].dtype)  # the same kind (unsigned into signed, float64 into float32) loads
    model.load_state_dict({**state, "0.steps": np.full(1, 7, dtype=np.uint8)})
    assert model[0].steps.item() == 7


# --- hooks ----------------------------------------------------------------------------------------

class Pair(nn.Module):
    """Two tensor inputs around a number, two outputs: the general case of a backward hook."""

    def forward(self, a, k, b):
        return a * b * k, (a + b).sum()


class TorchPair(torch.nn.Module):
    def forward(self, a, k, b):
        return a * b * k, (a + b).sum()


def recorder(log, name, scale=None):
    """A full backward hook that logs the arrays it sees and, given ``scale``, scales grad_input."""
    def hook(module, grad_input, grad_output):
        log.append((name, [None if g is None else g.detach().numpy().copy() for g in grad_input],
                    [None if g is None else g.detach().numpy().copy() for g in grad_output]))
        return None if scale is None else tuple(None if g is None else g * scale for g in grad_input)
    return hook


def assert_same_logs(ours, theirs):
    assert [entry[0] for entry in ours] == [entry[0] for entry in theirs]
    for mine, reference in zip(ours, theirs):
        for got, expected in zip(mine[1] + mine[2], reference[1] + reference[2], strict=True):
            assert (got is None) == (expected is None)
            if got is not None:
                np.testing.assert_allclose(got, expected, rtol=1e-6)


def run_pair(library, module, a_requires_grad=True, scale=None, create_graph=False):
    log = []
    module.register_full_backward_hook(recorder(log, "pair", scale))
    a = library.tensor(random_array((3,)), requires_grad=a_requires_grad)
    b = library.tensor(random_array((3,), seed=1), requires_grad=True)
    product, total = module(a, 3.0, b)
    loss = (product * library.tensor(random_array((3,), seed=2))).sum() ** 2 + total * 5
    if not create_graph:
        loss.backward()
        return log, [None if t.grad is None else t.grad.numpy() for t in (a, b)]
    grad = wg.autograd.grad if library is wg else torch.autograd.grad
    first = grad(loss, (a, b), create_graph=True)
    second = grad((first[1] ** 2).sum(), (a, b))
    return log[:1], [g.detach().numpy() for g in first + second]


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@pytest.mark.parametrize("scale", [None, 2.0], ids=["observe", "replace"])
@pytest.mark.parametrize("a_requires_grad", [True, False], ids=["both-inputs", "one-input"])
def test_full_backward_hook_sees_and_replaces_gradients_as_in_torch(a_requires_grad, scale):
    ours, our_grads = run_pair(wg, Pair(), a_requires_grad, scale)
    theirs, their_grads = run_pair(torch, TorchPair(), a_requires_grad, scale)
    assert len(ours) == 1 and ours[0][1][1] is None  # the number's gradient
    assert_same_logs(ours, theirs)
    for got, expected in zip(our_grads, their_grads, strict=True):
        assert (got is None) == (expected is None)
        if got is not None:
            np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_full_backward_hook_under_create_graph_matches_torchs_second_derivative():
    ours, our_grads = run_pair(wg, Pair(), scale=2.0, create_graph=True)
    theirs, their_grads = run_pair(torch, TorchPair(), scale=2.0, create_graph=True)
    assert_same_logs(ours, theirs)
    for got, expected in zip(our_grads, their_grads, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_full_backward_hooks_of_a_network_run_in_torchs_order_with_torchs_gradients():
    wg_model, torch_model = models()
    wg_model.load_state_dict(torch_state_as_numpy(torch_model))
    wg_model.to(wg.float64)
    logs = ([], [])
    for log, model in zip(logs, (wg_model, torch_model)):
        for name, module in model.named_modules():
            if not name.endswith("by_name") and "heads" not in name:  # hooked modules whose outputs all flow on
                module.register_full_backward_hook(recorder(log, name or "model"))
    x = random_array((4, 3))
    (wg_model(wg.tensor(x)) ** 2).sum().backward()
    (torch_model(torch.tensor(x)) ** 2).sum().backward()
    assert len(logs[0]) == 8 and logs[0][0][0] == "model"  # x needs no gradient: it fires with grad_output
    assert all(entry[1] == [None] for entry in logs[0] if entry[0] in ("model", "0"))
    assert_same_logs(*logs)


def test_forward_hooks_see_and_replace_arguments_and_outputs_as_in_torch():
    calls = ([], [])
    for log, layer, library in zip(calls, (nn.Linear(3, 2, dtype=wg.float64), torch.nn.Linear(3, 2)), (wg, torch)):
        with torch.no_grad():
            layer.weight.data[...] = 1.0
            layer.bias.data[...] = 0.5
        layer.register_forward_pre_hook(lambda module, args, log=log: log.append(("pre", len(args))) or args[0] * 2)
        layer.register_forward_pre_hook(lambda module, args, log=log: log.append(("first", len(args))), prepend=True)
        handle = layer.register_forward_hook(lambda module, args, output, log=log: log.append(
            ("after", args[0].detach().numpy().sum(), output.detach().numpy().sum())) or output + 1)
        out = layer(library.tensor(np.ones((1, 3))))
        log.append(("out", out.detach().numpy().sum()))
        handle.remove()
        log.append(("removed", layer(library.tensor(np.ones((1, 3)))).detach().numpy().sum()))
    assert calls[0] == calls[1]
    assert calls[0][:3] == [("first", 1), ("pre", 1), ("after", 6.0, 13.0)]


def test_removed_hooks_leave_the_fast_path_and_a_with_block_removes_its_hook(monkeypatch):
    layer = nn.Linear(3, 2)
    seen = []
    with layer.register_forward_hook(lambda *args: seen.append(1)):
        layer(wg.ones((1, 3)))
    handle = layer.register_full_backward_hook(lambda *args: seen.append(2))
    handle.remove()
    handle.remove()  # twice is harmless, as in torch
    assert seen == [1] and not layer._hooks
    monkeypatch.setattr(nn.Module, "_call_with_hooks", lambda *args: pytest.fail("hooks path without hooks"))
    layer(wg.ones((1, 3), requires_grad=True)).sum().backward()
    assert seen == [1]


def test_a_backward_hook_returning_the_wrong_number_of_gradients_is_a_clear_error():
    layer = nn.Linear(3, 2)
    layer.register_full_backward_hook(lambda module, grad_input, grad_output: (grad_input[0], grad_input[0]))
    with pytest.raises(wg.BackwardError, match=r"Linear: a full backward hook must return None or a tuple of 1"):
        layer(wg.ones((1, 3), requires_grad=True)).sum().backward()
    first = nn.Linear(3, 2)
    first.register_full_backward_hook(lambda module, grad_input, grad_output: (wg.ones((1, 3)),))
    with pytest.raises(wg.BackwardError, match="no input of the module requires grad"):
        first(wg.ones((1, 3))).sum().backward()
    with pytest.raises(TypeError, match="hook must be callable"):
        first.register_forward_hook(3)


# --- ParameterList, buffers, casting --------------------------------------------------------------

class Mixture(nn.Module):
    def __init__(self):
        super().__init__()
        self.centers = nn.ParameterList([nn.Parameter(wg.zeros(2)), wg.ones((2, 3))])
        self.centers.append(wg.full((3,), 2.0))
        self.register_buffer("count", wg.zeros(1, dtype=wg.int64))
        self.register_buffer("scratch", wg.zeros(3), persistent=False)


class TorchMixture(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.centers = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(2)), torch.ones((2, 3))])
        self.centers.append(torch.full((3,), 2.0))
        self.register_buffer("count", torch.zeros(1, dtype=torch.int64))
        self.register_buffer("scratch", torch.zeros(3), persistent=False)


def test_parameter_list_and_non_persistent_buffers_are_registered_as_in_torch():
    ours, theirs = Mixture(), TorchMixture()
    assert [name for name, _ in ours.named_parameters()] == [name for name, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["count", "centers.0", "centers.1", "centers.2"]
    assert [name for name, _ in ours.named_buffers()] == [name for name, _ in theirs.named_buffers()]
    centers = ours.centers
    assert len(centers) == 3 and all(isinstance(p, nn.Parameter) and p.requires_grad for p in centers)
    assert centers[-1] is centers[2] and [p.shape for p in centers[1:]] == [(2, 3), (3,)]
    centers[0] = wg.ones(4)
    assert ours.state_dict()["centers.0"].shape == (4,)
    with pytest.raises(IndexError, match="out of range"):
        centers[3]
    with pytest.raises(TypeError, match=r"ParameterList\.append: expected a Parameter or Tensor"):
        centers.append(np.ones(2))
    assert ours.load_state_dict(ours.state_dict()) == ([], [])  # the non-persistent buffer is not expected
    del ours.scratch
    ours.register_buffer("scratch", wg.zeros(3))  # persistent again
    assert "scratch" in ours.state_dict()


def test_a_parameter_list_trains_with_an_optimizer():
    model = Mixture()
    optimizer = wg.optim.SGD(model.parameters(), lr=0.25)
    loss = sum((p**2).sum() for p in model.centers)
    loss.backward()
    optimizer.step()
    np.testing.assert_allclose(model.centers[2].detach().numpy(), np.ones(3))  # 2 - 0.25 * (2 * 2)


@pytest.mark.parametrize("name, tensor, error", [
    ("a.b", wg.zeros(1), "without '.'"), ("", wg.zeros(1), "non-empty"), ("x", np.zeros(1), "Tensor or None"),
    ("weight", wg.zeros(1), "already exists"), ("forward", wg.zeros(1), "already exists"),
], ids=["dotted", "empty", "array", "parameter-name", "method-name"])
def test_register_buffer_refuses_what_torch_refuses(name, tensor, error):
    with pytest.raises((KeyError, TypeError, ValueError), match=error):
        nn.Linear(2, 2).register_buffer(name, tensor)


LOSS_BUFFERS = {
    "CrossEntropyLoss": (lambda w: nn.CrossEntropyLoss(weight=w), lambda w: torch.nn.CrossEntropyLoss(weight=w)),
    "NLLLoss": (lambda w: nn.NLLLoss(weight=w), lambda w: torch.nn.NLLLoss(weight=w)),
    "BCELoss": (lambda w: nn.BCELoss(weight=w), lambda w: torch.nn.BCELoss(weight=w)),
    "BCEWithLogitsLoss": (lambda w: nn.BCEWithLogitsLoss(weight=w, pos_weight=w * 2),
                          lambda w: torch.nn.BCEWithLogitsLoss(weight=w, pos_weight=w * 2)),
    "unweighted": (lambda w: nn.CrossEntropyLoss(), lambda w: torch.nn.CrossEntropyLoss()),
}


@pytest.mark.parametrize("build", LOSS_BUFFERS.values(), ids=LOSS_BUFFERS.keys())
def test_loss_weights_are_buffers_in_the_state_dict_and_follow_casts(build):
    weight = random_array((4,), low=0.5, high=2.0)
    ours, theirs = build[0](wg.tensor(weight)), build[1](torch.tensor(weight))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), theirs.state_dict()[key].numpy())
        assert value.dtype == wg.float64
    ours.float()
    assert all(buffer.dtype == wg.float32 for buffer in ours.buffers())
    assert ours.double() is ours and all(buffer.dtype == wg.float64 for buffer in ours.buffers())


def test_to_casts_floating_parameters_gradients_and_buffers_but_not_integer_buffers():
    model = Mixture()
    sum((p**2).sum() for p in model.parameters()).backward()
    assert model.to(wg.float64) is model
    assert all(p.dtype == wg.float64 and p.grad.dtype == wg.float64 for p in model.parameters())
    assert model.scratch.dtype == wg.float64 and model.count.dtype == wg.int64
    with pytest.raises(TypeError, match="only floating dtypes"):
        model.to(wg.int32)
