"""Random affine augmentation of image batches, by ``scipy.ndimage.affine_transform``.

An image is flipped (optionally), scaled by s, rotated counter-clockwise by θ about its center c
and shifted by t pixels: output position o = R(θ)·s·F·(i − c) + c + t for input position i, in
(row, column) coordinates with rows pointing down. SciPy samples the input at the inverse map
i = F·Rᵀ(o − c − t)/s + c; positions outside the image read ``fill``.
"""

from __future__ import annotations

import numpy as np

from nablab._random import RngLike, as_generator


def _snapped(value: float) -> float:
    """cos/sin of multiples of 90° exactly (cos 90° is 6e-17 in floating point)."""
    for exact in (-1.0, 0.0, 1.0):
        if abs(value - exact) < 1e-12:
            return exact
    return value


def _inverse_map(
    shape: tuple[int, int], angle: float, scale: float, shift: tuple[float, float], flip: bool
) -> tuple[np.ndarray, np.ndarray]:
    theta = np.deg2rad(angle)
    cos, sin = _snapped(np.cos(theta)), _snapped(np.sin(theta))
    rotation_t = np.array([[cos, sin], [-sin, cos]])  # Rᵀ for rows pointing down
    flip_m = np.diag([1.0, -1.0 if flip else 1.0])
    matrix = flip_m @ rotation_t / scale
    center = (np.array(shape, dtype=float) - 1) / 2
    offset = center - matrix @ (center + np.asarray(shift, dtype=float))
    return matrix, offset


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(
            f"augmentation expects a batch (N, H, W) or (N, C, H, W), got shape {images.shape}"
        )
    return images


def affine_transform(
    images: np.ndarray,
    angle: float = 0.0,
    scale: float = 1.0,
    shift: tuple[float, float] = (0.0, 0.0),
    flip: bool = False,
    order: int = 1,
    fill: float = 0.0,
) -> np.ndarray:
    """Apply one affine transform (degrees, factor, (rows, columns) pixels) to every image."""
    images = _check_images(images)
    if not scale > 0:
        raise ValueError(f"affine_transform: scale must be > 0, got {scale}")
    matrix, offset = _inverse_map(images.shape[-2:], angle, scale, shift, flip)
    from scipy import ndimage

    out = np.empty_like(images)
    for index in np.ndindex(images.shape[:-2]):
        ndimage.affine_transform(
            images[index],
            matrix,
            offset,
            output=out[index],
            order=order,
            mode="constant",
            cval=fill,
        )
    return out


class RandomAffine:
    """Per image: θ ~ U(−rotation, rotation) degrees, s ~ U(scale), t ~ U(−shift, shift)²
    pixels, horizontal flip with probability ``hflip``; the channels of an image share them.

    ``RandomAffine(shift=2, rotation=15, scale=(0.9, 1.1))(batch, rng)`` returns a new batch of
    the same shape and dtype.
    """

    def __init__(
        self,
        shift: float = 0.0,
        rotation: float = 0.0,
        scale: tuple[float, float] = (1.0, 1.0),
        hflip: float = 0.0,
        order: int = 1,
        fill: float = 0.0,
    ) -> None:
        if not shift >= 0:
            raise ValueError(f"RandomAffine: shift must be >= 0 pixels, got {shift}")
        if not rotation >= 0:
            raise ValueError(
                f"RandomAffine: rotation must be >= 0 degrees (the range is "
                f"±rotation), got {rotation}"
            )
        low, high = scale
        if not 0 < low <= high:
            raise ValueError(
                f"RandomAffine: scale must be a range (low, high) with 0 < low <= high, got {scale}"
            )
        if not 0 <= hflip <= 1:
            raise ValueError(f"RandomAffine: hflip is a probability in [0, 1], got {hflip}")
        if order not in range(6):
            raise ValueError(f"RandomAffine: order must be a spline order 0..5, got {order}")
        self.shift, self.rotation, self.scale = float(shift), float(rotation), (low, high)
        self.hflip, self.order, self.fill = float(hflip), order, fill

    def __repr__(self) -> str:
        parts = [f"shift={self.shift:g}", f"rotation={self.rotation:g}"]
        if self.scale != (1.0, 1.0):
            parts.append(f"scale=({self.scale[0]:g}, {self.scale[1]:g})")
        if self.hflip:
            parts.append(f"hflip={self.hflip:g}")
        return f"RandomAffine({', '.join(parts)})"

    def __call__(self, images: np.ndarray, rng: RngLike = None) -> np.ndarray:
        images = _check_images(images)
        rng = as_generator(rng)
        out = np.empty_like(images)
        for n in range(images.shape[0]):
            angle = rng.uniform(-self.rotation, self.rotation) if self.rotation else 0.0
            scale = rng.uniform(*self.scale) if self.scale[0] != self.scale[1] else self.scale[0]
            shift = tuple(rng.uniform(-self.shift, self.shift, size=2)) if self.shift else (0, 0)
            flip = bool(rng.random() < self.hflip) if self.hflip else False
            out[n] = affine_transform(
                images[n : n + 1], angle, scale, shift, flip, self.order, self.fill
            )[0]
        return out


