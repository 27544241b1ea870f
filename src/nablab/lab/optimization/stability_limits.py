"""stability-limits: where gradient descent, heavy-ball and Nesterov momentum converge on a
quadratic, measured step by step and compared with the analytic boundaries."""

from __future__ import annotations

import numpy as np

from nablab import nn, optim
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option


def _gd_on_quadratic(h: np.ndarray, lr: float, steps: int, w0: np.ndarray) -> np.ndarray:
    """‖w_t‖ for gradient descent on L = wᵀHw (∇L = 2Hw) with nablab's SGD."""
    w = nn.Parameter(w0.copy())
    opt = optim.SGD([w], lr=lr)
    norms = [float(np.linalg.norm(w.data))]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            w.grad[...] = 2 * h @ w.data
            opt.step()
            norms.append(float(np.linalg.norm(w.data)))
    return np.array(norms)


def _measured_rates(kind: str, a: np.ndarray, mus: np.ndarray, steps: int) -> np.ndarray:
    """Per (μ, a = α·c), the measured rate per step of momentum on L = ½·c·w² with lr α = 1
    (so the gradient is a·w): (E₂/E₁)^(2/T), where E₁ and E₂ are the largest |w| over the
    last tenth of the first and of the second half of the run. Comparing two windows cancels
    the constant in front of ρᵗ, and the maxima ride over the oscillation of complex
    eigenvalues. One optimizer per μ moves every a at once (nablab's SGD)."""
    rates = np.empty((len(mus), len(a)))
    half = steps // 2
    tail = max(5, half // 10)
    for row, mu in enumerate(mus):
        w = nn.Parameter(np.ones_like(a))
        if mu == 0:
            opt = optim.SGD([w], lr=1.0)
        else:
            opt = optim.SGD([w], lr=1.0, momentum=float(mu), nesterov=(kind == "nesterov"))
        first, second = np.zeros_like(a), np.zeros_like(a)
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(2 * half):
                w.grad[...] = a * w.data
                opt.step()
                if half - tail <= t < half:
                    first = np.fmax(first, np.abs(w.data))
                elif t >= 2 * half - tail:
                    second = np.fmax(second, np.abs(w.data))
        first = np.where(np.isfinite(first), first, np.inf)
        second = np.where(np.isfinite(second), second, np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(first > 1e-290, second / first, 0.0)
            rates[row] = np.where(
                np.isinf(first) | np.isinf(second),
                np.inf,
                np.power(np.nan_to_num(ratio, nan=np.inf), 1.0 / half),
            )
    return rates


def heavy_ball_limit(mu: np.ndarray) -> np.ndarray:
    """Heavy ball on a quadratic of curvature c converges iff 0 < α·c < 2(1 + μ)."""
    return 2 * (1 + mu)


def nesterov_limit(mu: np.ndarray) -> np.ndarray:
    """Nesterov's momentum converges iff 0 < α·c < 2(1 + μ)/(1 + 2μ)."""
    return 2 * (1 + mu) / (1 + 2 * mu)


def spectral_radius(kind: str, a: float, mu: float) -> float:
    """The exact rate: the spectral radius of the iteration matrix on (w_t, b_{t−1}).

    Heavy ball (b ← μb + aw, w ← w − b): [[1 − a, −μ], [a, μ]] acting on (w, μb)…; written
    for the pair (w_{t+1}, b_t) as [[1 − a, −μ], [a, μ]]. Nesterov (PyTorch's form,
    w ← w − (aw + μb)): [[1 − a(1 + μ), −μ²], [a, μ]].
    """
    if kind == "nesterov":
        matrix = np.array([[1 - a * (1 + mu), -mu * mu], [a, mu]])
    else:
        matrix = np.array([[1 - a, -mu], [a, mu]])
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


def _agreement(rates: np.ndarray, a: np.ndarray, mus: np.ndarray, limit, band: float):
    """The share of grid points whose measured convergence (rate < 1) matches the analytic
    region, leaving out points within ``band`` (relative) of the boundary."""
    bound = limit(mus)[:, None]
    analytic = a[None, :] < bound
    away = np.abs(a[None, :] - bound) > band * bound
    measured = rates < 1.0
    agree = (measured == analytic) & away
    return float(agree.sum() / away.sum()), int((~(measured == analytic) & away).sum())


def _draw(a, mus, rates, gd, gd_lrs):
    from nablab.viz import PALETTE, new_figure

    figure, axes = new_figure(14, 4.4, 1, 3)
    for k, norms in enumerate(gd):
        axes[0].plot(norms, color=PALETTE[k % len(PALETTE)], label=f"α·λ_max = {gd_lrs[k]:g}")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("‖w‖ (log scale)")
    axes[0].set_title("Gradient descent on L = wᵀHw")
    axes[0].legend(loc="upper left", fontsize=8)
    from matplotlib.colors import TwoSlopeNorm

    grid = np.linspace(mus[0], mus[-1], 200)
    norm = TwoSlopeNorm(vmin=-1.5, vcenter=0.0, vmax=0.5)
    for ax, kind, limit in (
        (axes[1], "heavy ball", heavy_ball_limit),
        (axes[2], "Nesterov", nesterov_limit),
    ):
        shown = np.log10(np.clip(rates[kind], 10**-1.5, 10**0.5))
        mesh = ax.pcolormesh(a, mus, shown, cmap="PuOr_r", norm=norm, shading="nearest")
        ax.plot(limit(grid), grid, "--", color=PALETTE[7], lw=1.4)
        ax.set_xlim(a[0], a[-1])
        ax.set_xlabel("α·c (learning rate × curvature)")
        ax.set_ylabel("momentum μ")
        ax.set_title(f"{kind.capitalize()}: measured rate (dashed: analytic limit)", fontsize=10)
    figure.colorbar(mesh, ax=axes[2], label="log₁₀ of the rate per step (> 0: diverges)")
    return [figure]


@experiment(
    "stability-limits",
    "optimization",
    "Gradient descent on L = wᵀHw converges exactly when α·λ_max < 1; heavy-ball momentum "
    "converges when α·c < 2(1 + μ) and Nesterov's when α·c < 2(1 + μ)/(1 + 2μ), so Nesterov "
    "does not tolerate a larger learning rate than heavy-ball momentum.",
    (
        Option("steps", int, 300, "steps per measurement", 20, 5000),
        Option("grid", int, 90, "learning rates on the α·c axis", 10, 400),
        Option("momenta", int, 40, "momentum values on the μ axis", 5, 200),
    ),
    quick={"steps": 150, "grid": 45, "momenta": 20},
    source="003 (GD on wᵀHw converges iff α·λ_max < 1); 000 (Nesterov vs momentum)",
)
def stability_limits(params):
    steps = params["steps"]
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.normal(size=(2, 2)))
    h = rotation @ np.diag([0.5, 2.0]) @ rotation.T
    lam = float(np.linalg.eigvalsh(h).max())
    gd_lrs = (0.5, 0.9, 0.99, 1.01, 1.1)
    w0 = np.array([1.0, -0.5])
    gd = [_gd_on_quadratic(h, x / lam, steps, w0) for x in gd_lrs]
    gd_rates = {x: float((n[-1] / n[0]) ** (1 / steps)) for x, n in zip(gd_lrs, gd, strict=True)}
    converged = {x: r < 1 for x, r in gd_rates.items()}
    a = np.linspace(0.05, 4.4, params["grid"])
    mus = np.linspace(0.0, 0.95, params["momenta"])
    rates = {
        "heavy ball": _measured_rates("heavy", a, mus, steps),
        "Nesterov": _measured_rates("nesterov", a, mus, steps),
    }
    agree_hb, wrong_hb = _agreement(rates["heavy ball"], a, mus, heavy_ball_limit, 0.03)
    agree_n, wrong_n = _agreement(rates["Nesterov"], a, mus, nesterov_limit, 0.03)
    # the measured rate is the exact spectral radius away from the boundary
    probes = [
        (k, x, m) for k in ("heavy", "nesterov") for x, m in ((0.5, 0.5), (1.5, 0.8), (0.2, 0.3))
    ]
    rate_errors = []
    for kind, x, mu in probes:
        exact = spectral_radius(kind, x, mu)
        measured = _measured_rates(kind, np.array([x]), np.array([mu]), steps)[0, 0]
        rate_errors.append(abs(measured - exact))
    largest_stable = {
        kind: float(a[np.flatnonzero(rates[kind][-1] < 1).max()])
        if (rates[kind][-1] < 1).any()
        else 0.0
        for kind in rates
    }
    numbers = {
        "gd": {
            "lambda_max": lam,
            "rate_per_step": {f"{x:g}": r for x, r in gd_rates.items()},
            "analytic_rate": {f"{x:g}": abs(1 - 2 * x) for x in gd_lrs},
        },
        "agreement": {"heavy_ball": agree_hb, "nesterov": agree_n},
        "disagreeing_points": {"heavy_ball": wrong_hb, "nesterov": wrong_n},
        "largest_rate_error_vs_spectral_radius": float(max(rate_errors)),
        f"largest_stable_a_at_mu_{mus[-1]:.2f}": largest_stable,
        f"analytic_limits_at_mu_{mus[-1]:.2f}": {
            "heavy_ball": float(heavy_ball_limit(mus[-1])),
            "nesterov": float(nesterov_limit(mus[-1])),
        },
    }
    checks = [
        Check(
            "gradient descent on wᵀHw converges exactly when α·λ_max < 1",
            all(converged[x] == (x < 1) for x in gd_lrs),
            "measured rate (‖w_T‖/‖w_0‖)^(1/T) at α·λ_max = "
            + ", ".join(f"{x:g}: {gd_rates[x]:.3f}" for x in gd_lrs)
            + " (analytic |1 − 2α·λ_max|: 0.98 at 0.99, 1.02 at 1.01)",
        ),
        Check(
            "heavy-ball momentum converges exactly when α·c < 2(1 + μ)",
            agree_hb > 0.99 and max(rate_errors) < 2e-2,
            f"measured and analytic regions agree on {agree_hb:.1%} of the grid (3% band "
            f"around the boundary left out); measured rates within "
            f"{max(rate_errors):.1e} of the iteration matrix's spectral radius",
        ),
        Check(
            "Nesterov's momentum converges exactly when α·c < 2(1 + μ)/(1 + 2μ)",
            agree_n > 0.99,
            f"measured and analytic regions agree on {agree_n:.1%} of the grid",
        ),
        Check(
            "Nesterov tolerates a larger learning rate than heavy-ball momentum",
            largest_stable["Nesterov"] > largest_stable["heavy ball"],
            f"at μ = {mus[-1]:.2f} the largest stable α·c is {largest_stable['Nesterov']:.2f} "
            f"for Nesterov and {largest_stable['heavy ball']:.2f} for heavy ball (analytic "
            f"{nesterov_limit(mus[-1]):.2f} and {heavy_ball_limit(mus[-1]):.2f}): Nesterov's "
            "look-ahead damps oscillation but lowers the limit",
        ),
    ]
    return numbers, _draw(a, mus, rates, gd, gd_lrs), checks
