"""Options PyTorch lacks, against reference recurrences written here straight from the formulas,
one parameter at a time (no flat buffers)."""

from __future__ import annotations

import numpy as np
import pytest

from nablab import optim

from helpers.optim_problems import PROBLEMS
from helpers.oracle import assert_close

STEPS = 50


def gc(a: np.ndarray) -> np.ndarray:
    """Gradient centralization of one tensor: subtract the mean over all axes but the last."""
    return a - a.mean(axis=tuple(range(a.ndim - 1)), keepdims=True) if a.ndim >= 2 else a


def run_reference(problem_name, rule, steps=STEPS, lookahead=None):
    """Apply ``rule(state, w, g, t) -> w_new`` to each parameter separately."""
    problem = PROBLEMS[problem_name]()
    states = [{} for _ in problem.params]
    history = []
    for t in range(1, steps + 1):
        if lookahead is None:
            problem.compute()
            grads = [p.grad.copy() for p in problem.params]
        else:
            saved = problem.snapshot()
            for p, state in zip(problem.params, states, strict=True):
                p.data[...] = p.data + lookahead(state, p.data)
            problem.compute()
            grads = [p.grad.copy() for p in problem.params]
            for p, w in zip(problem.params, saved, strict=True):
                p.data[...] = w
        for p, g, state in zip(problem.params, grads, states, strict=True):
            p.data[...] = rule(state, p.data.copy(), g, t)
        history.append(problem.snapshot())
    return history


def run_ours(problem_name, make, steps=STEPS, closure=False):
    problem = PROBLEMS[problem_name]()
    opt = make(problem.params)
    history = []
    for _ in range(steps):
        if closure:
            opt.step(problem.compute)
        else:
            problem.compute()
            opt.step()
        history.append(problem.snapshot())
    return history, opt


def assert_same_paths(ours, reference):
    for step_ours, step_ref in zip(ours, reference, strict=True):
        for a, b in zip(step_ours, step_ref, strict=True):
            assert_close(a, b)


def velocity_rule(lr, mu, nesterov=False):
    def rule(state, w, g, t):
        v = state.setdefault("v", np.zeros_like(w))
        v[...] = mu * v - lr * g
        return w + mu * v - lr * g if nesterov else w + v

    return rule


@pytest.mark.parametrize("problem_name", sorted(PROBLEMS))
@pytest.mark.parametrize("nesterov", [False, True])
def test_velocity_convention(problem_name, nesterov):
    ours, opt = run_ours(
        problem_name,
        lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=nesterov, convention="velocity"),
    )
    assert_same_paths(ours, run_reference(problem_name, velocity_rule(0.05, 0.9, nesterov)))
    assert set(opt.state[opt.params[0]]) == {"velocity", "step"}


@pytest.mark.parametrize("problem_name", sorted(PROBLEMS))
@pytest.mark.parametrize("convention", ["velocity", "pytorch"])
def test_lookahead_nesterov(problem_name, convention):
    lr, mu = 0.05, 0.9
    ours, _ = run_ours(
        problem_name,
        lambda p: optim.SGD(p, lr=lr, momentum=mu, nesterov="lookahead", convention=convention),
        closure=True,
    )
    reference = run_reference(
        problem_name,
        velocity_rule(lr, mu),
        lookahead=lambda state, w: mu * state.get("v", np.zeros_like(w)),
    )
    assert_same_paths(ours, reference)


def test_lookahead_needs_a_closure():
    opt = optim.SGD(PROBLEMS["mlp"]().params, lr=0.1, momentum=0.9, nesterov="lookahead")
    with pytest.raises(RuntimeError, match="needs a closure"):
        opt.step()


def test_lookahead_differs_from_plain_momentum():
    lookahead, _ = run_ours(
        "quadratic",
        lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov="lookahead"),
        closure=True,
    )
    plain, _ = run_ours("quadratic", lambda p: optim.SGD(p, lr=0.05, momentum=0.9))
    assert np.abs(lookahead[-1][0] - plain[-1][0]).max() > 1e-3


def test_velocity_and_pytorch_agree_under_constant_lr_and_differ_when_it_changes():
    def run(convention, schedule):
        problem = PROBLEMS["mlp"]()
        opt = optim.SGD(problem.params, lr=0.1, momentum=0.9, convention=convention)
        sched = optim.StepLR(opt, step_size=5, gamma=0.1) if schedule else None
        for _ in range(20):
            problem.compute()
            opt.step()
            if sched:
                sched.step()
        return problem.snapshot(), opt

    (velocity, v_opt), (buffer, b_opt) = run("velocity", False), run("pytorch", False)
    for a, b in zip(velocity, buffer, strict=True):
        assert_close(a, b)
    p_v, p_b = v_opt.params[0], b_opt.params[0]
    assert_close(v_opt.state[p_v]["velocity"], -0.1 * b_opt.state[p_b]["momentum_buffer"])
    (velocity, _), (buffer, _) = run("velocity", True), run("pytorch", True)
    assert max(np.abs(a - b).max() for a, b in zip(velocity, buffer, strict=True)) > 1e-4


