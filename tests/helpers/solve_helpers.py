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


def answers_of(trace, names: list[str], digits: int = 6) -> dict[str, str]:
    """An answer sheet: the values ``trace`` gives the quantities ``names``, written with
    ``digits`` decimals (what a student who computed exactly that would write)."""
    from nablab.solve.names import Quantities

    quantities = Quantities(trace)
    return {
        name: f"{float(quantities.value(quantities.resolve(name))):.{digits}f}" for name in names
    }


def mistake_variant(mistake_id: str, exercise, index: int = 0):
    """The ``index``-th way of making the named mistake on ``exercise``."""
    from nablab.solve.mistakes import MISTAKES

    mistake = next(m for m in MISTAKES if m.id == mistake_id)
    return mistake.variants(exercise)[index][1]
