"""Checking a student's numbers against the exact solution.

An answer file maps quantity names to numbers, in the naming scheme of
:mod:`nablab.solve.names` (every name a solution prints can be typed back):

- ``w5`` the parameter after the last step, ``w5@1`` after step 1 (``w5@0``: its start);
- ``out_h1@1`` a forward value of step 1 (``out_h1`` alone means step 1);
- ``loss@1`` (or ``E@1``) the loss in step 1's forward pass, ``loss@final`` at the final
  parameters;
- ``grad(w5)@1`` (or ``∂E/∂w5@1``) a gradient, of a parameter or of a forward value;
- ``v(w5)@1``, ``m(w5)@1``, ``r(W2[1,1])``, ``mhat(w5)`` … optimizer state by the symbol the
  solution prints (``velocity(w5)``, ``square_avg(…)`` and ``momentum(w5)`` work too).

An unknown name is reported as unknown, with the closest valid names, and not graded. Each
answer is accepted within a tolerance that follows what the student wrote: half a unit of the
last printed decimal, widened by a relative slack ``rtol`` (default 1e-3) for rounding carried
through earlier steps; the tolerance is shown with every answer. A value that is closer to the
quantity's value before the step (a parameter or optimizer state that was not updated) than
to the exact one is wrong even inside the tolerance.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import combinations
from pathlib import Path
from typing import Any

from nablab._yaml import YamlInputError
from nablab._yaml import read as read_yaml
from nablab.i18n import M, localized
from nablab.solve.derive import solution_document
from nablab.solve.mistakes import MISTAKES, ROUNDING, combine, rounding_mistake
from nablab.solve.names import Quantities, UnknownNameError
from nablab.solve.renderers import equation_text
from nablab.solve.spec import Exercise, ExerciseError
from nablab.solve.trace import CORRECT, Variant, run

UNKNOWN = 10**9


@dataclass(frozen=True)
class Given:
    name: str
    text: str
    value: float
    half_unit: float

    @property
    def decimals(self) -> int:
        return max(0, -int(Decimal(self.text.strip()).as_tuple().exponent))


@dataclass
class Result:
    name: str
    given: float
    expected: float | None
    ok: bool
    tolerance: float
    order: int
    problem: str | None = None
    text: str = ""
    key: str | None = None
    status: str = "ok"  # ok, wrong, unknown


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
                {
                    "name": r.name,
                    "key": r.key,
                    "written": r.text,
                    "given": r.given,
                    "expected": r.expected,
                    "tolerance": r.tolerance,
                    "status": r.status,
                    "ok": r.ok,
                }
                | ({"problem": localized(r.problem)} if r.problem else {})
                for r in self.results
            ],
            "first_divergence": self.first_divergence,
            "explanations": [
                {k: localized(v) if isinstance(v, str) and k != "id" else v for k, v in e.items()}
                for e in self.explanations
            ],
        }


def half_unit(text: str) -> float:
    """Half a unit of the last digit written: '0.1495' → 5e-5, '1.5e-3' → 5e-5, '2' → 0.5."""
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    exponent = int(number.as_tuple().exponent)
    if not -300 <= exponent <= 300 or not math.isfinite(float(number)):
        raise ValueError(f"not a finite double-precision number: {text!r}")
    return 0.5 * 10.0**exponent


def load_answers(path: str | Path) -> list[Given]:
    """Read an answer file, keeping each number as written (for its precision)."""
    path = Path(path)
    try:
        raw = read_yaml(path, "answers", strings_only=True)
    except YamlInputError as error:
        raise ExerciseError([str(error)], str(path)) from None
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
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(value)
            answers.append(Given(str(name), value.strip(), number, half_unit(value)))
        except (ValueError, OverflowError):
            problems.append(f"{name}: expected a finite number as written, got {value!r}")
    if problems:
        raise ExerciseError(problems, source)
    return answers


def _tolerance(given: Given, expected: float, rtol: float) -> float:
    return given.half_unit + rtol * abs(expected)


def _previous(quantities: Quantities, key: str) -> float | None:
    """The value a parameter or optimizer state had before the step of ``key``."""
    name, _, at = key.rpartition("@")
    if quantities.table[key].kind not in ("parameter", "optimizer state"):
        return None
    step = quantities.last if at == "final" else int(at)
    if step < 1:
        return None
    before = f"{name}@{step - 1}"
    return quantities.value(before) if before in quantities else None


def _mark(given: Given, quantities: Quantities, order: dict[str, int], rtol: float) -> Result:
    try:
        key = quantities.resolve(given.name)
    except UnknownNameError as error:
        return Result(
            given.name,
            given.value,
            None,
            False,
            0.0,
            UNKNOWN,
            error.message,
            given.text,
            None,
            "unknown",
        )
    expected = float(quantities.value(key))
    tolerance = _tolerance(given, expected, rtol)
    ok = abs(given.value - expected) <= tolerance
    problem = None
    previous = _previous(quantities, key)
    stale = previous is not None and previous != expected
    if ok and stale and abs(given.value - previous) <= abs(given.value - expected):
        ok = False
        problem = M(
            "check.stale",
            "this is the value before the update ({previous}), not after it",
            previous=f"{previous:.10g}",
        )
    return Result(
        given.name,
        given.value,
        expected,
        ok,
        tolerance,
        order.get(key, UNKNOWN - 1),
        problem,
        given.text,
        key,
        "ok" if ok else "wrong",
    )


class Checker:
    """An exercise solved once, against which any number of answer sheets is checked.

    The exact solution, its names and its document (the order of computation and the formula
    behind each number) are built once; the exercise re-run under each known mistake is
    computed the first time a sheet needs it and kept, so a class of sheets costs one solve
    and one re-run per hypothesis, not one per sheet."""

    def __init__(self, exercise: Exercise, rtol: float = 1e-3) -> None:
        if not (rtol >= 0 and math.isfinite(rtol)):
            raise ValueError(f"check: rtol must be a finite number >= 0, got {rtol}")
        self.exercise, self.rtol = exercise, rtol
        self.trace = run(exercise, CORRECT)
        self.quantities = Quantities(self.trace)
        self.equations = solution_document(self.trace).equations()
        self.order = {key: i for i, key in enumerate(self.equations)}
        self._hypotheses = [(m, m.variants(exercise)) for m in MISTAKES]
        self._runs: dict[Any, Quantities | None] = {}

    def check(self, answers: list[Given]) -> Report:
        """Mark every answer, find the first wrong one in computation order and the mistakes
        that explain the wrong numbers."""
        results = sorted(
            (_mark(given, self.quantities, self.order, self.rtol) for given in answers),
            key=lambda r: r.order,
        )
        wrong = [r for r in results if r.status == "wrong"]
        first = None
        if wrong:
            result = wrong[0]
            equation = self.equations.get(result.key)
            first = {
                "name": result.name,
                "given": result.given,
                "expected": result.expected,
                "formula": equation_text(equation) if equation is not None else None,
            }
        explanations: list[dict[str, Any]] = []
        known = [r for r in results if r.status != "unknown"]
        if not known:
            verdict = "unchecked"
        elif not wrong:
            verdict = "correct"
        else:
            explanations = self.explain(answers, results)
            carried = [e for e in explanations if e["id"] == ROUNDING]
            if carried and carried[0]["explains_wrong"] == len(wrong):
                verdict = ROUNDING
            else:
                verdict = "incorrect"
        return Report(verdict, results, first, explanations)

    def run_under(self, key: Any, variant: Variant) -> Quantities | None:
        """The quantities of the exercise run under ``variant`` (kept under ``key``); None when
        the variant cannot run."""
        if key not in self._runs:
            try:
                self._runs[key] = Quantities(run(self.exercise, variant))
            except (ExerciseError, ValueError, FloatingPointError, ArithmeticError):
                self._runs[key] = None
        return self._runs[key]

    def explain(self, answers: list[Given], results: list[Result]) -> list[dict[str, Any]]:
        """The known mistakes (and pairs of them) whose re-run reproduces wrong answers; each
        is reported only when it explains at least one wrong answer, best first."""
        wrong = {r.name for r in results if r.status == "wrong"}
        checked = [g for g in answers if any(r.name == g.name and r.key for r in results)]
        decimals = Counter(g.decimals for g in checked).most_common(1)
        hypotheses = list(self._hypotheses)
        if decimals and decimals[0][0] > 0:
            rounding = rounding_mistake(decimals[0][0])
            hypotheses.append((rounding, rounding.variants(self.exercise)))
        found, singles = [], []
        for mistake, variants in hypotheses:
            best = None
            for index, (detail, variant) in enumerate(variants):
                key = (mistake.id, index, str(detail))
                score = self._score(key, variant, checked, wrong)
                if score is not None and (best is None or score[:2] > best[0][:2]):
                    best = (score, detail, variant, key)
            if best is None:
                continue
            (explained, matched, of), detail, variant, key = best
            singles.append((mistake, detail, variant, explained, key))
            if explained:
                found.append(
                    _entry(mistake.id, mistake.description, detail, explained, matched, of, wrong)
                )
        if wrong and not any(e["explains_wrong"] == len(wrong) for e in found):
            for (a, da, va, ea, ka), (b, db, vb, eb, kb) in combinations(singles, 2):
                if ROUNDING in (a.id, b.id):
                    continue
                both = combine(va, vb)
                score = None if both is None else self._score((ka, kb), both, checked, wrong)
                if score is None or score[0] <= max(ea, eb):
                    continue
                explained, matched, of = score
                found.append(
                    _entry(
                        f"{a.id}+{b.id}",
                        M(
                            "mistake.combined",
                            "{first}, and {second}",
                            first=a.description,
                            second=b.description,
                        ),
                        M("mistake.combined_detail", "{first}; and {second}", first=da, second=db),
                        explained,
                        matched,
                        of,
                        wrong,
                    )
                )
        found.sort(key=lambda e: (-e["explains_wrong"], -e["matched"], "+" in e["id"]))
        return found

    def _score(
        self, key: Any, variant: Variant, answers: list[Given], wrong: set[str]
    ) -> tuple[int, int, int] | None:
        """(wrong answers reproduced, answers reproduced, answers) by the exercise run under
        ``variant``; None when the variant cannot run."""
        quantities = self.run_under(key, variant)
        if quantities is None:
            return None
        matched = explained = 0
        for given in answers:
            try:
                value = float(quantities.value(quantities.resolve(given.name)))
            except UnknownNameError:
                continue
            if abs(given.value - value) <= _tolerance(given, value, self.rtol):
                matched += 1
                explained += given.name in wrong
        return explained, matched, len(answers)


def check(exercise: Exercise, answers: list[Given], rtol: float = 1e-3) -> Report:
    """Mark every answer, find the first wrong one in computation order and the mistakes
    that explain the wrong numbers (one sheet; :class:`Checker` for many)."""
    return Checker(exercise, rtol).check(answers)


def explain_mistakes(
    exercise: Exercise, answers: list[Given], results: list[Result], rtol: float
) -> list[dict[str, Any]]:
    """The known mistakes (and pairs of them) whose re-run reproduces wrong answers."""
    return Checker(exercise, rtol).explain(answers, results)


def _entry(id_, description, detail, explained, matched, of, wrong) -> dict[str, Any]:
    return {
        "id": id_,
        "description": description,
        "detail": detail,
        "matched": matched,
        "of": of,
        "explains_wrong": explained,
        "wrong": len(wrong),
    }
