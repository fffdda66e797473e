"""wg.save / wg.load: nested structures come back with their types, state dicts load back into models
and optimizers, the file is plain safetensors, and what is not a wengert save is refused clearly."""

import json
import math

import numpy as np
import pytest
from conftest import random_array

import wengert as wg
from wengert import checkpoint, nn, optim
from wengert.serialization import SerializationError, load, save


def nested():
    """One of everything wg.save takes, nested, with awkward arrays (0-d, empty, transposed, big-endian)."""
    return {
        "weights": wg.tensor(random_array((3, 4), dtype=np.float32)),
        "trainable": wg.tensor(random_array((2,)), requires_grad=True),
        "parameter": nn.Parameter(wg.ones(2, 2)),
        7: ("a tuple", 1, 2.5, None, True, [wg.tensor(3.0), np.arange(4, dtype=np.int8)]),
        2.5: [(), [], {}, "ünïcode", -(2**40), float("inf")],
        None: {False: np.zeros((0, 3), dtype=np.float16), "nan": float("nan")},
        "arrays": [np.array(1.5), random_array((3, 2)).T, np.arange(6, dtype=">i4").reshape(2, 3),
                   np.array([True, False]), np.arange(3, dtype=np.uint8), np.float32(0.25)],
    }


def assert_same(got, expected, where="obj"):
    """Equal values and the same types: Tensors, Parameters, arrays, tuples, lists, dicts and their keys."""
    assert type(got) is type(expected) or (isinstance(expected, np.generic) and type(got) is float), where
    if isinstance(expected, wg.Tensor):
        assert got.requires_grad == expected.requires_grad and got.dtype == expected.dtype, where
        np.testing.assert_array_equal(got.data, expected.data)
    elif isinstance(expected, np.ndarray):
        assert got.shape == expected.shape and got.dtype.newbyteorder("=") == expected.dtype.newbyteorder("="), where
        np.testing.assert_array_equal(got, expected)
    elif isinstance(expected, dict):
        assert list(got) == list(expected) and [type(key) for key in got] == [type(key) for key in expected], where
        for key in expected:
            assert_same(got[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), where
        for index, (mine, theirs) in enumerate(zip(got, expected)):
            assert_same(mine, theirs, f"{where}[{index}]")
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got), where
    else:
        assert got == expected, where


def test_a_nested_structure_comes_back_with_its_types_keys_and_values(tmp_path):
    obj = nested()
    save(obj, tmp_path / "obj.safetensors")
    loaded = load(tmp_path / "obj.safetensors")
    assert_same(loaded, obj)
    assert isinstance(loaded["parameter"], nn.Parameter) and not isinstance(loaded["weights"], nn.Parameter)
    loaded["weights"].data[0, 0] = 99.0  # loaded arrays are the caller's own, writable
    assert obj["weights"].data[0, 0] != 99.0


@pytest.mark.parametrize("obj", [wg.tensor(2.0), np.ones((2, 0)), [], (), {}, "text", 3, None],
                         ids=["0d-tensor", "empty-array", "list", "tuple", "dict", "str", "int", "none"])
def test_a_single_value_round_trips(tmp_path, obj):
    save(obj, tmp_path / "one")
    assert_same(load(tmp_path / "one"), obj)


def test_the_file_is_plain_safetensors_that_the_safetensors_library_reads(tmp_path):
    import safetensors.numpy as safetensors_numpy  # a test dependency: wengert writes the format itself
    obj = {"w": wg.tensor(random_array((3, 4), dtype=np.float32)), "steps": (np.arange(5), np.float64(2.0))}
    save(obj, tmp_path / "obj.safetensors")
    arrays = safetensors_numpy.load_file(str(tmp_path / "obj.safetensors"))
    assert sorted(array.tobytes() for array in arrays.values()) == sorted(
        [obj["w"].data.tobytes(), obj["steps"][0].tobytes()])


def test_a_training_checkpoint_is_plain_safetensors_too(tmp_path):
    import safetensors
    import safetensors.numpy as safetensors_numpy

    model = wg.nn.Linear(3, 2)
    path = checkpoint.save(tmp_path / "run", model, metadata={"epoch": 1})
    arrays = safetensors_numpy.load_file(str(path))
    np.testing.assert_array_equal(arrays["model.weight"], model.weight.data)
    with safetensors.safe_open(str(path), framework="numpy") as file:
        assert json.loads(file.metadata()["wengert"])["metadata"] == {"epoch": 1}


def test_a_model_state_dict_loads_back_into_a_fresh_model(tmp_path):
    wg.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.CrossEntropyLoss(weight=wg.ones(3)))
    save(model.state_dict(), tmp_path / "model")
    wg.manual_seed(2)
    fresh = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.CrossEntropyLoss(weight=wg.zeros(3)))
    assert fresh.load_state_dict(load(tmp_path / "model")) == ([], [])
    x = wg.tensor(random_array((5, 4), dtype=np.float32))
    np.testing.assert_array_equal(fresh[:3](x).detach().numpy(), model[:3](x).detach().numpy())
    np.testing.assert_array_equal(fresh[3].weight.numpy(), np.ones(3))


