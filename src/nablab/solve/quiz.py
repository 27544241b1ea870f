"""A set of variants as a quiz for a learning platform: Moodle XML and QTI 1.2 (Canvas).

Each asked quantity of each variant is one numerical question: its text is that variant's
exercise sheet (every given number, so the question stands alone) and which quantity to give;
its answer is the exact value with the checker's tolerance for an answer written with
``grading.decimals`` decimals (half a unit of the last decimal plus ``grading.rtol`` of the
value); its general feedback is the worked solution. Questions are grouped by asked quantity:
a Moodle category, a QTI section that picks one question. A quiz that takes one random
question from each group gives every student a different mix of networks. The mathematics is
TeX between ``\\(`` and ``\\)``, which Moodle's MathJax filter and Canvas render.

Moodle: Question bank → Import → Moodle XML format → the ``.xml`` file; then in the quiz,
Add → a random question, from each category under ``nablab/<title>``.
Canvas: Course settings → Import course content → QTI .zip file → the ``.zip``; the quiz
arrives with a question group per quantity, each picking one question.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Sequence
from xml.etree import ElementTree as ET

from nablab.i18n import M, localized
from nablab.solve.checker import Given, _tolerance
from nablab.solve.derive import solution_document
from nablab.solve.grade import asked_keys
from nablab.solve.names import Quantities
from nablab.solve.renderers import html_fragment
from nablab.solve.sheet import sheet_document
from nablab.solve.spec import Asked

PENALTY = "0.3333333"  # Moodle's default penalty for each wrong try


def tolerance(decimals: int, expected: float, rtol: float) -> float:
    """The checker's tolerance for an answer written with ``decimals`` decimals."""
    text = f"{expected:.{decimals}f}"
    given = Given("answer", text, float(text), 0.5 * 10.0**-decimals)
    return _tolerance(given, expected, rtol)


def questions(variant) -> list[dict]:
    """The numerical questions of one variant: name, key, value, tolerance, points, texts."""
    trace = variant.trace
    exercise = trace.exercise
    quantities = Quantities(trace)
    pairs = (
        asked_keys(exercise, quantities)
        if exercise.ask
        else [
            (Asked(name=s.name, points=exercise.grading.points), f"{s.name}@final")
            for s in trace.built.scalars
            if s.trainable
        ]
    )
    sheet = html_fragment(sheet_document(trace), math="tex", level=3)
    solution = html_fragment(solution_document(trace), math="tex", level=3)
    grading = exercise.grading
    out = []
    for item, key in pairs:
        value = float(quantities.value(key))
        prompt = M(
            "quiz.prompt",
            "Give {name} with {decimals} decimals.",
            name=item.name,
            decimals=grading.decimals,
        )
        out.append(
            {
                "name": item.name,
                "key": key,
                "value": value,
                "tolerance": tolerance(grading.decimals, value, grading.rtol),
                "points": float(item.points),
                "text": f"{sheet}<p><b>{localized(prompt, html=True)}</b></p>",
                "feedback": solution,
            }
        )
    return out


def _ident(*parts: str) -> str:
    return "i" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    ET.SubElement(element, "text").text = text
    return element


def _number(value: float) -> str:
    return repr(float(value))


def _grouped(variants: Sequence) -> dict[str, list[tuple[object, dict]]]:
    groups: dict[str, list[tuple[object, dict]]] = {}
    for variant in variants:
        for question in questions(variant):
            groups.setdefault(question["name"], []).append((variant, question))
    return groups


def moodle_xml(variants: Sequence) -> str:
    """The Moodle XML quiz: a category per asked quantity, a numerical question per variant."""
    title = variants[0].exercise.title
    quiz = ET.Element("quiz")
    for name, members in _grouped(variants).items():
        category = ET.SubElement(quiz, "question", {"type": "category"})
        _text(category, "category", f"$course$/top/nablab/{title}/{name}")
        _text(category, "info", "", format="html")
        for variant, q in members:
            question = ET.SubElement(quiz, "question", {"type": "numerical"})
            _text(question, "name", f"{name} ({variant.student})")
            _text(question, "questiontext", q["text"], format="html")
            _text(question, "generalfeedback", q["feedback"], format="html")
            ET.SubElement(question, "defaultgrade").text = _number(q["points"])
            ET.SubElement(question, "penalty").text = PENALTY
            ET.SubElement(question, "hidden").text = "0"
            ET.SubElement(question, "idnumber").text = f"nablab-{variant.student}-{q['key']}"
            answer = ET.SubElement(
                question, "answer", {"fraction": "100", "format": "moodle_auto_format"}
            )
            ET.SubElement(answer, "text").text = _number(q["value"])
            ET.SubElement(answer, "tolerance").text = _number(q["tolerance"])
            _text(answer, "feedback", "", format="html")
            ET.SubElement(question, "unitgradingtype").text = "0"
            ET.SubElement(question, "unitpenalty").text = "0.1000000"
            ET.SubElement(question, "showunits").text = "3"
            ET.SubElement(question, "unitsleft").text = "0"
    ET.indent(quiz)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(quiz, "unicode") + "\n"


