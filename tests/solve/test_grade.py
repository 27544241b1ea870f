"""Grading a class: a class of generated sheets with planted mistakes, each student's mistake
named, scores from the exercise's points and partial credit, a malformed sheet reported for
its student while the others are graded."""

from __future__ import annotations

import csv
import io
import json

import pytest
import yaml

from nablab.cli import main
from nablab.solve import checker as checker_module
from nablab.solve import parse_exercise, run
from nablab.solve.grade import (
    GradeError,
    asked_keys,
    grade_sheets,
    grades_csv,
    grades_json,
    read_sheets,
)
from nablab.solve.grade_report import class_html, student_html
from nablab.solve.names import Quantities
from nablab.solve.spec import ExerciseError
from nablab.solve.trace import Variant

from helpers.solve_helpers import answers_of, example_data, mistake_variant

ASKED = ["out_h1@1", "loss@1", "grad(w5)@1", "grad(w1)@1", "w5", "w1", "w8", "loss@final"]
PLANTED = [
    "loss_grad_one",
    "missing_activation_derivative",
    "wrong_update_sign",
    "updated_weights_in_backprop",
    "target_output_swapped",
]


def _exercise(**changes):
    data = example_data("mazur")
    data["ask"] = [*ASKED[:2], {"name": "grad(w5)@1", "points": 2}, *ASKED[3:]]
    data["grading"] = {"points": 1, "partial": [{"within": 10, "credit": 0.5}]}
    data.update(changes)
    return parse_exercise(data)


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """Sheets in a folder: one correct, one per planted mistake, one with rounding carried,
    one slightly off, one unreadable, one with an unknown name and a missing answer."""
    folder = tmp_path_factory.mktemp("sheets")
    exercise = _exercise()
    sheets = {"s01": answers_of(run(exercise), ASKED)}
    for number, mistake in enumerate(PLANTED, start=2):
        trace = run(exercise, mistake_variant(mistake, exercise))
        sheets[f"s{number:02d}"] = answers_of(trace, ASKED)
    sheets["s07"] = answers_of(run(exercise, Variant(round_decimals=3)), ASKED, digits=3)
    off = dict(sheets["s01"])
    exact = float(off["w8"])
    off["w8"] = f"{exact + 3e-6:.6f}"  # 6× its tolerance of 5e-7 (plus 1e-6 relative)
    sheets["s08"] = off
    unknown = {k: v for k, v in sheets["s01"].items() if k != "w1"}
    unknown["w99"] = "0.5"
    sheets["s09"] = unknown
    for student, answers in sheets.items():
        (folder / f"{student}.yaml").write_text(yaml.safe_dump(answers), encoding="utf-8")
    (folder / "s10.yaml").write_text("w5: [0.3\n", encoding="utf-8")
    return exercise, folder


@pytest.fixture(scope="module")
def graded(classroom):
    exercise, folder = classroom
    return grade_sheets(read_sheets([folder]), exercise, rtol=1e-6)


def test_each_planted_mistake_is_named_for_its_student(graded):
    by_student = {s.student: s for s in graded.students}
    for number, mistake in enumerate(PLANTED, start=2):
        student = by_student[f"s{number:02d}"]
        assert student.verdict == "incorrect"
        assert student.mistake["id"] == mistake, (student.student, student.mistake)
    assert by_student["s01"].verdict == "correct" and by_student["s01"].mistake is None
    assert by_student["s07"].verdict == "rounding_carried"
    assert {m.status for m in by_student["s07"].marks} == {"ok", "rounding"}


def test_scores_follow_the_points_and_the_partial_credit(graded):
    by_student = {s.student: s for s in graded.students}
    total = 1 + 1 + 2 + 1 + 1 + 1 + 1 + 1
    assert graded.total == total
    assert by_student["s01"].score == total
    assert by_student["s07"].score == total  # carried rounding earns full credit by default
    marks = {m.name: m for m in by_student["s08"].marks}
    assert marks["w8"].status == "partial" and marks["w8"].earned == 0.5
    assert by_student["s08"].score == total - 0.5
    s09 = {m.name: m for m in by_student["s09"].marks}
    assert s09["w1"].status == "missing" and by_student["s09"].score == total - 1
    assert [r.name for r in by_student["s09"].report.results if r.status == "unknown"] == ["w99"]
    # the mistaken sheets: exactly what their re-run shares with the exact solution
    s02 = {m.name: m.status for m in by_student["s02"].marks}
    assert s02["out_h1@1"] == s02["loss@1"] == "ok" and s02["grad(w5)@1"] == "wrong"


def test_a_malformed_sheet_is_reported_for_its_student_and_the_others_are_graded(graded):
    broken = next(s for s in graded.students if s.student == "s10")
    assert broken.verdict == "malformed" and "invalid YAML" in broken.error
    assert broken.score == 0 and broken.total == graded.total
    summary = graded.summary()
    assert (summary["students"], summary["graded"], summary["unreadable"]) == (10, 9, 1)


def test_the_class_summary_counts_wrong_answers_and_mistakes(graded):
    summary = graded.summary()
    mistakes = {m["id"]: m["students"] for m in summary["mistakes"]}
    assert mistakes == {m: 1 for m in PLANTED} | {"rounding_carried": 1}
    wrong = {w["name"]: w["wrong"] for w in summary["most_wrong"]}
    assert wrong["w1"] == 5  # every planted mistake moves w1 (carried rounding is not wrong)
    assert wrong["w5"] == 4  # backpropagating through updated weights leaves w5 right
    assert sum(b["students"] for b in summary["distribution"]) == 9
    assert summary["max"] == graded.total


