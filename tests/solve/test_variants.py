"""A variant per student: same seed and id → the same exercise (on any process), degenerate
draws rejected and drawn again, every variant's answer key equal to PyTorch's."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from nablab.cli import main
from nablab.solve.spec import ExerciseError
from nablab.solve.variants import (
    degeneracies,
    draw_variant,
    numbered_students,
    parse_template,
    read_roster,
)

from helpers.oracle import assert_close
from helpers.solve_torch import torch_run
from helpers.variant_templates import MAZUR, RELU_ADAM, SOFTMAX


def _tensors(trace) -> list[np.ndarray]:
    out, seen = [], []
    for scalar in trace.built.scalars:
        if any(scalar.param is p for p in seen):
            continue
        seen.append(scalar.param)
        values = np.zeros(scalar.param.shape)
        for s in trace.built.scalars:
            if s.param is scalar.param:
                values[s.index] = trace.final_params[s.name]
        out.append(values)
    return out


@pytest.mark.parametrize("data", [MAZUR, RELU_ADAM, SOFTMAX], ids=["sigmoid", "relu", "softmax"])
def test_every_variant_matches_pytorch(data):
    template = parse_template(data)
    for student in ("s01", "s02", "ana", "bo"):
        variant = draw_variant(template, 2026, student)
        losses, params = torch_run(variant.exercise)
        assert_close([s.loss for s in variant.trace.steps], losses)
        for mine, theirs in zip(_tensors(variant.trace), params, strict=True):
            np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)


def test_the_same_seed_and_id_give_the_same_exercise_and_others_differ():
    template = parse_template(MAZUR)
    first = draw_variant(template, 7, "s01")
    assert draw_variant(template, 7, "s01").data == first.data
    assert draw_variant(template, 8, "s01").data != first.data
    assert draw_variant(template, 7, "s02").data != first.data
    weights = first.data["layers"][0]["weights"]
    assert np.array(weights).shape == (2, 2)
    assert all(-1 <= w <= 1 and round(w, 2) == w for row in weights for w in row)
    assert isinstance(first.data["layers"][0]["bias"], float)
    assert first.data["optimizer"]["lr"] in (0.1, 0.25, 0.5)


def test_the_draws_do_not_depend_on_pythons_hash_seed(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(MAZUR), encoding="utf-8")
    code = (
        "from nablab.solve.variants import draw_variant, load_template\n"
        f"print(draw_variant(load_template({str(path)!r}), 3, 'student-7').data)"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1


DEAD = {
    "title": "ReLU units that die easily",
    "inputs": [[1.0, 0.5]],
    "targets": [[0.5]],
    "layers": [
        {
            "type": "linear",
            "weights": {"random": [-1, 1], "decimals": 1},
            "bias": [-0.5, -0.5],
            "output_names": ["z1", "z2"],
        },
        {"type": "relu"},
        {"type": "linear", "weights": [[1.0], [-1.0]], "bias": 0.0},
    ],
    "loss": {"type": "mse"},
    "optimizer": {"type": "sgd", "lr": 0.1},
}


def test_degenerate_draws_are_rejected_and_drawn_again():
    template = parse_template(DEAD)
    variants = [draw_variant(template, 1, s) for s in numbered_students(12)]
    assert any(v.tries > 1 for v in variants)
    for variant in variants:
        assert degeneracies(variant.trace) == []
        assert len(variant.rejected) == variant.tries - 1
        assert all(r.startswith(("dead_relu", "zero_gradient")) for r in variant.rejected)
        z = variant.trace.steps[0].layers[0].output
        assert np.all(z.max(axis=0) > 0)  # every unit carries a gradient


def test_a_degeneracy_that_is_allowed_is_kept():
    template = parse_template(DEAD)
    allowed = [
        draw_variant(template, 1, s, allow=["dead_relu", "zero_gradient"])
        for s in numbered_students(12)
    ]
    assert all(v.tries == 1 for v in allowed)
    assert any(degeneracies(v.trace) for v in allowed)
    with pytest.raises(ExerciseError, match="unknown kind 'dead'"):
        draw_variant(template, 1, "s01", allow=["dead"])


def test_saturation_is_a_degeneracy():
    data = dict(MAZUR, inputs=[[5.0, 5.0]])
    data["layers"] = [
        dict(MAZUR["layers"][0], weights={"random": [3, 4], "decimals": 1}),
        *MAZUR["layers"][1:],
    ]
    with pytest.raises(ExerciseError, match=r"no usable draw .* saturation"):
        draw_variant(parse_template(data), 1, "s01", max_tries=5)


def test_ranges_are_validated_with_their_paths():
    data = {
        **MAZUR,
        "inputs": {"random": [-1, 1]},
        "targets": {"random": [1, 0]},
        "layers": [
            dict(MAZUR["layers"][0], weights={"random": [-1, 1], "decimal": 2}),
            {"type": "sigmoid"},
            dict(MAZUR["layers"][2], weights={"random": [-1, 1], "shape": [3, 2]}),
            {"type": "sigmoid"},
        ],
    }
    with pytest.raises(ExerciseError) as raised:
        parse_template(data)
    assert raised.value.problems == [
        "targets.random: expected [low, high] with low < high, got [1.0, 0.0]",
        "layers[0].weights.decimal: unknown key (not part of the exercise format; see "
        "`nablab solve --help`)",
    ]
    data["layers"][0] = MAZUR["layers"][0]
    data["targets"] = MAZUR["targets"]
    with pytest.raises(ExerciseError) as raised:
        parse_template(data)
    assert raised.value.problems == [
        "inputs: a range for the inputs needs shape: [samples, inputs] (or [samples, channels, "
        "length] for signals)"
    ]
    data["inputs"] = MAZUR["inputs"]
    with pytest.raises(ExerciseError) as raised:
        parse_template(data)
    assert raised.value.problems == [
        "layers[2].weights.shape: expected [2, 2] for this place, got [3, 2]"
    ]


def test_a_roster_is_read_and_checked(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("name,student\nAna,40001\nBo,40002\n", encoding="utf-8")
    assert read_roster(roster) == ["40001", "40002"]
    roster.write_text("name,student\nAna,40001\n\nAnn,40001\nCy,\n", encoding="utf-8")
    with pytest.raises(ExerciseError) as raised:
        read_roster(roster)
    assert raised.value.problems == [
        "line 4: '40001' is listed twice (also line 2)",
        "line 5: no student id",
    ]


def test_nablab_variants_writes_sheets_keys_and_solutions_that_grade_in_full(tmp_path, capsys):
    template = tmp_path / "template.yaml"
    template.write_text(yaml.safe_dump(MAZUR), encoding="utf-8")
    roster = tmp_path / "roster.csv"
    roster.write_text("student\nana\nbo\ncy\n", encoding="utf-8")
    out = tmp_path / "out"
    argv = ["variants", str(template), "--students", str(roster), "--seed", "5", "--out", str(out)]
    assert main(argv) == 0
    assert "3 variants in" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "ana").iterdir()) == [
        "exercise.yaml",
        "key.yaml",
        "sheet.html",
        "sheet.md",
        "solution.html",
    ]
    sheet = (out / "ana" / "sheet.md").read_text(encoding="utf-8")
    key = yaml.safe_load((out / "ana" / "key.yaml").read_text(encoding="utf-8"))
    assert "Compute" in sheet and str(key["w5"]) not in sheet  # no answers on the sheet
    rows = list(csv.DictReader((out / "key.csv").open(encoding="utf-8")))
    assert [r["student"] for r in rows] == ["ana", "bo", "cy"]
    grades = tmp_path / "grades"
    argv = [
        "grade",
        str(template),
        str(out / "key.csv"),
        "--roster",
        str(roster),
        "--seed",
        "5",
        "--out",
        str(grades),
    ]
    assert main(argv) == 0
    graded = list(csv.DictReader((grades / "grades.csv").open(encoding="utf-8")))
    assert [(r["student"], r["verdict"], r["percent"]) for r in graded] == [
        ("ana", "correct", "100.0"),
        ("bo", "correct", "100.0"),
        ("cy", "correct", "100.0"),
    ]
    # a student's sheet graded against someone else's variant is wrong
    swapped = tmp_path / "swapped.csv"
    lines = (out / "key.csv").read_text(encoding="utf-8").splitlines()
    lines[1] = "bo" + lines[1][3:]
    lines[2] = "ana" + lines[2][2:]
    swapped.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    assert (
        main(
            [
                "grade",
                str(template),
                str(swapped),
                "--roster",
                str(roster),
                "--seed",
                "5",
                "--format",
                "json",
            ]
        )
        == 0
    )
    assert '"verdict": "incorrect"' in capsys.readouterr().out


def test_nablab_variants_refuses_bad_input(tmp_path, capsys):
    template = tmp_path / "template.yaml"
    template.write_text(yaml.safe_dump({**MAZUR, "ask": ["w5", "w55"]}), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["variants", str(template), "--n", "2", "--seed", "1", "--out", str(out)]) == 2
    assert "ask[1]: unknown name 'w55'" in capsys.readouterr().err
    assert not out.exists()  # nothing written
    assert main(["variants", str(template), "--n", "0", "--seed", "1", "--out", str(out)]) == 2
