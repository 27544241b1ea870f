"""Flat buffers, state dicts, errors, Newton's method, convergence and the LR range test."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nablab import nn, optim
from nablab.analysis import hessian, logistic_regression_hessian, model_hessian

from helpers.optim_problems import PROBLEMS


def test_mixed_dtypes_get_one_store_group_each():
    params = [nn.Parameter(np.ones(3)), nn.Parameter(np.ones(2, np.float32))]
    opt = optim.SGD(params, lr=0.5)
    for p in params:
        p.grad[...] = 1
    opt.step()
    assert params[0]._group is not params[1]._group
    assert params[1].data.dtype == np.float32
    np.testing.assert_array_equal(params[0].data, 0.5)
    np.testing.assert_array_equal(params[1].data, np.float32(0.5))


def test_float32_optimizer_state_stays_float32():
    p = nn.Parameter(np.ones(4, np.float32))
    opt = optim.Adam([p], lr=0.1)
    p.grad[...] = 0.5
    opt.step()
    assert p.data.dtype == np.float32 and opt.state[p]["m"].dtype == np.float32


@pytest.mark.parametrize(
    "make",
    [
        lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
        lambda p: optim.Adam(p, lr=0.01, amsgrad=True),
        lambda p: optim.RMSProp(p, centered=True, momentum=0.5),
        lambda p: optim.AdaGrad(p),
    ],
)
def test_state_dict_resume_is_bit_identical(make):
    straight = PROBLEMS["mlp"]()
    opt = make(straight.params)
    for _ in range(20):
        straight.compute()
        opt.step()
    resumed = PROBLEMS["mlp"]()
    opt_a = make(resumed.params)
    for _ in range(10):
        resumed.compute()
        opt_a.step()
    saved_params, saved_state = resumed.snapshot(), opt_a.state_dict()
    fresh = PROBLEMS["mlp"]()
    for p, w in zip(fresh.params, saved_params, strict=True):
        p.data[...] = w
    opt_b = make(fresh.params)
    opt_b.load_state_dict(saved_state)
    for _ in range(10):
        fresh.compute()
        opt_b.step()
    for a, b in zip(straight.snapshot(), fresh.snapshot(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_load_state_dict_is_strict():
    opt = optim.Adam(PROBLEMS["mlp"]().params)
    state = opt.state_dict()
    del state["0.v"]
    with pytest.raises(KeyError, match=r"missing keys \['0.v'\]"):
        opt.load_state_dict(state)
    state = opt.state_dict()
    state["1.m"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"key '1.m' has shape"):
        opt.load_state_dict(state)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: optim.SGD(p, lr=-0.1), r"lr must be in \[0, inf\), got -0.1"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=1.5), "momentum must be in"),
        (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires momentum > 0"),
        (lambda p: optim.SGD(p, lr=0.1, convention="heavy-ball"), "convention must be"),
        (lambda p: optim.Adam(p, betas=(0.9, 1.0)), r"betas\[1\] must be in"),
        (lambda p: optim.Adam(p, eps_placement="under"), "eps_placement must be"),
        (lambda p: optim.Adam(p, centralize="weights"), "centralize must be one of"),
        (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
    ],
)
def test_bad_hyperparameters_are_named(make, message):
    params = PROBLEMS["quadratic"]().params
    with pytest.raises(ValueError, match=message):
        make(params if "[]" not in message else [])


def test_single_parameter_instead_of_iterable():
    with pytest.raises(TypeError, match="not a single Parameter"):
        optim.SGD(nn.Parameter(np.zeros(2)), lr=0.1)


def test_setting_lr_validates():
    opt = optim.SGD(PROBLEMS["quadratic"]().params, lr=0.1)
    opt.lr = 0.01
    assert opt.lr == 0.01
    with pytest.raises(ValueError, match="lr must be"):
        opt.lr = float("nan")


# ------------------------------------------------------------------------------- Newton, GD


def _quadratic(h: np.ndarray, b: np.ndarray, w0: np.ndarray):
    """L = wᵀHw − bᵀw as a parameter and a closure; the minimum is w* = H⁻¹b / 2."""
    w = nn.Parameter(w0.copy(), "w")

    def closure() -> float:
        w.grad[...] = 2 * h @ w.data - b
        return float(w.data @ h @ w.data - b @ w.data)

    return w, closure


def _spd(n: int, seed: int, low: float = 0.5, high: float = 4.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return q @ np.diag(np.linspace(low, high, n)) @ q.T


def test_newton_reaches_the_minimum_of_a_convex_quadratic_in_one_step():
    h, b = _spd(5, 1), np.arange(5.0)
    w, closure = _quadratic(h, b, np.ones(5))
    opt = optim.Newton([w])
    opt.step(closure)
    np.testing.assert_allclose(w.data, np.linalg.solve(2 * h, b), rtol=1e-7)
    np.testing.assert_allclose(opt.last_hessian, 2 * h, rtol=1e-7)


def test_newton_with_exact_hessian_and_damping():
    h, b = _spd(4, 2), np.ones(4)
    w, closure = _quadratic(h, b, np.zeros(4))
    opt = optim.Newton([w], damping=1.0, hessian=lambda: 2 * h)
    opt.step(closure)
    np.testing.assert_allclose(w.data, np.linalg.solve(2 * h + np.eye(4), b), rtol=1e-12)


def test_newton_refuses_large_models_and_needs_a_closure():
    big = nn.Linear(100, 30, dtype=np.float64)
    with pytest.raises(ValueError, match=r"3030 parameters exceed max_params=2000"):
        optim.Newton(big.parameters())
    w, _ = _quadratic(np.eye(2), np.ones(2), np.zeros(2))
    with pytest.raises(RuntimeError, match="needs a closure"):
        optim.Newton([w]).step()


def test_newton_converges_quadratically_on_logistic_regression():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 3))
    y = (x @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=200) > 0).astype(float)[:, None]
    model = nn.Sequential(nn.Linear(3, 1, bias=False, init="zeros", dtype=np.float64))
    loss = nn.BCEWithLogitsLoss()

    def closure() -> float:
        value = loss(model(x), y)
        model.backward(loss.backward())
        return value

    opt = optim.Newton(model.parameters())
    norms = []
    for _ in range(8):
        opt.step(closure)
        closure()
        norms.append(np.linalg.norm(model[0].weight.grad))
        model.zero_grad()
    # quadratic convergence: each gradient norm is at most C·(previous)² near the optimum
    assert norms[-1] < 1e-12
    for previous, current in itertools.pairwise(norms[4:7]):
        assert current < 100 * previous**2


@pytest.mark.parametrize(
    ("factor", "converges"), [(0.9, True), (0.99, True), (1.01, False), (1.1, False)]
)
def test_gradient_descent_converges_iff_lr_times_lambda_max_is_below_one(factor, converges):
    """On L = wᵀHw the step is w ← (I − 2·lr·H)w: it contracts iff lr·λ_max(H) < 1."""
    h = _spd(4, 5)
    lam_max = np.linalg.eigvalsh(h).max()
    w, closure = _quadratic(h, np.zeros(4), np.ones(4))
    opt = optim.SGD([w], lr=factor / lam_max)
    for _ in range(3000):
        opt.step(closure)
        if np.linalg.norm(w.data) > 1e6:
            break
    norm = np.linalg.norm(w.data)
    assert norm < 1e-6 if converges else norm > 1e6


# ------------------------------------------------------------------------------- Hessians


def test_finite_difference_hessian_equals_the_logistic_regression_formula():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 3))
    y = rng.integers(0, 2, size=(30, 1)).astype(float)
    model = nn.Sequential(nn.Linear(3, 1, bias=False, rng=rng, dtype=np.float64))
    numeric = model_hessian(model, nn.BCEWithLogitsLoss(), x, y)
    p = 1 / (1 + np.exp(-(x @ model[0].weight.data)))
    exact = logistic_regression_hessian(x, p)
    np.testing.assert_allclose(numeric, exact, rtol=1e-7, atol=1e-10)
    assert np.linalg.eigvalsh(exact).min() >= -1e-12  # positive semidefinite: convex


def test_hessian_is_symmetric_and_restores_state():
    problem = PROBLEMS["mlp"]()
    problem.compute()
    before = problem.snapshot()
    grads = [p.grad.copy() for p in problem.params]
    h = hessian(problem.compute, problem.params)
    np.testing.assert_array_equal(h, h.T)
    for p, w, g in zip(problem.params, before, grads, strict=True):
        np.testing.assert_array_equal(p.data, w)
        np.testing.assert_array_equal(p.grad, g)


# ------------------------------------------------------------------------------- LR range test


def _digits_like(seed=0, n=512):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(4, 8))
    y = rng.integers(0, 4, size=n)
    x = centers[y] + rng.normal(size=(n, 8))
    model = nn.Sequential(
        nn.Linear(8, 16, rng=rng, dtype=np.float64),
        nn.ReLU(),
        nn.Linear(16, 4, rng=rng, dtype=np.float64),
    )
    return model, x, y


def test_lr_range_test_suggests_a_rate_where_the_loss_falls_and_restores_everything():
    model, x, y = _digits_like()
    loss = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=0.123, momentum=0.9)
    for _ in range(3):  # some optimizer state worth restoring
        loss(model(x[:32]), y[:32])
        opt.zero_grad()
        model.backward(loss.backward())
        opt.step()
    model_before, opt_before = model.state_dict(), opt.state_dict()
    result = optim.lr_range_test(
        model, loss, opt, (x, y), start_lr=1e-5, end_lr=100.0, num_iter=120, batch_size=32, rng=0
    )
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, model_before[name])
    for name, value in opt.state_dict().items():
        np.testing.assert_array_equal(value, opt_before[name])
    assert opt.lr == 0.123
    assert result.stopped_early  # lr = 100 diverges
    # the falling range: from the smoothed curve's highest point before its minimum to the minimum
    lowest = int(np.argmin(result.losses))
    first = int(np.argmax(result.losses[: lowest + 1]))
    for suggestion in (result.steepest, result.valley):
        assert result.lrs[first] <= suggestion <= result.lrs[lowest]
        # training at the suggested rate does reduce the loss
        trial_model, _, _ = _digits_like()
        trial = optim.SGD(trial_model.parameters(), lr=suggestion, momentum=0.9)
        start = loss(trial_model(x), y)
        for i in list(range(0, 512, 32)) * 3:
            loss(trial_model(x[i : i + 32]), y[i : i + 32])
            trial.zero_grad()
            trial_model.backward(loss.backward())
            trial.step()
        assert loss(trial_model(x), y) < 0.8 * start


def test_lr_range_test_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    model, x, y = _digits_like()
    result = optim.lr_range_test(
        model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), (x, y), num_iter=40, rng=1
    )
    ax = result.plot()
    ax.figure.savefig(tmp_path / "lr.png")
    assert (tmp_path / "lr.png").stat().st_size > 1000
    assert ax.get_xscale() == "log"


def test_lr_range_test_rejects_bad_ranges():
    model, x, y = _digits_like()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="need 0 < start_lr < end_lr"):
        optim.lr_range_test(model, nn.CrossEntropyLoss(), opt, (x, y), start_lr=1.0, end_lr=0.1)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, convention="velocity"),
        lambda p: optim.Adam(p, lr=0.01, amsgrad=True),
        lambda p: optim.AdamW(p, lr=0.01),
        lambda p: optim.RMSProp(p, centered=True, momentum=0.5),
        lambda p: optim.AdaGrad(p, eps_placement="inside"),
    ],
    ids=["sgd-nesterov", "sgd-velocity", "adam-amsgrad", "adamw", "rmsprop", "adagrad"],
)
def test_large_buffers_split_across_threads_give_identical_results(monkeypatch, make):
    from nablab import backend
    from nablab.optim import kernels

    def run(min_size):
        monkeypatch.setattr(kernels, "PARALLEL_MIN_SIZE", min_size)
        monkeypatch.setattr(backend._Settings, "threads", 3)
        monkeypatch.setattr(backend._Settings, "kernels", "numba")
        problem = PROBLEMS["mlp"]()
        opt = make(problem.params)
        for _ in range(5):
            problem.compute()
            opt.step()
        return problem.snapshot()

    for serial, threaded in zip(run(1 << 60), run(8), strict=True):
        np.testing.assert_array_equal(serial, threaded)