def test_the_exercise_is_solved_once_for_the_whole_class(classroom, monkeypatch):
    exercise, folder = classroom
    calls = []
    real = checker_module.run

    def counting(ex, variant=checker_module.CORRECT):
        calls.append(variant)
        return real(ex, variant)

    monkeypatch.setattr(checker_module, "run", counting)
    sheets = read_sheets([folder])
    grade_sheets(sheets, exercise, rtol=1e-6)
    exact = [v for v in calls if v is checker_module.CORRECT]
    assert len(exact) == 1
    # each hypothesis is re-run once for the class, not once per sheet
    assert len(calls) < 60 and len(sheets) * len(checker_module.MISTAKES) > 100


def test_grades_are_written_as_csv_json_and_html(graded):
    rows = list(csv.DictReader(io.StringIO(grades_csv(graded))))
    assert [r["student"] for r in rows] == [f"s{i:02d}" for i in range(1, 11)]
    assert rows[1]["mistake"] == "loss_grad_one" and rows[1]["first_wrong"]
    assert rows[9]["verdict"] == "malformed" and rows[9]["error"]
    assert set(ASKED) <= set(rows[0])
    data = json.loads(json.dumps(grades_json(graded)))
    assert data["summary"]["graded"] == 9 and len(data["students"]) == 10
    page = class_html(graded)
    assert page.count('<section class="student"') == 10
    assert "<math" in page  # the formula behind each first wrong value
    one = student_html(graded, graded.students[1])
    assert "loss_grad_one" in one and 'class="student"' in one


def test_a_csv_of_sheets_grades_each_row(tmp_path, classroom):
    exercise, _ = classroom
    key = answers_of(run(exercise), ASKED)
    lines = ["student," + ",".join(ASKED)]
    lines.append("ana," + ",".join(key[n] for n in ASKED))
    lines.append("bo," + ",".join("" if n == "w5" else key[n] for n in ASKED))
    lines.append("cy," + ",".join(key[n] for n in ASKED) + ",extra")
    lines.append("dee," + ",".join("x" if n == "w1" else key[n] for n in ASKED))
    path = tmp_path / "class.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    grades = grade_sheets(read_sheets([path]), exercise)
    by = {s.student: s for s in grades.students}
    assert by["ana"].score == grades.total
    assert {m.name: m.status for m in by["bo"].marks}["w5"] == "missing"
    assert by["cy"].verdict == "malformed" and "columns" in by["cy"].error
    assert by["dee"].verdict == "malformed" and "w1" in by["dee"].error


def test_grading_options_are_validated_with_their_paths():
    data = example_data("mazur")
    data["grading"] = {"partial": [{"within": 0.5, "credit": 2}], "rounding": -1}
    data["ask"] = ["w5", "w5", 7]
    with pytest.raises(ExerciseError) as raised:
        parse_exercise(data)
    assert raised.value.problems == [
        "ask[2]: expected a quantity name or {name: ..., points: ...}, got 7",
        "grading.partial[0].within: must be > 1, got 0.5",
        "grading.partial[0].credit: must be ≤ 1, got 2",
        "grading.rounding: must be ≥ 0, got -1",
    ]


def test_an_unknown_asked_name_is_an_error_with_its_place():
    exercise = _exercise(ask=["w5", "w9"])
    with pytest.raises(GradeError) as raised:
        asked_keys(exercise, Quantities(run(exercise)))
    assert raised.value.problems == [
        "ask[1]: unknown name 'w9' (`nablab solve --names` lists every name)"
    ]


def test_nablab_grade_writes_the_reports(tmp_path, classroom, capsys):
    exercise, folder = classroom
    path = tmp_path / "exercise.yaml"
    path.write_text(yaml.safe_dump(exercise.model_dump(exclude_none=True)), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["grade", str(path), str(folder), "--out", str(out), "--rtol", "1e-6"]) == 0
    printed = capsys.readouterr().out
    assert "10 sheets: 9 graded, 1 unreadable" in printed
    assert "s10: not graded" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "grades.csv",
        "grades.json",
        "report.html",
        "students",
    ]
    assert len(list((out / "students").iterdir())) == 10
    assert main(["grade", str(path), str(tmp_path / "nothing")]) == 2


@pytest.mark.parametrize("source", ["sheets", "class.csv"])
def test_the_shipped_class_names_each_planted_mistake(source):
    """examples/class (the README's grading commands): each sheet's comment names its planted
    mistake, and grading the folder or the CSV names exactly that one."""
    from helpers.solve_helpers import EXAMPLES

    folder = EXAMPLES / "class"
    planted = {}
    for path in sorted((folder / "sheets").glob("*.yaml")):
        comment = path.read_text(encoding="utf-8").splitlines()[0]
        planted[path.stem] = (
            comment.split("planted mistake: ")[1].rstrip(")") if "planted" in comment else None
        )
    exercise = parse_exercise(example_data("mazur"))
    grades = grade_sheets(read_sheets([folder / source]), exercise)
    found = {s.student: (s.mistake["id"] if s.mistake else None) for s in grades.students}
    assert found == planted and sum(m is None for m in found.values()) == 1
