"""Grading a class: every sheet checked against its exercise in one process, scored, and the
class summed up.

Sheets come as answer files (one per student, the student's id is the file name without its
extension), a folder of them, or one CSV file with a row per student (a ``student`` column,
then one column per quantity name; an empty cell is not answered). The exercise is solved once
(:class:`~nablab.solve.checker.Checker`), or once per student when each has a variant of it;
a sheet that cannot be read is reported for that student and the others are graded.

Scoring follows the exercise's ``ask`` and ``grading`` sections: each asked quantity is worth
its points; a right answer earns them all, a wrong one within ``within`` times its tolerance
earns the ``credit`` of the first partial-credit tier it falls in, and when every wrong number
of a sheet is explained by rounding carried through the steps (the verdict
``rounding_carried``) each of them earns ``grading.rounding`` of its points. Without ``ask``,
every quantity that some sheet answers is graded, at ``grading.points`` each.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nablab.i18n import M, localized
from nablab.solve.checker import Checker, Given, Report, load_answers, parse_answers
from nablab.solve.mistakes import ROUNDING
from nablab.solve.names import Quantities, UnknownNameError
from nablab.solve.spec import Asked, Exercise, ExerciseError

SHEET_SUFFIXES = (".yaml", ".yml", ".csv")
STUDENT_COLUMNS = ("student", "id", "student_id")


class GradeError(ExerciseError):
    """Bad input to ``nablab grade`` as a whole (no sheet at all, an unknown asked name)."""


@dataclass
class Sheet:
    """One student's answers, or why they could not be read."""

    student: str
    source: str
    answers: list[Given] | None = None
    error: str | None = None


@dataclass
class Mark:
    """One asked quantity on one sheet."""

    name: str
    key: str
    points: float
    earned: float = 0.0
    status: str = "missing"  # ok, wrong, partial, rounding, missing
    written: str = ""
    expected: float | None = None
    tolerance: float | None = None


@dataclass
class StudentGrade:
    student: str
    source: str
    verdict: str
    score: float
    total: float
    marks: list[Mark] = field(default_factory=list)
    report: Report | None = None
    error: str | None = None
    first_formula: Any = None  # the equation behind the first wrong value (for the report)

    @property
    def first_wrong(self) -> str:
        if self.report is None or not self.report.first_divergence:
            return ""
        return self.report.first_divergence["name"]

    @property
    def mistake(self) -> dict[str, Any] | None:
        """The best explanation of the wrong numbers, if a known mistake reproduces them."""
        if self.report is None or not self.report.explanations:
            return None
        if self.verdict == ROUNDING:  # the verdict says which explanation speaks for the sheet
            return next(e for e in self.report.explanations if e["id"] == ROUNDING)
        return self.report.explanations[0]

    @property
    def percent(self) -> float:
        return 100.0 * self.score / self.total if self.total else 0.0


# ----------------------------------------------------------------------------- reading sheets


def _sheets_from_csv(path: Path) -> list[Sheet]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        return [Sheet(path.stem, str(path), error=f"cannot read the file: {error}")]
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return [Sheet(path.stem, str(path), error="the CSV file is empty")]
    header = [cell.strip() for cell in rows[0]]
    lowered = [cell.lower() for cell in header]
    column = next((lowered.index(c) for c in STUDENT_COLUMNS if c in lowered), None)
    if column is None:
        return [
            Sheet(
                path.stem,
                str(path),
                error=f"the header needs a student column ({', '.join(STUDENT_COLUMNS)}), "
                f"got {header}",
            )
        ]
    sheets = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path}:{number}"
        student = row[column].strip() if column < len(row) else ""
        if not student:
            sheets.append(Sheet(f"(row {number})", where, error="no student id in this row"))
            continue
        if len(row) > len(header):
            sheets.append(
                Sheet(
                    student,
                    where,
                    error=f"{len(row)} cells, but the header has {len(header)} columns",
                )
            )
            continue
        raw = {
            name: cell.strip()
            for i, (name, cell) in enumerate(zip(header, row, strict=False))
            if i != column and cell.strip()
        }
        sheets.append(_parsed(student, where, raw))
    return sheets


