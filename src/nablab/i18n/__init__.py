"""Messages in English and Persian: an id, an English template and its arguments.

Code never bakes a sentence: it builds ``M("check.first_wrong", "first wrong value: {name}",
name=name)``, and the sentence is rendered when it is written, in the language in force
(:func:`using`, the ``--lang`` flag). English is the source language (the template itself);
other languages come from gettext catalogues (``locale/<lang>/LC_MESSAGES/nablab.po``, keyed
by the id as message context and the English template as message id), compiled to ``.mo``
files when the package is built or tested (Babel compiles them in memory when a ``.mo`` is
missing or older than its ``.po``).

Arguments are formatted with their format spec (``{loss:.4g}``); numbers take Persian digits
with ``--digits fa`` (prose only: formulas are rendered elsewhere and keep Latin digits); in
HTML every argument is escaped and, in a right-to-left page, isolated left-to-right with
``<bdi>`` so a name such as ``w5`` or a negative number keeps its order.

A :class:`Message` is a ``str`` (its English text), so it can go wherever text went before;
:func:`localized` renders it in the language in force.
"""

from __future__ import annotations

import contextlib
import contextvars
import gettext
import io
import string
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from html import escape
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "fa")
DIGIT_STYLES = ("latin", "fa")
DOMAIN = "nablab"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
RIGHT_TO_LEFT = frozenset({"fa"})

# Persian digits and the Persian decimal separator (momayyez), for numbers in prose.
_PERSIAN_DIGITS = str.maketrans("0123456789.%", "۰۱۲۳۴۵۶۷۸۹٫٪")


@dataclass(frozen=True)
class Settings:
    lang: str = "en"
    digits: str = "latin"

    @property
    def rtl(self) -> bool:
        return self.lang in RIGHT_TO_LEFT


_CURRENT: contextvars.ContextVar[Settings] = contextvars.ContextVar(
    "nablab_language",
    default=Settings(),  # noqa: B039 (frozen)
)


def current() -> Settings:
    """The language and digits in force."""
    return _CURRENT.get()


@contextlib.contextmanager
def using(lang: str | None = None, digits: str | None = None) -> Iterator[Settings]:
    """Render messages in ``lang`` (``"en"``, ``"fa"``) with ``digits`` (``"latin"``, ``"fa"``)
    inside the block; ``None`` keeps what is in force."""
    before = current()
    settings = Settings(lang or before.lang, digits or before.digits)
    if settings.lang not in LANGUAGES:
        raise ValueError(f"unknown language {settings.lang!r}; valid: {', '.join(LANGUAGES)}")
    if settings.digits not in DIGIT_STYLES:
        raise ValueError(f"unknown digits {settings.digits!r}; valid: {', '.join(DIGIT_STYLES)}")
    token = _CURRENT.set(settings)
    try:
        yield settings
    finally:
        _CURRENT.reset(token)


# ----------------------------------------------------------------------------- catalogues


def _compile(po: Path) -> bytes:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as handle:
        catalog = read_po(handle)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


