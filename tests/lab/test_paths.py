"""The 2-D functions and optimizer paths, against finite differences and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nablab.lab.functions import FUNCTIONS
from nablab.lab.paths import run_paths, straightness


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_gradients_and_hessians_match_finite_differences(name):
    fn = FUNCTIONS[name]()
    rng = np.random.default_rng(0)
    points = rng.uniform(-1.5, 1.5, size=(6, 2))
    eps = 1e-6
    for p in points:
        numeric = [(fn.value(p + eps * e) - fn.value(p - eps * e)) / (2 * eps) for e in np.eye(2)]
        np.testing.assert_allclose(fn.gradient(p), numeric, rtol=1e-6, atol=1e-6)
        columns = [
            (fn.gradient(p + eps * e) - fn.gradient(p - eps * e)) / (2 * eps) for e in np.eye(2)
        ]
        np.testing.assert_allclose(fn.hessian(p), np.array(columns).T, rtol=1e-5, atol=1e-5)
    for m in fn.minimizers:
        assert fn.value(np.array(m)) == pytest.approx(fn.minimum, abs=1e-12)
        np.testing.assert_allclose(fn.gradient(np.array(m)), 0, atol=1e-12)


TORCH = {
    "gd": lambda p, lr: torch.optim.SGD(p, lr=lr),
    "momentum": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9),
    "adagrad": lambda p, lr: torch.optim.Adagrad(p, lr=lr),
    "rmsprop": lambda p, lr: torch.optim.RMSprop(p, lr=lr),
    "adam": lambda p, lr: torch.optim.Adam(p, lr=lr),
}


@pytest.mark.parametrize("optimizer", sorted(TORCH))
@pytest.mark.parametrize("name", ["quadratic", "rosenbrock", "saddle"])
def test_paths_equal_pytorch_optimizers_on_the_same_function(name, optimizer):
    fn = FUNCTIONS[name]()
    lr = 0.001 if name == "rosenbrock" else 0.05
    ours = run_paths(fn, optimizer, lr, 40)
    point = torch.tensor(np.array(fn.starts, dtype=np.float64), requires_grad=True)
    opt = TORCH[optimizer]([point], lr)
    expected = [point.detach().numpy().copy()]
    for _ in range(40):
        opt.zero_grad()
        point.grad = torch.tensor(fn.gradient(point.detach().numpy()))
        opt.step()
        expected.append(point.detach().numpy().copy())
    np.testing.assert_allclose(ours.points, np.array(expected), rtol=1e-10, atol=1e-12)


def test_nesterov_lookahead_path_follows_its_recurrence():
    fn = FUNCTIONS["quadratic"]()
    lr, mu = 0.05, 0.9
    ours = run_paths(fn, "nesterov", lr, 30)
    w = np.array(fn.starts, dtype=np.float64)
    v = np.zeros_like(w)
    for t in range(30):
        v = mu * v - lr * fn.gradient(w + mu * v)
        w = w + v
        np.testing.assert_allclose(ours.points[t + 1], w, rtol=1e-12, atol=1e-14)


def test_straightness_of_a_line_and_of_a_zigzag():
    line = np.linspace([0.0, 0.0], [3.0, 4.0], 11)[:, None, :]
    assert straightness(line)[0] == pytest.approx(1.0)
    zigzag = np.array([[0, 0], [1, 1], [2, 0], [3, 1], [4, 0]], dtype=float)[:, None, :]
    assert straightness(zigzag)[0] == pytest.approx(4 / (4 * np.sqrt(2)))
