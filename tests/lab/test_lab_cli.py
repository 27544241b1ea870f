"""``nablab lab``, ``lab show``, ``lab run`` and the notebook rendered in a real browser."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from nablab import lab
from nablab.cli import main
from nablab.lab.report import notebook_html


def test_lab_lists_every_experiment_by_topic(capsys):
    assert main(["lab"]) == 0
    out = capsys.readouterr().out
    assert "Optimization" in out
    for entry in lab.EXPERIMENTS.entries():
        assert entry.name in out


def test_lab_show_prints_the_claim_and_every_parameter(capsys):
    assert main(["lab", "show", "stability-limits"]) == 0
    out = capsys.readouterr().out
    assert "claim: Gradient descent on L = wᵀHw converges exactly" in out
    assert "steps: in [20, 5000] (default 300)" in out and "(quick: 150)" in out


def test_lab_run_writes_figures_numbers_and_report(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "lab",
                "run",
                "adam-bias-correction",
                "--quick",
                "--set",
                "steps=12",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    names = sorted(p.name for p in out.iterdir())
    assert names == ["figure.png", "figure.svg", "report.html", "result.json"]
    result = json.loads((out / "result.json").read_text())
    assert result["verdict"] == "holds" and result["params"]["steps"] == 12
    report = (out / "report.html").read_text()
    assert "nablab lab run adam-bias-correction --quick --set steps=12" in report
    assert report.count("data:image/png;base64,") == 1
    first = (out / "figure.png").read_bytes()
    main(["lab", "run", "adam-bias-correction", "--quick", "--set", "steps=12", "--out", str(out)])
    assert (out / "figure.png").read_bytes() == first  # deterministic bytes


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["lab", "run", "adam-bias"], "unknown experiment 'adam-bias' (did you mean"),
        (["lab", "run", "newton", "--set", "steps"], "--set expects name=value"),
        (["lab", "run", "newton", "--set", "steps=many"], "--set steps: expected a number"),
        (["lab", "run", "newton", "--set", "steps=1"], "steps must be in [3, 100], got 1"),
        (["lab", "run"], "give one experiment NAME or --all"),
        (["lab", "show", "newtn"], "did you mean 'newton'"),
    ],
)
def test_bad_lab_commands_get_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium package is not installed (CI installs it; apt-get install chromium)",
)
def test_the_notebook_renders_its_figures_in_headless_chromium(tmp_path):
    import numpy as np
    from PIL import Image

    results = [lab.run("adam-bias-correction", quick=True), lab.run("newton", quick=True)]
    page = tmp_path / "notebook.html"
    page.write_text(notebook_html(results, lab.TOPICS), encoding="utf-8")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--hide-scrollbars",
            "--window-size=1200,2600",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape == (2600, 1200, 3)
    # the figures: rows of the page whose pixels take many colours (a blank or missing image
    # is one flat colour, text a few)
    packed = pixels[::10].astype(np.int64) @ np.array([65536, 256, 1])
    rich_rows = sum(len(np.unique(row)) > 12 for row in packed)
    assert rich_rows > 60, rich_rows


def test_lab_run_all_writes_a_notebook_and_a_folder_per_experiment(tmp_path, monkeypatch, capsys):
    from nablab.lab import command

    chosen = [lab.EXPERIMENTS["adam-bias-correction"], lab.EXPERIMENTS["newton"]]
    monkeypatch.setattr(command, "ordered", lambda: chosen)
    assert main(["lab", "run", "--all", "--quick", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "adam-bias-correction",
        "newton",
        "notebook.html",
    ]
    page = (tmp_path / "notebook.html").read_text()
    assert page.count('<h2 id="') == 2 and "2 experiments; the claim held in 2." in page
    assert main(["lab", "run", "--all", "--set", "steps=3"]) == 2
