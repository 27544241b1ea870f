"""One registry per concept: names, options and limits declared once, used everywhere."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nablab import data, init, nn, optim
from nablab.cli import build_parser
from nablab.nn.activations import ACTIVATIONS, hidden_activations
from nablab.optim.registry import OPTIMIZERS, SCHEDULES, base_names, training_names
from nablab.registry import Option, Registry, UnknownNameError
from nablab.solve.schema_help import schema_help
from nablab.solve.spec import ExerciseError, parse_exercise
from nablab.train.config import TrainConfig
from nablab.train.run import build_optimizer

from helpers.solve_helpers import example_data


def test_unknown_names_list_the_valid_ones_and_the_closest():
    registry: Registry[int] = Registry("colour")
    registry.add("red", 1, "warm", aliases=("rouge",))
    registry.add("green", 2)
    assert registry["rouge"] == 1 and "rouge" in registry and list(registry) == ["red", "green"]
    with pytest.raises(
        UnknownNameError,
        match=r"unknown colour 'gren' \(did you mean 'green'\?\); "
        r"valid: red, green",
    ):
        registry.entry("gren")
    with pytest.raises(ValueError, match="registered twice"):
        registry.add("rouge", 3)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (Option("lr", float, low=0.0), -1.0, r"lr must be in \[0, inf\), got -1.0"),
        (Option("lr", float, low=0.0), math.nan, "lr must be in"),
        (Option("lr", float, low=0.0), "0.1", "lr must be a number, got '0.1'"),
        (Option("lr", float, low=0.0), True, "lr must be a number, got True"),
        (Option("eps", float, low=0.0, low_open=True), 0.0, r"eps must be in \(0, inf\)"),
        (Option("flag", bool), "no", "flag must be true or false, got 'no'"),
        (Option("flag", bool), 1, "flag must be true or false, got 1"),
        (Option("n", int, low=1), 2.5, "n must be a whole number, got 2.5"),
        (Option("mode", str, choices=(False, True, "x")), 1, "mode must be one of False, True"),
    ],
)
def test_options_reject_with_limits_in_the_message(option, value, message):
    with pytest.raises(ValueError, match=message):
        option.check(value, "Owner")


def test_options_accept_what_they_declare():
    assert Option("n", int, low=1).check(np.int64(3), "x") == 3
    assert Option("m", str, choices=(False, True, "lookahead")).check("lookahead", "x")
    assert Option("m", str, choices=(None, "gradient")).check(None, "x") is None


def test_the_command_line_choices_come_from_the_registries():
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    choices = {a.dest: a.choices for a in train._actions if a.choices}
    assert tuple(choices["optimizer"]) == training_names()
    assert tuple(choices["activation"]) == hidden_activations()
    assert tuple(choices["schedule"]) == SCHEDULES.names()
    assert set(init.INITIALIZERS.names()) <= set(choices["init"])
    assert "newton" not in training_names() and "softmax" not in hidden_activations()


# Written out independently of the registry: what each --optimizer name must build.
EXPECTED_OPTIMIZERS = {
    "sgd": (optim.SGD, {"momentum": 0.0, "nesterov": False}),
    "momentum": (optim.SGD, {"momentum": 0.8, "nesterov": False}),
    "nesterov": (optim.SGD, {"momentum": 0.8, "nesterov": True}),
    "adagrad": (optim.AdaGrad, {}),
    "rmsprop": (optim.RMSProp, {"momentum": 0.0}),
    "adam": (optim.Adam, {"amsgrad": False}),
    "adamw": (optim.AdamW, {"weight_decay": 0.01}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_OPTIMIZERS))
def test_each_training_optimizer_name_builds_that_optimizer(name):
    assert set(EXPECTED_OPTIMIZERS) == set(training_names())
    cls, attributes = EXPECTED_OPTIMIZERS[name]
    config = TrainConfig(optimizer=name, lr=0.05, momentum=0.8, weight_decay=0.01)
    model = nn.Sequential(nn.Linear(2, 2))
    opt = build_optimizer(config, model)
    assert type(opt) is cls and opt.lr == 0.05
    for attribute, value in attributes.items():
        assert getattr(opt, attribute) == value


def test_every_optimizer_option_is_a_constructor_argument_and_back():
    import inspect

    for entry in OPTIMIZERS.entries():
        signature = inspect.signature(entry.value.__init__)
        arguments = [n for n in signature.parameters if n not in ("self", "params", "hessian")]
        assert sorted(entry.options) == sorted(arguments), entry.name
        for option in entry.options.values():
            default = signature.parameters[option.name].default
            if default is not inspect.Parameter.empty and option.name != "lr":
                assert option.default == default, (entry.name, option.name)


def test_the_exercise_format_accepts_every_registered_activation_and_option():
    for entry in ACTIVATIONS.entries():
        spec = example_data("mazur")
        layer = {"type": entry.name}
        for option in entry.options.values():
            layer[option.aliases[0] if option.aliases else option.name] = 0.2
        spec["layers"][1] = layer
        exercise = parse_exercise(spec)
        assert exercise.layers[1].options() == {name: 0.2 for name in entry.options}
    spec = example_data("mazur")
    spec["optimizer"] = {"type": "momentum", "lr": 0.1}
    with pytest.raises(ExerciseError, match=r"optimizer\.type"):
        parse_exercise(spec)
    assert set(base_names()) == {"sgd", "adagrad", "rmsprop", "adam", "adamw", "newton"}


def test_the_help_text_names_everything_registered():
    text = schema_help()
    for name in (*ACTIVATIONS.names(), *nn.LOSSES.names(), *base_names()):
        assert name in text
    for entry in OPTIMIZERS.entries():
        for option in entry.options:
            assert option in text


@pytest.mark.parametrize("name", nn.LOSSES.names())
def test_each_loss_divisor_is_the_ratio_of_summed_to_reduced_loss(name, rng):
    cls = nn.LOSSES[name]
    if name == "cross_entropy":
        pred, target = rng.normal(size=(5, 3)), rng.integers(0, 3, size=5)
    else:
        pred, target = rng.uniform(0.1, 0.9, size=(5, 3)), rng.uniform(size=(5, 3))
    summed = cls(reduction="sum")(pred, target)
    for reduction in cls.reductions:
        loss = cls(reduction=reduction)
        assert summed / loss(pred, target) == pytest.approx(loss.divisor(pred.shape), rel=1e-12)


def test_datasets_and_initializers_are_registries():
    assert data.LOADERS.names() == (
        "digits",
        "mnist1d",
        "moons",
        "circles",
        "spirals",
        "xor",
        "blobs",
    )
    assert init.get("kaiming_normal") is init.he_normal
    with pytest.raises(UnknownNameError, match="did you mean 'digits'"):
        data.load("digit")
