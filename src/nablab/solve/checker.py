"""Checking a student's numbers against the exact solution.

An answer file maps quantity names to numbers:

- ``w5`` the parameter after the last step, ``w5@1`` after step 1 (``w5@0``: its start);
- ``out_h1@1`` a forward value of step 1 (``out_h1`` alone means step 1);
- ``loss@1`` the loss in step 1's forward pass, ``loss@final`` at the final parameters;
- ``grad(w5)@1`` a gradient (of a parameter or of a forward value);
- ``velocity(w5)@1``, ``m(w5)@1``, … optimizer state (``momentum(w5)`` means whichever of
  velocity or momentum_buffer the exercise keeps).

The tolerance follows what the student wrote: half a unit of the last printed decimal, widened
by a relative slack ``rtol`` (default 1e-3) for rounding carried through earlier steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from nablab.solve.derive import solution_document
from nablab.solve.mistakes import MISTAKES
from nablab.solve.renderers import equation_text
from nablab.solve.spec import Exercise, ExerciseError
from nablab.solve.trace import CORRECT, Trace, Variant, run

_KEY = re.compile(
    r"^(?:(?P<fn>[A-Za-z_]+)\((?P<arg>[^()]+)\)|(?P<name>[^@()]+?))"
    r"(?:@(?P<at>\d+|final))?$"
)
MOMENTUM_STATES = ("velocity", "momentum_buffer")


@dataclass(frozen=True)
class Given:
    name: str
    text: str
    value: float
    half_unit: float


@dataclass
class Result:
    name: str
    given: float
    expected: float | None
    ok: bool
    tolerance: float
    order: int
    problem: str | None = None


@dataclass
class Report:
    verdict: str
    results: list[Result]
    first_divergence: dict[str, Any] | None
    explanations: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "results": [
                {"name": r.name, "given": r.given, "expected": r.expected, "ok": r.ok}
                | ({"problem": r.problem} if r.problem else {})
                for r in self.results
            ],
            "first_divergence": self.first_divergence,
            "explanations": self.explanations,
        }


def half_unit(text: str) -> float:
    """Half a unit of the last digit written: '0.1495' → 5e-5, '1.5e-3' → 5e-5, '2' → 0.5."""
    try:
        exponent = Decimal(text.strip()).as_tuple().exponent
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    return 0.5 * 10.0 ** int(exponent)


def load_answers(path: str | Path) -> list[Given]:
    """Read an answer file, keeping each number as written (for its precision)."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    except OSError as error:
        raise ExerciseError([f"cannot read the file: {error.strerror}"], str(path)) from None
    except yaml.YAMLError as error:
        raise ExerciseError([f"invalid YAML: {error}"], str(path)) from None
    return parse_answers(raw, str(path))


def parse_answers(raw: Any, source: str = "answers") -> list[Given]:
    if not isinstance(raw, dict) or not raw:
        raise ExerciseError(
            ["(top level): expected a mapping of quantity names to numbers"], source
        )
    answers, problems = [], []
    for name, value in raw.items():
        if not isinstance(value, str):
            problems.append(f"{name}: expected a number, got {type(value).__name__}")
            continue
        try:
            answers.append(Given(str(name), value, float(value), half_unit(value)))
        except ValueError:
            problems.append(f"{name}: expected a number, got {value!r}")
    if problems:
        raise ExerciseError(problems, source)
    return answers


