"""The sweep file: a YAML description of a sweep, validated into a :class:`Sweep`.

Like an exercise file, every problem is reported at once, one line each with its path
(``axes.lr[3]: must be in (0, inf), got -1.0``), and an unknown key is an error::

    title: Optimizers and learning rates on digits
    kind: train                  # what a trial is (the trial-kind registry); train by default
    base:                        # the settings every trial shares (nablab train's, as fields)
      data: digits
      epochs: 20
    axes:                        # what varies: a list of values (any search) or a range
      optimizer: [sgd, rmsprop, adam]
      lr: [0.001, 0.01, 0.1, 1.0]
    seeds: 3                     # each point runs with seeds 0, 1, 2 (or a list of seeds)
    metric: val_acc              # what the table ranks and the search optimizes
    direction: maximize          # by default: minimize a loss, maximize anything else
    search: grid                 # or {type: random, trials: 20} or {type: tpe, trials: 20}
    backend: local               # or ray (with address); the command line can override

A range axis is ``{low: 1e-4, high: 1, log: true}`` (``integer: true`` for whole numbers);
random and TPE search sample ranges and pick from lists, grid search takes lists only.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nablab.errors import NablabError
from nablab.sweep.backends import BACKENDS
from nablab.sweep.kinds import TRIAL_KINDS
from nablab.sweep.search import SEARCHES


class SweepError(NablabError):
    """Everything wrong with a sweep file, one ``path: message`` per problem."""

    def __init__(self, problems: list[str], source: str = "sweep") -> None:
        self.problems = problems
        self.source = source
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RangeAxis(_Strict):
    """A continuous (or whole-number) range, sampled uniformly or log-uniformly."""

    low: float
    high: float
    log: bool = False
    integer: bool = False


class SearchSpec(_Strict):
    type: str = "grid"
    trials: Annotated[int, Field(ge=1)] | None = None
    seed: Annotated[int, Field(ge=0)] = 0
    batch: Annotated[int, Field(ge=1)] = 4
    startup: Annotated[int, Field(ge=0)] = 10


Axis = list[Any] | RangeAxis


class Sweep(_Strict):
    title: str | None = None
    kind: str = "train"
    base: dict[str, Any] = Field(default_factory=dict)
    axes: dict[str, Axis] = Field(default_factory=dict)
    seeds: Annotated[int, Field(ge=1)] | list[Annotated[int, Field(ge=0)]] = 1
    metric: str | None = None
    direction: Literal["minimize", "maximize"] | None = None
    search: SearchSpec = SearchSpec()
    backend: str = "local"
    address: str | None = None
    workers: Annotated[int, Field(ge=1)] | None = None
    color_by: str | None = None

    @field_validator("search", mode="before")
    @classmethod
    def _search_by_name(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    @property
    def trial_kind(self):
        return TRIAL_KINDS[self.kind]

    @property
    def metric_name(self) -> str:
        return self.metric or self.trial_kind.default_metric

    @property
    def metric_direction(self) -> str:
        return self.direction or self.trial_kind.direction(self.metric_name)

    @property
    def color_axis(self) -> str | None:
        return self.color_by or next(iter(self.axes), None)

    def definition(self) -> dict[str, Any]:
        """What decides the trials and their results (not where or how they run): the store
        refuses to mix two definitions in one folder."""
        keep = ("kind", "base", "axes", "seeds", "metric", "direction", "search")
        data = self.model_dump(mode="json", include=set(keep))
        data["seeds"], data["metric"] = self.seed_list, self.metric_name
        data["direction"] = self.metric_direction
        return data

    def n_trials(self) -> int:
        points = self.search.trials
        if self.search.type == "grid":
            points = math.prod(len(v) for v in self.axes.values() if isinstance(v, list))
        return points * len(self.seed_list)


# ------------------------------------------------------------------------------- parsing


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-3`` as a string; sweep files write learning rates that way."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)

_MISMATCH = {"list_type", "model_type", "dict_type", "int_type", "int_parsing", "float_type"}
_EXPECTED = {
    "axes": "expected a list of values or a range {low, high, log, integer}",
    "seeds": "expected a number of seeds or a list of seeds",
    "search": "expected a search name or {type, trials, seed, batch, startup}",
}


def _member(part: Any) -> bool:
    """A union member's tag in a pydantic location (``list[any]``, ``RangeAxis``, ...)."""
    return isinstance(part, str) and (
        part == "RangeAxis" or "[" in part or part.startswith(("constrained-", "function-"))
    )


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _member(part):
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _message(item: dict[str, Any]) -> str:
    if item["type"] == "extra_forbidden":
        return "unknown key (not part of the sweep format; see `nablab sweep --help`)"
    if item["type"] == "missing":
        return "required key is missing"
    if item["type"] == "literal_error":
        return f"{item['msg']}, got {item['input']!r}"
    if item["type"] == "greater_than_equal":
        return f"must be ≥ {item['ctx']['ge']}, got {item['input']!r}"
    if item["type"] == "model_type" and item["loc"][-1] in _EXPECTED:
        return f"{_EXPECTED[item['loc'][-1]]}, got {item['input']!r}"
    return item["msg"]


