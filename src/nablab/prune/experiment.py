"""The Optimal Brain Damage paper's three figures, on scikit-learn's digits.

LeCun, Denker & Solla (1990), "Optimal Brain Damage", NIPS 2, showed on a digit recognizer:

1. the training objective against the number of deleted parameters, deleting in order of
   OBD saliency, of magnitude and at random: OBD's curve stays low longest;
2. the objective predicted by the saliencies (the objective before deletion plus the sum of
   the saliencies of the deleted parameters) against the actual one;
3. the objective against the number of deleted parameters without retraining and with
   retraining after each deletion step, on the training and the test data.

:func:`obd_figures` redoes this with a 64-h-10 tanh MLP trained on digits in float64, with the
paper's objective E = ½Σ(t − o)² on one-hot targets (averaged over samples), LeCun's diagonal
recursion with the Levenberg–Marquardt approximation for the saliencies (as the paper), the
weights as candidates (biases kept), and the validation split as the test data. Saliencies
are computed once at the trained weights for figures 1 and 2; figure 3 deletes in steps,
recomputing them and retraining after each. ``{"quick": True}`` gives a seconds-long version
with a smaller network (:data:`QUICK`). ``python -m nablab.prune.experiment --out FILE.png``
draws the three panels in one figure.

For the lab: ``parameters=OPTIONS, quick=QUICK`` and a runner returning ``(numbers, figures,
[Check(**c) for c in numbers["checks"]])``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from nablab.registry import Option

# The parameters, in the lab's form: each an Option with its default and limits; QUICK holds
# the values of the seconds-long version.
OPTIONS = (
    Option("seed", int, 0, "data split, initialization, batches, random deletion", 0, 2**32 - 1),
    Option("hidden", int, 64, "hidden units", 1, 4096),
    Option("epochs", int, 150, "mini-batch Adam epochs", 1, 100_000),
    Option("polish_steps", int, 500, "full-batch Adam steps after them", 0, 100_000),
    Option(
        "curvature",
        str,
        "lecun",
        "the Hessian diagonal of the saliencies",
        choices=("lecun", "exact", "gauss_newton"),
    ),
    Option("points", int, 41, "deletion levels per curve (figures 1 and 2)", 2, 10_000),
    Option("retrain_steps", int, 9, "deletion steps of figure 3, up to 90%", 1, 100),
    Option("retrain_epochs", int, 10, "retraining epochs after each step", 0, 10_000),
    Option("random_repeats", int, 3, "random deletion orders averaged", 1, 100),
)
QUICK = {
    "hidden": 16,
    "epochs": 40,
    "polish_steps": 300,
    "points": 11,
    "retrain_steps": 4,
    "retrain_epochs": 3,
    "random_repeats": 1,
}


def resolve(params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every parameter: the defaults, QUICK's values when ``params["quick"]`` is true, then
    the given values, each checked against its limits."""
    given = dict(params or {})
    quick = given.pop("quick", False)
    if not isinstance(quick, bool):
        raise ValueError(f"obd_figures: quick must be true or false, got {quick!r}")
    known = {o.name: o for o in OPTIONS}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(
            f"obd_figures: unknown parameters {unknown}; valid: quick, {', '.join(known)}"
        )
    values = {o.name: o.default for o in OPTIONS} | (QUICK if quick else {})
    for name, value in given.items():
        values[name] = known[name].check(value, "obd_figures")
    return values