class _Lookup:
    """The exact value of an answer key in a trace, and its place in computation order."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.last = len(trace.steps)
        document = solution_document(trace)
        self.equations = document.equations()
        self.order = {key: i for i, key in enumerate(self.equations)}
        self.params = trace.built.by_name
        self.values = [trace.values(s) for s in trace.steps]
        self.output_grads = [trace.output_grads(s) for s in trace.steps]

    def canonical(self, name: str) -> str:
        match = _KEY.match(name.replace(" ", ""))
        if not match:
            raise KeyError(f"cannot read the quantity name {name!r}")
        at = match.group("at")
        if match.group("fn"):
            fn, arg = match.group("fn"), match.group("arg")
            step = at or "1"
            if fn == "momentum":
                state = self.trace.steps[0].state
                fn = next((s for s in MOMENTUM_STATES if s in state), "velocity")
            return f"{fn}({arg})@{step}"
        base = match.group("name")
        if base == "loss":
            return f"loss@{at or '1'}"
        if base in self.params:
            return f"{base}@{at or self.last}"
        return f"{base}@{at or '1'}"

    def value(self, key: str) -> float:
        name, _, at = key.rpartition("@")
        trace = self.trace
        if name == "loss":
            if at == "final":
                return trace.final_loss
            return self._step(at).loss
        fn_match = re.match(r"^([A-Za-z_]+)\((.+)\)$", name)
        if fn_match:
            fn, arg = fn_match.groups()
            step = self._step(at)
            if fn == "grad":
                if arg in step.grads:
                    return step.grads[arg]
                grads = self.output_grads[step.index - 1]
                if arg in grads:
                    return grads[arg]
                raise KeyError(f"no gradient of {arg!r} in step {at}")
            if fn in MOMENTUM_STATES and fn not in step.state:  # the other convention's name
                fn = next((s for s in MOMENTUM_STATES if s in step.state), fn)
            if fn in step.state and arg in step.state[fn]:
                return step.state[fn][arg]
            raise KeyError(f"no optimizer state {fn!r} of {arg!r} in step {at}")
        if name in self.params:
            if at == "0":
                return trace.steps[0].params_before[name]
            if at == "final":
                return trace.final_params[name]
            return self._step(at).params_after[name]
        step = self._step(at)
        values = self.values[step.index - 1]
        if name in values:
            return values[name]
        raise KeyError(f"unknown quantity {name!r} (not a parameter or named value)")

    def _step(self, at: str):
        if at == "final":
            return self.trace.steps[-1]
        index = int(at)
        if not 1 <= index <= self.last:
            raise KeyError(f"step {index} does not exist (the exercise has {self.last})")
        return self.trace.steps[index - 1]


def _tolerance(given: Given, expected: float, rtol: float) -> float:
    return given.half_unit + rtol * abs(expected)


def check(exercise: Exercise, answers: list[Given], rtol: float = 1e-3) -> Report:
    """Mark every answer, find the first wrong one in computation order and the mistakes
    that explain the wrong numbers."""
    trace = run(exercise, CORRECT)
    lookup = _Lookup(trace)
    results: list[Result] = []
    keys: dict[str, str] = {}
    for given in answers:
        try:
            key = lookup.canonical(given.name)
            expected = lookup.value(key)
        except KeyError as error:
            results.append(
                Result(given.name, given.value, None, False, 0.0, 10**9, str(error.args[0]))
            )
            continue
        keys[given.name] = key
        tolerance = _tolerance(given, expected, rtol)
        results.append(
            Result(
                given.name,
                given.value,
                expected,
                abs(given.value - expected) <= tolerance,
                tolerance,
                lookup.order.get(key, 10**8),
            )
        )
    results.sort(key=lambda r: r.order)
    wrong = [r for r in results if not r.ok]
    first = None
    for result in wrong:
        if result.expected is None:
            continue
        key = keys[result.name]
        equation = lookup.equations.get(key)
        first = {
            "name": result.name,
            "given": result.given,
            "expected": result.expected,
            "formula": equation_text(equation) if equation else None,
        }
        break
    explanations = _explain(exercise, answers, keys, {r.name for r in wrong}, rtol) if wrong else []
    return Report("correct" if not wrong else "incorrect", results, first, explanations)


def _explain(
    exercise: Exercise, answers: list[Given], keys: dict[str, str], wrong: set[str], rtol: float
) -> list[dict[str, Any]]:
    found = []
    for mistake in MISTAKES:
        best = None
        for detail, variant in mistake.variants(exercise):
            score = _score(exercise, variant, answers, keys, wrong, rtol)
            if score is not None and (best is None or score[:2] > best[0][:2]):
                best = (score, detail)
        if best is None:
            continue
        (explained, matched, of), detail = best
        if explained:
            found.append(
                {
                    "id": mistake.id,
                    "description": mistake.description,
                    "detail": detail,
                    "matched": matched,
                    "of": of,
                    "explains_wrong": explained,
                }
            )
    found.sort(key=lambda e: (-e["explains_wrong"], -e["matched"]))
    return found


def _score(
    exercise: Exercise,
    variant: Variant,
    answers: list[Given],
    keys: dict[str, str],
    wrong: set[str],
    rtol: float,
) -> tuple[int, int, int] | None:
    try:
        lookup = _Lookup(run(exercise, variant))
    except (ExerciseError, ValueError, FloatingPointError):
        return None
    matched = explained = 0
    for given in answers:
        if given.name not in keys:
            continue
        try:
            value = lookup.value(keys[given.name])
        except KeyError:
            continue
        if abs(given.value - value) <= _tolerance(given, value, rtol):
            matched += 1
            explained += given.name in wrong
    return explained, matched, len(keys)
