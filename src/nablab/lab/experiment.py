"""An experiment: a lecture's claim, the parameters it is tested under, and a pure run.

An :class:`Experiment` is declared once (name, topic, the claim as a lecture states it, its
parameters as :class:`~nablab.registry.Option` objects with defaults and limits, the values
its quick mode uses) and registered in :data:`EXPERIMENTS`. Running it gives a
:class:`Result`: the measured numbers (JSON-able), the figures, and a verdict made of
:class:`Check` objects, each a sub-claim decided by the numbers it quotes. A claim that is false
under the given parameters is reported as such; parameters are never bent to make it hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nablab.errors import NablabError
from nablab.registry import Option, Registry


class ExperimentError(NablabError):
    """A bad parameter for an experiment (name, value, limits), exit code 2 from the CLI."""


@dataclass(frozen=True)
class Check:
    """One sub-claim and whether it held, with the numbers that decided it."""

    claim: str
    holds: bool
    evidence: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "holds", bool(self.holds))

    def line(self) -> str:
        """``holds: claim — evidence`` (the verdict word in the language in force; the claim
        and evidence as the experiment wrote them)."""
        from nablab.i18n import M, localized

        word = (
            M("lab.verdict.holds", "holds")
            if self.holds
            else M("lab.verdict.fails", "does not hold")
        )
        return localized(
            M(
                "lab.check",
                "{verdict}: {claim} — {evidence}",
                verdict=word,
                claim=self.claim,
                evidence=self.evidence,
            )
        )


@dataclass
class Result:
    """What a run of an experiment measured, drew and concluded."""

    experiment: str
    topic: str
    claim: str
    params: dict[str, Any]
    quick: bool
    numbers: dict[str, Any]
    figures: list = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # shown, never written to files

    @property
    def holds(self) -> bool:
        """Every sub-claim held."""
        return all(check.holds for check in self.checks)

    def verdict_text(self) -> str:
        """The verdict in words, in the language in force."""
        from nablab.i18n import M, localized

        held = sum(check.holds for check in self.checks)
        if held == len(self.checks):
            return localized(M("lab.verdict.holds", "holds"))
        if held == 0:
            return localized(M("lab.verdict.fails", "does not hold"))
        return localized(
            M("lab.verdict.part", "holds in part ({held} of {of})", held=held, of=len(self.checks))
        )

    @property
    def verdict(self) -> str:
        held = sum(check.holds for check in self.checks)
        if held == len(self.checks):
            return "holds"
        return "does not hold" if held == 0 else f"holds in part ({held} of {len(self.checks)})"

    def command(self) -> str:
        """The command line that reproduces this result."""
        from nablab.lab.params import format_value

        spec = EXPERIMENTS.entry(self.experiment).value
        changed = [
            f"--set {name}={format_value(value)}"
            for name, value in self.params.items()
            if value != spec.defaults(self.quick)[name]
        ]
        return " ".join(
            ["nablab lab run", self.experiment, *(["--quick"] if self.quick else []), *changed]
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "topic": self.topic,
            "claim": self.claim,
            "verdict": self.verdict,
            "checks": [
                {"claim": c.claim, "holds": c.holds, "evidence": c.evidence} for c in self.checks
            ],
            "params": self.params,
            "quick": self.quick,
            "numbers": self.numbers,
            "command": self.command(),
        }

    def _repr_html_(self) -> str:
        from nablab.lab.report import result_html

        return result_html(self)


@dataclass(frozen=True)
class Experiment:
    """A registered experiment. ``runner(params)`` returns ``(numbers, figures, checks)``."""

    name: str
    topic: str
    claim: str
    parameters: tuple[Option, ...]
    runner: Callable[[dict[str, Any]], tuple[dict[str, Any], list, list[Check]]]
    quick: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    def defaults(self, quick: bool = False) -> dict[str, Any]:
        values = {o.name: o.default for o in self.parameters}
        if quick:
            values.update(self.quick)
        return values

    def resolve(self, overrides: Mapping[str, Any], quick: bool = False) -> dict[str, Any]:
        """The parameters of a run: defaults (quick ones when asked), then ``overrides``, each
        checked against its declared limits."""
        known = {o.name: o for o in self.parameters}
        values = self.defaults(quick)
        for name, value in overrides.items():
            if name not in known:
                valid = ", ".join(known) or "none"
                raise ExperimentError(f"{self.name}: unknown parameter {name!r}; valid: {valid}")
            try:
                values[name] = known[name].check(value, self.name)
            except ValueError as error:
                raise ExperimentError(str(error)) from None
        return values

    def run(self, quick: bool = False, **overrides: Any) -> Result:
        """Run with ``overrides``, on one BLAS thread: the lab's networks are small, so more
        threads cost more than they give (several times more on a busy machine), and the
        numbers then do not depend on how many cores the machine has."""
        import time

        from threadpoolctl import threadpool_limits

        params = self.resolve(overrides, quick)
        started = time.perf_counter()
        with threadpool_limits(1, user_api="blas"):
            numbers, figures, checks = self.runner(dict(params))
        seconds = time.perf_counter() - started
        return Result(
            self.name,
            self.topic,
            self.claim,
            params,
            quick,
            _jsonable(numbers),
            list(figures),
            list(checks),
            {"seconds": seconds},
        )


EXPERIMENTS: Registry[Experiment] = Registry("experiment")
TOPICS: dict[str, str] = {}
_ORDER: dict[str, tuple[str, ...]] = {}


def topic(name: str, title: str, order: tuple[str, ...] = ()) -> None:
    """Declare a topic and the order its experiments are listed in (topics are listed in the
    order of declaration)."""
    TOPICS.setdefault(name, title)
    _ORDER[name] = order


def arrange_topics(*names: str) -> None:
    """List the topics in this order (listings and the notebook); others keep theirs, after."""
    unknown = [name for name in names if name not in TOPICS]
    if unknown:
        raise ValueError(f"arrange_topics: undeclared topics {unknown}")
    arranged = {name: TOPICS[name] for name in names}
    arranged.update({k: v for k, v in TOPICS.items() if k not in arranged})
    TOPICS.clear()
    TOPICS.update(arranged)


def ordered() -> list[Experiment]:
    """Every experiment, topic by topic, in each topic's declared order."""
    out = []
    for key in TOPICS:
        mine = [e.value for e in EXPERIMENTS.entries() if e.value.topic == key]
        rank = {name: i for i, name in enumerate(_ORDER.get(key, ()))}
        out += sorted(mine, key=lambda e: rank.get(e.name, len(rank)))
    return out


def experiment(
    name: str,
    topic: str,
    claim: str,
    parameters: tuple[Option, ...] = (),
    quick: Mapping[str, Any] | None = None,
    source: str = "",
):
    """Register the decorated ``runner(params) -> (numbers, figures, checks)``."""

    def register(runner):
        if topic not in TOPICS:
            raise ValueError(f"experiment {name!r}: undeclared topic {topic!r}")
        EXPERIMENTS.add(
            name,
            Experiment(name, topic, claim, tuple(parameters), runner, dict(quick or {}), source),
            claim,
        )
        return runner

    return register


def run(name: str, quick: bool = False, **params: Any) -> Result:
    """Run experiment ``name`` with ``params`` overriding its defaults; returns the Result."""
    return EXPERIMENTS[name].run(quick, **params)


def _jsonable(value: Any) -> Any:
    """Numbers as plain floats/ints (NaN and infinities as strings), recursively."""
    import numpy as np

    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        number = float(value)
        return number if math.isfinite(number) else str(number)
    return value
