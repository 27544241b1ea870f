"""Persian output: right-to-left HTML with a Persian font stack, the mathematics left-to-right,
Persian digits in prose only; rendered in headless Chromium to check the page's direction and
that the MathML lays out (a fraction's numerator above its denominator)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from nablab.cli import main
from nablab.i18n import PERSIAN_FONTS, using
from nablab.solve import run, solution_document, to_html
from nablab.solve.grade import grade_sheets, read_sheets
from nablab.solve.grade_report import class_html

from helpers.solve_helpers import EXAMPLES, example

PERSIAN_DIGIT = re.compile("[۰-۹]")


def _persian_solution(digits: str = "fa") -> str:
    with using("fa", digits):
        return to_html(solution_document(run(example("mazur"))))


def test_the_persian_page_is_right_to_left_with_the_math_left_to_right():
    page = _persian_solution()
    assert '<html xmlns="http://www.w3.org/1999/xhtml" lang="fa" dir="rtl">' in page
    assert PERSIAN_FONTS in page and "direction: rtl" in page
    assert page.count("<math ") == page.count(
        '<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline" dir="ltr">'
    )
    assert 'گام <bdi dir="ltr">۱</bdi>: گذر رو به جلو' in page


def test_persian_digits_reach_the_prose_and_never_the_formulas():
    page = _persian_solution()
    formulas = re.findall(r"<math.*?</math>", page, re.S)
    assert formulas and not any(PERSIAN_DIGIT.search(f) for f in formulas)
    marked = re.findall(r'<bdi dir="ltr" class="math">(.*?)</bdi>', page)
    assert marked and not any(PERSIAN_DIGIT.search(m) for m in marked)
    prose = re.sub(r"<math.*?</math>", "", page, flags=re.S)
    assert PERSIAN_DIGIT.search(prose)
    assert not PERSIAN_DIGIT.search(_persian_solution(digits="latin"))


def test_the_commands_take_lang_and_digits(tmp_path, capsys):
    out = tmp_path / "solution.html"
    assert main(["solve", str(EXAMPLES / "mazur.yaml"), "--lang", "fa", "--out", str(out)]) == 0
    assert 'lang="fa" dir="rtl"' in out.read_text(encoding="utf-8")
    answers = str(EXAMPLES / "answers" / "mazur_student.yaml")
    assert main(["check", str(EXAMPLES / "mazur.yaml"), answers, "--lang", "fa"]) == 1
    printed = capsys.readouterr().out
    assert "نتیجه: نادرست" in printed and "missing_activation_derivative" in printed
    with pytest.raises(SystemExit) as raised:
        main(["check", str(EXAMPLES / "mazur.yaml"), answers, "--lang", "de"])
    assert raised.value.code == 2


def test_the_grade_report_is_persian_too():
    grades = grade_sheets(
        read_sheets([EXAMPLES / "answers" / "mazur_student.yaml"]), example("mazur")
    )
    with using("fa", "fa"):
        page = class_html(grades)
    assert 'lang="fa" dir="rtl"' in page and "توزیع نمره‌ها" in page and "دانشجو" in page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Measured in the page after it has laid out, written into the DOM for --dump-dom to read.
PROBE = """<script>
window.addEventListener("load", () => {
  const box = e => e.getBoundingClientRect();
  const body = document.body, heading = document.querySelector("h2");
  const math = [...document.querySelectorAll("math")];
  const frac = document.querySelector("mfrac");
  const prose = document.querySelector("p");
  const result = {
    body: getComputedStyle(body).direction,
    math: [...new Set(math.map(m => getComputedStyle(m).direction))],
    mathWidths: math.slice(0, 20).map(m => box(m).width),
    headingGapRight: box(body).right - box(heading).right,
    headingGapLeft: box(heading).left - box(body).left,
    headingTextLeft: (() => { const r = document.createRange();
      r.selectNodeContents(heading); return r.getBoundingClientRect().left - box(body).left; })(),
    numeratorAbove: box(frac.children[0]).bottom <= box(frac.children[1]).top + 1,
    fracNarrow: box(frac).width < box(frac.children[0]).width + box(frac.children[1]).width,
    prose: getComputedStyle(prose).direction,
  };
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


def _chromium(tmp_path, *flags: str, page) -> subprocess.CompletedProcess:
    return subprocess.run(
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
            "--window-size=1000,1400",
            *flags,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium package is not installed (CI installs it; apt-get install chromium)",
)
def test_the_persian_solution_renders_right_to_left_in_headless_chromium(tmp_path):
    from PIL import Image

    html = _persian_solution()
    page = tmp_path / "solution.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={shot}", page=page)
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (1400, 1000)
    ink = pixels < 128
    columns = np.flatnonzero(ink[90:160].any(axis=0))  # the first step's heading
    assert columns.size and columns.max() > 900 and columns.min() > 300  # set to the right

    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _chromium(tmp_path, "--dump-dom", "--virtual-time-budget=5000", page=probed).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-500:]
    layout = json.loads(found.group(1).replace("&quot;", '"'))
    assert layout["body"] == "rtl" and layout["prose"] == "rtl"
    assert layout["math"] == ["ltr"]
    assert min(layout["mathWidths"]) > 20  # every formula laid out, none empty
    # the heading's text sits at the right edge of the body (within its 1rem padding)
    assert layout["headingGapRight"] <= 16.5 and layout["headingTextLeft"] > 300
    assert layout["numeratorAbove"] and layout["fracNarrow"]  # MathML fractions are stacked
