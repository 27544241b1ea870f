"""Central-difference gradient checks of every module and of composed networks."""

from __future__ import annotations

import numpy as np
import pytest

from nablab import nn
from nablab.analysis import gradcheck, numerical_gradient

TOL = 1e-6


def _net(*hidden: nn.Module, rng, n_in=3, n_out=2, bias=True):
    return nn.Sequential(
        nn.Linear(n_in, 4, bias=bias, rng=rng, dtype=np.float64),
        *hidden,
        nn.Linear(4, n_out, rng=rng, dtype=np.float64),
    )


@pytest.mark.parametrize(
    "hidden",
    [
        nn.Identity(),
        nn.Sigmoid(),
        nn.Tanh(),
        nn.ReLU(),
        nn.LeakyReLU(0.1),
        nn.Swish(),
        nn.Swish(beta=2.0),
        nn.Softmax(),
    ],
    ids=lambda m: repr(m),
)
@pytest.mark.parametrize("bias", [True, "shared", False])
def test_every_activation_inside_a_network(rng, hidden, bias):
    model = _net(hidden, rng=rng, bias=bias)
    x, target = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    report = gradcheck(model, nn.MSELoss(), x, target, include_input=True)
    assert report.passed(TOL), report.table()


@pytest.mark.parametrize(
    ("loss", "make_target"),
    [
        (nn.MSELoss("sum", 0.5), lambda rng: rng.normal(size=(4, 3))),
        (nn.MSELoss("batch_mean"), lambda rng: rng.normal(size=(4, 3))),
        (nn.BCEWithLogitsLoss(), lambda rng: rng.uniform(size=(4, 3))),
        (nn.CrossEntropyLoss(), lambda rng: rng.integers(0, 3, size=4)),
        (nn.CrossEntropyLoss("sum"), lambda rng: rng.dirichlet(np.ones(3), size=4)),
    ],
    ids=repr,
)
def test_every_loss_in_a_composed_network(rng, loss, make_target):
    model = _net(nn.Tanh(), rng=rng, n_out=3)
    report = gradcheck(model, loss, rng.normal(size=(4, 3)), make_target(rng))
    assert report.passed(TOL), report.table()


def test_bce_on_sigmoid_outputs(rng):
    model = nn.Sequential(_net(nn.Swish(), rng=rng), nn.Sigmoid())
    report = gradcheck(model, nn.BCELoss(), rng.normal(size=(3, 3)), rng.uniform(size=(3, 2)))
    assert report.passed(TOL), report.table()


def test_gradcheck_catches_a_wrong_backward(rng):
    class WrongTanh(nn.Tanh):
        def backward(self, grad_out):
            return grad_out * (1 - self._y)  # forgot the square

    report = gradcheck(
        _net(WrongTanh(), rng=rng), nn.MSELoss(), rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    )
    assert not report.passed(1e-3)


def test_gradcheck_requires_float64(rng):
    model = nn.Sequential(nn.Linear(2, 2, rng=rng))
    with pytest.raises(ValueError, match=r"gradcheck needs float64 parameters; '0.weight'"):
        gradcheck(model, nn.MSELoss(), np.zeros((1, 2), np.float32), np.zeros((1, 2)))


def test_numerical_gradient_restores_the_array_and_is_second_order():
    w = np.array([0.3, -1.2])
    before = w.copy()
    grad = numerical_gradient(lambda: float(np.sum(np.sin(w) * w**2)), w, eps=1e-5)
    np.testing.assert_array_equal(w, before)
    np.testing.assert_allclose(grad, np.cos(w) * w**2 + 2 * w * np.sin(w), rtol=1e-9)


def test_report_table_lists_every_scalar(rng):
    model = _net(nn.Sigmoid(), rng=rng)
    report = gradcheck(model, nn.MSELoss(), rng.normal(size=(2, 3)), rng.normal(size=(2, 2)))
    assert len(report.entries) == sum(p.size for p in model.parameters())
    assert "0.weight[2, 3]" in report.table() and "2.bias[1]" in report.table()