def _parsed(student: str, source: str, raw: Any) -> Sheet:
    try:
        return Sheet(student, source, parse_answers(raw, source))
    except ExerciseError as error:
        return Sheet(student, source, error="; ".join(error.problems))


def _sheet_from_yaml(path: Path) -> Sheet:
    try:
        return Sheet(path.stem, str(path), load_answers(path))
    except ExerciseError as error:
        return Sheet(path.stem, str(path), error="; ".join(error.problems))


def read_sheets(paths: Iterable[str | Path]) -> list[Sheet]:
    """The sheets of answer files, folders of them and CSV files (a row per student); a
    student id met twice is an error on the second sheet."""
    sheets: list[Sheet] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in SHEET_SUFFIXES)
            if not files:
                raise GradeError([f"{path}: a folder without answer sheets (.yaml, .csv)"], "grade")
        elif path.exists():
            files = [path]
        else:
            raise GradeError([f"{path}: no such file or folder"], "grade")
        for file in files:
            if file.suffix.lower() == ".csv":
                sheets.extend(_sheets_from_csv(file))
            else:
                sheets.append(_sheet_from_yaml(file))
    seen: dict[str, str] = {}
    for sheet in sheets:
        if sheet.student in seen and sheet.error is None:
            sheet.answers = None
            sheet.error = f"student {sheet.student!r} has another sheet ({seen[sheet.student]})"
        seen.setdefault(sheet.student, sheet.source)
    if not sheets:
        raise GradeError(["no answer sheets given"], "grade")
    return sheets


# ----------------------------------------------------------------------------- scoring


def asked_keys(exercise: Exercise, quantities: Quantities) -> list[tuple[Asked, str]]:
    """The exercise's asked quantities with their canonical keys; an unknown name is an error
    with its place (``ask[2]: unknown name 'w9'; did you mean w5?``)."""
    out, problems = [], []
    for index, asked in enumerate(exercise.asked()):
        try:
            out.append((asked, quantities.resolve(asked.name)))
        except UnknownNameError as error:
            problems.append(f"ask[{index}]: {error.message}")
    if problems:
        raise GradeError(problems, exercise.title)
    return out


def _answered(checkers: Iterable[Checker], sheets: list[Sheet]) -> list[tuple[Asked, str]]:
    """Without ``ask``: every quantity some sheet answers, in computation order."""
    found: dict[str, tuple[int, str]] = {}
    for checker, sheet in zip(checkers, sheets, strict=True):
        if checker is None or not sheet.answers:
            continue
        for given in sheet.answers:
            try:
                key = checker.quantities.resolve(given.name)
            except UnknownNameError:
                continue
            found.setdefault(key, (checker.order.get(key, 10**9), given.name))
    points = next((c.exercise.grading.points for c in checkers if c is not None), 1.0)
    ordered = sorted(found.items(), key=lambda item: item[1][0])
    return [(Asked(name=name, points=points), key) for key, (_, name) in ordered]


def score_sheet(checker: Checker, asked: list[tuple[Asked, str]], sheet: Sheet) -> StudentGrade:
    """The verdict, the marks and the score of one readable sheet."""
    grading = checker.exercise.grading
    report = checker.check(sheet.answers or [])
    by_key = {}
    for result in report.results:
        if result.key is not None:
            by_key.setdefault(result.key, result)
    marks = []
    for item, key in asked:
        mark = Mark(item.name, key, float(item.points))
        result = by_key.get(key)
        if result is not None:
            mark.written, mark.expected, mark.tolerance = (
                result.text,
                result.expected,
                result.tolerance,
            )
            if result.ok:
                mark.status, mark.earned = "ok", mark.points
            elif report.verdict == ROUNDING:
                mark.status, mark.earned = "rounding", grading.rounding * mark.points
            else:
                mark.status = "wrong"
                error = abs(result.given - result.expected)
                for tier in grading.partial:
                    if error <= tier.within * result.tolerance:
                        mark.status, mark.earned = "partial", tier.credit * mark.points
                        break
        marks.append(mark)
    total = sum(m.points for m in marks)
    score = sum(m.earned for m in marks)
    first = None
    if report.first_divergence:
        first_key = next(
            (r.key for r in report.results if r.name == report.first_divergence["name"]), None
        )
        first = checker.equations.get(first_key)
    return StudentGrade(
        sheet.student,
        sheet.source,
        report.verdict,
        score,
        total,
        marks,
        report,
        first_formula=first,
    )


