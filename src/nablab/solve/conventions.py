"""One exercise under the conventions a course might use, and where the numbers part.

"Why does my number differ from the book's?" is most often a convention: momentum as a
velocity or as PyTorch's buffer, ε inside or outside the square root, a ½ in front of the
squared error or not, the loss averaged or summed over the batch, one bias per layer or one per
unit, Adam's bias correction on or off. For each convention that applies to the exercise,
:func:`compare` solves it again with that convention flipped and finds the first quantity, in
the order the solution computes them, whose value differs, with its formula under each.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nablab.i18n import Listing, M
from nablab.optim.registry import OPTIMIZERS
from nablab.solve.derive import solution_document
from nablab.solve.document import Document, Equation, Heading, Pair, Para
from nablab.solve.names import Quantities
from nablab.solve.spec import Exercise, ExerciseError, parse_exercise
from nablab.solve.trace import Trace, run

RTOL = 1e-12


@dataclass
class Axis:
    """One convention: its name, the exercise's choice, the other choice and how to flip it."""

    id: str
    label: Any
    mine: str
    other: str
    flip: Callable[[dict], None]


def _options(exercise: Exercise) -> dict:
    return exercise.optimizer.options()


def axes(exercise: Exercise) -> list[Axis]:
    """The conventions that apply to ``exercise``."""
    out: list[Axis] = []
    kind = exercise.optimizer.type
    options = _options(exercise)
    declared = {o.name for o in OPTIMIZERS[kind].options}
    if kind == "sgd" and options.get("momentum"):
        current = options.get("convention", "pytorch")
        other = "velocity" if current == "pytorch" else "pytorch"
        out.append(
            Axis(
                "momentum",
                M(
                    "conventions.momentum",
                    "momentum as a velocity (⁅v ← μv − η·g, w ← w + v⁆) or as PyTorch's buffer "
                    "(⁅b ← μb + g, w ← w − η·b⁆)",
                ),
                current,
                other,
                lambda d, o=other: d["optimizer"].__setitem__("convention", o),
            )
        )
    if "eps_placement" in declared:
        current = options.get("eps_placement", "outside")
        other = "inside" if current == "outside" else "outside"
        out.append(
            Axis(
                "eps",
                M("conventions.eps", "ε inside the square root ⁅√(v + ε)⁆ or outside it ⁅√v + ε⁆"),
                current,
                other,
                lambda d, o=other: d["optimizer"].__setitem__("eps_placement", o),
            )
        )
    loss = exercise.loss
    if loss.type == "mse":
        other_factor = 1.0 if loss.factor == 0.5 else 0.5
        out.append(
            Axis(
                "half",
                M("conventions.half", "a ½ in front of the squared error, or none"),
                f"factor {loss.factor:g}",
                f"factor {other_factor:g}",
                lambda d, f=other_factor: d["loss"].__setitem__("factor", f),
            )
        )
    other_reduction = "mean" if loss.reduction == "sum" else "sum"
    out.append(
        Axis(
            "reduction",
            M("conventions.reduction", "the loss averaged over the batch (mean) or summed (sum)"),
            loss.reduction,
            other_reduction,
            lambda d, r=other_reduction: d["loss"].__setitem__("reduction", r),
        )
    )
    biased = [
        layer for layer in exercise.layers if layer.type == "linear" and layer.bias is not None
    ]
    if biased:
        shared = all(not isinstance(layer.bias, list) for layer in biased)
        out.append(
            Axis(
                "bias",
                M("conventions.bias", "one bias shared by a layer, or one bias per unit"),
                "shared" if shared else "per unit",
                "per unit" if shared else "shared",
                lambda d, s=shared: _flip_biases(d, to_per_unit=s),
            )
        )
    if "bias_correction" in declared:
        current = bool(options.get("bias_correction", True))
        out.append(
            Axis(
                "bias_correction",
                M(
                    "conventions.bias_correction",
                    "Adam's bias correction (⁅m/(1 − β₁ᵗ), v/(1 − β₂ᵗ)⁆) on or off",
                ),
                "on" if current else "off",
                "off" if current else "on",
                lambda d, c=current: d["optimizer"].__setitem__("bias_correction", not c),
            )
        )
    return out


def _flip_biases(data: dict, to_per_unit: bool) -> None:
    for layer in data["layers"]:
        if layer.get("type") != "linear" or layer.get("bias") is None:
            continue
        units = len(layer["weights"][0])
        names = layer.get("names") or {}
        if to_per_unit:
            layer["bias"] = [layer["bias"]] * units
            if names.get("bias"):
                names["bias"] = [f"{names['bias']}[{j + 1}]" for j in range(units)]
        else:
            values = layer["bias"]
            if len(set(values)) > 1:
                raise ExerciseError(
                    [
                        f"the biases {values} differ from unit to unit, so no bias shared by the "
                        "layer gives the same network"
                    ],
                    "conventions",
                )
            layer["bias"] = values[0]
            if names.get("bias"):
                names["bias"] = None


