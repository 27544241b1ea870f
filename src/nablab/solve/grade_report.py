"""The grade report as HTML: the class (scores, their distribution, the answers most often
wrong, the commonest mistakes) and a page per student that can be handed back (printed, each
student's page starts a new sheet of paper; also written one file per student)."""

from __future__ import annotations

from html import escape

from nablab.i18n import M, localized, number
from nablab.solve.commands import STATUS, explanation_line, verdict_text
from nablab.solve.grade import ClassGrades, StudentGrade
from nablab.solve.mistakes import MISTAKES
from nablab.solve.renderers import _CSS, _mathml_equation, html_page

CSS = (
    _CSS
    + """
table { border-collapse: collapse; margin: .5rem 0 1rem; }
td, th { border: 1px solid #d0d7de; padding: .2rem .6rem; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #0b6e2e; } .wrong { color: #b3261e; font-weight: bold; }
.partial, .rounding { color: #8a5a00; } .missing { color: #57606a; }
.bar { display: inline-block; height: .8rem; background: #0072B2; vertical-align: middle; }
section.student { break-before: page; border-top: 2px solid #d0d7de; margin-top: 2rem; }
@media print { section.student { border-top: none; margin-top: 0; } }
"""
)

_DESCRIPTIONS = {m.id: m.description for m in MISTAKES}


LABELS = {
    "grade.heading.distribution": M("grade.heading.distribution", "Score distribution"),
    "grade.column.score": M("grade.column.score", "score"),
    "grade.column.students": M("grade.column.students", "students"),
    "grade.heading.most_wrong": M("grade.heading.most_wrong", "Answers most often wrong"),
    "grade.column.quantity": M("grade.column.quantity", "quantity"),
    "grade.column.wrong": M("grade.column.wrong", "wrong"),
    "grade.column.missing": M("grade.column.missing", "not answered"),
    "grade.heading.mistakes": M("grade.heading.mistakes", "Commonest mistakes"),
    "grade.column.mistake": M("grade.column.mistake", "mistake"),
    "grade.column.meaning": M("grade.column.meaning", "what it means"),
    "grade.heading.students": M("grade.heading.students", "Students"),
    "grade.column.student": M("grade.column.student", "student"),
    "grade.column.verdict": M("grade.column.verdict", "verdict"),
    "grade.column.first_wrong": M("grade.column.first_wrong", "first wrong value"),
}


def _student_heading(student: str):
    return M("grade.student.heading", "Student {student}", student=student)


def _t(message) -> str:
    return localized(message, html=True)


def _student_section(s: StudentGrade, standalone: bool = False) -> str:
    tag = "div" if standalone else "section"
    parts = [
        f'<{tag} class="student" id="student-{escape(s.student)}">',
        f"<h2>{_t(_student_heading(s.student))}</h2>",
    ]
    if s.error is not None:
        unreadable = M(
            "grade.student.unreadable", "This sheet could not be graded: {error}", error=s.error
        )
        parts.append(f"<p>{_t(unreadable)}</p>")
        return "".join(parts) + f"</{tag}>"
    parts.append(
        "<p>"
        + _t(
            M(
                "grade.student.score",
                "Score {score:g} of {total:g} ({percent:.0f}%); verdict: {verdict}.",
                score=s.score,
                total=s.total,
                percent=s.percent,
                verdict=verdict_text(s.verdict),
            )
        )
        + "</p>"
    )
    head = [
        M("grade.column.quantity", "quantity"),
        M("grade.column.written", "written"),
        M("grade.column.exact", "exact"),
        M("grade.column.tolerance", "tolerance"),
        M("grade.column.result", "result"),
        M("grade.column.points", "points"),
    ]
    rows = []
    for m in s.marks:
        exact = "" if m.expected is None else f"{m.expected:.10g}"
        tolerance = "" if m.tolerance is None else f"±{m.tolerance:.2g}"
        rows.append(
            f'<tr><td dir="ltr">{escape(m.name)}</td><td class="n" dir="ltr">'
            f'{escape(m.written)}</td><td class="n" dir="ltr">{exact}</td>'
            f'<td class="n" dir="ltr">{tolerance}</td>'
            f'<td class="{m.status}">{_t(STATUS[m.status])}</td>'
            f'<td class="n">{escape(number(m.earned, "g"))} / {escape(number(m.points, "g"))}'
            "</td></tr>"
        )
    unknown = [r for r in (s.report.results if s.report else []) if r.status == "unknown"]
    parts.append(
        "<table><thead><tr>"
        + "".join(
            f"<th{' class=n' if i in (1, 2, 3, 5) else ''}>{_t(h)}</th>" for i, h in enumerate(head)
        )
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )
    if unknown:
        parts.append(
            "<p>"
            + _t(
                M(
                    "grade.student.unknown",
                    "Not graded (unknown names): {names}",
                    names=", ".join(r.name for r in unknown),
                )
            )
            + "</p>"
        )
    report = s.report
    if report is not None and report.first_divergence:
        first = report.first_divergence
        parts.append(
            "<p>"
            + _t(
                M(
                    "grade.student.first_wrong",
                    "The first wrong value in the order of computation is {name}: written "
                    "{given}, exact {expected}. It is computed as:",
                    name=first["name"],
                    given=f"{first['given']:.10g}",
                    expected=f"{first['expected']:.10g}",
                )
            )
            + "</p>"
        )
        if s.first_formula is not None:
            parts.append(f'<div class="eq" dir="ltr">{_mathml_equation(s.first_formula)}</div>')
    if report is not None and report.explanations:
        parts.append(
            "<p>"
            + _t(M("grade.student.explained", "What reproduces the wrong numbers:"))
            + "</p><ul>"
            + "".join(f"<li>{escape(explanation_line(e))}</li>" for e in report.explanations[:3])
            + "</ul>"
        )
    elif report is not None and report.verdict == "incorrect":
        parts.append(
            "<p>"
            + _t(M("check.unexplained", "no known mistake reproduces these numbers."))
            + "</p>"
        )
    return "".join(parts) + f"</{tag}>"


