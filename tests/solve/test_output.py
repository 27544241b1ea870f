"""Output you can hand out: HTML for screen and print, Markdown LaTeX in ASCII, clean numbers,
files with normal permissions, the format from the file's extension."""

from __future__ import annotations

import re
import stat

import pytest

from nablab.cli import main
from nablab.solve import load_exercise, render, run, solution_document
from nablab.solve.document import Equation
from nablab.solve.expr import Mul, Num, Sub, latex, num, text
from nablab.solve.writers.base import UnsupportedError, Writer
from nablab.solve.writers.forward import FORWARD
from nablab.solve.writers.update import UPDATES

from helpers.solve_helpers import EXAMPLES, example

NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


def _document(name: str):
    trace = run(load_exercise(EXAMPLES / f"{name}.yaml"))
    return trace, solution_document(trace)


def test_html_declares_a_math_font_and_print_styles():
    trace, document = _document("batchnorm_dropout")
    html = render(trace, document, "html")
    assert re.search(r'math \{ font-family: "STIX Two Math".*math;', html, re.S)
    assert "@media print" in html and "break-inside: avoid" in html
    # a long equation is split between its links, so it wraps instead of being cut off
    first = html.index('id="grad(z1_1[1])@1"')
    block = html[first : html.index("</div>", first)]
    assert block.count("<math ") == 3


@pytest.mark.parametrize("name", NAMES)
def test_markdown_math_is_ascii(name):
    trace, document = _document(name)
    markdown = render(trace, document, "markdown")
    maths = re.findall(r"^\$\$\n(.*?)\n\$\$$", markdown, re.M | re.S)
    assert maths
    for body in maths:
        assert body.isascii(), [c for c in body if not c.isascii()]


def test_numbers_print_cleanly():
    assert text(Sub(num(0.5), num(-1.5))) == "0.5 − (−1.5)"
    assert text(Mul((num(-0.25), num(2)))) == "(−0.25)·2"
    assert text(num(-0.0)) == "0" and text(num(-0.0) * num(3)) == "0·3"
    assert latex(Sub(num(0.5), num(-1.5))) == r"0.5 - \left(-1.5\right)"
    assert latex(num(-2.5e-7)) == r"-2.5 \times 10^{-7}"


def test_a_result_below_1e_12_of_its_terms_is_shown_as_zero_with_a_note():
    trace = run(example("mazur"))
    writer = Writer(trace)
    writer.step = trace.steps[0]
    terms = num(0.1) + num(0.2) + num(-0.3)
    writer.eq(num(1), terms, Num(5.551115123125783e-17), key="w5@1")
    equation, note = writer.items
    assert isinstance(equation, Equation) and equation.parts[-1].value == 0
    assert "5.55e-17" in note.text and "shown as 0" in note.text
    writer.items.clear()
    writer.eq(num(1), terms, Num(1e-9), key="w5@1")  # not rounding error: kept
    assert len(writer.items) == 1 and writer.items[0].parts[-1].value == 1e-9


def test_unsupported_modules_and_options_are_clear_errors():
    with pytest.raises(UnsupportedError, match="worked solutions do not support object in"):
        FORWARD.lookup(object())
    with pytest.raises(UnsupportedError, match="do not support str in the update yet"):
        UPDATES.lookup("x")
    exercise = example("mazur", optimizer={"type": "sgd", "lr": 0.5, "centralize": "update"})
    with pytest.raises(UnsupportedError, match="centralize: update"):
        solution_document(run(exercise))
    assert main(["solve", str(EXAMPLES / "mazur.yaml"), "--format", "json"]) == 0


@pytest.mark.parametrize(
    ("suffix", "marker"),
    [(".html", "<math"), (".md", "$$"), (".json", '"steps"'), (".txt", "Step 1")],
)
def test_out_extension_picks_the_format_and_files_are_0644(tmp_path, capsys, suffix, marker):
    out = tmp_path / f"solution{suffix}"
    assert main(["solve", str(EXAMPLES / "mazur.yaml"), "--out", str(out)]) == 0
    assert marker in out.read_text(encoding="utf-8")
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_verify_flag_and_names_flag(capsys):
    assert (
        main(["solve", str(EXAMPLES / "nesterov_lookahead.yaml"), "--verify", "--format", "json"])
        == 0
    )
    captured = capsys.readouterr()
    assert re.search(r"verified: all \d+ equations hold", captured.err)
    assert main(["solve", str(EXAMPLES / "batchnorm_dropout.yaml"), "--names"]) == 0
    listing = capsys.readouterr().out
    for name in ("gamma1[1]@0", "xhat(z1_1[2])@1", "r(W2[1,1])@2", "grad(a2_1[3])@1", "E@final"):
        assert f"  {name} " in listing, name
