"""``nablab solve`` and ``nablab check`` as a user runs them."""

from __future__ import annotations

import json

import pytest

from nablab.cli import main

from helpers.solve_helpers import EXAMPLES

NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json"])
def test_solve_writes_every_format(tmp_path, capsys, name, fmt):
    out = tmp_path / f"{name}.{fmt}"
    assert main(["solve", str(EXAMPLES / f"{name}.yaml"), "--format", fmt, "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    content = out.read_text(encoding="utf-8")
    assert len(content) > 500
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temporary left behind
    if fmt == "json":
        assert json.loads(content)["steps"]


def test_solve_to_the_terminal(capsys):
    assert main(["solve", str(EXAMPLES / "mazur.yaml"), "--explain", "w5"]) == 0
    out = capsys.readouterr().out
    assert "Step 1: forward pass" in out and "Chain rule for ∂E/∂w5" in out
    assert "0.35891648" in out


def test_solve_json_to_stdout(capsys):
    assert main(["solve", str(EXAMPLES / "relu_mse.yaml"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"][0]["loss"] == 2.5


def test_solve_help_documents_the_schema(capsys):
    with pytest.raises(SystemExit):
        main(["solve", "--help"])
    out = capsys.readouterr().out
    for key in ("inputs:", "targets:", "layers:", "update_bias", "optimizer:", "batch:"):
        assert key in out


def test_check_exit_codes_and_json(capsys):
    answers = EXAMPLES / "answers" / "mazur_student.yaml"
    assert main(["check", str(EXAMPLES / "mazur.yaml"), str(answers)]) == 1
    text = capsys.readouterr().out
    assert "missing_activation_derivative" in text and "first wrong value" in text
    assert main(["check", str(EXAMPLES / "mazur.yaml"), str(answers), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "incorrect"
    assert report["explanations"][0]["id"] == "missing_activation_derivative"
    assert set(report["results"][0]) >= {"name", "given", "expected", "ok"}


def test_check_passes_a_correct_sheet(tmp_path, capsys):
    sheet = tmp_path / "right.yaml"
    sheet.write_text("w5: 0.35891648\nloss@1: 0.298371109\nout_h1@1: 0.5933\n", encoding="utf-8")
    assert main(["check", str(EXAMPLES / "mazur.yaml"), str(sheet)]) == 0
    assert "verdict: correct" in capsys.readouterr().out


def test_errors_exit_2_without_traceback(tmp_path, capsys):
    assert main(["solve", str(tmp_path / "nope.yaml")]) == 2
    assert main(["solve", str(EXAMPLES / "mazur.yaml"), "--explain", "w42"]) == 2
    folder = tmp_path / "folder"
    folder.mkdir()
    assert (
        main(["solve", str(EXAMPLES / "mazur.yaml"), "--format", "html", "--out", str(folder)]) == 2
    )
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 3
