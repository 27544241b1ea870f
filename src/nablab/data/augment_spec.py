"""An augmentation written as text, ``shift=1,rotation=10``, as ``nablab train --augment`` and a
:class:`~nablab.train.TrainConfig` take it: the options, their limits, and the transform they
make."""

from __future__ import annotations

from nablab.registry import Option

AUGMENT_OPTIONS: tuple[Option, ...] = (
    Option("shift", float, 0.0, "largest shift in pixels, each axis U(−s, s)", 0.0),
    Option("rotation", float, 0.0, "largest rotation in degrees, U(−r, r)", 0.0, 180.0),
    Option("scale", float, 0.0, "zoom U(1 − s, 1 + s)", 0.0, 1.0, high_open=True),
    Option("hflip", float, 0.0, "probability of a horizontal flip", 0.0, 1.0),
    Option("elastic_alpha", float, 0.0, "elastic distortion: α in pixels (0: none)", 0.0),
    Option(
        "elastic_sigma",
        float,
        1.0,
        "elastic distortion: σ of its smoothing, pixels",
        0.0,
        low_open=True,
    ),
)
_KNOWN = {option.name: option for option in AUGMENT_OPTIONS}


def describe() -> str:
    """Every option with its limits and default, for help texts."""
    return "; ".join(option.describe() for option in AUGMENT_OPTIONS)


def parse_augment(text: str) -> dict[str, float]:
    """``"shift=1,rotation=10"`` → ``{"shift": 1.0, "rotation": 10.0}``, each value checked
    against its limits; ``ValueError`` names the bad part and lists the valid options."""
    settings: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"expected name=value pairs like shift=1,rotation=10, got {part!r}")
        if name not in _KNOWN:
            raise ValueError(f"unknown augmentation {name!r}; valid: {', '.join(_KNOWN)}")
        if name in settings:
            raise ValueError(f"{name} is given twice")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{name} must be a number, got {value.strip()!r}") from None
        try:
            settings[name] = _KNOWN[name].check(number, "augment")
        except ValueError as error:  # "augment: rotation must be …" without the owner
            raise ValueError(str(error).split(": ", 1)[1]) from None
    if not settings:
        raise ValueError("no augmentation given (expected name=value pairs like shift=1)")
    if not make_augmentation(settings):
        raise ValueError(
            "this augmentation changes nothing: set shift, rotation, scale, hflip or "
            "elastic_alpha above 0"
        )
    return settings


def make_augmentation(settings: dict[str, float]) -> list:
    """The image transforms ``settings`` describe: a :class:`RandomAffine` when any affine part
    is set, then an :class:`ElasticDistortion` when ``elastic_alpha`` > 0."""
    from nablab.data.augment import ElasticDistortion, RandomAffine

    values = {option.name: option.default for option in AUGMENT_OPTIONS}
    values.update(settings)
    transforms: list = []
    if values["shift"] or values["rotation"] or values["scale"] or values["hflip"]:
        scale = values["scale"]
        transforms.append(
            RandomAffine(
                shift=values["shift"],
                rotation=values["rotation"],
                scale=(1 - scale, 1 + scale),
                hflip=values["hflip"],
            )
        )
    if values["elastic_alpha"]:
        transforms.append(ElasticDistortion(values["elastic_alpha"], values["elastic_sigma"]))
    return transforms
