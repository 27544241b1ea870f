"""What ``nablab solve`` and ``nablab check`` do, given their parsed arguments."""

from __future__ import annotations

import json
import math
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


EXTENSIONS = {".html": "html", ".htm": "html", ".md": "markdown", ".json": "json", ".txt": "text"}


def format_for(fmt: str | None, out: str | None) -> str:
    """The format asked for, else the one ``out``'s extension names, else text."""
    if fmt is not None:
        return fmt
    if out is not None:
        return EXTENSIONS.get(Path(out).suffix.lower(), "text")
    return "text"


def names_text(trace) -> str:
    """Every name of a solved exercise, grouped by kind, with its value."""
    from nablab.solve.names import Quantities

    quantities = Quantities(trace)
    groups: dict[str, list[str]] = {}
    for quantity in quantities:
        value = quantity.value
        shown = f"{value:.10g}" if isinstance(value, float) else str(value)
        groups.setdefault(quantity.kind, []).append(f"  {quantity.key:<28} {shown}")
    lines = [
        "Every quantity, by the name `nablab check` and `--explain` accept (@k: after or in "
        "step k; Greek letters may be typed in ASCII: gamma1[1] for γ1[1]):"
    ]
    for kind, rows in groups.items():
        lines += ["", f"{kind}:", *rows]
    return "\n".join(lines) + "\n"


def solve_command(
    exercise_path: str,
    fmt: str | None,
    out: str | None,
    explain: list[str],
    console=None,
    verify: bool = False,
    names: bool = False,
) -> int:
    fmt = format_for(fmt, out)
    try:
        exercise = load_exercise(exercise_path)
        trace = run(exercise)
        if names:
            sys.stdout.write(names_text(trace))
            return 0
        document = solution_document(trace, explain)
    except ExerciseError as error:
        return _fail(error)
    if verify:
        from nablab.solve.verify import verify as check_equations

        report = check_equations(document, trace)
        if report.problems:
            print(
                f"error: {len(report.problems)} of {report.checked} equations do not hold:\n"
                + "\n".join(report.problems),
                file=sys.stderr,
            )
            return 1
        print(f"verified: all {report.checked} equations hold", file=sys.stderr)
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
    """The verdict, one line per answer (as written, the exact value, the tolerance used), the
    first wrong value with its formula and the mistakes that explain the wrong ones."""
    lines = [f"verdict: {report.verdict}", ""]
    width = max([8, *(len(r.name) for r in report.results)])
    given_width = max([7, *(len(r.text) for r in report.results)])
    lines.append(
        f"  {'quantity':<{width}}  {'written':>{given_width}}  {'exact':>16}  {'tolerance':>9}"
    )
    for r in report.results:
        mark = {"ok": "ok", "wrong": "WRONG", "unknown": "UNKNOWN NAME"}[r.status]
        expected = "?" if r.expected is None else f"{r.expected:.10g}"
        tolerance = "" if r.expected is None else f"±{r.tolerance:.2g}"
        lines.append(
            f"  {r.name:<{width}}  {r.text:>{given_width}}  {expected:>16}  {tolerance:>9}  {mark}"
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
        lines += ["", "mistakes that explain wrong numbers (best first):"]
        for e in report.explanations:
            lines.append(
                f"  {e['id']}: {e['detail']} — explains {e['explains_wrong']} of the "
                f"{e['wrong']} wrong answers (reproduces {e['matched']} of {e['of']})"
            )
    elif report.verdict == "incorrect":
        lines += ["", "no known mistake reproduces these numbers."]
    return "\n".join(lines) + "\n"


def check_command(exercise_path: str, answers_path: str, fmt: str, rtol: float) -> int:
    if not (rtol >= 0 and math.isfinite(rtol)):
        print(
            f"nablab check: error: --rtol must be a finite number >= 0, got {rtol}", file=sys.stderr
        )
        return 2
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
    return 0 if report.verdict in ("correct", "rounding_carried") else 1


def example_path(name: str) -> Path:
    """A bundled example exercise (``mazur`` → ``nablab/examples/mazur.yaml``)."""
    return Path(__file__).resolve().parents[1] / "examples" / f"{name}.yaml"
