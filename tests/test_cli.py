"""The ``nablab`` command line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from nablab.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_demo_prints_the_gradient_table(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    assert (tmp_path / "mazur-solution.html").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "w5 ← w5 − η·∂E/∂w5 = 0.4 − 0.5·0.0821670406 = 0.35891648" in out
    accuracy = float(re.search(r"validation accuracy: ([\d.]+)%", out).group(1))
    assert accuracy >= 95.0
    assert "analytic" in out and "numerical" in out
    rows = re.findall(r"^(\d\.(?:weight|bias)\[[\d, ]+\])\s+(\S+)\s+(\S+)\s+(\S+)$", out, re.M)
    assert len(rows) == 2 * 3 + 3 + 3 * 2 + 2  # every scalar of the 2-3-2 network
    for _, analytic, numeric, rel in rows:
        assert abs(float(analytic) - float(numeric)) < 1e-8
        assert float(rel) < 1e-6


def test_unknown_command_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2


def test_bare_nablab_prints_help_and_version_works(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "usage: nablab" in out and "solve" in out and "train" in out
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert re.fullmatch(r"nablab \d+\.\d+\.\d+\n", capsys.readouterr().out)


def test_python_dash_m_nablab_runs_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "nablab", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("nablab ")


HEAVY = ("numba", "scipy", "matplotlib", "sklearn")


@pytest.mark.parametrize(
    ("code", "heavy"),
    [
        ("import nablab", (*HEAVY, "pydantic", "yaml", "rich")),
        ("import nablab; nablab.nn; nablab.optim; nablab.init", HEAVY),
        (
            "from nablab.cli import main\ntry:\n    main(['solve', '--help'])\n"
            "except SystemExit:\n    pass",
            (*HEAVY, "pydantic", "yaml"),
        ),
        (
            "from nablab.cli import main\nmain(['solve', 'examples/mazur.yaml', '--format', "
            "'json'])",
            ("numba", "matplotlib", "sklearn"),
        ),
    ],
    ids=["import", "engine", "solve-help", "solve"],
)
def test_start_up_imports_nothing_heavy(code, heavy):
    probe = f"import sys\n{code}\nprint(sorted(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_an_unexpected_exception_is_reported_as_a_bug(monkeypatch, capsys):
    import nablab.train.command as command

    def broken(*args, **kwargs):
        raise RuntimeError("something nablab did not expect")

    monkeypatch.setattr(command, "summary_command", broken)
    monkeypatch.delenv("NABLAB_RAISE")
    assert main(["summary", "--data", "moons"]) == 70
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: something nablab did not expect" in err
    assert "This is a bug in nablab" in err
    monkeypatch.setenv("NABLAB_RAISE", "1")
    with pytest.raises(RuntimeError):
        main(["summary", "--data", "moons"])


@pytest.mark.parametrize("fmt", [[], ["--format", "markdown"]])  # rich's console; print()
def test_a_reader_that_stops_early_ends_the_command_quietly(fmt):
    """``nablab solve ... | head`` (the reader closes the pipe): no traceback, no "internal
    error", exit code 1 (what rich's console does on a closed pipe)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nablab", "solve", str(ROOT / "examples" / "mazur.yaml"), *fmt],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # the reader is gone before the first line
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert stderr == ""
