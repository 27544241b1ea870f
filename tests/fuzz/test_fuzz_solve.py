"""Exercise files and answer sheets, mutated and corrupted: ``nablab solve`` and
``nablab check`` answer with a result or a clear error, never a traceback or a hang."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import run_command
from helpers.solve_helpers import EXAMPLES

EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))
EXAMPLES_COUNT = int(os.environ.get("NABLAB_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES_COUNT,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

ODD_VALUES = st.one_of(
    st.sampled_from(
        [
            float("nan"),
            float("inf"),
            -float("inf"),
            1e308,
            -1e308,
            0.0,
            -0.0,
            1e-320,
            10**30,
            -1,
            0,
            1,
            2,
            1000000,
            True,
            False,
            None,
            "",
            "x",
            "1e400",
            "nan",
            [],
            {},
            [[]],
            [1],
            [[1, 2], [3]],
            {"a": 1},
            "ReLU",
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.text(max_size=8),
    st.lists(st.floats(-10, 10), max_size=4),
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _set(tree, path, value):
    if not path:
        return value
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return tree


def _delete(tree, path):
    if not path:
        return tree
    node = tree
    for key in path[:-1]:
        node = node[key]
    if isinstance(node, dict):
        node.pop(path[-1], None)
    elif isinstance(node, list) and node:
        node.pop(path[-1])
    return tree


@st.composite
def mutated_exercise(draw):
    name = draw(st.sampled_from(EXAMPLE_NAMES))
    tree = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(tree))
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["set", "set", "delete", "add"]))
        if action == "set":
            tree = _set(copy.deepcopy(tree), path, draw(ODD_VALUES))
        elif action == "delete":
            tree = _delete(copy.deepcopy(tree), path)
        elif isinstance(tree, dict):
            tree = dict(tree, **{draw(st.text(min_size=1, max_size=6)): draw(ODD_VALUES)})
    return name, tree


def _dump(tree) -> str:
    return yaml.safe_dump(tree, allow_unicode=True, sort_keys=False)


@FUZZ
@given(case=mutated_exercise())
def test_mutated_exercise_files(tmp_path_factory, case):
    _, tree = case
    work = tmp_path_factory.mktemp("solve")
    (work / "exercise.yaml").write_text(_dump(tree), encoding="utf-8")
    run_command(["solve", "exercise.yaml", "--format", "json"], work)
    run_command(["solve", "exercise.yaml", "--verify"], work)


RAW_CORRUPTIONS = [
    lambda text: text[: len(text) // 2],  # truncated
    lambda text: text.replace(":", "", 1),
    lambda text: "\t" + text,
    lambda text: text + "\ninputs: [[1, 2]]\n",  # a duplicate key
    lambda text: "[" * 5000 + "]" * 5000,  # deep nesting
    lambda text: "a: &a [1, 2]\n" + "".join(f"b{i}: &b{i} [*a, *a]\n" for i in range(40)),
    lambda text: "!!python/object/apply:os.system ['echo pwned']",
    lambda text: "",
    lambda text: "just a string",
]


@FUZZ
@given(
    name=st.sampled_from(EXAMPLE_NAMES),
    corrupt=st.sampled_from(range(len(RAW_CORRUPTIONS))),
    encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]),
)
def test_corrupted_exercise_text(tmp_path_factory, name, corrupt, encoding):
    work = tmp_path_factory.mktemp("raw")
    text = RAW_CORRUPTIONS[corrupt]((EXAMPLES / f"{name}.yaml").read_text())
    try:
        (work / "exercise.yaml").write_bytes(text.encode(encoding))
    except UnicodeEncodeError:
        (work / "exercise.yaml").write_bytes(text.encode("utf-8", "replace"))
    outcome = run_command(["solve", "exercise.yaml", "--format", "json"], work)
    assert "pwned" not in outcome.out


def test_binary_fifo_and_device_exercise_files(tmp_path):
    (tmp_path / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    assert run_command(["solve", "binary.yaml"], tmp_path).code == 2
    os.mkfifo(tmp_path / "pipe.yaml")
    assert run_command(["solve", "pipe.yaml"], tmp_path).code == 2  # no hang
    assert run_command(["solve", "/dev/urandom"], tmp_path).code == 2
    assert run_command(["solve", str(tmp_path)], tmp_path).code == 2


ANSWER_VALUES = st.one_of(
    st.sampled_from(
        [
            "0.3589",
            "1e400",
            "-1e400",
            "nan",
            "inf",
            "",
            "0.",
            "--1",
            "1,5",
            "0x1p-2",
            "½",
            "١٫٥",
            "0.35891648",
            "  0.4 ",
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=2),
    st.none(),
)
ANSWER_NAMES = st.one_of(
    st.sampled_from(
        [
            "w5",
            "W5",
            "w5@1",
            "w5@9",
            "out_h1@1",
            "loss@1",
            "loss@final",
            "grad(w5)@1",
            "velocity(w5)@1",
            "v(w5)@1",
            "m(w5)",
            "γ1[1]",
            "w5@",
            "@1",
            "grad()",
            "w5@-1",
            "w5@1.5",
        ]
    ),
    st.text(max_size=10),
)


@FUZZ
@given(
    answers=st.dictionaries(ANSWER_NAMES, ANSWER_VALUES, max_size=6),
    rtol=st.sampled_from(["1e-3", "0", "inf", "nan", "-1", "1e9"]),
)
def test_fuzzed_answer_sheets(tmp_path_factory, answers, rtol):
    work = tmp_path_factory.mktemp("check")
    (work / "answers.yaml").write_text(yaml.safe_dump(answers, allow_unicode=True))
    exercise = str(EXAMPLES / "mazur.yaml")
    outcome = run_command(["check", exercise, "answers.yaml", "--rtol", rtol], work)
    if rtol in ("inf", "nan", "-1"):
        assert outcome.code == 2, outcome  # a tolerance must be finite and non-negative
    run_command(["check", exercise, "answers.yaml", "--format", "json"], work)


def test_the_suite_size_is_reported(record_property):
    cases = 2 * EXAMPLES_COUNT + EXAMPLES_COUNT + 4 + 2 * EXAMPLES_COUNT
    record_property("fuzz_cases_solve", cases)
    assert Path(EXAMPLES).is_dir()
