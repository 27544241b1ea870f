"""The sweep file: what it accepts, and every problem reported at once with its path."""

from __future__ import annotations

import pytest

from nablab.sweep.spec import SweepError, load_sweep, parse_sweep

from helpers.sweep_helpers import ROOT, small, write_sweep


def problems(data: dict) -> list[str]:
    with pytest.raises(SweepError) as info:
        parse_sweep(data)
    return info.value.problems


def test_the_shipped_example_is_the_optimizer_and_learning_rate_grid():
    sweep = load_sweep(ROOT / "examples" / "sweeps" / "lr_optimizers.yaml")
    assert sweep.axes == {"optimizer": ["sgd", "rmsprop", "adam"], "lr": [0.001, 0.01, 0.1, 1.0]}
    assert sweep.seed_list == [0, 1, 2]
    assert sweep.n_trials() == 3 * 4 * 3
    assert (sweep.metric_name, sweep.metric_direction) == ("val_acc", "maximize")
    assert sweep.search.type == "grid" and sweep.backend == "local"


def test_defaults_follow_the_trial_kind_and_the_metric():
    sweep = parse_sweep({"axes": {"lr": [0.1]}, "metric": "val_loss"})
    assert (sweep.kind, sweep.metric_direction, sweep.seed_list) == ("train", "minimize", [0])
    assert parse_sweep({"seeds": [3, 7]}).seed_list == [3, 7]
    assert parse_sweep({}).metric_name == "val_acc"
    assert (
        parse_sweep({"search": {"type": "tpe", "trials": 5}, "axes": {"lr": [1.0]}}).n_trials() == 5
    )


def test_yaml_exponents_are_numbers(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("axes:\n  lr: [1e-3, 1E-2, 5e+0]\n  dropout: [.5]\n", encoding="utf-8")
    sweep = load_sweep(path)
    assert sweep.axes["lr"] == [0.001, 0.01, 5.0]
    assert sweep.axes["dropout"] == [0.5]


def test_every_problem_of_the_settings_is_named_by_its_path():
    found = problems(
        {
            "base": {"seed": 1, "lr": -1, "optimzer": "adam", "epochs": 0},
            "axes": {
                "lr": [0.1, -1, 0.1],
                "optimizer": ["adam", "adamm"],
                "hidden": [[64], [0], "x"],
                "batch_norm": [True, "yes"],
                "colour": [1],
            },
        }
    )
    assert found[0] == "base.seed: set the seeds with the top-level key `seeds`"
    assert found[1].startswith("base.optimzer: not a setting of a train trial; valid: data, ")
    assert found[2:] == [
        "base.lr: must be in (0, inf), got -1.0",
        "base.epochs: must be in [1, inf), got 0",
        "axes.lr[1]: must be in (0, inf), got -1.0",
        "axes.lr[2]: 0.1 appears twice",
        "axes.optimizer[1]: unknown optimizer 'adamm' (did you mean 'adam' or 'adamw'?); "
        "valid: sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw, newton",
        "axes.hidden[1]: sizes must be positive integers, got (0,)",
        "axes.hidden[2]: expected a list of integers, got 'x'",
        "axes.batch_norm[1]: expected true or false, got 'yes'",
        found[-1],
    ]
    assert found[-1].startswith("axes.colour: not a setting of a train trial")


def test_every_problem_of_the_format_is_named_by_its_path():
    assert problems(
        {
            "axes": {"lr": 0.1, "momentum": {"low": 0.1, "hgh": 0.9}},
            "seeds": 0,
            "search": {"type": "tpe", "trials": 0},
            "bogus": 1,
        }
    ) == [
        "axes.lr: expected a list of values or a range {low, high, log, integer}, got 0.1",
        "axes.momentum.high: required key is missing",
        "axes.momentum.hgh: unknown key (not part of the sweep format; see `nablab sweep --help`)",
        "seeds: must be ≥ 1, got 0",
        "search.trials: must be ≥ 1, got 0",
        "bogus: unknown key (not part of the sweep format; see `nablab sweep --help`)",
    ]


def test_names_come_from_the_registries():
    assert problems({"search": "gird", "backend": "rey", "kind": "lab", "metric": "acc"}) == [
        "search.type: unknown search 'gird' (did you mean 'grid'?); valid: grid, random, tpe",
        "backend: unknown backend 'rey' (did you mean 'ray'?); valid: local, ray",
        "kind: unknown trial kind 'lab'; valid: train",
    ]
    assert problems({"metric": "acc", "color_by": "lr", "axes": {"epochs": [1]}}) == [
        "metric: unknown metric 'acc' of a train trial; valid: train_loss, train_acc, "
        "val_loss, val_acc, test_loss, test_acc",
        "color_by: 'lr' is not an axis; axes: epochs",
    ]


def test_ranges_are_for_random_and_tpe_and_are_checked_at_both_ends():
    log_lr = {"low": 1e-4, "high": 1.0, "log": True}
    assert problems({"axes": {"lr": log_lr}}) == [
        "axes.lr: grid search needs a list of values; ranges are for random and tpe search"
    ]
    assert problems(
        {
            "axes": {
                "lr": {"low": 0, "high": 1, "log": True},
                "epochs": {"low": 1, "high": 2.5, "integer": True},
                "dropout": {"low": 0.5, "high": 1.5},
                "momentum": {"low": 0.9, "high": 0.1},
            },
            "search": "random",
        }
    ) == [
        "axes.lr.low: a log range needs low > 0, got 0.0",
        "axes.epochs.high: an integer range needs whole numbers, got 2.5",
        "axes.dropout.high: must be in [0, 1), got 1.5",
        "axes.momentum: low must be below high, got low 0.9 and high 0.1",
        "search.trials: random search needs a number of trials",
    ]
    assert parse_sweep({"axes": {"lr": log_lr}, "search": {"type": "tpe", "trials": 3}})


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(SweepError, match="cannot read the file"):
        load_sweep(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("axes: [\n", encoding="utf-8")
    with pytest.raises(SweepError, match="invalid YAML"):
        load_sweep(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n", encoding="utf-8")
    with pytest.raises(SweepError, match=r"\(top level\): expected a mapping of keys, got list"):
        load_sweep(listing)


def test_the_command_line_prints_the_problems_and_exits_2(tmp_path, capsys):
    from nablab.cli import main

    path = write_sweep(tmp_path, small(axes={"lr": [0.1, -1]}, seeds=0))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"nablab sweep: error: {path}: 1 problem(s)"
    assert "seeds: must be ≥ 1, got 0" in err
    assert not (tmp_path / "out").exists()
