"""dropout-ensemble: every one of the 2ⁿ dropout masks of a small hidden layer, enumerated."""

from __future__ import annotations

import itertools

import numpy as np

from nablab import nn, optim
from nablab.lab.common import DATASETS, dataset
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option
from nablab.train import fit


def _network(n_in, units, classes, p, mode, seed):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Linear(n_in, units, init="he_normal", rng=rng, dtype=np.float64),
        nn.ReLU(),
        nn.Dropout(p, mode=mode, rng=rng),
        nn.Linear(units, classes, rng=rng, dtype=np.float64),
    )


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _every_mask(model, x, masks):
    """The logits of the network under each mask (2ⁿ, N, C), through the Dropout module itself
    with its mask fixed, in training mode."""
    dropout = model[2]
    model.train()
    out = []
    for mask in masks:
        dropout.set_mask(np.broadcast_to(mask, (len(x), len(mask))))
        out.append(model(x))
    dropout.set_mask(None)
    return np.stack(out)


def _eval(model, x):
    model.eval()
    try:
        return model(x)
    finally:
        model.train()


@experiment(
    "dropout-ensemble",
    "regularization",
    "Dropout trains 2ⁿ thinned networks at once. Averaged over all 2ⁿ masks (each weighted by "
    "its probability), the logits equal the eval network's exactly, because the read-out is "
    "linear; after the softmax the eval network only approximates the average (the normalized "
    "geometric mean is exact). Inverted dropout and scaling at test time give the same "
    "expectation.",
    (
        Option("data", str, "digits", "the dataset", choices=DATASETS),
        Option("units", int, 10, "units of the dropout layer (2^units masks)", 1, 16),
        Option("p", float, 0.5, "drop probability", 0.0, 1.0, high_open=True),
        Option("epochs", int, 20, "epochs of training with dropout", 1, 1000),
        Option("seed", int, 0, "seed", 0),
    ),
    quick={"epochs": 5},
    source="000 (dropout as an ensemble of 2ⁿ sub-networks; test-time scaling)",
)
def dropout_ensemble(params):
    x, y, x_val, y_val = dataset(params["data"])
    n, p, classes = params["units"], params["p"], int(y.max()) + 1
    q = 1.0 - p
    model = _network(x.shape[1], n, classes, p, "inverted", params["seed"])
    fit(
        model,
        nn.CrossEntropyLoss(),
        optim.Adam(model.parameters(), lr=3e-3),
        (x, y),
        epochs=params["epochs"],
        seed=params["seed"],
    )
    masks = np.array(list(itertools.product((0.0, 1.0), repeat=n)))
    kept = masks.sum(axis=1)
    weights = q**kept * p ** (n - kept)  # P(mask); they sum to 1
    logits = _every_mask(model, x_val, masks)
    eval_logits = _eval(model, x_val)
    mean_logits = np.tensordot(weights, logits, axes=1)
    probabilities = _softmax(logits)
    mean_probabilities = np.tensordot(weights, probabilities, axes=1)
    eval_probabilities = _softmax(eval_logits)
    geometric = np.exp(np.tensordot(weights, np.log(probabilities), axes=1))
    geometric /= geometric.sum(axis=1, keepdims=True)

    # the same network in the other convention: W2/q, no scaling in training, q·x at test
    other = _network(x.shape[1], n, classes, p, "scale_at_test", params["seed"])
    other.load_state_dict(model.state_dict())
    other[3].weight.data = model[3].weight.data / q
    other_logits = _every_mask(other, x_val, masks)
    other_mean = np.tensordot(weights, other_logits, axes=1)
    other_eval = _eval(other, x_val)

    linear_gap = float(np.max(np.abs(mean_logits - eval_logits)))
    softmax_gap = float(np.max(np.abs(mean_probabilities - eval_probabilities)))
    geometric_gap = float(np.max(np.abs(geometric - eval_probabilities)))
    agree = float(np.mean(mean_probabilities.argmax(1) == eval_probabilities.argmax(1)))
    conventions = (
        float(np.max(np.abs(other_mean - other_eval))),
        float(np.max(np.abs(other_eval - eval_logits))),
    )
    member_acc = (logits.argmax(axis=2) == y_val).mean(axis=1)
    numbers = {
        "masks": len(masks),
        "largest_mean_logit_minus_eval_logit": linear_gap,
        "largest_mean_probability_minus_eval_probability": softmax_gap,
        "largest_geometric_mean_minus_eval_probability": geometric_gap,
        "predictions_agreeing": agree,
        "scale_at_test_mean_minus_eval": conventions[0],
        "scale_at_test_eval_minus_inverted_eval": conventions[1],
        "accuracy": {
            "eval_network": float(np.mean(eval_logits.argmax(1) == y_val)),
            "mask_average": float(np.mean(mean_probabilities.argmax(1) == y_val)),
            "sub_networks_weighted_mean": float(weights @ member_acc),
            "sub_network_best": float(member_acc.max()),
            "sub_network_worst": float(member_acc.min()),
        },
    }
    checks = [
        Check(
            "the probability-weighted mean of the logits over all masks equals the eval "
            "network's logits",
            linear_gap < 1e-10,
            f"{len(masks)} masks on {len(x_val)} validation samples: largest difference "
            f"{linear_gap:.1e}",
        ),
        Check(
            "after the softmax the eval network only approximates the mean over masks (not "
            "exactly, but the same class for at least 90% of the samples)",
            softmax_gap > 1e-6 and agree >= 0.9,
            f"largest difference of a probability {softmax_gap:.3f}; the two predict the same "
            f"class for {agree:.1%} of the samples",
        ),
        Check(
            "the normalized weighted geometric mean of the softmax outputs equals the eval "
            "network's softmax exactly",
            geometric_gap < 1e-10,
            f"largest difference {geometric_gap:.1e} (the log-softmax is the logits minus a "
            "per-sample constant, which the normalization removes)",
        ),
        Check(
            "scaling at test time gives the same expectation as inverted dropout",
            max(conventions) < 1e-10,
            f"with W₂/q: its own mask average vs its eval output differ by {conventions[0]:.1e}, "
            f"its eval output vs the inverted network's by {conventions[1]:.1e}",
        ),
    ]
    return (
        numbers,
        [
            _draw(
                eval_probabilities,
                mean_probabilities,
                geometric,
                member_acc,
                weights,
                numbers,
                params,
            )
        ],
        checks,
    )


