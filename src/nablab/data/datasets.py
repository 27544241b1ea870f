"""Built-in datasets, each generated or shipped inside an installed package (no downloads).

``load(name)`` returns a :class:`Dataset`: training features ``x`` (float, one sample per row,
or one (C, H, W) image per sample for image files), integer labels ``y``, and a held-out test
split where the dataset defines one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from nablab.data import synthetic
from nablab.registry import Registry


@dataclass(frozen=True)
class Dataset:
    """Features ``x`` (one sample per row, or one (C, H, W) image per sample as IDX files are
    read), labels ``y``, an optional test split, and ``image_shape``: the (H, W) or (C, H, W)
    each sample is as an image (``None`` when the samples are not images), which image
    augmentation needs."""

    name: str
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    image_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        shape = self.image_shape
        per_sample = math.prod(self.x.shape[1:])
        if shape is not None and math.prod(shape) != per_sample:
            raise ValueError(
                f"Dataset {self.name!r}: image_shape {shape} holds {math.prod(shape)} "
                f"values, but each sample has {per_sample}"
            )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample's shape: (features,) for rows, (C, H, W) for images."""
        return tuple(self.x.shape[1:])

    @property
    def n_features(self) -> int:
        return math.prod(self.input_shape)

    @property
    def classes(self) -> int:
        labels = self.y if self.y_test is None else np.concatenate([self.y, self.y_test])
        return int(labels.max()) + 1

    def astype(self, dtype) -> Dataset:
        def cast(a):
            return None if a is None else a.astype(dtype, copy=False)

        return Dataset(
            self.name, cast(self.x), self.y, cast(self.x_test), self.y_test, self.image_shape
        )


def _digits() -> Dataset:
    """scikit-learn's bundled 8×8 digits: 1797 × 64 pixel intensities 0..16 scaled to [0, 1]
    (each row an 8×8 image, row by row)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return Dataset("digits", bunch.data / 16.0, bunch.target.astype(np.int64), image_shape=(8, 8))


# The generator's defaults (mnist1d.data.get_dataset_args), written out so that the cache key
# and the data do not depend on them changing.
MNIST1D_ARGS = {
    "num_samples": 5000,
    "train_split": 0.8,
    "template_len": 12,
    "padding": [36, 60],
    "scale_coeff": 0.4,
    "max_translation": 48,
    "corr_noise_scale": 0.25,
    "iid_noise_scale": 0.02,
    "shear_scale": 0.75,
    "shuffle_seq": False,
    "final_seq_length": 40,
    "seed": 42,
}


def _generate_mnist1d() -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    for name, value in MNIST1D_ARGS.items():
        setattr(args, name, value)
    python_state, numpy_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    try:  # make_dataset seeds the global generators; leave them as they were
        data = make_dataset(args)
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)  # noqa: NPY002
    return {
        "x": data["x"],
        "y": data["y"].astype(np.int64),
        "x_test": data["x_test"],
        "y_test": data["y_test"].astype(np.int64),
    }


@lru_cache(maxsize=1)
def _mnist1d_arrays() -> tuple[np.ndarray, ...]:
    from importlib.metadata import version

    from nablab.data.cache import cached

    arrays = cached(
        "mnist1d", {"version": version("mnist1d"), "args": MNIST1D_ARGS}, _generate_mnist1d
    )
    return arrays["x"], arrays["y"], arrays["x_test"], arrays["y_test"]


def _mnist1d() -> Dataset:
    """MNIST-1D (Greydanus, 2020), generated with ``mnist1d.make_dataset`` and its default
    arguments: 4000 training and 1000 test signals of length 40, 10 classes."""
    x, y, x_test, y_test = _mnist1d_arrays()
    return Dataset("mnist1d", x.copy(), y.copy(), x_test.copy(), y_test.copy())


def _toy(maker: Callable[..., tuple[np.ndarray, np.ndarray]], name: str):
    def load(n: int = 400, noise: float | None = None, seed: int = 0) -> Dataset:
        options = {} if noise is None else {"noise": noise}
        x, y = maker(n, seed=seed, **options)
        return Dataset(name, x, y)

    return load


LOADERS: Registry[Callable[..., Dataset]] = Registry("dataset")
LOADERS.add("digits", _digits, "scikit-learn's 8×8 digits: 1797 images, 64 pixels, 10 classes")
LOADERS.add(
    "mnist1d", _mnist1d, "MNIST-1D: 4000 train / 1000 test signals of length 40, 10 classes"
)
LOADERS.add("moons", _toy(synthetic.moons, "moons"), "two interleaving half circles (2-D)")
LOADERS.add("circles", _toy(synthetic.circles, "circles"), "a circle inside a circle (2-D)")
LOADERS.add("spirals", _toy(synthetic.spirals, "spirals"), "interleaved spiral arms (2-D)")
LOADERS.add("xor", _toy(synthetic.xor, "xor"), "the four quadrants, label x₁·x₂ < 0 (2-D)")
LOADERS.add("blobs", _toy(synthetic.blobs, "blobs"), "three Gaussian clusters (2-D)")


def load(name: str, dtype=np.float32, **options) -> Dataset:
    """A built-in dataset by name (``digits``, ``mnist1d``, ``moons``, ``circles``,
    ``spirals``, ``xor``, ``blobs``), features cast to ``dtype``. Toy sets take ``n``,
    ``noise`` and ``seed``."""
    return LOADERS[name](**options).astype(dtype)
