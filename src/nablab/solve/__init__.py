"""Worked solutions: an exercise file becomes a step-by-step solution, and a checker finds
where a hand computation went wrong.

    exercise = load_exercise("examples/mazur.yaml")
    trace = run(exercise)                  # the engine, step by step, every value named
    document = solution_document(trace)    # formulas with the numbers substituted
    print(to_text(document))
    report = check(exercise, load_answers("answers.yaml"))
"""

from nablab.solve.check import Report, check, load_answers, parse_answers
from nablab.solve.derive import Document, solution_document
from nablab.solve.render import FORMATS, render, to_html, to_json, to_markdown, to_text
from nablab.solve.spec import Exercise, ExerciseError, load_exercise, parse_exercise
from nablab.solve.trace import Trace, run

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