# ----------------------------------------------------------------------------- QTI 1.2

QTI_NS = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
CP_NS = "http://www.imsglobal.org/xsd/imscp_v1p1"


def _field(metadata: ET.Element, label: str, entry: str) -> None:
    field = ET.SubElement(metadata, "qtimetadatafield")
    ET.SubElement(field, "fieldlabel").text = label
    ET.SubElement(field, "fieldentry").text = entry


def _material(parent: ET.Element, html: str) -> None:
    material = ET.SubElement(parent, "material")
    ET.SubElement(material, "mattext", {"texttype": "text/html"}).text = html


def _item(section: ET.Element, variant, q: dict) -> None:
    ident = _ident(variant.student, q["key"])
    item = ET.SubElement(
        section, "item", {"ident": ident, "title": f"{q['name']} ({variant.student})"}
    )
    metadata = ET.SubElement(ET.SubElement(item, "itemmetadata"), "qtimetadata")
    _field(metadata, "question_type", "numerical_question")
    _field(metadata, "points_possible", _number(q["points"]))
    presentation = ET.SubElement(item, "presentation")
    _material(presentation, q["text"])
    response = ET.SubElement(
        presentation, "response_str", {"ident": "response1", "rcardinality": "Single"}
    )
    fib = ET.SubElement(response, "render_fib", {"fibtype": "Decimal"})
    ET.SubElement(fib, "response_label", {"ident": "answer1"})
    processing = ET.SubElement(item, "resprocessing")
    outcomes = ET.SubElement(processing, "outcomes")
    ET.SubElement(
        outcomes,
        "decvar",
        {"maxvalue": "100", "minvalue": "0", "varname": "SCORE", "vartype": "Decimal"},
    )
    general = ET.SubElement(processing, "respcondition", {"continue": "Yes"})
    ET.SubElement(ET.SubElement(general, "conditionvar"), "other")
    ET.SubElement(
        general, "displayfeedback", {"feedbacktype": "Response", "linkrefid": "general_fb"}
    )
    condition = ET.SubElement(processing, "respcondition", {"continue": "No"})
    either = ET.SubElement(ET.SubElement(condition, "conditionvar"), "or")
    ET.SubElement(either, "varequal", {"respident": "response1"}).text = _number(q["value"])
    within = ET.SubElement(either, "and")
    low, high = q["value"] - q["tolerance"], q["value"] + q["tolerance"]
    ET.SubElement(within, "vargte", {"respident": "response1"}).text = _number(low)
    ET.SubElement(within, "varlte", {"respident": "response1"}).text = _number(high)
    ET.SubElement(condition, "setvar", {"action": "Set", "varname": "SCORE"}).text = "100"
    feedback = ET.SubElement(item, "itemfeedback", {"ident": "general_fb"})
    _material(ET.SubElement(feedback, "flow_mat"), q["feedback"])


def qti_assessment(variants: Sequence) -> tuple[str, str]:
    """(identifier, the QTI 1.2 ``questestinterop`` document)."""
    title = variants[0].exercise.title
    ident = _ident("assessment", title, *(v.student for v in variants))
    root = ET.Element("questestinterop", {"xmlns": QTI_NS})
    assessment = ET.SubElement(root, "assessment", {"ident": ident, "title": title})
    metadata = ET.SubElement(assessment, "qtimetadata")
    _field(metadata, "cc_maxattempts", "1")
    top = ET.SubElement(assessment, "section", {"ident": "root_section"})
    for name, members in _grouped(variants).items():
        section = ET.SubElement(top, "section", {"ident": _ident(ident, name), "title": name})
        selection = ET.SubElement(ET.SubElement(section, "selection_ordering"), "selection")
        ET.SubElement(selection, "selection_number").text = "1"
        ET.SubElement(selection, "selection_extension")
        for variant, q in members:
            _item(section, variant, q)
    ET.indent(root)
    return ident, '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def qti_manifest(ident: str) -> str:
    href = f"{ident}/{ident}.xml"
    root = ET.Element("manifest", {"identifier": f"{ident}_manifest", "xmlns": CP_NS})
    metadata = ET.SubElement(root, "metadata")
    ET.SubElement(metadata, "schema").text = "IMS Content"
    ET.SubElement(metadata, "schemaversion").text = "1.1.3"
    ET.SubElement(root, "organizations")
    resources = ET.SubElement(root, "resources")
    resource = ET.SubElement(
        resources, "resource", {"identifier": ident, "type": "imsqti_xmlv1p2", "href": href}
    )
    ET.SubElement(resource, "file", {"href": href})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def qti_package(variants: Sequence) -> bytes:
    """The QTI 1.2 package for Canvas: ``imsmanifest.xml`` and the assessment, zipped with
    fixed timestamps (the same variants give the same bytes)."""
    ident, assessment = qti_assessment(variants)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (
            ("imsmanifest.xml", qti_manifest(ident)),
            (f"{ident}/{ident}.xml", assessment),
        ):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()