def compile_catalogues(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """Compile every ``.po`` under ``locale_dir`` to its ``.mo`` (the build and the tests do);
    returns the files written."""
    written = []
    for po in sorted(locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo = po.with_suffix(".mo")
        data = _compile(po)
        if not mo.exists() or mo.read_bytes() != data:
            mo.write_bytes(data)
            written.append(mo)
    return written


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalogue of ``lang`` (English is the templates themselves)."""
    if lang == "en":
        return gettext.NullTranslations()
    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    if not po.exists():
        raise FileNotFoundError(f"no message catalogue for {lang!r} at {po}")
    return gettext.GNUTranslations(io.BytesIO(_compile(po)))


# ----------------------------------------------------------------------------- messages

_FORMATTER = string.Formatter()


def persian_digits(text: str) -> str:
    """``-0.25`` → ``-۰٫۲۵`` (digits, the decimal point and the percent sign)."""
    return text.translate(_PERSIAN_DIGITS)


class Listing(tuple):
    """Items (messages, names, numbers) shown as a list: ``a, b, c`` (``a، b، c`` in Persian)."""


def _argument(value: Any, spec: str, conversion: str | None, settings: Settings, html: bool):
    if isinstance(value, Message):
        return value.render(settings, html)
    if isinstance(value, Listing):
        separator = translations(settings.lang).pgettext("i18n.list_separator", ", ")
        return separator.join(_argument(item, spec, None, settings, html) for item in value)
    if conversion == "r":
        value = repr(value)
    elif conversion == "s":
        value = str(value)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    text = format(value, spec)
    if number and settings.digits == "fa":
        text = persian_digits(text)
    if not html:
        return text
    text = escape(text)
    return f'<bdi dir="ltr">{text}</bdi>' if settings.rtl else text


class Message(str):
    """A sentence with an id, its English template and its arguments; as a ``str`` it is the
    English text."""

    id: str
    template: str
    args: dict[str, Any]

    def __new__(cls, id: str, template: str, args: dict[str, Any] | None = None) -> Message:
        args = dict(args or {})
        english = _fill(template, args, Settings(), html=False)
        self = super().__new__(cls, english)
        self.id, self.template, self.args = id, template, args
        return self

    def __reduce__(self):
        return (Message, (self.id, self.template, self.args))

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self

    def translated_template(self, lang: str) -> str:
        return translations(lang).pgettext(self.id, self.template)

    def render(self, settings: Settings | None = None, html: bool = False) -> str:
        """The sentence in ``settings`` (default: those in force); escaped HTML with ``html``."""
        settings = settings or current()
        template = self.translated_template(settings.lang)
        return _fill(template, self.args, settings, html)


# A formula inside a sentence is written between these marks (``⁅∂E/∂w = {g}⁆``): it stays
# left-to-right in a right-to-left page, its numbers keep Latin digits, and a translation
# carries it unchanged.
FORMULA = ("⁅", "⁆")
_LATIN = Settings()


def formulas(template: str) -> list[str]:
    """The formula spans of a template, marks included, in order."""
    out, rest = [], template
    while FORMULA[0] in rest:
        start = rest.index(FORMULA[0])
        end = rest.find(FORMULA[1], start)
        if end < 0:
            break
        out.append(rest[start : end + 1])
        rest = rest[end + 1 :]
    return out


def _fill_plain(template: str, args: dict[str, Any], settings: Settings, html: bool) -> str:
    out = []
    for literal, field, spec, conversion in _FORMATTER.parse(template):
        out.append(escape(literal, quote=False) if html else literal)
        if field is None:
            continue
        value = args[field]
        out.append(_argument(value, spec or "", conversion, settings, html))
    return "".join(out)


def _fill(template: str, args: dict[str, Any], settings: Settings, html: bool) -> str:
    out, rest = [], template
    for span in formulas(template):
        before, rest = rest.split(span, 1)
        out.append(_fill_plain(before, args, settings, html))
        inner = _fill_plain(span[1:-1], args, Settings(settings.lang, "latin"), False)
        if html:
            out.append(f'<bdi dir="ltr" class="math">{escape(inner, quote=False)}</bdi>')
        elif settings.rtl:
            out.append(f"\u2066{inner}\u2069")  # left-to-right isolate
        else:
            out.append(inner)
    out.append(_fill_plain(rest, args, settings, html))
    return "".join(out)


def M(id: str, template: str, /, **args: Any) -> Message:  # noqa: N802 (the catalogue keyword)
    """A message: ``M("grade.score", "score {score:g} of {total:g}", score=3, total=4)``."""
    return Message(id, template, args)


def localized(value: Any, html: bool = False) -> str:
    """A message in the language in force; other text as it is (escaped with ``html``)."""
    if isinstance(value, Message):
        return value.render(html=html)
    text = str(value)
    return escape(text, quote=False) if html else text


def number(value: float, spec: str = "") -> str:
    """A number in prose, with the digits in force."""
    text = format(value, spec)
    return persian_digits(text) if current().digits == "fa" else text


def html_attributes(settings: Settings | None = None) -> str:
    """``lang="fa" dir="rtl"`` for the root element of a page."""
    settings = settings or current()
    return f'lang="{settings.lang}" dir="{"rtl" if settings.rtl else "ltr"}"'


# A Persian font stack with fallbacks: Vazirmatn and Sahel where installed, then the system
# fonts that carry Arabic script (Tahoma, Segoe UI, Noto Naskh/Sans Arabic, DejaVu Sans).
PERSIAN_FONTS = (
    '"Vazirmatn", "Vazir", "Sahel", "Noto Naskh Arabic", "Noto Sans Arabic", Tahoma, '
    '"Segoe UI", "DejaVu Sans", sans-serif'
)


def page_css(settings: Settings | None = None) -> str:
    """CSS a page adds for its language: the Persian font stack, right-to-left text and the
    mathematics kept left-to-right."""
    settings = settings or current()
    if not settings.rtl:
        return ""
    return (
        f"\nbody {{ font-family: {PERSIAN_FONTS}; direction: rtl; text-align: right; }}\n"
        "math, .eq, .ltr, code, pre, .num { direction: ltr; unicode-bidi: isolate; }\n"
        ".eq { justify-content: flex-end; padding: .25rem 1.5rem .25rem 0; }\n"
        "table { direction: rtl; } td, th { text-align: right; }\n"
    )


__all__ = [
    "DIGIT_STYLES",
    "LANGUAGES",
    "PERSIAN_FONTS",
    "Listing",
    "M",
    "Message",
    "Settings",
    "compile_catalogues",
    "current",
    "html_attributes",
    "localized",
    "number",
    "page_css",
    "persian_digits",
    "translations",
    "using",
]
