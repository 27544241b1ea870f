"""A different exercise for every student: ranges in the exercise file, drawn per student.

Any number of an exercise file may be replaced by a range, and a whole matrix or vector by a
range with a shape::

    weights: {random: [-1, 1], decimals: 2}          # a matrix: its shape from the network
    bias: {random: [0, 0.5], decimals: 2, shape: []} # one number: a shared bias
    inputs: {random: [-1, 1], decimals: 1, shape: [2, 3]}
    lr: {choice: [0.1, 0.25, 0.5]}

``random: [low, high]`` draws uniformly and rounds to ``decimals`` (default 2); ``choice``
picks one of its values; ``nonzero: true`` redraws a value that rounds to 0. Shapes follow the
network where they can (a linear layer's weights: the width before it × its units, known from
``names``, ``output_names`` or a ``shape``; a bias: one per unit, or one per output channel of
a conv1d layer; targets: one row per sample, one value per output); elsewhere ``shape`` is
needed: signal inputs [samples, channels, length], a conv1d kernel [output channels, taps] or
[output channels, input channels, taps], and a linear layer's weights after a convolution.

Each student's numbers come from a generator seeded by a stable hash of the sweep seed and the
student's id (SHA-256, not Python's salted ``hash``), so the same seed and id give the same
exercise on any machine. A draw that degenerates (a ReLU unit dead for every sample, a zero
gradient, a saturated sigmoid or tanh, a value that is not finite) is rejected and drawn again
from the same generator, unless that kind is allowed.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nablab._io import InputFileError, check_input_file
from nablab._yaml import YamlInputError
from nablab._yaml import read as read_yaml
from nablab.i18n import M
from nablab.solve.spec import Exercise, ExerciseError, _pydantic_problems, parse_exercise
from nablab.solve.trace import Trace, run

DEGENERACIES = ("dead_relu", "zero_gradient", "saturation", "not_finite")
SATURATION = 0.98  # |2σ − 1| or |tanh| beyond this: the derivative is below 4 % of its peak
MAX_TRIES = 1000


class RandomSpec(BaseModel):
    """A range (or a set of choices) in place of a number, vector or matrix."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    random: tuple[float, float] | None = None
    choice: Annotated[list[float], Field(min_length=1)] | None = None
    decimals: Annotated[int, Field(ge=0, le=12)] = 2
    shape: list[Annotated[int, Field(ge=1)]] | None = None
    nonzero: bool = False


def _is_random(node: Any) -> bool:
    return isinstance(node, dict) and ("random" in node or "choice" in node)


@dataclass
class Template:
    """An exercise file with ranges: its data, and each range by its path."""

    data: dict[str, Any]
    ranges: dict[tuple, RandomSpec]
    shapes: dict[tuple, tuple[int, ...]]
    source: str = "exercise"

    @property
    def randomized(self) -> bool:
        return bool(self.ranges)