def _summary(grades: ClassGrades) -> str:
    summary = grades.summary()
    parts = [
        f"<h1>{escape(grades.title)}</h1>",
        "<p>"
        + _t(
            M(
                "grade.summary.count",
                "{students} sheets: {graded} graded, {unreadable} unreadable",
                students=summary["students"],
                graded=summary["graded"],
                unreadable=summary["unreadable"],
            )
        )
        + "</p>",
    ]
    if summary["mean"] is not None:
        parts.append(
            "<p>"
            + _t(
                M(
                    "grade.summary.scores",
                    "score out of {total:g}: mean {mean:.2f}, median {median:g}, lowest {low:g}, "
                    "highest {high:g}",
                    total=summary["total"],
                    mean=summary["mean"],
                    median=summary["median"],
                    low=summary["min"],
                    high=summary["max"],
                )
            )
            + "</p>"
        )
        most = max(b["students"] for b in summary["distribution"]) or 1
        rows = "".join(
            f'<tr><td class="n">{escape(number(b["from"]))}–{escape(number(b["to"]))}%</td>'
            f'<td class="n">{escape(number(b["students"]))}</td>'
            f'<td><span class="bar" style="width:{12 * b["students"] / most:.2f}rem"></span></td>'
            "</tr>"
            for b in summary["distribution"]
        )
        parts.append(
            f"<h2>{_t(LABELS['grade.heading.distribution'])}</h2>"
            f"<table><thead><tr><th>{_t(LABELS['grade.column.score'])}</th>"
            f"<th class=n>{_t(LABELS['grade.column.students'])}</th><th></th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    if summary["most_wrong"]:
        rows = "".join(
            f'<tr><td dir="ltr">{escape(w["name"])}</td><td class="n">'
            f'{escape(number(w["wrong"]))}</td><td class="n">{escape(number(w["missing"]))}'
            "</td></tr>"
            for w in summary["most_wrong"]
        )
        parts.append(
            f"<h2>{_t(LABELS['grade.heading.most_wrong'])}</h2>"
            f"<table><thead><tr><th>{_t(LABELS['grade.column.quantity'])}</th>"
            f"<th class=n>{_t(LABELS['grade.column.wrong'])}</th>"
            f"<th class=n>{_t(LABELS['grade.column.missing'])}</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    if summary["mistakes"]:
        rows = "".join(
            f"<tr><td><code>{escape(m['id'])}</code></td><td>"
            + (
                " + ".join(
                    _t(_DESCRIPTIONS[part]) if part in _DESCRIPTIONS else escape(part)
                    for part in m["id"].split("+")
                )
            )
            + f'</td><td class="n">{escape(number(m["students"]))}</td></tr>'
            for m in summary["mistakes"]
        )
        parts.append(
            f"<h2>{_t(LABELS['grade.heading.mistakes'])}</h2>"
            f"<table><thead><tr><th>{_t(LABELS['grade.column.mistake'])}</th>"
            f"<th>{_t(LABELS['grade.column.meaning'])}</th>"
            f"<th class=n>{_t(LABELS['grade.column.students'])}</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    rows = "".join(
        f'<tr><td><a href="#student-{escape(s.student)}">{escape(s.student)}</a></td>'
        f'<td class="n">{escape(number(s.score, "g"))}</td>'
        f"<td>{escape(verdict_text(s.verdict))}</td>"
        f'<td dir="ltr">{escape(s.first_wrong)}</td>'
        f"<td><code>{escape(s.mistake['id']) if s.mistake else ''}</code></td></tr>"
        for s in grades.students
    )
    parts.append(
        f"<h2>{_t(LABELS['grade.heading.students'])}</h2><table><thead><tr>"
        f"<th>{_t(LABELS['grade.column.student'])}</th>"
        f"<th class=n>{_t(LABELS['grade.column.score'])}</th>"
        f"<th>{_t(LABELS['grade.column.verdict'])}</th>"
        f"<th>{_t(LABELS['grade.column.first_wrong'])}</th>"
        f"<th>{_t(LABELS['grade.column.mistake'])}</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    return "".join(parts)


def class_html(grades: ClassGrades) -> str:
    """The class summary, then every student's page."""
    body = _summary(grades) + "".join(_student_section(s) for s in grades.students)
    return html_page(grades.title, body, CSS)


def student_html(grades: ClassGrades, student: StudentGrade) -> str:
    """One student's page, to hand back."""
    heading = f"<h1>{escape(grades.title)}</h1>"
    return html_page(
        f"{grades.title}: {student.student}",
        heading + _student_section(student, standalone=True),
        CSS,
    )
