"""The message catalogues: extraction from the source, the Persian ``.po`` file kept in step,
and compilation to ``.mo`` (uses Babel; the package itself reads ``.mo`` files with gettext).

    python -m nablab.i18n.catalogue check     # every message has a Persian translation
    python -m nablab.i18n.catalogue update    # add new messages to fa.po (untranslated)
    python -m nablab.i18n.catalogue compile   # .po → .mo (the build and the tests do this)

A message in the code is ``M("id", "English template", **arguments)``: the id becomes the
gettext message context and the English template the message id, so the same words under two
ids are two messages, and a changed English template needs a new translation.
"""

from __future__ import annotations

import string
import sys
from dataclasses import dataclass
from pathlib import Path

from nablab import __version__
from nablab.i18n import DOMAIN, LOCALE_DIR, compile_catalogues, formulas

SOURCE = Path(__file__).resolve().parents[1]
HEADER = (
    "# Persian messages of nablab: msgctxt is the message id of the code, msgid its English\n"
    "# template. `python -m nablab.i18n.catalogue update` adds new messages; a test fails on\n"
    "# any message without a translation here."
)
KEYWORDS = {"M": ((1, "c"), 2), "pgettext": ((1, "c"), 2)}


@dataclass(frozen=True)
class Entry:
    id: str
    template: str
    where: str


def extract(root: Path = SOURCE) -> list[Entry]:
    """Every ``M(id, template)`` of the package's source (and the list separator)."""
    from babel.messages.extract import extract_from_dir

    entries = [Entry("i18n.list_separator", ", ", "nablab/i18n/__init__.py")]
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(root), method_map=[("**.py", "python")], keywords=KEYWORDS, comment_tags=()
    ):
        if context is None or not isinstance(message, str):
            continue
        entries.append(Entry(context, message, f"nablab/{filename}:{lineno}"))
    return entries


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(lang: str):
    from babel.messages.pofile import read_po

    with po_path(lang).open("rb") as handle:
        return read_po(handle, locale=lang)


def fields(template: str) -> set[str]:
    """The argument names a template uses (``{loss:.4g}`` → ``loss``)."""
    return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}


def problems(lang: str = "fa") -> list[str]:
    """Messages of the code without a translation in ``lang``, translations whose arguments
    differ from the template's, ids given two English templates, and entries of the catalogue
    that the code no longer has."""
    catalog = read(lang)
    out = []
    seen: dict[str, Entry] = {}
    wanted = set()
    for entry in extract():
        earlier = seen.setdefault(entry.id, entry)
        if earlier.template != entry.template:
            out.append(f"{entry.where}: id {entry.id!r} has two English templates")
        wanted.add((entry.id, entry.template))
        message = catalog.get(entry.template, context=entry.id)
        if message is None or not message.string:
            out.append(f"{entry.where}: {entry.id!r} has no {lang} translation")
        elif fields(message.string) != fields(entry.template):
            out.append(
                f"{entry.where}: {entry.id!r}: the {lang} translation uses "
                f"{sorted(fields(message.string))}, the template {sorted(fields(entry.template))}"
            )
        elif formulas(message.string) != formulas(entry.template):
            out.append(
                f"{entry.where}: {entry.id!r}: the {lang} translation changes the formulas "
                f"{formulas(entry.template)} (they are carried unchanged)"
            )
        elif message.fuzzy:
            out.append(f"{entry.where}: {entry.id!r}: the {lang} translation is marked fuzzy")
    for message in catalog:
        if message.id and (message.context, message.id) not in wanted:
            out.append(f"{po_path(lang).name}: {message.context!r} is not used by the code")
    return out


def update(lang: str = "fa") -> int:
    """Add the code's new messages to the catalogue (untranslated), drop the unused ones."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    old = read(lang) if po_path(lang).exists() else Catalog(locale=lang)
    new = Catalog(
        locale=lang,
        project="nablab",
        version=__version__,
        domain=DOMAIN,
        header_comment=HEADER,
        last_translator=old.last_translator or "nablab",
        language_team=old.language_team or lang,
        fuzzy=False,
    )
    added = 0
    for entry in extract():
        if new.get(entry.template, context=entry.id) is not None:
            continue
        before = old.get(entry.template, context=entry.id)
        added += before is None
        new.add(
            entry.template,
            before.string if before is not None else "",
            context=entry.id,
            flags=("python-brace-format",) if fields(entry.template) else (),
        )
    with po_path(lang).open("wb") as handle:
        write_po(handle, new, width=100, omit_header=False, sort_output=False)
    return added


def main(argv: list[str]) -> int:
    action = argv[0] if argv else "check"
    if action == "check":
        found = problems("fa")
        print("\n".join(found) or "every message has a Persian translation")
        return 1 if found else 0
    if action == "update":
        print(f"{update('fa')} new message(s) added to {po_path('fa')}")
        return 0
    if action == "compile":
        for path in compile_catalogues():
            print(f"wrote {path}")
        return 0
    print(f"unknown action {action!r}; valid: check, update, compile", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
