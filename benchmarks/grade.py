"""Grading a class in one process against one `nablab check` per sheet.

    python benchmarks/grade.py [--sheets 40]

Writes a class of answer sheets for examples/mazur.yaml (each a correct sheet, or one with a
known mistake planted, or carried rounding), then measures side by side:

- ``nablab grade`` in one process (the exercise solved once, each hypothesis re-run once);
- the same sheets checked one by one in this process (``check`` per sheet, what a loop over
  ``nablab check`` does, without its start-up);
- the start-up of one ``nablab check`` process, which a shell loop pays once per sheet;
- a class where every student has their own variant (drawn from ranges over Mazur's weights),
  each sheet with a planted mistake: one exercise solved per student.

Prints seconds and the ratios. The grading goal: forty sheets under 2 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from nablab.solve import check, load_exercise, run
from nablab.solve.grade import grade_sheets, read_sheets
from nablab.solve.mistakes import MISTAKES
from nablab.solve.names import Quantities
from nablab.solve.trace import Variant

ROOT = Path(__file__).resolve().parents[1]
EXERCISE = ROOT / "src" / "nablab" / "examples" / "mazur.yaml"
ASKED = ["out_h1@1", "loss@1", "grad(w5)@1", "grad(w1)@1", "w1", "w5", "w8", "loss@final"]


def write_class(folder: Path, count: int) -> None:
    exercise = load_exercise(EXERCISE)
    variants = [("correct", Variant()), ("rounding", Variant(round_decimals=3))]
    variants += [(m.id, v) for m in MISTAKES for _, v in m.variants(exercise)[:1]]
    for index in range(count):
        name, variant = variants[index % len(variants)]
        quantities = Quantities(run(exercise, variant))
        decimals = 3 if name == "rounding" else 6
        sheet = {n: f"{float(quantities.value(quantities.resolve(n))):.{decimals}f}" for n in ASKED}
        (folder / f"s{index + 1:03d}.yaml").write_text(yaml.safe_dump(sheet), encoding="utf-8")


def variant_class(count: int):
    """Per-student variants of Mazur's network and a sheet for each, a mistake planted."""
    from nablab.solve.checker import parse_answers
    from nablab.solve.grade import Sheet
    from nablab.solve.variants import draw_variant, parse_template

    data = yaml.safe_load(EXERCISE.read_text(encoding="utf-8"))
    for layer in data["layers"]:
        if layer["type"] == "linear":
            layer["weights"] = {"random": [-1, 1], "decimals": 2}
    template = parse_template(data)
    variants = {f"s{i + 1:03d}": draw_variant(template, 1, f"s{i + 1:03d}") for i in range(count)}
    sheets = []
    for index, (student, variant) in enumerate(variants.items()):
        mistake = MISTAKES[index % 4]
        wrong = run(variant.exercise, mistake.variants(variant.exercise)[0][1])
        quantities = Quantities(wrong)
        sheet = {n: f"{float(quantities.value(quantities.resolve(n))):.6f}" for n in ASKED}
        sheets.append(Sheet(student, student, parse_answers(sheet)))
    return variants, sheets


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sheets", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_class(folder, args.sheets)
        exercise = load_exercise(EXERCISE)
        run(exercise)  # imports and first-call costs, for both sides

        started = time.perf_counter()
        grades = grade_sheets(read_sheets([folder]), exercise)
        together = time.perf_counter() - started

        started = time.perf_counter()
        for sheet in read_sheets([folder]):
            check(exercise, sheet.answers)
        one_by_one = time.perf_counter() - started

        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "nablab", "check", str(EXERCISE), str(folder / "s001.yaml")],
            capture_output=True,
            check=False,
        )
        process = time.perf_counter() - started
    variants, sheets = variant_class(args.sheets)
    started = time.perf_counter()
    per_student = grade_sheets(sheets, lambda student: variants[student].exercise)
    each_own = time.perf_counter() - started
    named = sum(s.mistake is not None for s in per_student.students)
    mistakes = sum(s.mistake is not None for s in grades.students)
    print(f"{args.sheets} sheets of {EXERCISE.name} ({mistakes} with a named mistake)")
    print(f"  nablab grade, one process:          {together:7.3f} s")
    print(
        f"  check per sheet, same process:      {one_by_one:7.3f} s  ({one_by_one / together:.1f}×)"
    )
    print(f"  one `nablab check` process:         {process:7.3f} s")
    print(
        f"  a shell loop of `nablab check`:    ~{process * args.sheets:7.1f} s  "
        f"({process * args.sheets / together:.0f}×, estimated from one process)"
    )
    print(f"  goal: under 2 s for 40 sheets: {'met' if together < 2 else 'NOT met'}")
    print(f"  a variant per student ({named} of {args.sheets} mistakes named): {each_own:7.3f} s")


if __name__ == "__main__":
    main()
