"""What ``nablab solve`` and ``nablab check`` do, given their parsed arguments."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from nablab._io import write_atomic
from nablab.solve.checker import Report, check, load_answers
from nablab.solve.derive import solution_document
from nablab.solve.renderers import print_rich, render
from nablab.solve.schema_help import schema_help
from nablab.solve.spec import ExerciseError, load_exercise
from nablab.solve.trace import run

SCHEMA_HELP = schema_help()


def _fail(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 2


def solve_command(
    exercise_path: str, fmt: str, out: str | None, explain: list[str], console=None
) -> int:
    try:
        exercise = load_exercise(exercise_path)
        trace = run(exercise)
        document = solution_document(trace, explain)
    except ExerciseError as error:
        return _fail(error)
    if out is None and fmt == "text":
        if console is None:
            from rich.console import Console

            console = Console()
        print_rich(document, console)
        return 0
    output = render(trace, document, fmt)
    if out is None:
        sys.stdout.write(output)
        return 0
    try:
        write_atomic(out, output)
    except OSError as error:
        return _fail(f"cannot write {out}: {error}")
    print(f"wrote {out}")
    return 0


def report_text(report: Report) -> str:
    lines = [f"verdict: {report.verdict}", ""]
    width = max([8, *(len(r.name) for r in report.results)])
    lines.append(f"  {'quantity':<{width}}  {'given':>14}  {'expected':>16}")
    for r in report.results:
        mark = "ok" if r.ok else "WRONG"
        expected = "?" if r.expected is None else f"{r.expected:.10g}"
        lines.append(
            f"  {r.name:<{width}}  {r.given:>14.10g}  {expected:>16}  {mark}"
            + (f"  ({r.problem})" if r.problem else "")
        )
    if report.first_divergence:
        first = report.first_divergence
        lines += [
            "",
            f"first wrong value in computation order: {first['name']} "
            f"(given {first['given']:.10g}, exact {first['expected']:.10g})",
        ]
        if first.get("formula"):
            lines.append(f"  {first['formula']}")
    if report.explanations:
        lines += ["", "mistakes that explain the wrong numbers (best first):"]
        for e in report.explanations:
            lines.append(
                f"  {e['id']}: {e['detail']} — reproduces {e['matched']} of {e['of']} answers"
            )
    elif report.verdict == "incorrect":
        lines += ["", "no known mistake reproduces these numbers."]
    return "\n".join(lines) + "\n"


def check_command(exercise_path: str, answers_path: str, fmt: str, rtol: float) -> int:
    try:
        exercise = load_exercise(exercise_path)
        answers = load_answers(answers_path)
        report = check(exercise, answers, rtol)
    except ExerciseError as error:
        return _fail(error)
    if fmt == "json":
        sys.stdout.write(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(report_text(report))
    return 0 if report.verdict == "correct" else 1


def example_path(name: str) -> Path:
    """A bundled example exercise (``mazur`` → ``nablab/examples/mazur.yaml``)."""
    return Path(__file__).resolve().parents[1] / "examples" / f"{name}.yaml"