@pytest.mark.parametrize("make", [
    lambda params: optim.Adam(params, lr=0.05, betas=(0.8, 0.95), amsgrad=True),
    lambda params: optim.SGD([{"params": params[:2], "lr": 0.1}, {"params": params[2:]}], lr=0.01, momentum=0.9),
], ids=["adam", "sgd-groups"])
def test_an_optimizer_state_dict_loads_back_and_training_goes_on_as_if_never_stopped(tmp_path, make):
    x, y = wg.tensor(random_array((16, 4), dtype=np.float32)), np.arange(16) % 3

    def build():
        wg.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
        return model, make(list(model.parameters()))

    def train(model, optimizer, steps):
        for _ in range(steps):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()

    model, optimizer = build()
    train(model, optimizer, 3)
    state_at_save = optimizer.state_dict()
    save({"model": model.state_dict(), "optimizer": state_at_save}, tmp_path / "run")
    train(model, optimizer, 3)
    resumed, resumed_optimizer = build()
    saved = load(tmp_path / "run")
    assert_same(saved["optimizer"], state_at_save)
    resumed.load_state_dict(saved["model"])
    resumed_optimizer.load_state_dict(saved["optimizer"])
    assert all(isinstance(group.get("betas", ()), tuple) for group in resumed_optimizer.param_groups)
    train(resumed, resumed_optimizer, 3)
    for mine, reference in zip(resumed.parameters(), model.parameters()):
        np.testing.assert_array_equal(mine.detach().numpy(), reference.detach().numpy())


def test_saving_over_a_file_replaces_it_and_leaves_no_temporary_file(tmp_path):
    save([1, 2], tmp_path / "obj")
    save({"new": wg.ones(2)}, tmp_path / "obj")
    assert list(load(tmp_path / "obj")) == ["new"]
    assert [path.name for path in tmp_path.iterdir()] == ["obj"]


@pytest.mark.parametrize("obj, where", [
    ({"a": [1, {3}]}, r"obj\['a'\]\[1\] is a set"),
    ((wg.ones(2), nn.Linear(2, 2)), r"obj\[1\] is a Linear"),
    ({("tuple", "key"): 1}, r"obj has a key of type tuple"),
    ({"z": np.ones(2, dtype=np.complex64)}, r"obj\['z'\] has dtype complex64"),
    ([np.array(["text"])], r"obj\[0\] has dtype <U4"),
], ids=["set", "module", "tuple-key", "complex", "strings"])
def test_what_cannot_be_saved_is_refused_naming_where_it_is(tmp_path, obj, where):
    with pytest.raises(SerializationError, match=rf"wg.save: {where}"):
        save(obj, tmp_path / "obj")
    assert not (tmp_path / "obj").exists()


def damaged_files(tmp_path):
    save({"w": wg.ones(3)}, tmp_path / "good")
    good = (tmp_path / "good").read_bytes()
    size = int.from_bytes(good[:8], "little")
    header = json.loads(good[8:8 + size])
    record = json.loads(header["__metadata__"]["wengert.save"])

    def with_record(change):
        changed = json.loads(json.dumps(record))
        change(changed)
        text = json.dumps({**header, "__metadata__": {"wengert.save": json.dumps(changed)}}).encode()
        return len(text).to_bytes(8, "little") + text + good[8 + size:]

    checkpoint.save(tmp_path / "checkpoint.safetensors", model=nn.Linear(2, 2))
    plain = {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    plain_text = json.dumps(plain).encode()
    return {
        "empty": (b"", "too short"),
        "random": (b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!", "not JSON"),
        "truncated": (good[:-4], "truncated"),
        "plain-safetensors": (len(plain_text).to_bytes(8, "little") + plain_text + b"\x00" * 4, "no wg.save record"),
        "checkpoint": ((tmp_path / "checkpoint.safetensors").read_bytes(), "training checkpoint"),
        "unknown-tag": (with_record(lambda r: r["object"]["__items__"][0].__setitem__(0, "pickle")), "unknown entry"),
        "future-format": (with_record(lambda r: r.__setitem__("format", 2)), "format 1"),
        "missing-tensor": (with_record(lambda r: r["object"]["__items__"][0][1][0][1]["__items__"][0][1].__setitem__(
            "__array__", "elsewhere")), "refers to tensor 'elsewhere'"),
    }


@pytest.mark.parametrize("case", ["empty", "random", "truncated", "plain-safetensors", "checkpoint", "unknown-tag",
                                  "future-format", "missing-tensor"])
def test_a_file_that_is_not_a_wengert_save_is_a_clear_error(tmp_path, case):
    payload, problem = damaged_files(tmp_path)[case]
    path = tmp_path / "bad.safetensors"
    path.write_bytes(payload)
    with pytest.raises(SerializationError, match=rf"^not a readable wengert file: .*bad.safetensors: .*{problem}"):
        load(path)


def test_a_missing_file_is_pythons_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing")
