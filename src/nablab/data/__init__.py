"""Data: built-in datasets, users' files, 2-D toy sets, splitting, batching and augmentation."""

from nablab.data.augment import (
    ElasticDistortion,
    OnFlatImages,
    RandomAffine,
    affine_transform,
    warp,
)
from nablab.data.batching import Standardizer, batches, train_val_split
from nablab.data.datasets import LOADERS, Dataset, load
from nablab.data.files import DataFileError, load_csv, load_idx, load_npz, read_file, read_idx
from nablab.data.synthetic import blobs, circles, moons, spirals, xor

__all__ = [
    "LOADERS",
    "DataFileError",
    "Dataset",
    "ElasticDistortion",
    "OnFlatImages",
    "RandomAffine",
    "Standardizer",
    "affine_transform",
    "batches",
    "blobs",
    "circles",
    "load",
    "load_csv",
    "load_idx",
    "load_npz",
    "moons",
    "read_file",
    "read_idx",
    "spirals",
    "train_val_split",
    "warp",
    "xor",
]