def _setup(p: dict[str, Any]):
    """Digits (standardized on the training part), one-hot targets, the MLP trained with
    mini-batch Adam and then full-batch Adam steps, so that it sits near a minimum (OBD's
    saliency assumes the gradient there is zero)."""
    from nablab import data, nn, optim
    from nablab.train.loop import fit

    digits = data.load("digits", dtype=np.float64)
    x_train, y_train, x_val, y_val = data.train_val_split(digits.x, digits.y, 0.2, p["seed"])
    scaler = data.Standardizer().fit(x_train)
    one_hot = np.eye(10)
    train = (scaler.transform(x_train), one_hot[y_train])
    val = (scaler.transform(x_val), one_hot[y_val])
    rng = np.random.default_rng(p["seed"])
    model = nn.Sequential(
        nn.Linear(64, p["hidden"], init="lecun_normal", rng=rng, dtype=np.float64),
        nn.Tanh(),
        nn.Linear(p["hidden"], 10, init="lecun_normal", rng=rng, dtype=np.float64),
    )
    loss = nn.MSELoss("batch_mean", factor=0.5)  # E = ½Σ(t − o)² per sample, as the paper
    for epochs, batch_size in ((p["epochs"], 64), (p["polish_steps"], len(train[0]))):
        optimizer = optim.Adam(model.parameters(), lr=3e-3 if batch_size == 64 else 1e-3)
        fit(model, loss, optimizer, train, epochs=epochs, batch_size=batch_size, seed=p["seed"])
    return model, loss, train, val


def _objective(model, loss, split) -> float:
    return float(loss(model(split[0]), split[1]))


class _Deleter:
    """Scores computed once at the trained weights; the objective after deleting the k
    lowest-scoring weights (all other weights as trained)."""

    def __init__(self, model, loss, train, p) -> None:
        from nablab.prune.criteria import CRITERIA, Context
        from nablab.prune.targets import weight_parameters

        self.model, self.loss = model, loss
        self.params = [param for _, param in weight_parameters(model)]
        self.original = np.concatenate([param.data.ravel() for param in self.params])
        self.bounds = np.cumsum([0, *(param.size for param in self.params)])
        rng = np.random.default_rng(p["seed"])

        def scores(method: str) -> np.ndarray:
            ctx = Context(model, loss, *train, rng=rng, curvature=p["curvature"])
            parts = CRITERIA[method].entries(ctx, self.params)
            return np.concatenate([s.ravel() for s in parts])

        self.saliency = scores("obd")
        self.orders = {
            "obd": np.argsort(self.saliency, kind="stable"),
            "magnitude": np.argsort(scores("magnitude"), kind="stable"),
        }
        self.random_orders = [
            np.argsort(scores("random"), kind="stable") for _ in range(p["random_repeats"])
        ]

    def _set(self, flat: np.ndarray) -> None:
        for param, lo, hi in zip(self.params, self.bounds[:-1], self.bounds[1:], strict=True):
            param.data[...] = flat[lo:hi].reshape(param.shape)

    def curve(self, order: np.ndarray, split, levels: list[int]) -> list[float]:
        values = []
        try:
            for k in levels:
                flat = self.original.copy()
                flat[order[:k]] = 0
                self._set(flat)
                values.append(_objective(self.model, self.loss, split))
        finally:
            self._set(self.original)
        return values

    def predicted(self, levels: list[int], baseline: float) -> list[float]:
        """L₀ + the sum of the saliencies of the k parameters deleted first."""
        cumulative = np.concatenate([[0.0], np.cumsum(self.saliency[self.orders["obd"]])])
        return [baseline + float(cumulative[k]) for k in levels]


def _retraining(model, loss, train, val, p, fractions) -> dict[str, list[float]]:
    """Iterative OBD: delete to each fraction (saliencies recomputed at the current weights),
    retrain, measure."""
    from nablab import optim
    from nablab.prune.core import prune
    from nablab.train.loop import fit

    result: dict[str, list[float]] = {"deleted": [], "train": [], "val": []}
    for number, fraction in enumerate(fractions, 1):
        report = prune(model, fraction, "obd", data=train, loss=loss, curvature=p["curvature"])
        fit(
            model,
            loss,
            optim.Adam(model.parameters(), lr=1e-3),
            train,
            epochs=p["retrain_epochs"],
            batch_size=64,
            seed=p["seed"] + number,
        )
        result["deleted"].append(report.pruned)
        result["train"].append(_objective(model, loss, train))
        result["val"].append(_objective(model, loss, val))
    return result


