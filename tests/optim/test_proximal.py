"""Proximal L1: the soft threshold after any optimizer's step, and the exact zeros it gives."""

from __future__ import annotations

import numpy as np
import pytest

from nablab import nn, optim
from nablab.train import Proximal, fit


def test_soft_threshold_formula_and_exact_zeros():
    w = np.array([-3.0, -0.5, -0.2, 0.0, 0.2, 0.7, 2.0])
    shrunk = optim.soft_threshold(w, 0.5)
    np.testing.assert_allclose(shrunk, [-2.5, 0.0, 0.0, 0.0, 0.0, 0.2, 1.5], rtol=1e-15)
    np.testing.assert_array_equal(shrunk == 0, [False, True, True, True, True, False, False])
    inplace = w.copy()
    assert optim.soft_threshold(inplace, 0.5, out=inplace) is inplace
    assert np.count_nonzero(inplace) == 3
    np.testing.assert_array_equal(optim.soft_threshold(w, 0.0), w)
    with pytest.raises(ValueError, match="threshold must be >= 0"):
        optim.soft_threshold(w, -1.0)


def _lasso_problem(seed=0, n=64, d=6):
    """X with XᵀX/N = I, so the lasso min ½‖Xw − t‖²/N + λ‖w‖₁ is w* = S_λ(Xᵀt/N)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, d)))
    x = q * np.sqrt(n)
    t = x @ np.array([[1.5], [-0.05], [0.8], [0.02], [-1.0], [0.0]]) + 0.1 * rng.normal(size=(n, 1))
    return x, t


def _model(d):
    return nn.Sequential(nn.Linear(d, 1, bias=False, init="zeros", dtype=np.float64))


def _descend(model, opt, x, t, steps, after=None, penalty=None):
    loss = nn.MSELoss(reduction="batch_mean", factor=0.5)  # ½‖Xw − t‖²/N
    for _ in range(steps):
        model.zero_grad()
        loss(model(x), t)
        model.backward(loss.backward())
        if penalty is not None:
            penalty.backward()
        opt.step()
        if after is not None:
            after.step()


def test_sgd_with_the_proximal_step_is_ista_and_reaches_the_lasso_solution():
    x, t = _lasso_problem()
    strength = 0.1
    expected = optim.soft_threshold((x.T @ t / len(x))[:, 0], strength)
    assert np.count_nonzero(expected) == 3  # the problem has exact zeros to find
    model = _model(6)
    opt = optim.SGD(model.parameters(), lr=0.5)
    prox = optim.L1Proximal(model, strength, opt)
    assert prox.threshold == 0.05
    _descend(model, opt, x, t, 60, after=prox)
    w = model[0].weight.data[:, 0]
    np.testing.assert_allclose(w, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(w == 0, expected == 0)  # exactly zero, not just small
    assert prox.value() == pytest.approx(strength * np.abs(expected).sum(), rel=1e-12)


def test_the_subgradient_penalty_never_lands_on_zero():
    x, t = _lasso_problem()
    model = _model(6)
    opt = optim.SGD(model.parameters(), lr=0.5)
    _descend(model, opt, x, t, 60, penalty=nn.L1Penalty(model, 0.1))
    w = model[0].weight.data[:, 0]
    assert np.count_nonzero(w) == 6  # the three zeros of the solution jitter around 0
    assert np.max(np.abs(w[[1, 3, 5]])) < 0.1


def test_after_adam_and_with_masks_the_zeros_are_exact():
    """Adam moves a weight by about η per step whatever its gradient, so a zero comes back
    to zero only when the threshold η·λ exceeds that step (λ > 1)."""
    x, t = _lasso_problem(seed=1)
    model = _model(6)
    model[0].weight.mask = np.array([[1], [1], [1], [1], [0], [1]])
    opt = optim.Adam(model.parameters(), lr=0.05)
    prox = optim.L1Proximal(model.parameters(), 1.5, opt)
    _descend(model, opt, x, t, 200, after=prox)
    w = model[0].weight.data[:, 0]
    assert w[4] == 0 and np.count_nonzero(w == 0) >= 3


def test_fit_applies_it_after_every_step_through_a_callback():
    x, t = _lasso_problem()
    model = _model(6)
    opt = optim.SGD(model.parameters(), lr=0.5)
    prox = optim.L1Proximal(model, 0.1, opt)
    fit(
        model,
        nn.MSELoss(reduction="batch_mean", factor=0.5),
        opt,
        (x, t),
        epochs=60,
        batch_size=len(x),
        callbacks=[Proximal(prox)],
    )
    expected = optim.soft_threshold((x.T @ t / len(x))[:, 0], 0.1)
    np.testing.assert_allclose(model[0].weight.data[:, 0], expected, rtol=1e-12, atol=1e-14)


def test_biases_are_left_alone_unless_asked():
    model = nn.Sequential(nn.Linear(3, 2, rng=0, dtype=np.float64))
    model[0].bias.data = np.array([0.01, -0.01])
    opt = optim.SGD(model.parameters(), lr=1.0)
    optim.L1Proximal(model, 2.0, opt).step()  # every |w| < 1.1 here
    assert not model[0].weight.data.any() and model[0].bias.data.all()
    optim.L1Proximal(model, 1.0, opt, biases=True).step()
    assert not model[0].bias.data.any()


def test_bad_arguments():
    model = _model(2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="strength must be >= 0"):
        optim.L1Proximal(model, -1.0, opt)
    with pytest.raises(TypeError, match="optimizer with a learning rate"):
        optim.L1Proximal(model, 1.0, object())
    with pytest.raises(TypeError, match="expected an object with step"):
        Proximal(object())
