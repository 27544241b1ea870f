"""Sweep files, class sheets and variant requests, mutated: a result or a clear error."""

from __future__ import annotations

import copy
import os

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import run_command
from .test_fuzz_solve import ANSWER_NAMES, ANSWER_VALUES, ODD_VALUES, _delete, _paths, _set
from helpers.solve_helpers import EXAMPLES

EXAMPLES_COUNT = int(os.environ.get("NABLAB_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=max(EXAMPLES_COUNT // 2, 10),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

SWEEP = {
    "title": "tiny",
    "base": {"data": "moons", "hidden": [4], "epochs": 1, "batch_size": 64},
    "axes": {"lr": [0.01, 0.1]},
    "seeds": 1,
    "metric": "val_acc",
    "search": "grid",
}


@st.composite
def mutated_sweep(draw):
    tree = copy.deepcopy(SWEEP)
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(list(_paths(tree))))
        if draw(st.booleans()):
            tree = _set(copy.deepcopy(tree), path, draw(ODD_VALUES))
        else:
            tree = _delete(copy.deepcopy(tree), path)
    return tree


@FUZZ
@given(tree=mutated_sweep())
def test_mutated_sweep_files(tmp_path_factory, tree):
    work = tmp_path_factory.mktemp("sweep")
    (work / "sweep.yaml").write_text(yaml.safe_dump(tree, allow_unicode=True))
    run_command(
        ["sweep", "sweep.yaml", "--out", "out", "--workers", "1", "--quiet"], work, outputs=("out",)
    )


@FUZZ
@given(
    sheets=st.lists(
        st.dictionaries(ANSWER_NAMES, ANSWER_VALUES, max_size=4), min_size=1, max_size=4
    ),
    garbage=st.booleans(),
)
def test_a_class_of_fuzzed_sheets(tmp_path_factory, sheets, garbage):
    work = tmp_path_factory.mktemp("grade")
    folder = work / "sheets"
    folder.mkdir()
    for index, sheet in enumerate(sheets):
        (folder / f"student{index}.yaml").write_text(yaml.safe_dump(sheet, allow_unicode=True))
    if garbage:
        (folder / "broken.yaml").write_bytes(b"\xff\xfe\x00[[[: ")
    outcome = run_command(
        ["grade", str(EXAMPLES / "mazur.yaml"), "sheets", "--out", "grades"],
        work,
        outputs=("grades",),
    )
    if outcome.code == 0:
        assert (work / "grades" / "grades.csv").is_file()


@FUZZ
@given(
    n=st.sampled_from(["0", "-1", "1", "3", "abc", "100000"]),
    seed=st.sampled_from(["0", "-5", "x", "12345678901234567890"]),
)
def test_fuzzed_variant_requests(tmp_path_factory, n, seed):
    work = tmp_path_factory.mktemp("variants")
    run_command(
        [
            "variants",
            str(EXAMPLES / "variants" / "mazur.yaml"),
            "--n",
            n,
            "--seed",
            seed,
            "--out",
            "variants",
        ],
        work,
        outputs=("variants",),
    )