@dataclass
class ClassGrades:
    title: str
    asked: list[tuple[Asked, str]]
    students: list[StudentGrade]

    @property
    def total(self) -> float:
        return sum(float(a.points) for a, _ in self.asked)

    def summary(self) -> dict[str, Any]:
        """Score statistics and distribution, the answers most often wrong, the commonest
        mistakes."""
        graded = [s for s in self.students if s.error is None]
        scores = [s.score for s in graded]
        bins = [0] * 10
        for s in graded:
            bins[min(int(s.percent // 10), 9)] += 1
        wrong = Counter()
        missing = Counter()
        for s in graded:
            for mark in s.marks:
                if mark.status in ("wrong", "partial"):
                    wrong[mark.name] += 1
                elif mark.status == "missing":
                    missing[mark.name] += 1
        mistakes = Counter(s.mistake["id"] for s in graded if s.mistake is not None)
        return {
            "students": len(self.students),
            "graded": len(graded),
            "unreadable": len(self.students) - len(graded),
            "total": self.total,
            "mean": statistics.fmean(scores) if scores else None,
            "median": statistics.median(scores) if scores else None,
            "min": min(scores) if scores else None,
            "max": max(scores) if scores else None,
            "distribution": [
                {"from": 10 * i, "to": 10 * (i + 1), "students": count}
                for i, count in enumerate(bins)
            ],
            "verdicts": dict(Counter(s.verdict for s in self.students)),
            "most_wrong": [
                {"name": name, "wrong": count, "missing": missing[name]}
                for name, count in wrong.most_common()
            ],
            "mistakes": [{"id": k, "students": v} for k, v in mistakes.most_common()],
        }


def grade_sheets(
    sheets: list[Sheet],
    exercise_for: Callable[[str], Exercise] | Exercise,
    rtol: float | None = None,
) -> ClassGrades:
    """Grade ``sheets``: against one exercise, or against ``exercise_for(student)`` (each
    student's variant; a :class:`KeyError` there means the student has no exercise)."""
    single = exercise_for if isinstance(exercise_for, Exercise) else None
    cache: dict[int, Checker] = {}

    def checker_for(exercise: Exercise) -> Checker:
        if id(exercise) not in cache:
            tolerance = exercise.grading.rtol if rtol is None else rtol
            cache[id(exercise)] = Checker(exercise, tolerance)
        return cache[id(exercise)]

    checkers: list[Checker | None] = []
    problems: dict[int, str] = {}
    for index, sheet in enumerate(sheets):
        if sheet.error is not None:
            checkers.append(None)
            continue
        try:
            exercise = single if single is not None else exercise_for(sheet.student)
        except KeyError:
            problems[index] = f"student {sheet.student!r} is not on the roster"
            checkers.append(None)
            continue
        checkers.append(checker_for(exercise))
    reference = single if single is not None else None
    asked_by_checker: dict[int, list[tuple[Asked, str]]] = {}
    fallback: list[tuple[Asked, str]] | None = None
    students = []
    for index, (sheet, checker) in enumerate(zip(sheets, checkers, strict=True)):
        if checker is None:
            error = sheet.error or problems.get(index, "no exercise")
            students.append(
                StudentGrade(sheet.student, sheet.source, "malformed", 0.0, 0.0, [], None, error)
            )
            continue
        if id(checker) not in asked_by_checker:
            if checker.exercise.ask:
                asked_by_checker[id(checker)] = asked_keys(checker.exercise, checker.quantities)
            else:
                if fallback is None:
                    fallback = _answered(checkers, sheets)
                asked_by_checker[id(checker)] = fallback
        students.append(score_sheet(checker, asked_by_checker[id(checker)], sheet))
    first = next((c for c in checkers if c is not None), None)
    asked = asked_by_checker[id(first)] if first is not None else []
    for student in students:
        if student.error is not None:
            student.total = sum(float(a.points) for a, _ in asked)
    title = reference or (first.exercise if first else None)
    return ClassGrades(title.title if title else "", asked, students)


# ----------------------------------------------------------------------------- writing


def grades_csv(grades: ClassGrades) -> str:
    """A row per student for a gradebook: score, total, percent, verdict, first wrong value,
    named mistake, then the points of each asked quantity."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = [a.name for a, _ in grades.asked]
    writer.writerow(
        [
            "student",
            "score",
            "total",
            "percent",
            "verdict",
            "first_wrong",
            "mistake",
            "error",
            *names,
        ]
    )
    for s in grades.students:
        earned = {m.name: m.earned for m in s.marks}
        writer.writerow(
            [
                s.student,
                f"{s.score:g}",
                f"{s.total:g}",
                f"{s.percent:.1f}",
                s.verdict,
                s.first_wrong,
                s.mistake["id"] if s.mistake else "",
                s.error or "",
            ]
            + [f"{earned[n]:g}" if n in earned else "" for n in names]
        )
    return buffer.getvalue()


def grades_json(grades: ClassGrades) -> dict[str, Any]:
    return {
        "title": grades.title,
        "asked": [{"name": a.name, "key": k, "points": a.points} for a, k in grades.asked],
        "summary": grades.summary(),
        "students": [
            {
                "student": s.student,
                "source": s.source,
                "verdict": s.verdict,
                "score": s.score,
                "total": s.total,
                "first_wrong": s.first_wrong or None,
                "mistake": None
                if s.mistake is None
                else {"id": s.mistake["id"], "detail": localized(s.mistake["detail"])},
                "error": s.error,
                "marks": [
                    {
                        "name": m.name,
                        "key": m.key,
                        "status": m.status,
                        "points": m.points,
                        "earned": m.earned,
                        "written": m.written or None,
                        "expected": m.expected,
                        "tolerance": m.tolerance,
                    }
                    for m in s.marks
                ],
                "report": None if s.report is None else s.report.to_json(),
            }
            for s in grades.students
        ],
    }


def summary_text(grades: ClassGrades) -> str:
    """The class in a few lines, for the terminal."""
    summary = grades.summary()
    lines = [
        localized(
            M(
                "grade.summary.count",
                "{students} sheets: {graded} graded, {unreadable} unreadable",
                students=summary["students"],
                graded=summary["graded"],
                unreadable=summary["unreadable"],
            )
        )
    ]
    if summary["mean"] is not None:
        lines.append(
            localized(
                M(
                    "grade.summary.scores",
                    "score out of {total:g}: mean {mean:.2f}, median {median:g}, lowest {low:g}, "
                    "highest {high:g}",
                    total=summary["total"],
                    mean=summary["mean"],
                    median=summary["median"],
                    low=summary["min"],
                    high=summary["max"],
                )
            )
        )
    for s in grades.students:
        if s.error is not None:
            lines.append(
                "  "
                + localized(
                    M(
                        "grade.unreadable",
                        "{student}: not graded: {error}",
                        student=s.student,
                        error=s.error,
                    )
                )
            )
    if summary["most_wrong"]:
        top = summary["most_wrong"][:5]
        lines.append(
            localized(
                M(
                    "grade.summary.most_wrong",
                    "most often wrong: {items}",
                    items=", ".join(f"{w['name']} ({w['wrong']})" for w in top),
                )
            )
        )
    if summary["mistakes"]:
        lines.append(
            localized(
                M(
                    "grade.summary.mistakes",
                    "commonest mistakes: {items}",
                    items=", ".join(f"{m['id']} ({m['students']})" for m in summary["mistakes"]),
                )
            )
        )
    return "\n".join(lines) + "\n"