def _path_text(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _walk(node: Any, path: tuple, found: dict[tuple, Any]) -> None:
    if _is_random(node):
        found[path] = node
    elif isinstance(node, dict):
        for key, value in node.items():
            _walk(value, (*path, key), found)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _walk(value, (*path, index), found)


def _matrix_shape(node: Any, spec: RandomSpec | None) -> tuple[int, ...] | None:
    if spec is not None:
        return tuple(spec.shape) if spec.shape is not None else None
    if isinstance(node, list) and node and isinstance(node[0], list):
        return (len(node), len(node[0]))
    if isinstance(node, list):
        return (len(node),)
    return ()


def _is_signal(inputs: list) -> bool:
    """Inputs given as signals (a list of channels per sample)."""
    first = inputs[0]
    return isinstance(first, list) and bool(first) and isinstance(first[0], list)


def _expected_shapes(data: dict, ranges: dict[tuple, RandomSpec], problems: list[str]) -> dict:
    """The shape each whole-field range must have, from the network around it."""
    shapes: dict[tuple, tuple[int, ...]] = {}
    inputs = data.get("inputs")
    spec = ranges.get(("inputs",))
    shape = _matrix_shape(inputs, spec)
    if spec is not None and (shape is None or len(shape) not in (2, 3)):
        problems.append(
            "inputs: a range for the inputs needs shape: [samples, inputs] (or [samples, "
            "channels, length] for signals)"
        )
        return shapes
    if spec is not None:
        shapes[("inputs",)] = shape
    n, width = shape[:2] if shape and len(shape) >= 2 else (None, None)
    if (shape and len(shape) == 3) or (isinstance(inputs, list) and inputs and _is_signal(inputs)):
        width = None  # a signal: the widths after it follow the convolutions
    layers = data.get("layers") if isinstance(data.get("layers"), list) else []
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict):
            continue
        where = ("layers", index)
        if layer.get("type") == "linear":
            weights = layer.get("weights")
            wspec = ranges.get((*where, "weights"))
            units = None
            if wspec is not None:
                names = layer.get("names") or {}
                if wspec.shape is not None:
                    if len(wspec.shape) != 2:
                        problems.append(
                            f"{_path_text((*where, 'weights'))}.shape: expected 2 sizes"
                        )
                        continue
                    units = wspec.shape[1]
                elif isinstance(names, dict) and isinstance(names.get("weights"), list):
                    units = len(names["weights"][0])
                elif isinstance(layer.get("output_names"), list):
                    units = len(layer["output_names"])
                if units is None:
                    problems.append(
                        f"{_path_text((*where, 'weights'))}: give shape: [{width or 'inputs'}, "
                        "units] (or names or output_names) so the range knows its units"
                    )
                    continue
                if width is None and wspec.shape is not None:
                    width = wspec.shape[0]  # after a convolution: the shape given
                shapes[(*where, "weights")] = (width, units)
            elif isinstance(weights, list) and weights and isinstance(weights[0], list):
                units = len(weights[0])
            bspec = ranges.get((*where, "bias"))
            if bspec is not None:
                shared = bspec.shape == []
                shapes[(*where, "bias")] = () if shared else (units,)
            width = units
        elif layer.get("type") == "batchnorm":
            for key in ("gamma", "beta"):
                if (*where, key) in ranges:
                    shapes[(*where, key)] = (width,)
        elif layer.get("type") == "conv1d":
            kspec = ranges.get((*where, "kernel"))
            kernel = layer.get("kernel")
            out_channels = None
            if kspec is not None:
                if kspec.shape is None or len(kspec.shape) not in (2, 3):
                    problems.append(
                        f"{_path_text((*where, 'kernel'))}: a range for a kernel needs shape: "
                        "[output channels, taps] or [output channels, input channels, taps]"
                    )
                    continue
                out_channels = kspec.shape[0]
            elif isinstance(kernel, list):
                out_channels = len(kernel)
            if (*where, "bias") in ranges:
                shapes[(*where, "bias")] = (out_channels,)
            width = None
        elif layer.get("type") in ("maxpool1d", "avgpool1d", "flatten"):
            width = None
    tspec = ranges.get(("targets",))
    if tspec is not None:
        loss = data.get("loss") if isinstance(data.get("loss"), dict) else {}
        classes = loss.get("type") == "cross_entropy" and tspec.choice is not None
        shapes[("targets",)] = (n,) if classes else (n, width)
    for path, shape in list(shapes.items()):
        given = ranges[path].shape
        if None in shape:
            problems.append(f"{_path_text(path)}: give shape: [...] (it cannot be inferred here)")
            del shapes[path]
        elif given is not None and tuple(given) != shape:
            problems.append(
                f"{_path_text(path)}.shape: expected {list(shape)} for this place, got {given}"
            )
    return shapes


