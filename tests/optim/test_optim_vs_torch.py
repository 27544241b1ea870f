"""Every optimizer and option PyTorch has, against torch.optim (foreach and fused off), float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nablab import optim

from helpers.optim_problems import PROBLEMS
from helpers.oracle import assert_close

STEPS = 50

CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.5}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.1, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-6}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.05}),
    ("Adam", {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
]


def _torch_optimizer(name, params, kwargs):
    cls = getattr(torch.optim, name)
    extra = {"foreach": False}
    if name in ("Adam", "AdamW", "SGD", "Adagrad"):
        extra["fused"] = False
    return cls(params, **kwargs, **extra)


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
@pytest.mark.parametrize("problem_name", sorted(PROBLEMS))
def test_matches_torch_for_50_steps(name, kwargs, problem_name):
    problem = PROBLEMS[problem_name]()
    ours = getattr(optim, name)(problem.params, **kwargs)
    tensors = [torch.tensor(p.data.copy(), requires_grad=True) for p in problem.params]
    theirs = _torch_optimizer(name, tensors, kwargs)
    for _ in range(STEPS):
        problem.compute()
        for tensor, p in zip(tensors, problem.params, strict=True):
            tensor.grad = torch.tensor(p.grad.copy())
        ours.step()
        theirs.step()
        for tensor, p in zip(tensors, problem.params, strict=True):
            assert_close(p.data, tensor.detach().numpy())
    # the state readable for reports equals PyTorch's
    torch_state = theirs.state[tensors[0]]
    our_state = ours.state[problem.params[0]]
    names = {
        "momentum_buffer": "momentum_buffer",
        "sum": "sum",
        "square_avg": "square_avg",
        "grad_avg": "grad_avg",
        "m": "exp_avg",
        "v": "exp_avg_sq",
        "v_max": "max_exp_avg_sq",
    }
    for ours_name, value in our_state.items():
        if ours_name == "step":
            assert value == STEPS
        else:
            assert_close(value, torch_state[names[ours_name]].numpy())


def test_defaults_equal_pytorchs():
    p = [torch.zeros(1, requires_grad=True)]
    from nablab import nn

    q = [nn.Parameter(np.zeros(1))]
    for ours, theirs, fields in [
        (
            optim.Adam(q),
            torch.optim.Adam(p),
            {"lr": "lr", "eps": "eps", "betas": "betas", "weight_decay": "weight_decay"},
        ),
        (optim.AdamW(q), torch.optim.AdamW(p), {"lr": "lr", "weight_decay": "weight_decay"}),
        (optim.RMSProp(q), torch.optim.RMSprop(p), {"lr": "lr", "alpha": "alpha", "eps": "eps"}),
        (
            optim.AdaGrad(q),
            torch.optim.Adagrad(p),
            {"lr": "lr", "eps": "eps", "lr_decay": "lr_decay"},
        ),
    ]:
        for our_field, torch_field in fields.items():
            assert getattr(ours, our_field) == theirs.defaults[torch_field], our_field


@pytest.mark.parametrize("max_norm", [0.1, 1.0, 100.0])
def test_clip_grad_norm_matches_torch(max_norm):
    problem = PROBLEMS["mlp"]()
    problem.compute()
    tensors = [torch.tensor(p.data.copy(), requires_grad=True) for p in problem.params]
    for tensor, p in zip(tensors, problem.params, strict=True):
        tensor.grad = torch.tensor(p.grad.copy())
    total = optim.clip_grad_norm(problem.params, max_norm)
    expected = torch.nn.utils.clip_grad_norm_(tensors, max_norm, foreach=False)
    assert total == pytest.approx(expected.item(), rel=1e-12)
    for tensor, p in zip(tensors, problem.params, strict=True):
        assert_close(p.grad, tensor.grad.numpy())


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (
            lambda o: optim.StepLR(o, step_size=3, gamma=0.5),
            lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
        ),
        (
            lambda o: optim.ExponentialLR(o, gamma=0.9),
            lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
        ),
        (
            lambda o: optim.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
            lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
        ),
        (
            lambda o: optim.LinearWarmup(o, warmup_steps=5, start_factor=0.2),
            lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=5),
        ),
    ],
)
def test_schedules_match_torch(ours, theirs):
    from nablab import nn

    our_opt = optim.SGD([nn.Parameter(np.zeros(2))], lr=0.1)
    torch_opt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    our_sched, torch_sched = ours(our_opt), theirs(torch_opt)
    assert our_opt.lr == pytest.approx(torch_opt.param_groups[0]["lr"], rel=1e-12)
    for _ in range(12):
        our_opt.step()
        torch_opt.step()
        our_sched.step()
        torch_sched.step()
        assert our_opt.lr == pytest.approx(torch_opt.param_groups[0]["lr"], rel=1e-10)