@dataclass
class Comparison:
    axis: Axis
    trace: Trace | None
    first: str | None = None  # the canonical key of the first differing quantity
    other_key: str | None = None  # its key in the other solution (a state may be renamed)
    values: tuple[float, float] | None = None
    equations: tuple[Equation | None, Equation | None] = (None, None)
    renamed: list[str] = field(default_factory=list)  # quantities only one side has
    error: str | None = None


_STATE = re.compile(r"^(?P<symbol>[A-Za-z_]+)\((?P<name>.+)\)@(?P<step>\w+)$")


def _counterparts(base: Quantities, other: Quantities) -> Callable[[str], str | None]:
    """The key of the same quantity in the other solution: the same key; a parameter renamed
    (a shared ``b1`` is ``b1[1]`` per unit, and back); or optimizer state under its other
    symbol (the velocity ``v(w5)`` for the buffer ``b(w5)``)."""
    names = {}
    mine, theirs = set(base.params), set(other.params)
    for name in mine - theirs:
        stem = name.split("[")[0]
        candidates = [n for n in other.params if n not in mine and n.split("[")[0] == stem]
        if candidates:
            names[name] = candidates[0]

    def rename(key: str) -> str:
        for old, new in names.items():
            key = re.sub(rf"(?<![\w\[]){re.escape(old)}(?![\w\[])", new, key)
        return key

    def find(key: str) -> str | None:
        key2 = rename(key)
        if key2 in other:
            return key2
        match = _STATE.match(key2)
        if match and base.table[key].kind == "optimizer state":
            suffix = f"({match['name']})@{match['step']}"
            states = [
                k
                for k, q in other.table.items()
                if q.kind == "optimizer state" and k.endswith(suffix) and k not in base
            ]
            if len(states) == 1:
                return states[0]
        return None

    return find


def _data(exercise: Exercise) -> dict:
    return copy.deepcopy(exercise.model_dump(exclude_none=True))


def compare(exercise: Exercise) -> tuple[Trace, list[Comparison]]:
    """The exercise's own solution and, for each convention, the first difference."""
    base = run(exercise)
    base_quantities = Quantities(base)
    base_equations = solution_document(base).equations()
    order = [k for k in base_equations if k in base_quantities]
    order += [k for k in base_quantities.table if k not in base_equations]
    out = []
    for axis in axes(exercise):
        data = _data(exercise)
        try:
            axis.flip(data)
            other = run(parse_exercise(data, exercise.title))
        except ExerciseError as error:
            out.append(Comparison(axis, None, error="; ".join(error.problems)))
            continue
        quantities = Quantities(other)
        comparison = Comparison(axis, other)
        counterpart = _counterparts(base_quantities, quantities)
        for key in order:
            twin = counterpart(key)
            if twin is None:
                comparison.renamed.append(key)
                continue
            a, b = base_quantities.value(key), quantities.value(twin)
            if abs(a - b) > RTOL * max(abs(a), abs(b), 1e-300):
                equations = solution_document(other).equations()
                comparison.first, comparison.other_key = key, twin
                comparison.values = (float(a), float(b))
                comparison.equations = (base_equations.get(key), equations.get(twin))
                break
        out.append(comparison)
    return base, out


def comparison_document(exercise: Exercise) -> Document:
    """The comparison as a document: per convention, both choices and the first quantity
    where the numbers part, its formula under each side by side."""
    _, comparisons = compare(exercise)
    items: list = [
        Para(
            M(
                "conventions.intro",
                "The same exercise under each convention a course might choose; for each, the "
                "first quantity (in the order of computation) whose value changes.",
            )
        )
    ]
    for c in comparisons:
        axis = c.axis
        items.append(Heading(axis.label))
        items.append(
            Para(
                M(
                    "conventions.choices",
                    "This exercise: {mine}; the other convention: {other}.",
                    mine=axis.mine,
                    other=axis.other,
                )
            )
        )
        if c.error is not None:
            items.append(
                Para(M("conventions.error", "Cannot be solved that way: {error}", error=c.error))
            )
        elif c.first is None:
            items.append(
                Para(
                    M(
                        "conventions.same",
                        "Every quantity both solutions compute has the same value.",
                    )
                )
            )
        else:
            items.append(
                Para(
                    M(
                        "conventions.first",
                        "First difference: ⁅{name} = {mine}⁆ here, ⁅{other_name} = {other}⁆ under "
                        "the other convention.",
                        name=c.first,
                        other_name=c.other_key,
                        mine=f"{c.values[0]:.10g}",
                        other=f"{c.values[1]:.10g}",
                    )
                )
            )
            items.append(
                Pair(
                    (
                        M("conventions.label.mine", "this exercise ({choice})", choice=axis.mine),
                        M("conventions.label.other", "other ({choice})", choice=axis.other),
                    ),
                    c.equations,
                )
            )
        if c.renamed:
            shown = c.renamed[:4]
            items.append(
                Para(
                    M(
                        "conventions.renamed",
                        "Named differently under the other convention ({count}): {names}",
                        count=len(c.renamed),
                        names=Listing(shown + (["…"] if len(c.renamed) > len(shown) else [])),
                    )
                )
            )
    title = M("conventions.title", "{title}: conventions compared", title=exercise.title)
    return Document(str(title), items)
