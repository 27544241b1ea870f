"""What ``nablab grade`` and ``nablab variants`` do, given their parsed arguments.

``variants`` writes, for each student, a folder with the exercise file drawn for them
(``exercise.yaml``), the sheet to hand out (``sheet.html``, ``sheet.md``: no answers), the
answer key (``key.yaml``, itself a valid answer file) and the worked solution
(``solution.html``); beside them ``variants.csv`` (student, seed, draws) and ``key.csv`` (every
student's key, in the CSV format ``nablab grade`` reads), and on request a Moodle XML quiz and a
QTI 1.2 package for Canvas. ``grade`` writes ``grades.csv`` (for a gradebook), ``grades.json``
and ``report.html`` (the class, then a page per student), and ``students/<id>.html``.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import yaml

from nablab._io import write_atomic
from nablab.i18n import M, localized
from nablab.solve.derive import solution_document
from nablab.solve.renderers import to_html, to_markdown
from nablab.solve.spec import ExerciseError, load_exercise


def _out_dir(out: str | Path) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExerciseError([f"{out}: exists and is not a folder"], "--out")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _safe(student: str) -> str:
    """A student id as a file name (anything but letters, digits, ``-_.`` becomes ``_``)."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in student)
    return cleaned.strip(".") or "_"


def write_variants(variants, out: str | Path, moodle: str | None, qti: str | None) -> list[Path]:
    from nablab.solve.names import Quantities
    from nablab.solve.sheet import answer_key, key_yaml, sheet_document

    written: list[Path] = []
    index = io.StringIO()
    writer = csv.writer(index, lineterminator="\n")
    writer.writerow(["student", "seed", "draws", "folder"])
    # every key first: an unknown asked name stops the command before anything is written
    keys = {v.student: answer_key(v.trace, Quantities(v.trace)) for v in variants}
    out = _out_dir(out)
    for variant in variants:
        folder = out / _safe(variant.student)
        folder.mkdir(exist_ok=True)
        key = keys[variant.student]
        sheet = sheet_document(variant.trace)
        exercise_text = yaml.safe_dump(variant.data, sort_keys=False, allow_unicode=True)
        written += [
            write_atomic(folder / "exercise.yaml", exercise_text),
            write_atomic(folder / "sheet.html", to_html(sheet)),
            write_atomic(folder / "sheet.md", to_markdown(sheet)),
            write_atomic(folder / "key.yaml", key_yaml(key)),
            write_atomic(folder / "solution.html", to_html(solution_document(variant.trace))),
        ]
        writer.writerow([variant.student, variant.seed, variant.tries, folder.name])
    written.append(write_atomic(out / "variants.csv", index.getvalue()))
    names = list(dict.fromkeys(n for key in keys.values() for n in key))
    table = io.StringIO()
    key_writer = csv.writer(table, lineterminator="\n")
    key_writer.writerow(["student", *names])
    for student, key in keys.items():
        key_writer.writerow([student, *(repr(key[n]) if n in key else "" for n in names)])
    written.append(write_atomic(out / "key.csv", table.getvalue()))
    if moodle or qti:
        from nablab.solve.quiz import moodle_xml, qti_package

        if moodle:
            written.append(write_atomic(moodle, moodle_xml(variants)))
        if qti:
            written.append(write_atomic(qti, qti_package(variants)))
    return written


def variants_command(
    exercise_path: str,
    students: list[str],
    seed: int,
    out: str,
    allow: list[str],
    moodle: str | None = None,
    qti: str | None = None,
) -> int:
    from nablab.solve.variants import draw_variant, load_template

    template = load_template(exercise_path)
    variants = [draw_variant(template, seed, student, allow) for student in students]
    written = write_variants(variants, out, moodle, qti)
    redrawn = sum(v.tries - 1 for v in variants)
    print(
        localized(
            M(
                "variants.done",
                "{count} variants in {out} ({files} files); {redrawn} degenerate draws rejected "
                "and drawn again",
                count=len(variants),
                out=str(out),
                files=len(written),
                redrawn=redrawn,
            )
        )
    )
    return 0


def grade_command(
    exercise_path: str,
    sheets: list[str],
    out: str | None,
    roster: str | None,
    seed: int | None,
    allow: list[str],
    rtol: float | None,
    fmt: str = "text",
) -> int:
    from nablab.solve.grade import grade_sheets, grades_csv, grades_json, read_sheets, summary_text
    from nablab.solve.grade_report import class_html, student_html

    sheet_list = read_sheets(sheets)
    if roster is not None:
        from nablab.solve.variants import draw_variant, load_template, read_roster

        if seed is None:
            raise ExerciseError(["--roster needs the --seed the variants were drawn with"], "grade")
        template = load_template(exercise_path)
        on_roster = set(read_roster(roster))
        drawn: dict[str, object] = {}

        def exercise_for(student: str):
            if student not in on_roster:
                raise KeyError(student)
            if student not in drawn:
                drawn[student] = draw_variant(template, seed, student, allow).exercise
            return drawn[student]

        grades = grade_sheets(sheet_list, exercise_for, rtol)
    else:
        grades = grade_sheets(sheet_list, load_exercise(exercise_path), rtol)
    if fmt == "json":
        sys.stdout.write(json.dumps(grades_json(grades), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(summary_text(grades))
    if out is not None:
        folder = _out_dir(out)
        students = folder / "students"
        students.mkdir(exist_ok=True)
        write_atomic(folder / "grades.csv", grades_csv(grades))
        write_atomic(
            folder / "grades.json",
            json.dumps(grades_json(grades), indent=2, ensure_ascii=False) + "\n",
        )
        write_atomic(folder / "report.html", class_html(grades))
        for student in grades.students:
            write_atomic(students / f"{_safe(student.student)}.html", student_html(grades, student))
        print(
            localized(
                M(
                    "grade.wrote",
                    "wrote {folder}/grades.csv, grades.json, report.html and {count} student pages",
                    folder=str(folder),
                    count=len(grades.students),
                )
            ),
            file=sys.stderr,
        )
    return 0
