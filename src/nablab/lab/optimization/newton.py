"""newton: one Newton step lands on a quadratic's minimum; on logistic regression Newton's
method converges quadratically where gradient descent converges linearly."""

from __future__ import annotations

import numpy as np

from nablab import nn, optim
from nablab.analysis import logistic_regression_hessian
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option


def _order(norms: np.ndarray, floor: float = 1e-15, last: int = 3) -> float:
    """The order p of convergence from e_{k+1} ≈ C·e_kᵖ: the median of
    log(e_{k+1}/e_k)/log(e_k/e_{k−1}) over the ``last`` steps still above ``floor`` (the
    asymptotic regime, close to the minimum, before rounding takes over)."""
    e = norms[: int(np.argmax(norms <= floor))] if (norms <= floor).any() else norms
    if len(e) < 3:
        return float("nan")
    ratios = np.log(e[2:] / e[1:-1]) / np.log(e[1:-1] / e[:-2])
    return float(np.median(ratios[np.isfinite(ratios)][-last:]))


def _logistic(n: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    x = rng.normal(size=(n, d)) + 0.8 * (2 * labels[:, None] - 1)  # overlapping classes
    return np.hstack([x, np.ones((n, 1))]), labels.astype(np.float64)[:, None]


def _run(method: str, x, y, steps: int, lr: float) -> np.ndarray:
    """‖∇L‖ per step of Newton's method (exact Hessian) or gradient descent on the mean
    binary cross-entropy of σ(Xw)."""
    model = nn.Linear(x.shape[1], 1, bias=False, init="zeros", dtype=np.float64)
    loss = nn.BCEWithLogitsLoss()

    def closure() -> float:
        value = loss(model(x), y)
        model.backward_params(loss.backward())
        return value

    def exact() -> np.ndarray:
        probabilities = 1 / (1 + np.exp(-(x @ model.weight.data)))
        return logistic_regression_hessian(x, probabilities)

    if method == "newton":
        opt = optim.Newton(model.parameters(), lr=1.0, hessian=exact)
    else:
        opt = optim.SGD(model.parameters(), lr=lr)
    norms = []
    for _ in range(steps):
        opt.step(closure)
        norms.append(float(np.linalg.norm(model.weight.grad)))
    return np.array(norms)


@experiment(
    "newton",
    "optimization",
    "Newton's method reaches the minimum of a quadratic in one step, and near a minimum it "
    "converges quadratically (the error squares each step) where gradient descent converges "
    "linearly.",
    (
        Option("samples", int, 400, "logistic-regression samples", 10, 100000),
        Option("features", int, 3, "logistic-regression features (plus a bias)", 1, 100),
        Option("steps", int, 12, "Newton steps", 3, 100),
        Option("gd_steps", int, 300, "gradient-descent steps", 10, 100000),
        Option("dimension", int, 6, "size of the quadratic", 1, 200),
    ),
    quick={"gd_steps": 150},
    source="002 (Newton's method and its quadratic convergence); 003 (one step on wᵀHw)",
)
def newton(params):
    rng = np.random.default_rng(1)
    n = params["dimension"]
    a = rng.normal(size=(n, n))
    h = a @ a.T + n * np.eye(n)  # SPD
    w = nn.Parameter(rng.normal(size=n))
    start = float(np.linalg.norm(w.data))

    def quadratic() -> float:
        w.grad[...] = 2 * h @ w.data
        return float(w.data @ h @ w.data)

    opt = optim.Newton([w])  # Hessian by finite differences of the exact gradient
    opt.step(quadratic)
    one_step = float(np.linalg.norm(w.data))
    hessian_error = float(np.max(np.abs(opt.last_hessian - 2 * h)) / np.max(np.abs(2 * h)))
    x, y = _logistic(params["samples"], params["features"], seed=2)
    bound = 0.25 * float(np.linalg.eigvalsh(x.T @ x / len(x)).max())  # L of the mean BCE
    newton_norms = _run("newton", x, y, params["steps"], 0.0)
    gd_norms = _run("gd", x, y, params["gd_steps"], 1.0 / bound)
    p_newton, p_gd = _order(newton_norms), _order(gd_norms)
    numbers = {
        "quadratic": {
            "start_norm": start,
            "after_one_step": one_step,
            "hessian_relative_error_vs_2H": hessian_error,
        },
        "logistic": {
            "newton_gradient_norms": newton_norms.tolist(),
            "newton_order": p_newton,
            "gd_order": p_gd,
            "gd_lr": 1.0 / bound,
            "gd_gradient_norm_at_end": float(gd_norms[-1]),
        },
    }
    checks = [
        Check(
            "one Newton step lands on the minimum of a quadratic",
            one_step < 1e-9 * start,
            f"‖w‖ went from {start:.3g} to {one_step:.1e} in one step on wᵀHw (the Hessian "
            f"it used, by finite differences, is 2H to {hessian_error:.1e})",
        ),
        Check(
            "Newton's method converges quadratically near the minimum of logistic regression",
            1.8 <= p_newton <= 2.5,
            f"order of convergence of ‖∇L‖ over the last steps above 1e-15: {p_newton:.2f} "
            "(gradient norms " + ", ".join(f"{v:.1e}" for v in newton_norms[:9]) + ")",
        ),
        Check(
            "gradient descent converges only linearly there",
            0.9 <= p_gd <= 1.1,
            f"estimated order {p_gd:.2f}; after {params['gd_steps']} steps at lr = 1/L the "
            f"gradient norm is still {gd_norms[-1]:.1e}",
        ),
    ]
    from nablab.viz import PALETTE, new_figure

    figure, ax = new_figure(7, 4.2)
    ax.plot(
        np.arange(1, len(newton_norms) + 1),
        newton_norms,
        "o-",
        color=PALETTE[0],
        label=f"Newton (order {p_newton:.2f})",
    )
    ax.plot(
        np.arange(1, len(gd_norms) + 1),
        gd_norms,
        "-",
        color=PALETTE[1],
        label=f"gradient descent, lr = 1/L (order {p_gd:.2f})",
    )
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_xlabel("step (log scale)")
    ax.set_ylabel("‖∇L‖ (log scale)")
    ax.set_title("Logistic regression: gradient norm per step")
    ax.legend(loc="lower left", fontsize=8)
    return numbers, [figure], checks
