"""One registry per concept: activations, losses, optimizers, initializers, schedules, datasets.

Each concept's names are declared once, with a one-line summary and their options; the command
line's choices, the exercise format's accepted names, help texts and "valid: …" error messages
are all generated from the registry, so no list of names is kept by hand anywhere else.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from nablab.errors import NablabError

T = TypeVar("T")


class UnknownNameError(NablabError):
    """A name that is not in a registry; the message lists the valid ones."""


@dataclass(frozen=True)
class Option:
    """One option of a registered thing: its type, default, limits or choices and help.

    ``low``/``high`` bound numbers (``open`` ends excluded); ``choices`` lists the accepted
    values of a categorical option.
    """

    name: str
    kind: type | tuple[type, ...] = float
    default: Any = None
    help: str = ""
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] | None = None
    aliases: tuple[str, ...] = ()
    item_kind: type = float
    max_items: int = 32  # the longest a list option may be

    def describe(self) -> str:
        """``momentum in [0, 1] (default 0)`` and the like."""
        if self.kind in (list, tuple):
            inner = replace(self, kind=self.item_kind, default=None, help="").describe()
            allowed = "a list, each " + inner.split(": ", 1)[1]
        elif self.choices is not None:
            allowed = " | ".join(str(c) for c in self.choices)
        elif self.kind is bool:
            allowed = "true | false"
        elif math.isinf(self.low) and math.isinf(self.high):
            allowed = "a number"
        else:
            left = "(" if self.low_open or math.isinf(self.low) else "["
            right = ")" if self.high_open or math.isinf(self.high) else "]"
            allowed = f"in {left}{_number(self.low)}, {_number(self.high)}{right}"
        default = "" if self.default is None else f" (default {self.default})"
        return f"{self.name}: {allowed}{default}" + (f" — {self.help}" if self.help else "")

    def check(self, value: Any, owner: str) -> Any:
        """``value`` if it is acceptable, else ``ValueError`` naming owner, option and limits.

        A ``list``/``tuple`` option takes a sequence whose every item meets the limits or the
        choices (returned as a tuple); ``item_kind`` is the items' type."""
        if self.kind in (list, tuple):
            if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
                raise ValueError(f"{owner}: {self.name} must be a non-empty list, got {value!r}")
            if len(value) > self.max_items:
                raise ValueError(
                    f"{owner}: {self.name} takes at most {self.max_items} values, got {len(value)}"
                )
            item = replace(self, kind=self.item_kind)
            return tuple(item.check(v, owner) for v in value)
        if self.choices is not None:
            if not any(_matches(value, choice) for choice in self.choices):
                valid = ", ".join(repr(c) for c in self.choices)
                raise ValueError(f"{owner}: {self.name} must be one of {valid}, got {value!r}")
            return value
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{owner}: {self.name} must be true or false, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{owner}: {self.name} must be a number, got {value!r}")
        number = float(value)
        if self.kind is int and math.isfinite(number) and number != int(number):
            raise ValueError(f"{owner}: {self.name} must be a whole number, got {value!r}")
        too_low = number <= self.low if self.low_open else number < self.low
        too_high = number >= self.high if self.high_open else number > self.high
        if not math.isfinite(number) or too_low or too_high:
            left = "(" if self.low_open or math.isinf(self.low) else "["
            right = ")" if self.high_open or math.isinf(self.high) else "]"
            raise ValueError(
                f"{owner}: {self.name} must be in {left}{_number(self.low)}, "
                f"{_number(self.high)}{right}, got {value!r}"
            )
        return int(number) if self.kind is int else number


def _matches(value: Any, choice: Any) -> bool:
    """``value == choice``, except that booleans, strings and None match only their own kind
    (``1`` is not ``True``, ``"no"`` is not ``False``)."""
    exact = (bool, str, type(None))
    if isinstance(value, exact) or isinstance(choice, exact):
        return type(value) is type(choice) and value == choice
    return value == choice


def _number(value: float) -> str:
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:g}"


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered name: what it stands for, a summary, aliases and options."""

    name: str
    value: T
    summary: str = ""
    aliases: tuple[str, ...] = ()
    options: Mapping[str, Option] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """Names of one concept (``"activation"``) mapped to what they stand for.

    ``registry["relu"]`` is the registered value, ``registry.entry("relu")`` its
    :class:`Entry`; an unknown name raises :class:`UnknownNameError` listing the valid names and
    the closest ones.
    """

    def __init__(self, concept: str) -> None:
        self.concept = concept
        self._entries: dict[str, Entry[T]] = {}
        self._aliases: dict[str, str] = {}

    def add(
        self,
        name: str,
        value: T,
        summary: str = "",
        aliases: tuple[str, ...] = (),
        options: tuple[Option, ...] = (),
        **extra: Any,
    ) -> T:
        for key in (name, *aliases):
            if key in self._entries or key in self._aliases:
                raise ValueError(f"{self.concept} {key!r} is registered twice")
        self._entries[name] = Entry(
            name, value, summary, tuple(aliases), {o.name: o for o in options}, extra
        )
        for alias in aliases:
            self._aliases[alias] = name
        return value

    def entry(self, name: str) -> Entry[T]:
        key = self._aliases.get(name, name)
        try:
            return self._entries[key]
        except (KeyError, TypeError):
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        every = self.names(aliases=True)
        close = difflib.get_close_matches(str(name), every, n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        return f"unknown {self.concept} {name!r}{hint}; valid: {', '.join(self.names())}"

    def __getitem__(self, name: str) -> T:
        return self.entry(name).value

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self, aliases: bool = False) -> tuple[str, ...]:
        """The registered names, in registration order (aliases after them when asked)."""
        names = tuple(self._entries)
        return names + tuple(self._aliases) if aliases else names

    def entries(self) -> list[Entry[T]]:
        return list(self._entries.values())

    def help(self, width: int = 0) -> str:
        """One line per name: the name (and its aliases) and its summary."""
        rows = []
        for entry in self._entries.values():
            label = entry.name + (f" ({', '.join(entry.aliases)})" if entry.aliases else "")
            rows.append((label, entry.summary))
        width = width or max((len(label) for label, _ in rows), default=0)
        return "\n".join(f"{label:<{width}}  {summary}".rstrip() for label, summary in rows)
