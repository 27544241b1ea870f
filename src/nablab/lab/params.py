"""Experiment parameters on the command line: ``--set name=value`` parsed by its declared type."""

from __future__ import annotations

from typing import Any

from nablab.lab.experiment import Experiment, ExperimentError
from nablab.registry import Option

_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def _scalar(option: Option, kind: type, text: str) -> Any:
    text = text.strip()
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ExperimentError(f"--set {option.name}: expected true or false, got {text!r}")
    if kind in (int, float):
        try:
            number = float(text)
        except ValueError:
            raise ExperimentError(f"--set {option.name}: expected a number, got {text!r}") from None
        return int(number) if kind is int and number.is_integer() else number
    return text


def parse_value(option: Option, text: str) -> Any:
    """The value of ``--set name=text`` as ``option`` declares it (lists comma-separated)."""
    if option.kind in (list, tuple):
        return tuple(_scalar(option, option.item_kind, part) for part in text.split(",") if part)
    return _scalar(option, option.kind, text)


def parse_settings(experiment: Experiment, settings: list[str]) -> dict[str, Any]:
    """``["steps=200", "optimizers=gd,adam"]`` as typed values (checked later by ``resolve``)."""
    known = {o.name: o for o in experiment.parameters}
    values: dict[str, Any] = {}
    for setting in settings:
        name, sep, text = setting.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ExperimentError(f"--set expects name=value, got {setting!r}")
        if name not in known:
            valid = ", ".join(known) or "none"
            raise ExperimentError(f"{experiment.name}: unknown parameter {name!r}; valid: {valid}")
        values[name] = parse_value(known[name], text)
    return values


def format_value(value: Any) -> str:
    """A value as ``--set`` takes it back."""
    if isinstance(value, tuple | list):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
