"""Worked solutions: an exercise file becomes a step-by-step solution, and a checker finds
where a hand computation went wrong.

    exercise = load_exercise("examples/mazur.yaml")
    trace = run(exercise)                  # the engine, step by step, every value named
    document = solution_document(trace)    # formulas with the numbers substituted
    print(to_text(document))
    report = check(exercise, load_answers("answers.yaml"))
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Report": "checker",
    "check": "checker",
    "load_answers": "checker",
    "parse_answers": "checker",
    "Document": "document",
    "solution_document": "derive",
    "FORMATS": "renderers",
    "render": "renderers",
    "to_html": "renderers",
    "to_json": "renderers",
    "to_markdown": "renderers",
    "to_text": "renderers",
    "Exercise": "spec",
    "ExerciseError": "spec",
    "load_exercise": "spec",
    "parse_exercise": "spec",
    "Trace": "trace",
    "run": "trace",
}

__all__ = [
    "FORMATS",
    "Document",
    "Exercise",
    "ExerciseError",
    "Report",
    "Trace",
    "check",
    "load_answers",
    "load_exercise",
    "parse_answers",
    "parse_exercise",
    "render",
    "run",
    "solution_document",
    "to_html",
    "to_json",
    "to_markdown",
    "to_text",
]


def __getattr__(name: str) -> Any:
    """The public names, from their modules on first use (the help text needs none)."""
    if name in _WHERE:
        return getattr(importlib.import_module(f"nablab.solve.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'nablab.solve' has no attribute {name!r}")
