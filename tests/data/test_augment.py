"""Affine augmentation of image batches."""

from __future__ import annotations

import numpy as np
import pytest

from nablab.data import (
    ElasticDistortion,
    OnFlatImages,
    RandomAffine,
    Standardizer,
    affine_transform,
    load,
    warp,
)
from nablab.data.augment_spec import make_augmentation, parse_augment


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


def test_warp_by_a_constant_whole_pixel_field_is_a_shift(images):
    gray, color = images
    field = np.zeros((2, 8, 8))
    field[0] = 1.0  # every output pixel reads the input one row below it
    moved = warp(gray, field)
    np.testing.assert_array_equal(moved[:, :-1], gray[:, 1:])
    assert not moved[:, -1].any()
    np.testing.assert_array_equal(warp(color, np.zeros((2, 6, 6))), color)
    with pytest.raises(ValueError, match=r"displacement must have shape \(2, 8, 8\)"):
        warp(gray, np.zeros((2, 6, 6)))


def test_elastic_distortion_field_has_the_smoothed_uniform_variance():
    """Δ = α·(G_σ ∗ U), U ~ U(−1, 1): away from the borders Var(Δ) = (α²/3)·Σ G² ≈
    (α²/3)/(4πσ²) for σ of a few pixels."""
    elastic = ElasticDistortion(alpha=5.0, sigma=3.0)
    field = elastic.field((400, 400), np.random.default_rng(0))
    inner = field[:, 50:-50, 50:-50]
    expected = 5.0**2 / 3 / (4 * np.pi * 3.0**2)
    assert inner.var() == pytest.approx(expected, rel=0.1)
    # smooth: neighbouring displacements nearly equal (white noise would be uncorrelated)
    neighbours = np.corrcoef(inner[0, :, :-1].ravel(), inner[0, :, 1:].ravel())[0, 1]
    assert neighbours > 0.9


def test_elastic_distortion_is_seeded_keeps_shape_and_alpha_zero_is_identity(images):
    gray, color = images
    elastic = ElasticDistortion(alpha=2.0, sigma=1.0)
    a, b = elastic(color, rng=5), elastic(color, rng=5)
    np.testing.assert_array_equal(a, b)
    assert a.shape == color.shape and a.dtype == color.dtype
    assert not np.array_equal(a, elastic(color, rng=6))
    np.testing.assert_array_equal(ElasticDistortion(alpha=0.0, sigma=1.0)(gray, rng=0), gray)
    assert repr(elastic) == "ElasticDistortion(alpha=2, sigma=1)"
    for kwargs, message in (
        ({"alpha": -1}, "alpha must be >= 0"),
        ({"sigma": 0}, "sigma must be > 0"),
        ({"order": 7}, "order must be a spline order"),
    ):
        with pytest.raises(ValueError, match=message):
            ElasticDistortion(**kwargs)


def test_on_flat_images_reshapes_and_undoes_the_standardization():
    digits = load("digits", dtype=np.float64)
    assert digits.image_shape == (8, 8)
    scaler = Standardizer().fit(digits.x)
    rows = scaler.transform(digits.x[:5])
    flip = OnFlatImages(RandomAffine(hflip=1.0), digits.image_shape, scaler)
    flipped = flip(rows, rng=0)
    expected = digits.x[:5].reshape(5, 8, 8)[:, :, ::-1].reshape(5, 64)
    np.testing.assert_allclose(flipped, scaler.transform(expected), rtol=1e-12, atol=1e-12)
    # a shift fills with pixel 0 (background), which is not a standardized 0
    shifted = OnFlatImages(lambda im, rng: affine_transform(im, shift=(0, 1)), (8, 8), scaler)
    pixels = shifted(rows, rng=0) * scaler.std + scaler.mean
    np.testing.assert_allclose(pixels.reshape(5, 8, 8)[:, :, 0], 0.0, atol=1e-12)
    with pytest.raises(
        ValueError, match=r"expected samples of 64 = 8×8 pixels, got shape \(5, 63\)"
    ):
        flip(rows[:, :63])
    with pytest.raises(ValueError, match=r"shape must be \(H, W\) or \(C, H, W\)"):
        OnFlatImages(flip, (64,))


def test_augmentation_text():
    assert parse_augment("shift=1, rotation=10") == {"shift": 1.0, "rotation": 10.0}
    affine, elastic = make_augmentation(
        parse_augment("scale=0.1,hflip=0.5,elastic_alpha=2,elastic_sigma=1.5")
    )
    assert affine.scale == (0.9, 1.1) and affine.hflip == 0.5
    assert (elastic.alpha, elastic.sigma) == (2.0, 1.5)
    for text, message in (
        ("shift", "expected name=value pairs"),
        ("shfit=1", "unknown augmentation 'shfit'; valid: shift, rotation"),
        ("shift=a", "shift must be a number, got 'a'"),
        ("shift=1,shift=2", "shift is given twice"),
        ("rotation=200", r"rotation must be in \[0, 180\]"),
        ("elastic_sigma=2", "changes nothing"),
        ("", "no augmentation given"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_augment(text)
