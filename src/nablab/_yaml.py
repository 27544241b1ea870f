"""Reading YAML that people write by hand: safely, strictly and with clear errors.

Only YAML's plain data types are built (never Python objects); a key given twice is an error
instead of the last one silently winning; the text must be UTF-8 (a byte-order mark is fine,
and UTF-16 or UTF-32 with their byte-order marks are read too); nesting deeper than the parser
can follow is an error; and the file must be a regular file of bounded size.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml

from nablab._io import InputFileError, check_input_file
from nablab.errors import NablabError

MAX_YAML_BYTES = 4 * 1024**2  # an exercise, answer sheet or sweep file is a few kilobytes
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class YamlInputError(NablabError):
    """A YAML file that cannot be read as data: the message says where and why."""


def _no_duplicates(loader_class):
    class Strict(loader_class):
        def construct_mapping(self, node, deep=False):
            seen = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    hashable = key in seen
                except TypeError:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"a key must be a plain value, got {key!r}", key_node.start_mark
                    ) from None
                if hashable:
                    mark = key_node.start_mark
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"the key {key!r} is given twice (first on line {seen[key] + 1})",
                        mark,
                    )
                seen[key] = key_node.start_mark.line
            return super().construct_mapping(node, deep)

    return Strict


_SAFE = _no_duplicates(yaml.SafeLoader)
_BASE = _no_duplicates(yaml.BaseLoader)


def decode(raw: bytes) -> str:
    """The text of a file: UTF-8, or UTF-16/32 announced by a byte-order mark."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            return raw.decode(encoding)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise YamlInputError(
            f"not UTF-8 text (byte 0x{raw[error.start]:02x} at position "
            f"{error.start}); save the file as UTF-8"
        ) from None


def parse(text: str, strings_only: bool = False) -> Any:
    """Parse YAML text: plain data only (every scalar a string with ``strings_only``)."""
    try:
        return yaml.load(text, Loader=_BASE if strings_only else _SAFE)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise YamlInputError(f"{where}invalid YAML: {problem}") from None
    except RecursionError:
        raise YamlInputError("invalid YAML: nested too deeply") from None


def read(
    path: str | Path, what: str, strings_only: bool = False, limit: int = MAX_YAML_BYTES
) -> Any:
    """The data of a YAML file (checked to be a regular file of at most ``limit`` bytes)."""
    try:
        raw = check_input_file(path, what, limit).read_bytes()
    except InputFileError as error:
        raise YamlInputError(str(error).split(": ", 1)[1]) from None
    except OSError as error:
        raise YamlInputError(f"cannot read the file: {error.strerror}") from None
    return parse(decode(raw), strings_only)
