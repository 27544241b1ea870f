"""The ``nablab`` command line."""

from __future__ import annotations

import re

import pytest

from nablab.cli import main


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
