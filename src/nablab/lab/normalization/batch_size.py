"""batchnorm-batch-size: how noisy BatchNorm's batch statistics are for each batch size, what
a batch of one does, and why LayerNorm does not care about the batch."""

from __future__ import annotations

import warnings

import numpy as np

from nablab import nn
from nablab.lab.common import DATASETS, dataset
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option


def _batch_means(z: np.ndarray, m: int, draws: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """The per-feature mean and biased variance of ``draws`` batches of ``m`` rows drawn
    without replacement: two arrays (draws, features)."""
    means = np.empty((draws, z.shape[1]))
    variances = np.empty_like(means)
    for d in range(draws):
        batch = z[rng.choice(len(z), m, replace=False)]
        means[d] = batch.mean(axis=0)
        variances[d] = batch.var(axis=0)
    return means, variances


def _alone_vs_batch(module: nn.Module, z: np.ndarray, training: bool) -> float:
    """The largest |output of row 0 alone − output of row 0 inside the batch|."""
    module.train(training)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # BatchNorm warns about one sample
        alone = module(z[:1].copy())
    together = module(z)
    return float(np.max(np.abs(alone[0] - together[0])))


@experiment(
    "batchnorm-batch-size",
    "normalization",
    "BatchNorm's batch statistics get noisier as the batch shrinks (the batch mean's spread is "
    "σ/√m, times √((N − m)/(N − 1)) without replacement); a batch of one outputs β and passes "
    "no gradient to its input; LayerNorm gives a sample the same output alone or in a batch, "
    "in training and in eval.",
    (
        Option("data", str, "digits", "the dataset", choices=DATASETS),
        Option("sizes", list, (1, 2, 4, 8, 16, 32, 64, 128, 256), "batch sizes", 1, item_kind=int),
        Option("draws", int, 400, "random batches per size", 20, 100000),
        Option("features", int, 32, "pre-activations measured (units of a random layer)", 1, 4096),
        Option("seed", int, 0, "seed of the layer and the batches", 0),
    ),
    quick={"draws": 200},
    source="000 (tiny batches, a batch of one gives β; LayerNorm against BatchNorm)",
)
def batchnorm_batch_size(params):
    x, _, _, _ = dataset(params["data"])
    rng = np.random.default_rng(params["seed"])
    layer = nn.Linear(x.shape[1], params["features"], init="he_normal", rng=rng, dtype=np.float64)
    z = layer(x)  # the pre-activations a BatchNorm after this layer would see
    n = len(z)
    sigma = z.std(axis=0)
    sizes = [m for m in params["sizes"] if m <= n]
    draws = params["draws"]
    spread, formula, var_spread, ratios = {}, {}, {}, {}
    for m in sizes:
        means, variances = _batch_means(z, m, draws, rng)
        measured = means.std(axis=0, ddof=1)
        expected = sigma / np.sqrt(m) * np.sqrt((n - m) / (n - 1))
        spread[m] = float(np.mean(measured / sigma))
        formula[m] = float(np.mean(expected / sigma))
        ratios[m] = float(np.mean(measured / expected))
        var_spread[m] = float(np.mean(variances.std(axis=0, ddof=1) / sigma**2))
    tolerance = 4 / np.sqrt(2 * (draws - 1))  # four standard errors of a standard deviation
    worst = max(sizes, key=lambda m: abs(ratios[m] - 1))

    # a batch of one and a batch of two, through a BatchNorm with random γ and β
    norm = nn.BatchNorm1d(params["features"], dtype=np.float64)
    norm.weight.data = rng.normal(1.0, 0.5, params["features"])
    norm.bias.data = rng.normal(0.0, 0.5, params["features"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        single = norm(z[:1].copy())
    single_gap = float(np.max(np.abs(single - norm.bias.data)))
    single_grad = float(np.max(np.abs(norm.backward(rng.normal(size=single.shape)))))
    pair = nn.BatchNorm1d(params["features"], affine=False, dtype=np.float64)(z[:2].copy())
    pair_gap = float(np.max(np.abs(np.abs(pair) - 1)))

    # one sample alone and inside a batch of 64, after a few training batches of statistics
    batch = z[:64]
    layer_norm = nn.LayerNorm(params["features"], dtype=np.float64)
    layer_norm.weight.data, layer_norm.bias.data = norm.weight.data, norm.bias.data
    for start in range(0, 512, 64):
        norm.train()(z[start : start + 64])
    gaps = {
        "BatchNorm, training": _alone_vs_batch(norm, batch, True),
        "BatchNorm, eval": _alone_vs_batch(norm, batch, False),
        "LayerNorm, training": _alone_vs_batch(layer_norm, batch, True),
        "LayerNorm, eval": _alone_vs_batch(layer_norm, batch, False),
    }
    numbers = {
        "batch_mean_spread_over_sigma": {str(m): spread[m] for m in sizes},
        "formula_over_sigma": {str(m): formula[m] for m in sizes},
        "measured_over_formula": {str(m): ratios[m] for m in sizes},
        "batch_variance_spread_over_sigma2": {str(m): var_spread[m] for m in sizes},
        "batch_of_one": {
            "largest_output_minus_beta": single_gap,
            "largest_input_gradient": single_grad,
        },
        "batch_of_two_largest_abs_xhat_minus_1": pair_gap,
        "alone_vs_in_batch_largest_difference": gaps,
    }
    checks = [
        Check(
            "the spread of the batch mean is σ/√m·√((N − m)/(N − 1)) for every batch size",
            all(abs(ratios[m] - 1) < tolerance for m in sizes),
            f"measured over formula, averaged over {params['features']} features, {draws} "
            f"batches each: "
            + ", ".join(f"m = {m}: {ratios[m]:.3f}" for m in sizes)
            + f" (farthest m = {worst}; allowed ±{tolerance:.3f}, four standard errors); the "
            f"spread falls from {spread[sizes[0]]:.2f}σ at m = {sizes[0]} to "
            f"{spread[sizes[-1]]:.3f}σ at m = {sizes[-1]}",
        ),
        Check(
            "a training batch of one sample outputs exactly β and passes zero gradient to its "
            "input",
            single_gap == 0.0 and single_grad == 0.0,
            f"largest |y − β| = {single_gap:.1e}, largest |dL/dx| = {single_grad:.1e} (x − μ = 0 "
            f"for every feature); with two samples every normalized value is ±1 (largest "
            f"||x̂| − 1| = {pair_gap:.1e}, from ε)",
        ),
        Check(
            "LayerNorm gives a sample the same output alone or in a batch, in training and eval",
            gaps["LayerNorm, training"] <= 1e-12 and gaps["LayerNorm, eval"] <= 1e-12,
            "largest difference alone vs in a batch of 64: "
            + ", ".join(f"{k} {v:.1e}" for k, v in gaps.items())
            + " (BatchNorm in eval uses its running statistics, so it agrees too)",
        ),
    ]
    return numbers, [_draw(sizes, spread, formula, var_spread, gaps, params)], checks


def _draw(sizes, spread, formula, var_spread, gaps, params):
    from nablab.viz import PALETTE, new_figure

    figure, (left, right) = new_figure(12, 4.3, 1, 2, width_ratios=(1.4, 1))
    left.plot(
        sizes,
        [spread[m] for m in sizes],
        "o",
        color=PALETTE[0],
        label="batch mean: measured spread / σ",
    )
    left.plot(
        sizes,
        [formula[m] for m in sizes],
        "-",
        color=PALETTE[7],
        lw=1,
        label="1/√m · √((N − m)/(N − 1))",
    )
    several = [m for m in sizes if m > 1]  # one sample has no spread of its variance
    left.plot(
        several,
        [var_spread[m] for m in several],
        "s",
        color=PALETTE[1],
        label="batch variance: measured spread / σ²",
    )
    left.set_xscale("log", base=2)
    left.set_yscale("log")
    left.set_xlabel("batch size m (log scale)")
    left.set_ylabel("standard deviation over batches (relative)")
    left.set_title(f"Noise of the batch statistics ({params['data']}, {params['draws']} batches)")
    left.legend(loc="lower left", fontsize=8)
    labels = list(gaps)
    floor = 1e-17
    right.bar(
        range(len(labels)),
        [max(v, floor) for v in gaps.values()],
        color=[PALETTE[0], PALETTE[4], PALETTE[2], PALETTE[3]],
    )
    right.set_yscale("log")
    right.set_ylim(floor / 2, 10)
    right.set_xticks(range(len(labels)), [k.replace(", ", "\n") for k in labels], fontsize=8)
    right.set_xlabel("normalization and mode")
    right.set_ylabel(f"largest |alone − in batch| (0 drawn at {floor:g})")
    right.set_title("A sample alone vs in a batch of 64")
    return figure