def _legend_below(ax, columns: int) -> None:
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=columns, fontsize=8)


def _draw_methods(ax, numbers) -> None:
    from nablab.viz import PALETTE

    styles = {
        "obd": (PALETTE[0], "OBD"),
        "magnitude": (PALETTE[1], "magnitude"),
        "random": (PALETTE[7], "random"),
    }
    for method, (color, label) in styles.items():
        ax.plot(numbers["deleted"], numbers["loss"][method], color=color, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("parameters deleted (no retraining)")
    ax.set_ylabel("training objective ½Σ(t − o)² (log scale)")
    ax.set_title("1. Deletion order")
    _legend_below(ax, 3)


def _draw_prediction(ax, numbers) -> None:
    from nablab.viz import PALETTE

    ax.plot(numbers["deleted"], numbers["loss"]["obd"], color=PALETTE[0], label="actual")
    ax.plot(
        numbers["deleted"],
        numbers["predicted"],
        "--",
        color=PALETTE[5],
        label="predicted: L₀ + Σ saliencies",
    )
    ax.set_yscale("log")
    ax.set_xlabel("parameters deleted by OBD")
    ax.set_ylabel("training objective (log scale)")
    ax.set_title("2. Predicted and actual")
    _legend_below(ax, 1)


def _draw_retraining(ax, numbers) -> None:
    from nablab.viz import PALETTE

    r = numbers["retraining"]
    ax.plot(
        r["deleted"],
        r["train_without"],
        "s--",
        ms=3,
        color=PALETTE[0],
        label="training, not retrained",
    )
    ax.plot(r["deleted"], r["train"], "o-", ms=3, color=PALETTE[0], label="training, retrained")
    ax.plot(
        r["deleted"], r["val_without"], "s--", ms=3, color=PALETTE[1], label="test, not retrained"
    )
    ax.plot(r["deleted"], r["val"], "o-", ms=3, color=PALETTE[1], label="test, retrained")
    ax.set_yscale("log")
    ax.set_xlabel("parameters deleted by OBD")
    ax.set_ylabel("objective ½Σ(t − o)² (log scale)")
    ax.set_title("3. Retraining")
    _legend_below(ax, 2)


DRAWERS = (_draw_methods, _draw_prediction, _draw_retraining)


def figures(numbers: Mapping[str, Any]) -> list:
    """The three figures, one per panel of the paper."""
    from nablab.viz import new_figure

    result = []
    for draw in DRAWERS:
        figure, ax = new_figure(5.0, 4.2)
        draw(ax, numbers)
        result.append(figure)
    return result


def combined_figure(numbers: Mapping[str, Any]):
    """The three panels side by side (the README's figure)."""
    from nablab.viz import new_figure

    figure, axes = new_figure(13.5, 4.4, ncols=3)
    for draw, ax in zip(DRAWERS, axes, strict=True):
        draw(ax, numbers)
    figure.suptitle(
        f"Optimal Brain Damage on digits: 64-{numbers['hidden']}-10 tanh MLP, "
        f"{numbers['weights']} weights"
    )
    return figure


def _checks(numbers: dict[str, Any]) -> list[dict[str, Any]]:
    """The paper's findings as checks on the numbers: claim, whether it holds, evidence."""
    n = numbers["weights"]
    deleted = np.array(numbers["deleted"])
    upto = (deleted > 0) & (deleted <= 0.7 * n)
    loss = {m: np.array(v) for m, v in numbers["loss"].items()}
    mean_log = {m: float(np.mean(np.log10(v[upto]))) for m, v in loss.items()}
    error = np.abs(np.array(numbers["predicted"]) - loss["obd"]) / loss["obd"]
    worst = float(np.max(error[upto]))
    r = numbers["retraining"]
    lower = np.array(r["train"]) < np.array(r["train_without"])
    numbers["mean_log10_objective_up_to_70pct"] = mean_log
    numbers["prediction_error_up_to_70pct"] = worst
    means = (
        f"mean log10 training objective up to 70% deleted: OBD {mean_log['obd']:.2f}, "
        f"magnitude {mean_log['magnitude']:.2f}, random {mean_log['random']:.2f}"
    )
    return [
        {
            "claim": "deleting in OBD's order hurts the objective less than by magnitude",
            "holds": mean_log["obd"] < mean_log["magnitude"],
            "evidence": means,
        },
        {
            "claim": "deleting in OBD's order hurts the objective less than at random",
            "holds": mean_log["obd"] < mean_log["random"],
            "evidence": means,
        },
        {
            "claim": "L₀ + Σ saliencies predicts the objective within 50% up to 70% deleted",
            "holds": worst <= 0.5,
            "evidence": f"largest relative error {worst:.0%}",
        },
        {
            "claim": "retraining after each deletion step lowers the training objective",
            "holds": bool(lower.all()),
            "evidence": f"lower at {int(lower.sum())} of {lower.size} deletion levels",
        },
    ]


def _verdict(checks: list[dict[str, Any]]) -> str:
    failed = [c["claim"] for c in checks if not c["holds"]]
    if failed:
        return "not reproduced: " + "; ".join(failed)
    return "reproduced: " + "; ".join(f"{c['claim']} ({c['evidence']})" for c in checks)


def obd_figures(params: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], list, str]:
    """Reproduce the OBD paper's three figures; returns (numbers, [three Figures], verdict).

    ``params`` overrides :data:`OPTIONS` (seed, hidden, epochs, polish_steps, curvature,
    points, retrain_steps, retrain_epochs, random_repeats); ``{"quick": True}`` starts from
    :data:`QUICK`. The numbers are plain lists and floats (JSON-ready) and hold
    ``numbers["checks"]``, one ``{"claim", "holds", "evidence"}`` per finding of the paper
    (the lab's checks); the verdict sums them up in a sentence.
    """
    p = resolve(params)
    model, loss, train, val = _setup(p)
    n = sum(param.size for param in model.parameters() if param.ndim >= 2)
    levels = [int(v) for v in np.unique(np.round(np.linspace(0, n, p["points"])).astype(int))]
    deleter = _Deleter(model, loss, train, p)
    curves = {
        "obd": deleter.curve(deleter.orders["obd"], train, levels),
        "magnitude": deleter.curve(deleter.orders["magnitude"], train, levels),
        "random": [
            float(v)
            for v in np.mean([deleter.curve(o, train, levels) for o in deleter.random_orders], 0)
        ],
    }
    numbers: dict[str, Any] = {
        "hidden": p["hidden"],
        "weights": n,
        "baseline_loss": curves["obd"][0],
        "deleted": levels,
        "loss": curves,
        "predicted": deleter.predicted(levels, curves["obd"][0]),
    }
    steps = p["retrain_steps"]
    fractions = [0.9 * k / steps for k in range(1, steps + 1)]
    at = [round(f * n) for f in fractions]  # what prune() deletes for these amounts
    without = {
        "train_without": deleter.curve(deleter.orders["obd"], train, at),
        "val_without": deleter.curve(deleter.orders["obd"], val, at),
    }
    numbers["retraining"] = {**_retraining(model, loss, train, val, p, fractions), **without}
    checks = _checks(numbers)
    verdict = _verdict(checks)
    numbers["checks"] = checks
    return numbers, figures(numbers), verdict


def main(argv: list[str] | None = None) -> int:
    """``python -m nablab.prune.experiment --out obd.png [--quick]``: run, print the verdict,
    write the three panels as one PNG."""
    import argparse

    from nablab.viz import save

    parser = argparse.ArgumentParser(description="The Optimal Brain Damage paper's figures")
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument("--quick", action="store_true", help="the seconds-long version")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dpi", type=int, default=80)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    numbers, _, verdict = obd_figures({"quick": args.quick, "seed": args.seed})
    save(combined_figure(numbers), args.out, dpi=args.dpi)
    print(verdict)
    print(f"wrote {args.out} ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
