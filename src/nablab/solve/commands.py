"""What ``nablab solve`` and ``nablab check`` do, given their parsed arguments."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from nablab._io import write_atomic
from nablab.i18n import M, localized
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


KINDS = {
    "parameter": M("kind.parameter", "parameter"),
    "optimizer state": M("kind.optimizer_state", "optimizer state"),
    "input": M("kind.input", "input"),
    "target": M("kind.target", "target"),
    "look-ahead": M("kind.lookahead", "look-ahead"),
    "forward value": M("kind.forward_value", "forward value"),
    "loss": M("kind.loss", "loss"),
    "penalty": M("kind.penalty", "penalty"),
    "batch norm": M("kind.batch_norm", "batch norm"),
    "gradient": M("kind.gradient", "gradient"),
    "update": M("kind.update", "update"),
}


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
        localized(
            M(
                "solve.names.header",
                "Every quantity, by the name `nablab check` and `--explain` accept (@k: after or "
                "in step k; Greek letters may be typed in ASCII: gamma1[1] for γ1[1]):",
            )
        )
    ]
    for kind, rows in groups.items():
        lines += ["", f"{localized(KINDS.get(kind, kind))}:", *rows]
    return "\n".join(lines) + "\n"


def solve_command(
    exercise_path: str,
    fmt: str | None,
    out: str | None,
    explain: list[str],
    console=None,
    verify: bool = False,
    names: bool = False,
    conventions: bool = False,
) -> int:
    fmt = format_for(fmt, out)
    try:
        exercise = load_exercise(exercise_path)
        if conventions:
            from nablab.solve.conventions import comparison_document

            if fmt == "json":
                return _fail("--compare-conventions writes text, markdown or html, not json")
            return _write(None, comparison_document(exercise), fmt, out, console)
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
        print(
            localized(
                M("solve.verified", "verified: all {count} equations hold", count=report.checked)
            ),
            file=sys.stderr,
        )
    return _write(trace, document, fmt, out, console)


def _write(trace, document, fmt: str, out: str | None, console) -> int:
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
    print(localized(M("solve.wrote", "wrote {path}", path=out)))
    return 0


VERDICTS = {
    "correct": M("verdict.correct", "correct"),
    "incorrect": M("verdict.incorrect", "incorrect"),
    "unchecked": M("verdict.unchecked", "unchecked (no known name)"),
    "rounding_carried": M("verdict.rounding_carried", "rounding carried (no mistake of method)"),
    "malformed": M("verdict.malformed", "sheet not readable"),
}
STATUS = {
    "ok": M("status.ok", "ok"),
    "wrong": M("status.wrong", "WRONG"),
    "unknown": M("status.unknown", "UNKNOWN NAME"),
    "missing": M("status.missing", "not answered"),
    "partial": M("status.partial", "partly right"),
    "rounding": M("status.rounding", "off by carried rounding"),
}


def verdict_text(verdict: str) -> str:
    """A verdict in words, in the language in force (its id where no words exist)."""
    return localized(VERDICTS[verdict]) if verdict in VERDICTS else verdict


def explanation_line(e: dict) -> str:
    """One mistake that explains wrong numbers, with how many."""
    return localized(
        M(
            "check.explanation",
            "{id}: {detail} — explains {explains} of the {wrong} wrong answers (reproduces "
            "{matched} of {of})",
            id=e["id"],
            detail=e["detail"],
            explains=e["explains_wrong"],
            wrong=e["wrong"],
            matched=e["matched"],
            of=e["of"],
        )
    )


def report_text(report: Report) -> str:
    """The verdict, one line per answer (as written, the exact value, the tolerance used), the
    first wrong value with its formula and the mistakes that explain the wrong ones."""
    lines = [localized(M("check.verdict", "verdict: {verdict}", verdict=VERDICTS[report.verdict]))]
    lines.append("")
    headers = [
        localized(M("check.column.quantity", "quantity")),
        localized(M("check.column.written", "written")),
        localized(M("check.column.exact", "exact")),
        localized(M("check.column.tolerance", "tolerance")),
    ]
    width = max([len(headers[0]), *(len(r.name) for r in report.results)])
    given_width = max([len(headers[1]), *(len(r.text) for r in report.results)])
    lines.append(
        f"  {headers[0]:<{width}}  {headers[1]:>{given_width}}  {headers[2]:>16}  {headers[3]:>9}"
    )
    for r in report.results:
        mark = localized(STATUS[r.status])
        expected = "?" if r.expected is None else f"{r.expected:.10g}"
        tolerance = "" if r.expected is None else f"±{r.tolerance:.2g}"
        lines.append(
            f"  {r.name:<{width}}  {r.text:>{given_width}}  {expected:>16}  {tolerance:>9}  {mark}"
            + (f"  ({localized(r.problem)})" if r.problem else "")
        )
    if report.first_divergence:
        first = report.first_divergence
        lines += [
            "",
            localized(
                M(
                    "check.first_wrong",
                    "first wrong value in computation order: {name} (given {given}, exact "
                    "{expected})",
                    name=first["name"],
                    given=f"{first['given']:.10g}",
                    expected=f"{first['expected']:.10g}",
                )
            ),
        ]
        if first.get("formula"):
            lines.append(f"  {first['formula']}")
    if report.explanations:
        lines += [
            "",
            localized(M("check.explanations", "mistakes that explain wrong numbers (best first):")),
        ]
        lines += [f"  {explanation_line(e)}" for e in report.explanations]
    elif report.verdict == "incorrect":
        lines += [
            "",
            localized(M("check.unexplained", "no known mistake reproduces these numbers.")),
        ]
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
