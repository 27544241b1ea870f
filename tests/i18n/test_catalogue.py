"""The message catalogues: every message of the code has a Persian translation with the same
arguments, and messages render in the language and digits in force."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from nablab import i18n
from nablab.i18n import Listing, M, localized, using
from nablab.i18n.catalogue import SOURCE, extract, problems

CALL = re.compile(r"(?<![\w.])M\(\s*\"")


def test_every_message_has_a_persian_translation():
    assert problems("fa") == []


def test_every_message_call_in_the_source_is_extracted():
    """A message built inside an f-string (or with a computed id) escapes extraction and would
    stay English in Persian output: each ``M("…`` of the source must be found."""
    extracted = Counter(e.where.split(":")[0] for e in extract() if ":" in e.where)
    for path in sorted(SOURCE.rglob("*.py")):
        if path.parent.name == "i18n":
            continue  # M's own module: its docstrings show examples
        written = len(CALL.findall(path.read_text(encoding="utf-8")))
        name = "nablab/" + str(path.relative_to(SOURCE))
        assert extracted.get(name, 0) == written, name


def test_the_catalogue_has_more_than_the_solution_texts():
    ids = {e.id for e in extract()}
    for prefix in ("solve.", "check.", "grade.", "variants.", "mistake.", "diagnostics.", "lab."):
        assert any(i.startswith(prefix) for i in ids), prefix


def test_a_message_renders_in_english_and_in_persian():
    message = M("check.verdict", "verdict: {verdict}", verdict=M("verdict.correct", "correct"))
    assert message == "verdict: correct"  # as a str it is the English text
    with using("fa"):
        assert localized(message) == "نتیجه: درست"
        assert str(message) == "verdict: correct"
    assert localized(message) == "verdict: correct"


def test_persian_digits_reach_numbers_in_prose_and_never_names():
    message = M(
        "solve.heading.update", "Step {step}: update ({optimizer})", step=12, optimizer="w5"
    )
    with using("fa", "fa"):
        text = localized(message)
    assert "۱۲" in text and "w5" in text and "12" not in text
    with using("fa"):
        assert "12" in localized(message)
    assert i18n.persian_digits("-0.25%") == "-۰٫۲۵٪"


def test_html_escapes_and_isolates_arguments_in_right_to_left_pages():
    message = M("grade.unreadable", "{student}: not graded: {error}", student="a<b", error="x&y")
    assert localized(message, html=True) == "a&lt;b: not graded: x&amp;y"
    with using("fa"):
        html = localized(message, html=True)
    assert '<bdi dir="ltr">a&lt;b</bdi>' in html and "نمره‌دهی نشد" in html


def test_lists_take_the_persian_separator():
    message = M("solve.loss.sample_class", "sample {sample}: class {label}", sample=1, label=2)
    listing = M(
        "solve.loss.classes",
        "and E sums −ln p of each sample's class ({classes}):",
        classes=Listing([message, message]),
    )
    with using("fa"):
        assert "، " in localized(listing)
    assert "sample 1: class 2, sample 1: class 2" in listing


def test_unknown_languages_are_refused():
    with pytest.raises(ValueError, match="unknown language 'de'"), using("de"):
        pass


def test_the_compiled_catalogue_is_the_po_file(tmp_path):
    po = Path(i18n.LOCALE_DIR, "fa", "LC_MESSAGES", "nablab.po")
    mo = po.with_suffix(".mo")
    assert mo.exists()  # compiled when the test session starts, as the build does
    assert mo.read_bytes() == i18n._compile(po)