def parse_template(data: Any, source: str = "exercise") -> Template:
    """An exercise file's data with its ranges validated (``path: message`` errors)."""
    if not isinstance(data, dict):
        raise ExerciseError(["(top level): expected a mapping of keys"], source)
    found: dict[tuple, Any] = {}
    _walk(data, (), found)
    problems: list[str] = []
    ranges: dict[tuple, RandomSpec] = {}
    for path, node in found.items():
        try:
            spec = RandomSpec.model_validate(node)
        except ValidationError as error:
            problems += [f"{_path_text(path)}.{p}" for p in _pydantic_problems(error)]
            continue
        where = _path_text(path)
        if (spec.random is None) == (spec.choice is None):
            problems.append(f"{where}: give either random: [low, high] or choice: [...]")
        elif spec.random is not None and not spec.random[0] < spec.random[1]:
            problems.append(
                f"{where}.random: expected [low, high] with low < high, got {list(spec.random)}"
            )
        ranges[path] = spec
    shapes = _expected_shapes(data, ranges, problems) if not problems else {}
    if problems:
        raise ExerciseError(problems, source)
    return Template(data, ranges, shapes, source)


def load_template(path: str | Path) -> Template:
    path = Path(path)
    try:
        data = read_yaml(path, "exercise")
    except YamlInputError as error:
        raise ExerciseError([str(error)], str(path)) from None
    return parse_template(data, str(path))


