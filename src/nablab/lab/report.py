"""A result as files: figures (PNG and SVG), ``result.json`` and an offline ``report.html``;
and every result in one offline HTML lab notebook with an index."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from nablab import i18n
from nablab._io import write_atomic
from nablab.i18n import M, localized
from nablab.lab.experiment import Result

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 60rem;
       margin: 2rem auto; padding: 0 1rem; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.3rem; margin-top: 2.5rem; }
.claim { font-style: italic; }
.verdict { padding: .5rem .8rem; border-left: 4px solid #0072B2; background: #f3f7fb; }
.verdict.no { border-color: #D55E00; background: #fbf3ef; }
.verdict.part { border-color: #E69F00; background: #fdf8ee; }
img { max-width: 100%; height: auto; display: block; margin: 1rem 0; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
td, th { border: 1px solid #ccc; padding: .2rem .5rem; text-align: left; vertical-align: top; }
code { background: #f2f2f2; padding: .1rem .3rem; }
"""


def figure_names(result: Result) -> list[str]:
    return ["figure" if i == 0 else f"figure-{i + 1}" for i in range(len(result.figures))]


def _flatten(prefix: str, value: Any, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, rows)
    elif isinstance(value, list) and len(value) > 12:
        rows.append((prefix, f"{len(value)} values (in result.json)"))
    else:
        if isinstance(value, float):
            text = f"{value:.6g}"
        elif isinstance(value, list):
            text = ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value)
        else:
            text = str(value)
        rows.append((prefix, text))


def _table(mapping: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = []
    _flatten("", mapping, rows)
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def result_html(result: Result, level: int = 1, anchor: str | None = None) -> str:
    """The result as an HTML fragment: claim, verdict, figures, numbers, parameters, command."""
    from nablab.viz import html_img

    kind = {"holds": ""}.get(result.verdict, "no" if result.verdict == "does not hold" else "part")
    checks = "".join(f"<li>{escape(c.line())}</li>" for c in result.checks)
    figures = "".join(
        html_img(f, f"{result.experiment}: figure {i + 1}") for i, f in enumerate(result.figures)
    )
    heading = f"h{level}"
    ident = f' id="{escape(anchor)}"' if anchor else ""
    claim = localized(M("lab.report.claim", "Claim: {claim}", claim=result.claim), html=True)
    verdict = localized(
        M("lab.report.verdict", "Verdict: {verdict}", verdict=result.verdict_text()), html=True
    )
    numbers = localized(M("lab.report.numbers", "Numbers"), html=True)
    parameters = localized(M("lab.report.parameters", "Parameters"), html=True)
    reproduce = localized(M("lab.report.reproduce", "Reproduce:"), html=True)
    return (
        f"<{heading}{ident}>{escape(result.experiment)}</{heading}>"
        f'<p class="claim">{claim}</p>'
        f'<div class="verdict {kind}"><b>{verdict}</b><ul>{checks}'
        "</ul></div>"
        f"{figures}<h{level + 1}>{numbers}</h{level + 1}>{_table(result.numbers)}"
        f"<h{level + 1}>{parameters}</h{level + 1}>{_table(result.params)}"
        f"<p>{reproduce} <code>{escape(result.command())}</code></p>"
    )


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html {i18n.html_attributes()}>\n<head>\n<meta charset="utf-8"/>\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}{i18n.page_css()}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def write_result(result: Result, out: str | Path) -> list[Path]:
    """figure.png and figure.svg (figure-2.* … for more), result.json and report.html."""
    from nablab.viz import save

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, figure in zip(figure_names(result), result.figures, strict=True):
        written.append(save(figure, out / f"{name}.png"))
        written.append(save(figure, out / f"{name}.svg"))
    written.append(
        write_atomic(
            out / "result.json", json.dumps(result.to_json(), indent=2, sort_keys=False) + "\n"
        )
    )
    written.append(
        write_atomic(
            out / "report.html", _page(f"nablab lab: {result.experiment}", result_html(result))
        )
    )
    return written


def notebook_html(results: list[Result], topics: dict[str, str]) -> str:
    """Every result in one page: an index by topic (with each verdict), then the sections."""
    index, sections = [], []
    for key, title in topics.items():
        mine = [r for r in results if r.topic == key]
        if not mine:
            continue
        items = "".join(
            f'<li><a href="#{escape(r.experiment)}">{escape(r.experiment)}</a>: '
            f"{escape(r.verdict_text())}</li>"
            for r in mine
        )
        index.append(f"<li>{escape(title)}<ul>{items}</ul></li>")
        sections += [result_html(r, level=2, anchor=r.experiment) for r in mine]
    held = sum(r.holds for r in results)
    title = localized(M("lab.notebook.title", "nablab lab notebook"))
    count = M(
        "lab.notebook.count",
        "{count} experiments; the claim held in {held}.",
        count=len(results),
        held=held,
    )
    body = (
        f"<h1>{escape(title)}</h1>"
        f"<p>{localized(count, html=True)}</p>"
        f"<ul>{''.join(index)}</ul>" + "".join(sections)
    )
    return _page(title, body)


def write_notebook(results: list[Result], topics: dict[str, str], out: str | Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return write_atomic(out / "notebook.html", notebook_html(results, topics))