def _draw(eval_p, mean_p, geometric, member_acc, weights, numbers, params):
    from nablab.viz import PALETTE, new_figure

    figure, (left, right) = new_figure(12, 4.4, 1, 2)
    left.plot([0, 1], [0, 1], color=PALETTE[7], lw=0.8, label="equal")
    left.plot(
        eval_p.ravel(),
        mean_p.ravel(),
        ".",
        ms=2,
        color=PALETTE[0],
        label="arithmetic mean over masks",
    )
    left.plot(
        eval_p.ravel(),
        geometric.ravel(),
        ".",
        ms=1,
        color=PALETTE[1],
        label="normalized geometric mean",
    )
    left.set_xlabel("eval network's probability (weights scaled, no mask)")
    left.set_ylabel(f"average over all {len(weights)} masks")
    left.set_title(f"Every class probability of every validation sample (p = {params['p']:g})")
    left.legend(loc="upper left", fontsize=8, markerscale=6)
    right.hist(member_acc, bins=30, weights=weights * len(weights), color=PALETTE[4])
    for value, label, color in (
        (numbers["accuracy"]["eval_network"], "eval network", PALETTE[5]),
        (numbers["accuracy"]["mask_average"], "average of all masks", PALETTE[2]),
    ):
        right.axvline(value, color=color, lw=2, label=f"{label}: {value:.3f}")
    right.set_xlabel("validation accuracy of a thinned sub-network")
    right.set_ylabel(f"masks (weighted by probability × {len(weights)})")
    right.set_title(f"The {len(weights)} sub-networks of {params['units']} units")
    right.legend(loc="upper left", fontsize=8)
    return figure