def student_seed(seed: int, student: str) -> int:
    """A stable 64-bit seed for ``student`` under the sweep ``seed`` (SHA-256)."""
    digest = hashlib.sha256(f"nablab-variant\0{seed}\0{student}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _value(spec: RandomSpec, rng: np.random.Generator) -> float:
    for _ in range(MAX_TRIES):
        if spec.choice is not None:
            value = float(spec.choice[int(rng.integers(len(spec.choice)))])
        else:
            value = round(float(rng.uniform(*spec.random)), spec.decimals)
        value = value + 0.0  # no −0
        if not spec.nonzero or value != 0:
            return int(value) if spec.choice is not None and value.is_integer() else value
    raise ExerciseError([f"nonzero: every draw of {spec} rounds to 0"], "variants")


def _fill(spec: RandomSpec, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
    if not shape:
        return _value(spec, rng)
    return [_fill(spec, shape[1:], rng) for _ in range(shape[0])]


def draw_data(template: Template, rng: np.random.Generator) -> dict[str, Any]:
    """The template's data with every range replaced by numbers from ``rng`` (in path order)."""
    data = copy.deepcopy(template.data)
    for path in sorted(template.ranges, key=_path_text):
        spec = template.ranges[path]
        shape = template.shapes.get(path, tuple(spec.shape or ()))
        value = _fill(spec, shape, rng)
        target = data
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return data


def degeneracies(trace: Trace) -> list[tuple[str, str]]:
    """The ways a solved draw is degenerate in its first step: (kind, what was seen)."""
    found: list[tuple[str, str]] = []
    step = trace.steps[0]
    for position, (layer, record) in enumerate(
        zip(trace.exercise.layers, step.layers, strict=True)
    ):
        out = record.output
        if layer.type == "relu":
            dead = np.flatnonzero(np.all(out <= 0, axis=0))
            if dead.size:
                names = [trace.built.output_names[position][j] for j in dead]
                found.append(("dead_relu", f"{', '.join(names)} off for every sample"))
        elif layer.type in ("sigmoid", "tanh"):
            level = np.abs(2 * out - 1) if layer.type == "sigmoid" else np.abs(out)
            if np.any(level > SATURATION):
                found.append(("saturation", f"layers[{position}] ({layer.type}) saturated"))
    values = [step.loss, trace.final_loss, *step.grads.values(), *trace.final_params.values()]
    if not all(np.isfinite(values)):
        found.append(("not_finite", "a value is not finite"))
    trainable = [s.name for s in trace.built.scalars if s.trainable]
    grads = np.array([step.grads[name] for name in trainable])
    if grads.size:
        scale = float(np.max(np.abs(grads)))
        zero = [n for n, g in zip(trainable, grads, strict=True) if abs(g) <= 1e-12 * scale]
        if scale == 0 or zero:
            found.append(("zero_gradient", f"∂E/∂{', ∂E/∂'.join(zero or trainable)} = 0"))
    return found


@dataclass
class Variant:
    """One student's exercise."""

    student: str
    seed: int
    tries: int
    data: dict[str, Any]
    exercise: Exercise
    trace: Trace
    rejected: list[str]


def draw_variant(
    template: Template,
    seed: int,
    student: str,
    allow: Iterable[str] = (),
    max_tries: int = MAX_TRIES,
) -> Variant:
    """``student``'s exercise: drawn until it does not degenerate (kinds in ``allow`` pass)."""
    allowed = set(allow)
    unknown = allowed - set(DEGENERACIES)
    if unknown:
        raise ExerciseError(
            [f"allow: unknown kind {sorted(unknown)[0]!r}; valid: {', '.join(DEGENERACIES)}"],
            "variants",
        )
    own_seed = student_seed(seed, student)
    rng = np.random.default_rng(own_seed)
    rejected: list[str] = []
    for tries in range(1, max_tries + 1):
        data = draw_data(template, rng)
        try:
            exercise = parse_exercise(data, template.source)
        except ExerciseError as error:
            hint = f" (in the draw for student {student!r})" if template.randomized else ""
            raise ExerciseError([p + hint for p in error.problems], template.source) from None
        try:
            with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
                trace = run(exercise)
        except (FloatingPointError, ValueError, ArithmeticError) as error:
            rejected.append(f"not_finite: {error}")
            continue
        bad = [(k, what) for k, what in degeneracies(trace) if k not in allowed]
        if not bad:
            return Variant(student, own_seed, tries, data, exercise, trace, rejected)
        rejected.append("; ".join(f"{k}: {what}" for k, what in bad))
    raise ExerciseError(
        [
            f"no usable draw for student {student!r} in {max_tries} tries; the last one had "
            f"{rejected[-1]} (widen the ranges, or allow that kind with --allow)"
        ],
        template.source,
    )


# A class: the most variants one command draws (each writes four files).
MAX_STUDENTS = 2000


def read_roster(path: str | Path) -> list[str]:
    """Student ids from a CSV roster (a ``student``/``id`` column, else the first column)."""
    import csv

    path = Path(path)
    try:
        check_input_file(path, "roster", limit=16 * 1024**2)
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    except InputFileError as error:
        raise ExerciseError([str(error).split(": ", 1)[1]], str(path)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ExerciseError([f"cannot read the roster: {error}"], str(path)) from None
    numbered = [(n, r) for n, r in enumerate(rows, start=1) if any(c.strip() for c in r)]
    if not numbered:
        raise ExerciseError(["the roster is empty"], str(path))
    if len(numbered) > MAX_STUDENTS + 1:
        raise ExerciseError(
            [f"the roster lists {len(numbered):,} rows; at most {MAX_STUDENTS:,} students"],
            str(path),
        )
    header = [c.strip().lower() for c in numbered[0][1]]
    column = next((header.index(c) for c in ("student", "id", "student_id") if c in header), None)
    body = numbered[1:] if column is not None else numbered
    column = column or 0
    students, problems, seen = [], [], {}
    for number, row in body:
        student = row[column].strip() if column < len(row) else ""
        if not student:
            problems.append(f"line {number}: no student id")
        elif student in seen:
            problems.append(
                f"line {number}: {student!r} is listed twice (also line {seen[student]})"
            )
        else:
            seen[student] = number
            students.append(student)
    if problems:
        raise ExerciseError(problems, str(path))
    return students


def numbered_students(n: int) -> list[str]:
    """``s01 … s40`` for ``--n 40``."""
    width = max(2, len(str(n)))
    return [f"s{i:0{width}d}" for i in range(1, n + 1)]


def rejected_summary(variant: Variant) -> str:
    return M(
        "variants.redrawn",
        "{student}: drawn {tries} times ({rejected} rejected)",
        student=variant.student,
        tries=variant.tries,
        rejected=len(variant.rejected),
    )
