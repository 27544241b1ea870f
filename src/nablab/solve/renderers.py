"""Rendering a solution document: plain or rich text, Markdown with LaTeX, HTML with MathML,
and the JSON contract (built from the trace, not the document).

Headings and sentences are :class:`~nablab.i18n.Message` objects, rendered in the language in
force (``nablab.i18n.using("fa")``); a Persian page is right-to-left with a Persian font stack
while every equation stays left-to-right, and Persian digits (``--digits fa``) reach the prose
only, never a formula."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from nablab import i18n
from nablab.i18n import localized
from nablab.solve import expr
from nablab.solve.document import Document, Equation, Heading, Pair, Para
from nablab.solve.schema_help import FORMATS
from nablab.solve.trace import Trace

__all__ = ["FORMATS", "render", "to_html", "to_json", "to_markdown", "to_text"]


def equation_text(equation: Equation) -> str:
    parts = [expr.text(p) for p in equation.parts]
    if len(parts) == 1:
        return parts[0]
    return f"{parts[0]} {equation.relation} " + " = ".join(parts[1:])


def to_text(document: Document) -> str:
    """Plain Unicode text, one equation per line."""
    lines = [document.title, "=" * len(document.title), ""]
    for item in document.items:
        if isinstance(item, Heading):
            text = localized(item.text)
            lines += ["", text, "-" * len(text)]
        elif isinstance(item, Para):
            lines.append(localized(item.text))
        elif isinstance(item, Pair):
            for label, equation in zip(item.labels, item.equations, strict=True):
                shown = equation_text(equation) if equation is not None else "—"
                lines.append(f"  [{localized(label)}]  {shown}")
        else:
            lines.append("  " + equation_text(item))
    return "\n".join(lines) + "\n"


def print_rich(document: Document, console) -> None:
    """The text form with headings and values styled, for a terminal."""
    from rich.markup import escape as rich_escape
    from rich.rule import Rule

    console.print(Rule(f"[bold]{rich_escape(document.title)}"))
    for item in document.items:
        if isinstance(item, Heading):
            console.print()
            console.print(f"[bold cyan]{rich_escape(localized(item.text))}")
        elif isinstance(item, Para):
            console.print(f"[dim]{rich_escape(localized(item.text))}", soft_wrap=True)
        elif isinstance(item, Pair):
            for label, equation in zip(item.labels, item.equations, strict=True):
                shown = equation_text(equation) if equation is not None else "—"
                console.print(
                    f"  [bold]{rich_escape(localized(label))}[/bold]  {rich_escape(shown)}",
                    soft_wrap=True,
                )
        else:
            parts = [expr.text(p) for p in item.parts]
            body = (
                (
                    f"{parts[0]} {item.relation} "
                    + " = ".join(parts[1:-1])
                    + (" = " if len(parts) > 2 else "")
                )
                if len(parts) > 1
                else ""
            )
            result = parts[-1]
            console.print(f"  {rich_escape(body)}[bold green]{rich_escape(result)}", soft_wrap=True)


def _latex_equation(equation: Equation) -> str:
    parts = [expr.latex(p) for p in equation.parts]
    relation = r" \leftarrow " if equation.relation == "←" else " = "
    return parts[0] + (relation + " = ".join(parts[1:]) if len(parts) > 1 else "")


def to_markdown(document: Document) -> str:
    """Markdown with display math in $$ … $$ (LaTeX)."""
    lines = [f"# {document.title}", ""]
    for item in document.items:
        if isinstance(item, Heading):
            lines += [f"{'#' * item.level} {localized(item.text)}", ""]
        elif isinstance(item, Para):
            lines += [localized(item.text), ""]
        elif isinstance(item, Pair):
            for label, equation in zip(item.labels, item.equations, strict=True):
                shown = ["$$", _latex_equation(equation), "$$"] if equation is not None else ["—"]
                lines += [f"**{localized(label)}**", "", *shown, ""]
        else:
            lines += ["$$", _latex_equation(item), "$$", ""]
    return "\n".join(lines)


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #1f2328; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3rem; }
h2 { margin-top: 2rem; color: #0b5394; }
p { color: #57606a; margin: .6rem 0 .2rem; }
math { font-family: "STIX Two Math", "Latin Modern Math", "Cambria Math", "Noto Sans Math",
       "DejaVu Math TeX Gyre", math; font-size: 1.1rem; }
.eq { display: flex; flex-wrap: wrap; align-items: baseline; column-gap: .4em;
      overflow-x: auto; padding: .25rem 0 .25rem 1.5rem; }
.eq > math { white-space: nowrap; }
table.pair { width: 100%; border-collapse: collapse; }
table.pair td { width: 50%; vertical-align: top; border: 1px solid #d0d7de; padding: .3rem; }
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; }
  h2 { break-after: avoid; }
  .eq { overflow: visible; break-inside: avoid; padding-left: .5rem; }
  math { font-size: 9pt; }
}
"""