def adagrad_inside(lr, eps):
    def rule(state, w, g, t):
        s = state.setdefault("s", np.zeros_like(w))
        s += g * g
        return w - lr * g / np.sqrt(s + eps)

    return rule


def rmsprop_inside(lr, alpha, eps):
    def rule(state, w, g, t):
        r = state.setdefault("r", np.zeros_like(w))
        r[...] = alpha * r + (1 - alpha) * g * g
        return w - lr * g / np.sqrt(r + eps)

    return rule


def adam_rule(lr, b1, b2, eps, bias_correction=True, inside=False, centralize=None):
    def rule(state, w, g, t):
        m = state.setdefault("m", np.zeros_like(w))
        v = state.setdefault("v", np.zeros_like(w))
        if centralize == "gradient":
            g = gc(g)
        m[...] = b1 * m + (1 - b1) * g
        v[...] = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t) if bias_correction else m
        v_hat = v / (1 - b2**t) if bias_correction else v
        denom = np.sqrt(v_hat + eps) if inside else np.sqrt(v_hat) + eps
        update = -lr * m_hat / denom
        return w + (gc(update) if centralize == "update" else update)

    return rule


@pytest.mark.parametrize("problem_name", sorted(PROBLEMS))
@pytest.mark.parametrize(
    ("make", "rule"),
    [
        (
            lambda p: optim.AdaGrad(p, lr=0.1, eps=1e-3, eps_placement="inside"),
            adagrad_inside(0.1, 1e-3),
        ),
        (
            lambda p: optim.RMSProp(p, lr=0.01, alpha=0.9, eps=1e-3, eps_placement="inside"),
            rmsprop_inside(0.01, 0.9, 1e-3),
        ),
        (
            lambda p: optim.Adam(p, lr=0.01, eps=1e-3, eps_placement="inside"),
            adam_rule(0.01, 0.9, 0.999, 1e-3, inside=True),
        ),
        (
            lambda p: optim.Adam(p, lr=0.01, bias_correction=False),
            adam_rule(0.01, 0.9, 0.999, 1e-8, bias_correction=False),
        ),
        (
            lambda p: optim.Adam(p, lr=0.01, centralize="gradient"),
            adam_rule(0.01, 0.9, 0.999, 1e-8, centralize="gradient"),
        ),
        (
            lambda p: optim.Adam(p, lr=0.01, eps=1e-3, eps_placement="inside", centralize="update"),
            adam_rule(0.01, 0.9, 0.999, 1e-3, inside=True, centralize="update"),
        ),
    ],
    ids=[
        "adagrad-inside",
        "rmsprop-inside",
        "adam-inside",
        "adam-no-bias-correction",
        "adam-gc-gradient",
        "adam-gc-update",
    ],
)
def test_textbook_options(problem_name, make, rule):
    ours, _ = run_ours(problem_name, make)
    assert_same_paths(ours, run_reference(problem_name, rule))


@pytest.mark.parametrize("problem_name", sorted(PROBLEMS))
def test_centralized_sgd_momentum_with_weight_decay(problem_name):
    lr, mu, wd = 0.05, 0.9, 0.01

    def rule(state, w, g, t):
        g = gc(g + wd * w)  # centralization after the weight-decay term, before momentum
        if "b" not in state:
            state["b"] = g.copy()
        else:
            state["b"] = mu * state["b"] + g
        return w - lr * state["b"]

    ours, _ = run_ours(
        problem_name,
        lambda p: optim.SGD(p, lr=lr, momentum=mu, weight_decay=wd, centralize="gradient"),
    )
    assert_same_paths(ours, run_reference(problem_name, rule))


def test_centralized_update_has_zero_column_means():
    problem = PROBLEMS["mlp"]()
    opt = optim.Adam(problem.params, lr=0.01, centralize="update")
    before = problem.snapshot()
    problem.compute()
    opt.step()
    for p, w in zip(problem.params, before, strict=True):
        change = p.data - w
        if change.ndim == 2:
            np.testing.assert_allclose(change.mean(axis=0), 0.0, atol=1e-15)
        else:
            assert np.abs(change).max() > 0  # biases move freely


def test_eps_inside_and_outside_differ():
    inside, _ = run_ours("mlp", lambda p: optim.Adam(p, lr=0.01, eps=1e-2, eps_placement="inside"))
    outside, _ = run_ours("mlp", lambda p: optim.Adam(p, lr=0.01, eps=1e-2))
    assert np.abs(inside[-1][0] - outside[-1][0]).max() > 1e-4
