"""Data: datasets, the DataLoader that batches and shuffles them, and named real datasets.

    from wengert import data
    splits = data.load_dataset("iris")
    for X, y in data.DataLoader(splits.train, batch_size=16, shuffle=True):
        ...
"""

from .datasets import DATASET_NAMES, DatasetSplits, load_dataset, stratified_split
from .loader import DataLoader, Dataset, TensorDataset, default_collate
from .sampler import DistributedSampler

__all__ = ["DATASET_NAMES", "DataLoader", "Dataset", "DatasetSplits", "DistributedSampler", "TensorDataset",
           "default_collate", "load_dataset", "stratified_split"]