def _pydantic_problems(error: ValidationError) -> list[str]:
    """One line per problem. Where a value may take one of several forms (a list or a range),
    the problems of the form the value has are kept; a value of none of the forms gets one
    line saying which forms are accepted."""
    problems: dict[str, tuple[int, str]] = {}  # path: (order in the file, message)
    unions: dict[tuple, list[dict[str, Any]]] = {}
    for order, item in enumerate(error.errors()):
        loc = item["loc"]
        member = next((i for i, part in enumerate(loc) if _member(part)), None)
        if member is None:
            problems.setdefault(_path(loc), (order, _message(item)))
        else:
            unions.setdefault(loc[:member], []).append(
                {**item, "depth": len(loc) - member, "order": order}
            )
    for prefix, items in unions.items():
        shape = [i for i in items if not (i["depth"] == 1 and i["type"] in _MISMATCH)]
        for item in shape:
            problems.setdefault(_path(item["loc"]), (item["order"], _message(item)))
        if not shape:
            expected = _EXPECTED.get(prefix[0], items[0]["msg"])
            given = items[0]["input"]
            problems.setdefault(_path(prefix), (items[0]["order"], f"{expected}, got {given!r}"))
    ordered = sorted(problems.items(), key=lambda item: item[1][0])
    return [f"{where}: {message}" for where, (_, message) in ordered]


def _registered(name: str, registry, where: str, problems: list[str]) -> bool:
    if name in registry:
        return True
    problems.append(f"{where}: {registry.unknown_message(name)}")
    return False


def _check_axis(
    sweep: Sweep, kind, name: str, axis: Axis, base: dict[str, Any], problems: list[str]
) -> None:
    where = f"axes.{name}"
    if isinstance(axis, list):
        if not axis:
            problems.append(f"{where}: give at least one value")
        seen: list[Any] = []
        for index, value in enumerate(axis):
            if value in seen and type(value) is type(seen[seen.index(value)]):
                problems.append(f"{where}[{index}]: {value!r} appears twice")
            seen.append(value)
            for message in kind.check(base, {name: value}).values():
                problems.append(f"{where}[{index}]: {message}")
        return
    if sweep.search.type == "grid":
        problems.append(
            f"{where}: grid search needs a list of values; ranges are for random and tpe search"
        )
        return
    if not axis.low < axis.high:
        problems.append(f"{where}: low must be below high, got low {axis.low} and high {axis.high}")
    if axis.log and axis.low <= 0:
        problems.append(f"{where}.low: a log range needs low > 0, got {axis.low}")
        return
    for end in ("low", "high"):
        value = getattr(axis, end)
        if axis.integer:
            if value != int(value):
                problems.append(f"{where}.{end}: an integer range needs whole numbers, got {value}")
                continue
            value = int(value)
        for message in kind.check(base, {name: value}).values():
            problems.append(f"{where}.{end}: {message}")


def _cross_check(sweep: Sweep) -> list[str]:
    problems: list[str] = []
    _registered(sweep.search.type, SEARCHES, "search.type", problems)
    _registered(sweep.backend, BACKENDS, "backend", problems)
    if not _registered(sweep.kind, TRIAL_KINDS, "kind", problems):
        return problems
    kind = sweep.trial_kind
    names = kind.parameters()

    def known(name: str, where: str) -> bool:
        if name == "seed":
            problems.append(f"{where}: set the seeds with the top-level key `seeds`")
            return False
        if name not in names:
            problems.append(
                f"{where}: not a setting of a {sweep.kind} trial; valid: {', '.join(names)}"
            )
            return False
        return True

    base = {k: v for k, v in sweep.base.items() if known(k, f"base.{k}")}
    while bad := kind.check(base, {}):  # one bad field at a time; check the rest without it
        for name, message in bad.items():
            problems.append(f"base.{name}: {message}")
            base.pop(name, None)
        if "(config)" in bad:
            return problems
    for name, axis in sweep.axes.items():
        if known(name, f"axes.{name}"):
            _check_axis(sweep, kind, name, axis, base, problems)
    if isinstance(sweep.seeds, list):
        if not sweep.seeds:
            problems.append("seeds: give at least one seed")
        if len(set(sweep.seeds)) != len(sweep.seeds):
            problems.append("seeds: a seed appears twice")
    if sweep.metric is not None and sweep.metric not in kind.metrics:
        problems.append(
            f"metric: unknown metric {sweep.metric!r} of a {sweep.kind} trial; "
            f"valid: {', '.join(kind.metrics)}"
        )
    if sweep.search.type in ("random", "tpe") and sweep.search.trials is None:
        problems.append(f"search.trials: {sweep.search.type} search needs a number of trials")
    if sweep.search.type == "grid" and sweep.search.trials is not None:
        problems.append("search.trials: grid search runs every combination; remove trials")
    if sweep.search.type in ("random", "tpe") and not sweep.axes:
        problems.append(f"axes: {sweep.search.type} search needs at least one axis")
    if sweep.color_by is not None and sweep.color_by not in sweep.axes:
        problems.append(
            f"color_by: {sweep.color_by!r} is not an axis; axes: {', '.join(sweep.axes) or 'none'}"
        )
    return problems


def parse_sweep(data: Any, source: str = "sweep") -> Sweep:
    """Validate parsed YAML (a mapping) into a :class:`Sweep` or raise :class:`SweepError`."""
    if not isinstance(data, dict):
        raise SweepError(
            [f"(top level): expected a mapping of keys, got {type(data).__name__}"], source
        )
    try:
        sweep = Sweep.model_validate(data)
    except ValidationError as error:
        raise SweepError(_pydantic_problems(error), source) from None
    problems = _cross_check(sweep)
    if problems:
        raise SweepError(problems, source)
    return sweep


def read_yaml(path: str | Path, error: type[Exception] = SweepError) -> Any:
    """Parsed YAML of ``path`` (``1e-3`` read as a number), problems as ``error``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as problem:
        raise error([f"cannot read the file: {problem.strerror}"], str(path)) from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        text = getattr(problem, "problem", None) or str(problem)
        raise error([f"{where}: invalid YAML: {text}"], str(path)) from None


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file."""
    return parse_sweep(read_yaml(path), str(path))
