"""Affine augmentation of image batches."""

from __future__ import annotations

import numpy as np
import pytest

from nablab.data import RandomAffine, affine_transform


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.random((3, 8, 8)), rng.random((2, 3, 6, 6)).astype(np.float32)


def test_identity_parameters_return_the_input(images):
    gray, color = images
    np.testing.assert_array_equal(affine_transform(gray), gray)
    np.testing.assert_array_equal(RandomAffine()(color, rng=0), color)


@pytest.mark.parametrize("quarter_turns", [1, 2, 3])
def test_rotation_by_multiples_of_90_degrees_equals_rot90(images, quarter_turns):
    gray, color = images
    np.testing.assert_array_equal(
        affine_transform(gray, angle=90 * quarter_turns), np.rot90(gray, quarter_turns, axes=(1, 2))
    )
    np.testing.assert_array_equal(
        affine_transform(color, angle=90 * quarter_turns),
        np.rot90(color, quarter_turns, axes=(2, 3)),
    )


def test_flip_and_integer_shift(images):
    gray, _ = images
    np.testing.assert_array_equal(affine_transform(gray, flip=True), gray[:, :, ::-1])
    shifted = affine_transform(gray, shift=(1, 2))
    np.testing.assert_array_equal(shifted[:, 1:, 2:], gray[:, :-1, :-2])
    assert not shifted[:, 0, :].any() and not shifted[:, :, :2].any()


def test_scaling_about_the_center():
    image = np.zeros((1, 9, 9))
    image[0, 3:6, 3:6] = 1.0
    grown = affine_transform(image, scale=2.0, order=0)
    assert grown[0].sum() > 4 * image[0].sum() * 0.8
    assert grown[0, 4, 4] == 1.0


def test_random_affine_is_seeded_and_keeps_shape_and_dtype(images):
    _, color = images
    augment = RandomAffine(shift=1.5, rotation=20, scale=(0.9, 1.1), hflip=0.5)
    a, b = augment(color, rng=3), augment(color, rng=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == color.shape and a.dtype == color.dtype
    assert not np.array_equal(a, augment(color, rng=4))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": (-0.5, 1.0)}, "0 < low <= high"),
        ({"scale": (1.2, 1.0)}, "0 < low <= high"),
        ({"hflip": 1.5}, r"probability in \[0, 1\]"),
        ({"shift": -1}, "shift must be >= 0"),
        ({"rotation": -5}, "rotation must be >= 0"),
    ],
)
def test_invalid_ranges_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RandomAffine(**kwargs)


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"batch \(N, H, W\) or \(N, C, H, W\)"):
        affine_transform(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="scale must be > 0"):
        affine_transform(np.zeros((1, 4, 4)), scale=0)
