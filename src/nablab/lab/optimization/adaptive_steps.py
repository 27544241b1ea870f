"""adaptive-step-sizes and adam-bias-correction: what AdaGrad's, RMSProp's and Adam's
accumulators do to the step, measured on streams of random gradients."""

from __future__ import annotations

import numpy as np

from nablab import nn, optim
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option


def _stream(optimizer, param: nn.Parameter, gradients: np.ndarray, read) -> np.ndarray:
    """Feed one gradient per step (the stream does not depend on w) and record ``read()``."""
    out = []
    for g in gradients:
        param.grad[...] = g
        optimizer.step()
        out.append(read())
    return np.array(out)


@experiment(
    "adaptive-step-sizes",
    "optimization",
    "AdaGrad's effective step shrinks like 1/√t because it sums every squared gradient; "
    "RMSProp's levels off because it averages them with a forgetting factor.",
    (
        Option("steps", int, 2000, "gradients in the stream", 50, 100000),
        Option("coordinates", int, 500, "independent coordinates averaged", 1, 100000),
        Option("mean", float, 0.5, "the gradients' mean μ"),
        Option("std", float, 1.0, "the gradients' standard deviation σ", 0.0),
        Option("alpha", float, 0.99, "RMSProp's α", 0.0, 1.0, high_open=True),
        Option("lr", float, 0.01, "learning rate η", 0.0, low_open=True),
    ),
    quick={"steps": 400, "coordinates": 200},
    source="000 (AdaGrad vs RMSProp step sizes)",
)
def adaptive_step_sizes(params):
    steps, k, lr, alpha = params["steps"], params["coordinates"], params["lr"], params["alpha"]
    rng = np.random.default_rng(0)
    gradients = rng.normal(params["mean"], params["std"], size=(steps, k))
    second = params["mean"] ** 2 + params["std"] ** 2  # E[g²]
    results = {}
    for name in ("adagrad", "rmsprop"):
        w = nn.Parameter(np.zeros(k))
        if name == "adagrad":
            opt = optim.AdaGrad([w], lr=lr)
            key = "sum"
        else:
            opt = optim.RMSProp([w], lr=lr, alpha=alpha)
            key = "square_avg"
        eps = opt.eps
        results[name] = _stream(
            opt,
            w,
            gradients,
            lambda o=opt, key=key, eps=eps, w=w: float(
                np.mean(lr / (np.sqrt(o.state[w][key]) + eps))
            ),
        )
    t = np.arange(1, steps + 1)
    closed = {"adagrad": lr / np.sqrt(t * second), "rmsprop": lr / np.sqrt((1 - alpha**t) * second)}
    window = t >= 10
    slope = float(np.polyfit(np.log(t[window]), np.log(results["adagrad"][window]), 1)[0])
    late = results["rmsprop"][steps // 2 :]
    drift = float((late.max() - late.min()) / late.mean())
    level = lr / np.sqrt(second)
    errors = {
        name: float(np.max(np.abs(results[name][window] / closed[name][window] - 1)))
        for name in results
    }
    numbers = {
        "adagrad_loglog_slope": slope,
        "rmsprop_relative_change_over_last_half": drift,
        "rmsprop_level": float(late.mean()),
        "rmsprop_predicted_level": level,
        "largest_relative_gap_to_closed_form": errors,
        "E_g2": second,
    }
    checks = [
        Check(
            "AdaGrad's effective step shrinks like 1/√t",
            abs(slope + 0.5) < 0.05,
            f"log-log slope of lr/(√s_t + ε) against t: {slope:.3f} (1/√t: −0.5); within "
            f"{errors['adagrad']:.1%} of lr/√(t·E[g²]) from step 10 on",
        ),
        Check(
            "RMSProp's effective step levels off",
            drift < 0.1 and errors["rmsprop"] < 0.1,
            f"it changes by {drift:.1%} over the second half and sits at "
            f"{late.mean():.4g}, against lr/√E[g²] = {level:.4g}",
        ),
    ]
    from nablab.viz import PALETTE, new_figure

    figure, ax = new_figure(7, 4.2)
    for i, name in enumerate(("adagrad", "rmsprop")):
        label = "AdaGrad" if name == "adagrad" else f"RMSProp (α = {alpha:g})"
        ax.plot(t, results[name], color=PALETTE[i], label=f"{label}, measured")
        ax.plot(t, closed[name], "--", color=PALETTE[i], lw=1, label=f"{label}, closed form")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step t (log scale)")
    ax.set_ylabel("effective step lr/(√accumulator + ε)")
    ax.set_title(f"Effective step size on gradients ~ N({params['mean']:g}, {params['std']:g}²)")
    ax.legend(loc="lower left", fontsize=8)
    return numbers, [figure], checks


@experiment(
    "adam-bias-correction",
    "optimization",
    "Without bias correction Adam's first moment is biased toward zero, E[m_t] = (1 − β₁ᵗ)E[g], "
    "and its first steps are mis-sized by (1 − β₁)/√(1 − β₂); the correction removes both.",
    (
        Option("steps", int, 60, "steps of the stream", 5, 10000),
        Option("coordinates", int, 20000, "independent streams averaged (Monte Carlo)", 100, 10**6),
        Option("beta1", float, 0.9, "β₁", 0.0, 1.0, high_open=True),
        Option("beta2", float, 0.999, "β₂", 0.0, 1.0, high_open=True),
        Option("mean", float, 1.0, "the gradients' mean"),
        Option("std", float, 0.5, "the gradients' standard deviation", 0.0),
    ),
    quick={"coordinates": 5000, "steps": 40},
    source="000 (E[s_t] = μ(1 − βᵗ)); 003 (Adam's derivation and bias correction)",
)
def adam_bias_correction(params):
    steps, k = params["steps"], params["coordinates"]
    b1, b2, mu, sigma = params["beta1"], params["beta2"], params["mean"], params["std"]
    rng = np.random.default_rng(0)
    gradients = rng.normal(mu, sigma, size=(steps, k))
    lr = 1e-3
    moments = {}
    for correct in (False, True):
        w = nn.Parameter(np.zeros(k))
        opt = optim.Adam([w], lr=lr, betas=(b1, b2), bias_correction=correct)
        moments[correct] = _stream(
            opt, w, gradients, lambda o=opt, w=w: float(np.mean(o.state[w]["m"]))
        )
    t = np.arange(1, steps + 1)
    predicted = (1 - b1**t) * mu
    standard_error = sigma * (1 - b1) * np.sqrt((1 - b1 ** (2 * t)) / (1 - b1**2) / k)
    z = np.abs(moments[False] - predicted) / standard_error
    # first steps on a constant gradient: the update with and without the correction
    sizes = {}
    for correct in (False, True):
        w = nn.Parameter(np.zeros(1))
        opt = optim.Adam([w], lr=lr, betas=(b1, b2), bias_correction=correct)
        sizes[correct] = np.abs(
            np.diff(
                _stream(opt, w, np.full((steps, 1), mu), lambda w=w: float(w.data[0])), prepend=0.0
            )
        )
    ratio = sizes[False] / sizes[True]
    formula = (1 - b1**t) / np.sqrt(1 - b2**t)
    first_ratio, first_formula = float(ratio[0]), (1 - b1) / np.sqrt(1 - b2)
    numbers = {
        "largest_z_score_of_E_m_t": float(z.max()),
        "E_m_1_over_mean": float(moments[False][0] / mu),
        "first_step_ratio": first_ratio,
        "first_step_formula": first_formula,
        "largest_step_ratio_error": float(np.max(np.abs(ratio / formula - 1))),
    }
    checks = [
        Check(
            "without correction E[m_t] = (1 − β₁ᵗ)·E[g]",
            bool(z.max() < 4.5),
            f"Monte Carlo over {k} streams: the largest deviation from (1 − β₁ᵗ)μ over "
            f"{steps} steps is {z.max():.2f} standard errors (m₁ = {moments[False][0]:.4f} "
            f"vs {(1 - b1) * mu:.4f})",
        ),
        Check(
            "the first uncorrected step is (1 − β₁)/√(1 − β₂) times the corrected one",
            abs(first_ratio / first_formula - 1) < 1e-6,
            f"measured {first_ratio:.6f}, formula {first_formula:.6f}; the ratio at step t "
            f"follows (1 − β₁ᵗ)/√(1 − β₂ᵗ) to {numbers['largest_step_ratio_error']:.1e}",
        ),
    ]
    from nablab.viz import PALETTE, new_figure

    figure, (left, right) = new_figure(12, 4.2, 1, 2)
    left.plot(t, moments[False] / mu, "o", ms=3, color=PALETTE[0], label="E[m_t]/E[g], uncorrected")
    left.plot(t, predicted / mu, "-", color=PALETTE[7], lw=1, label="1 − β₁ᵗ")
    left.plot(
        t,
        moments[True] / mu,
        "s",
        ms=3,
        color=PALETTE[1],
        label="E[m_t]/E[g], Adam's state with correction on (m itself is not corrected)",
    )
    left.set_xlabel("step t")
    left.set_ylabel("mean first moment / E[g]")
    left.set_title(f"Monte Carlo over {k} gradient streams")
    left.legend(loc="lower right", fontsize=8)
    right.plot(t, ratio, "o", ms=3, color=PALETTE[2], label="measured step ratio")
    right.plot(t, formula, "-", color=PALETTE[7], lw=1, label="(1 − β₁ᵗ)/√(1 − β₂ᵗ)")
    right.set_xlabel("step t")
    right.set_ylabel("uncorrected step / corrected step")
    right.set_title(f"Step sizes on a constant gradient (β₁ = {b1:g}, β₂ = {b2:g})")
    right.legend(loc="upper right", fontsize=8)
    return numbers, [figure], checks