def _mathml_equation(equation: Equation) -> str:
    """One ``<math>`` per link of the chain (``lhs = formula``, ``= numbers``, ``= result``), so
    a long equation wraps between its links instead of running off the page."""
    parts = [expr.mathml(p) for p in equation.parts]
    relation = "<mo>←</mo>" if equation.relation == "←" else "<mo>=</mo>"
    links = [parts[0] + (relation + parts[1] if len(parts) > 1 else "")]
    links += ["<mo>=</mo>" + part for part in parts[2:]]
    return "".join(
        f'<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline" dir="ltr"><mrow>'
        f"{link}</mrow></math>"
        for link in links
    )


def _tex_equation(equation: Equation) -> str:
    """The equation as inline TeX for MathJax (``\\( … \\)``), HTML-escaped: what learning
    platforms (Moodle's MathJax filter, Canvas) render."""
    return escape(r"\(" + _latex_equation(equation) + r"\)", quote=False)


def _html_body(document: Document, math: str = "mathml", level: int = 1) -> list[str]:
    """Headings, sentences and equations (``math``: MathML, or TeX for a learning platform);
    the title is a heading of ``level`` and the document's headings one below it."""
    body = [f"<h{level}>{escape(document.title)}</h{level}>"]
    render = _mathml_equation if math == "mathml" else _tex_equation
    shift = level - 1
    for item in document.items:
        if isinstance(item, Heading):
            tag = f"h{min(item.level + shift, 6)}"
            body.append(f"<{tag}>{localized(item.text, html=True)}</{tag}>")
        elif isinstance(item, Para):
            body.append(f"<p>{localized(item.text, html=True)}</p>")
        elif isinstance(item, Pair):
            cells = "".join(
                f"<td><b>{localized(label, html=True)}</b>"
                f'<div class="eq" dir="ltr">{render(eq) if eq is not None else "—"}</div></td>'
                for label, eq in zip(item.labels, item.equations, strict=True)
            )
            body.append(f'<table class="pair"><tr>{cells}</tr></table>')
        else:
            key = f' id="{escape(item.key)}"' if item.key and math == "mathml" else ""
            body.append(f'<div class="eq" dir="ltr"{key}>{render(item)}</div>')
    return body


def html_page(title: str, body: str, css: str = _CSS) -> str:
    """A self-contained XHTML page in the language in force (``lang``, ``dir`` and, for
    Persian, its font stack)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
        f'<html xmlns="http://www.w3.org/1999/xhtml" {i18n.html_attributes()}>\n<head>\n'
        '<meta charset="utf-8"/>\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>\n'
        f"<title>{escape(title)}</title>\n<style>{css}{i18n.page_css()}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def to_html(document: Document) -> str:
    """One self-contained XHTML file; the math is MathML, so it renders offline."""
    return html_page(document.title, "\n".join(_html_body(document)))


def html_fragment(document: Document, math: str = "mathml", level: int = 1) -> str:
    """The solution as an HTML fragment (a notebook cell's output, a quiz question's text):
    the body of :func:`to_html` inside a ``<div>``, the math as MathML or as TeX."""
    return (
        f'<div class="nablab-solution" {i18n.html_attributes()}>'
        + "\n".join(_html_body(document, math, level))
        + "</div>"
    )


def to_json(trace: Trace) -> dict[str, Any]:
    """The JSON contract: steps with loss, values, grads, parameters and optimizer state."""
    steps = []
    for step in trace.steps:
        entry: dict[str, Any] = {
            "index": step.index,
            "samples": [s + 1 for s in step.samples],
            "loss": step.loss,
            "values": trace.values(step),
            "output_grads": trace.output_grads(step),
            "grads": step.grads,
            "params_before": step.params_before,
            "params_after": step.params_after,
            "state": {**step.state, "step": step.index},
        }
        if step.penalty:
            entry["data_loss"], entry["penalty"] = step.data_loss, step.penalty
        if step.update_grads is not None:
            entry["update_grads"] = step.update_grads
        steps.append(entry)
    return {
        "title": trace.exercise.title,
        "steps": steps,
        "final_loss": trace.final_loss,
        "params": trace.final_params,
    }


def render(trace: Trace, document: Document, fmt: str) -> str:
    if fmt == "text":
        return to_text(document)
    if fmt == "markdown":
        return to_markdown(document)
    if fmt == "html":
        return to_html(document)
    if fmt == "json":
        return json.dumps(to_json(trace), indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