def warp(
    images: np.ndarray, displacement: np.ndarray, order: int = 1, fill: float = 0.0
) -> np.ndarray:
    """Resample every image at p + Δ(p): ``displacement`` has shape (2, H, W) (rows, columns,
    in pixels) and is shared by every image (and channel); positions outside read ``fill``."""
    images = _check_images(images)
    height, width = images.shape[-2:]
    displacement = np.asarray(displacement, dtype=np.float64)
    if displacement.shape != (2, height, width):
        raise ValueError(
            f"warp: displacement must have shape (2, {height}, {width}), got {displacement.shape}"
        )
    from scipy import ndimage

    rows, columns = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    where = np.stack([rows + displacement[0], columns + displacement[1]])
    out = np.empty_like(images)
    for index in np.ndindex(images.shape[:-2]):
        ndimage.map_coordinates(
            images[index], where, output=out[index], order=order, mode="constant", cval=fill
        )
    return out


class ElasticDistortion:
    """Elastic distortion (Simard, Steinkraus & Platt, 2003), a new field per image.

    Each displacement component (rows, columns) starts as independent U(−1, 1) values per
    pixel, is smoothed by a Gaussian of standard deviation ``sigma`` pixels (reflecting at the
    borders) and multiplied by ``alpha`` pixels: Δ = α·(G_σ ∗ U). The output at p samples the
    input at p + Δ(p) (bilinear for ``order=1``). A small σ gives a near-random field (noise), a
    large σ a near-constant shift; the paper's digits (28×28) used σ = 4, α = 34. For white
    noise U the smoothed field has variance ≈ (1/3)/(4πσ²) per component away from the
    borders, so its typical displacement is about α/(σ·√(12π)) pixels.
    """

    def __init__(
        self, alpha: float = 34.0, sigma: float = 4.0, order: int = 1, fill: float = 0.0
    ) -> None:
        if not alpha >= 0:
            raise ValueError(f"ElasticDistortion: alpha must be >= 0 pixels, got {alpha}")
        if not sigma > 0:
            raise ValueError(f"ElasticDistortion: sigma must be > 0 pixels, got {sigma}")
        if order not in range(6):
            raise ValueError(f"ElasticDistortion: order must be a spline order 0..5, got {order}")
        self.alpha, self.sigma, self.order, self.fill = float(alpha), float(sigma), order, fill

    def field(self, shape: tuple[int, int], rng: RngLike = None) -> np.ndarray:
        """One displacement field (2, H, W) for images of ``shape`` (H, W)."""
        from scipy import ndimage

        noise = as_generator(rng).uniform(-1.0, 1.0, size=(2, *shape))
        smooth = [
            ndimage.gaussian_filter(component, self.sigma, mode="reflect") for component in noise
        ]
        return self.alpha * np.stack(smooth)

    def __call__(self, images: np.ndarray, rng: RngLike = None) -> np.ndarray:
        images = _check_images(images)
        rng = as_generator(rng)
        out = np.empty_like(images)
        for n in range(images.shape[0]):
            field = self.field(images.shape[-2:], rng)
            out[n] = warp(images[n : n + 1], field, self.order, self.fill)[0]
        return out

    def __repr__(self) -> str:
        return f"ElasticDistortion(alpha={self.alpha:g}, sigma={self.sigma:g})"


class OnFlatImages:
    """Apply an image augmentation (``RandomAffine``, ``ElasticDistortion``, or any
    ``f(images, rng)``) to a batch of flattened images (N, H·W…), as training data are stored:
    rows are reshaped to (N, *shape), transformed and flattened back.

    With a fitted :class:`~nablab.data.Standardizer`, the rows are standardized features: they
    are mapped back to pixels first (x·s + μ) and standardized again after the transform, so
    the ``fill`` of an empty border is a pixel value (0: background), not a standardized one.
    """

    def __init__(self, transforms, shape: tuple[int, ...], scaler=None) -> None:
        self.transforms = list(transforms) if isinstance(transforms, list | tuple) else [transforms]
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) not in (2, 3) or min(self.shape) < 1:
            raise ValueError(
                f"OnFlatImages: shape must be (H, W) or (C, H, W) with positive sizes, got {shape}"
            )
        self.scaler = scaler

    def __call__(self, x: np.ndarray, rng: RngLike = None) -> np.ndarray:
        size = int(np.prod(self.shape))
        if x.ndim < 2 or int(np.prod(x.shape[1:])) != size:
            raise ValueError(
                f"OnFlatImages: expected samples of {size} = {'×'.join(map(str, self.shape))} "
                f"pixels, got shape {x.shape}"
            )
        rng = as_generator(rng)
        pixels = x if self.scaler is None else x * self.scaler.std + self.scaler.mean
        images = pixels.reshape(len(x), *self.shape)
        for transform in self.transforms:
            images = transform(images, rng)
        moved = images.reshape(x.shape)
        out = moved if self.scaler is None else self.scaler.transform(moved)
        return out.astype(x.dtype, copy=False)

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"OnFlatImages([{inner}], shape={self.shape})"
