"""Helpers for the worked-solution tests."""

from __future__ import annotations

from pathlib import Path

import yaml

from nablab.solve import parse_exercise

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "nablab" / "examples"


def example_data(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))


def example(name: str, **changes):
    data = example_data(name)
    data.update(changes)
    return parse_exercise(data)
