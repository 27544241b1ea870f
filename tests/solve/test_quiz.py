"""The quiz exports, parsed back with lxml and read as Moodle's and Canvas's importers read
them: numerical questions whose tolerance is the checker's, the worked solution as feedback."""

from __future__ import annotations

import io
import zipfile

import lxml.etree
import lxml.html
import pytest

from nablab.solve.checker import check, parse_answers
from nablab.solve.quiz import moodle_xml, qti_package, tolerance
from nablab.solve.variants import draw_variant, parse_template

from helpers.variant_templates import MAZUR

QTI = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"
CP = "{http://www.imsglobal.org/xsd/imscp_v1p1}"


@pytest.fixture(scope="module")
def variants():
    data = dict(MAZUR, grading={"decimals": 3, "rtol": 1e-3, "points": 2})
    template = parse_template(data)
    return [draw_variant(template, 11, s) for s in ("s01", "s02", "s03")]


def _expected(variant) -> dict[str, float]:
    from nablab.solve.grade import asked_keys
    from nablab.solve.names import Quantities

    quantities = Quantities(variant.trace)
    return {a.name: float(quantities.value(k)) for a, k in asked_keys(variant.exercise, quantities)}


def test_the_tolerance_is_the_checkers_for_the_asked_decimals(variants):
    """The exported tolerance is the one the checker uses for an answer written with the asked
    decimals (half a unit of the last decimal plus rtol of the value)."""
    exercise = variants[0].exercise
    for name, value in _expected(variants[0]).items():
        band = tolerance(3, value, 1e-3)
        assert band == pytest.approx(5e-4 + 1e-3 * abs(value), rel=1e-12)
        report = check(exercise, parse_answers({name: f"{value:.3f}"}), rtol=1e-3)
        assert report.results[0].tolerance == band


def test_the_moodle_xml_is_what_moodles_importer_reads(variants):
    root = lxml.etree.fromstring(moodle_xml(variants).encode("utf-8"))
    assert root.tag == "quiz"
    questions = root.findall("question")
    categories = [q for q in questions if q.get("type") == "category"]
    numerical = [q for q in questions if q.get("type") == "numerical"]
    assert {q.get("type") for q in questions} == {"category", "numerical"}
    assert [c.findtext("category/text") for c in categories] == [
        f"$course$/top/nablab/{MAZUR['title']}/{name}" for name in MAZUR["ask"]
    ]
    assert len(numerical) == len(variants) * len(MAZUR["ask"])
    for variant in variants:
        expected = _expected(variant)
        mine = [q for q in numerical if q.findtext("name/text").endswith(f"({variant.student})")]
        assert [q.findtext("name/text").rsplit(" (", 1)[0] for q in mine] == list(expected)
        for question in mine:
            name = question.findtext("name/text").rsplit(" (", 1)[0]
            assert question.find("questiontext").get("format") == "html"
            assert float(question.findtext("defaultgrade")) == 2.0
            (answer,) = question.findall("answer")
            assert answer.get("fraction") == "100"
            assert float(answer.findtext("text")) == expected[name]
            assert float(answer.findtext("tolerance")) == tolerance(3, expected[name], 1e-3)
            text = lxml.html.fromstring(question.findtext("questiontext/text"))
            weights = variant.data["layers"][0]["weights"]
            assert f"{weights[0][0]:g}".replace("-", "") in text.text_content()
            assert f"Give {name} with 3 decimals" in text.text_content()
            feedback = lxml.html.fromstring(question.findtext("generalfeedback/text"))
            assert "backward pass" in feedback.text_content()
            assert "\\(" in feedback.text_content()  # TeX for the platform's MathJax


def test_the_qti_package_is_what_canvas_imports(variants):
    data = qti_package(variants)
    assert data == qti_package(variants)  # the same variants give the same bytes
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = lxml.etree.fromstring(archive.read("imsmanifest.xml"))
        (resource,) = manifest.iter(f"{CP}resource")
        assert resource.get("type") == "imsqti_xmlv1p2"
        assessment = lxml.etree.fromstring(archive.read(resource.get("href")))
    sections = assessment.findall(f"{QTI}assessment/{QTI}section/{QTI}section")
    assert [s.get("title") for s in sections] == MAZUR["ask"]
    expected = {v.student: _expected(v) for v in variants}
    for section in sections:
        assert section.findtext(f".//{QTI}selection_number") == "1"
        items = section.findall(f"{QTI}item")
        assert len(items) == len(variants)
        for item in items:
            fields = {
                f.findtext(f"{QTI}fieldlabel"): f.findtext(f"{QTI}fieldentry")
                for f in item.iter(f"{QTI}qtimetadatafield")
            }
            assert fields == {"question_type": "numerical_question", "points_possible": "2.0"}
            student = item.get("title").rsplit(" (", 1)[1].rstrip(")")
            value = expected[student][section.get("title")]
            band = tolerance(3, value, 1e-3)
            assert float(item.findtext(f".//{QTI}varequal")) == value
            assert float(item.findtext(f".//{QTI}vargte")) == value - band
            assert float(item.findtext(f".//{QTI}varlte")) == value + band
            assert item.find(f".//{QTI}render_fib").get("fibtype") == "Decimal"
            feedback = item.find(f"{QTI}itemfeedback").get("ident")
            links = [d.get("linkrefid") for d in item.iter(f"{QTI}displayfeedback")]
            assert links == [feedback]
