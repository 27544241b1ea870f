"""Grid, random and TPE search: which points, in which order, the same every time."""

from __future__ import annotations

import math

import numpy as np

from nablab.sweep.search import make_search
from nablab.sweep.spec import parse_sweep


def all_points(search, objective=None) -> list[dict]:
    points = []
    while batch := search.ask():
        points += batch
        search.tell([objective(p) if objective else None for p in batch])
    return points


def test_grid_is_every_combination_with_the_last_axis_fastest():
    sweep = parse_sweep({"axes": {"optimizer": ["sgd", "adam"], "lr": [0.1, 1.0, 2.0]}})
    search = make_search(sweep)
    assert search.ask() == [
        {"optimizer": o, "lr": lr} for o in ("sgd", "adam") for lr in (0.1, 1.0, 2.0)
    ]
    assert search.ask() == []


def test_random_search_draws_from_numpy_with_the_search_seed():
    sweep = parse_sweep(
        {
            "axes": {
                "lr": {"low": 1e-4, "high": 1.0, "log": True},
                "batch_size": {"low": 16, "high": 20, "integer": True},
                "dropout": {"low": 0.0, "high": 0.5},
                "optimizer": ["sgd", "adam", "rmsprop"],
            },
            "search": {"type": "random", "trials": 400, "seed": 7},
        }
    )
    points = all_points(make_search(sweep))
    assert len(points) == 400 and points == all_points(make_search(sweep))
    rng = np.random.default_rng(7)
    first_lr = math.exp(rng.uniform(math.log(1e-4), math.log(1.0)))
    assert points[0]["lr"] == first_lr
    lrs = np.log10([p["lr"] for p in points])
    assert lrs.min() >= -4 and lrs.max() <= 0
    assert abs(np.mean(lrs < -2) - 0.5) < 0.1  # log-uniform: half the draws below 1e-2
    assert {p["batch_size"] for p in points} == {16, 17, 18, 19, 20}
    assert all(0 <= p["dropout"] <= 0.5 for p in points)
    assert {p["optimizer"] for p in points} == {"sgd", "adam", "rmsprop"}
    other = parse_sweep({**sweep.model_dump(), "search": {"type": "random", "trials": 400}})
    assert all_points(make_search(other)) != points


def _quadratic(point: dict) -> float:
    return (math.log10(point["lr"]) + 2.0) ** 2 + (0.0 if point["activation"] == "tanh" else 1.0)


TPE = {
    "axes": {"lr": {"low": 1e-5, "high": 1.0, "log": True}, "activation": ["relu", "tanh"]},
    "search": {"type": "tpe", "trials": 24, "seed": 3, "batch": 4, "startup": 8},
    "metric": "val_loss",
}


def test_tpe_is_optunas_sampler_driven_by_ask_and_tell():
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    points = all_points(make_search(parse_sweep(TPE)), _quadratic)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=3, n_startup_trials=8))
    space = {
        "lr": FloatDistribution(1e-5, 1.0, log=True),
        "activation": CategoricalDistribution([0, 1]),
    }
    expected = []
    for _ in range(6):
        trials = [study.ask(space) for _ in range(4)]
        for trial in trials:
            point = {
                "lr": trial.params["lr"],
                "activation": ["relu", "tanh"][trial.params["activation"]],
            }
            expected.append(point)
            study.tell(trial, _quadratic(point))
    assert points == expected
    assert points == all_points(make_search(parse_sweep(TPE)), _quadratic)
    best_late = min(_quadratic(p) for p in points[8:])
    assert best_late < min(_quadratic(p) for p in points[:8])


def test_tpe_rounds_are_its_batch_and_failures_are_told_as_failed():
    search = make_search(parse_sweep({**TPE, "search": {**TPE["search"], "trials": 10}}))
    sizes = []
    while batch := search.ask():
        sizes.append(len(batch))
        search.tell([None] * len(batch))
    assert sizes == [4, 4, 2]
    states = {t.state.name for t in search._study.trials}
    assert states == {"FAIL"}
