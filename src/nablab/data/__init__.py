"""Data: augmentation of image batches (datasets and batching come with training)."""

from nablab.data.augment import RandomAffine, affine_transform

__all__ = ["RandomAffine", "affine_transform"]
