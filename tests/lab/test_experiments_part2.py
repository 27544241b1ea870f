"""Every normalization, regularization, initialization and loss experiment's quick mode: the
verdict of each sub-claim asserted, and its numbers against closed forms and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nablab import lab, nn
from nablab.cli import main
from nablab.lab.regularization.weight_noise import _closed_forms, _problem

from helpers.lab import assert_figures_labelled

TOPICS = ("normalization", "regularization", "initialization", "losses")

# experiment → the expected outcome of each of its checks, in order (False: the claim is false
# under these parameters and the experiment must say so, with the numbers)
EXPECTED = {
    "batchnorm-learning-rate": (True, True, False),
    "batchnorm-batch-size": (True, True, True),
    "batchnorm-affine": (True, True, False),
    "covariate-shift": (True, True, True),
    "dropout-ensemble": (True, True, True, True),
    "dropout-overfitting": (True, True, False),
    "weight-noise-is-l2": (True, True, True),
    "l1-vs-l2": (True, True, True, True),
    "ensembles": (True, True, False),
    "augmentation": (True, True, False),
    "init-variance": (True, True, True, True, False, True),
    "zero-init-symmetry": (True, True, True, True, True, True),
    "vanishing-gradients": (True, True, True, True),
    "dying-relu": (True, True, True),
    "mse-vs-cross-entropy": (True, True, False, True),
    "two-class-softmax": (True, True, True),
    "convexity": (True, True, True, True),
    "perceptron-vs-logistic": (True, True, True, True, True),
}


@pytest.fixture(scope="module")
def results():
    return {name: lab.run(name, quick=True) for name in EXPECTED}


def test_every_experiment_of_these_topics_is_covered():
    names = [e.name for e in lab.EXPERIMENTS.entries() if e.value.topic in TOPICS]
    assert sorted(names) == sorted(EXPECTED)
    assert list(lab.TOPICS)[:5] == ["optimization", *TOPICS]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_quick_verdicts(results, name):
    result = results[name]
    outcome = tuple(check.holds for check in result.checks)
    assert outcome == EXPECTED[name], [c.line() for c in result.checks]
    assert_figures_labelled(name, result.figures)
    for check in result.checks:  # the evidence quotes numbers
        assert any(ch.isdigit() for ch in check.evidence), check.line()


def test_weight_noise_closed_forms_against_torch_monte_carlo():
    """E[J] and E[∇J] by 200 000 reparametrized draws in PyTorch, gradients by autograd."""
    x, t, w = _problem(200, 0)
    generator = torch.Generator().manual_seed(0)
    draws = 200_000
    for kind in ("multiplicative", "additive"):
        sigma = 0.5
        expected_j, expected_g = _closed_forms(x, t, w, sigma, kind)
        wt = torch.tensor(w, requires_grad=True)
        noise = torch.randn(draws, len(w), generator=generator, dtype=torch.float64) * sigma
        noisy = wt * (1 + noise) if kind == "multiplicative" else wt + noise
        residual = torch.tensor(t[:, 0])[None, :] - noisy @ torch.tensor(x).T  # (draws, N)
        per_draw = 0.5 * (residual**2).mean(dim=1)
        loss = per_draw.mean()
        loss.backward()
        error = float(per_draw.detach().std() / np.sqrt(draws))
        assert abs(float(loss.detach()) - expected_j) < 4 * error, kind
        assert np.allclose(
            wt.grad.numpy(), expected_g, rtol=0, atol=0.005 * np.abs(expected_g).max()
        )
    # with σ → 0 both reduce to the clean loss ½·mean(t − Xw)²
    assert _closed_forms(x, t, w, 0.0, "multiplicative")[0] == pytest.approx(
        0.5 * np.mean((t[:, 0] - x @ w) ** 2), rel=1e-12
    )


def test_two_class_softmax_is_the_sigmoid_of_the_difference_in_torch_too(rng):
    z = rng.normal(0, 4, size=(50, 2))
    t = rng.integers(0, 2, 50)
    zt = torch.tensor(z, requires_grad=True)
    F.cross_entropy(zt, torch.tensor(t)).backward()
    d = torch.tensor(z[:, 1] - z[:, 0], requires_grad=True)
    F.binary_cross_entropy_with_logits(d, torch.tensor(t, dtype=torch.float64)).backward()
    np.testing.assert_allclose(zt.grad[:, 1].numpy(), d.grad.numpy(), rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(zt.grad[:, 0].numpy(), -d.grad.numpy(), rtol=1e-12, atol=1e-16)
    ce = nn.CrossEntropyLoss()
    ce(z, t)
    np.testing.assert_allclose(ce.backward(), zt.grad.numpy(), rtol=1e-10, atol=1e-16)
    np.testing.assert_allclose(
        nn.Softmax()(z)[:, 1], torch.sigmoid(d).detach().numpy(), rtol=1e-12, atol=1e-16
    )


def test_numbers_match_closed_forms(results):
    convexity = results["convexity"].numbers
    assert convexity["logistic_numeric_vs_closed_form"] < 1e-6
    assert convexity["softmax_numeric_vs_closed_form"] < 1e-6
    assert convexity["negative_eigenvalues"]["logistic regression (weights)"] == 0
    two = results["two-class-softmax"].numbers
    assert two["largest_probability_difference"] < 1e-14
    assert two["training_largest_weight_difference"] < 1e-10
    init = results["init-variance"].numbers
    assert init["first_layer_variance_with_normal_weights"] == pytest.approx(
        init["n_times_mean_x2"], rel=0.1
    )
    assert init["relu_per_layer_variance_ratio"]["lecun_normal"] == pytest.approx(0.5, abs=0.05)
    vanishing = results["vanishing-gradients"].numbers
    assert vanishing["largest_sigmoid_derivative"] == 0.25 and vanishing["at"] == 0
    ensemble = results["dropout-ensemble"].numbers
    assert ensemble["masks"] == 2**10
    assert ensemble["largest_mean_logit_minus_eval_logit"] < 1e-10
    batch = results["batchnorm-batch-size"].numbers
    assert batch["formula_over_sigma"]["1"] == 1.0
    assert batch["formula_over_sigma"]["4"] == pytest.approx(0.5 * np.sqrt(1433 / 1436))
    assert batch["batch_of_one"] == {
        "largest_output_minus_beta": 0.0,
        "largest_input_gradient": 0.0,
    }
    mse = results["mse-vs-cross-entropy"].numbers
    s = 1 / (1 + np.exp(10.0))
    assert mse["gradient_at_bad_logit"]["MSE"] == pytest.approx((s - 1) * s * (1 - s), rel=1e-12)
    assert mse["gradient_at_bad_logit"]["cross-entropy"] == pytest.approx(s - 1, rel=1e-12)
    perceptron = results["perceptron-vs-logistic"].numbers
    assert perceptron["xor_four_points"]["logistic_loss"] == pytest.approx(np.log(2), abs=1e-9)
    noise = results["weight-noise-is-l2"].numbers
    assert noise["trained_minus_ridge"] < 0.1 * noise["least_squares_minus_ridge"]


def test_the_same_run_gives_the_same_numbers_and_figure_bytes():
    from nablab.viz import png_bytes

    first = lab.run("two-class-softmax", quick=True)
    second = lab.run("two-class-softmax", quick=True)
    assert first.to_json() == second.to_json()
    assert png_bytes(first.figures[0]) == png_bytes(second.figures[0])


def test_bad_settings_are_refused(capsys):
    with pytest.raises(lab.ExperimentError, match="classes must be two different digits"):
        lab.run("two-class-softmax", classes=(3, 3))
    assert main(["lab", "run", "dropout-ensemble", "--set", "units=20"]) == 2
    assert "units must be in [1, 16], got 20" in capsys.readouterr().err


def test_the_listing_shows_the_new_topics_and_their_brackets(capsys):
    assert main(["lab"]) == 0
    out = capsys.readouterr().out
    for title in (
        "Normalization",
        "Regularization, ensembles and augmentation",
        "Initialization and activations",
        "Losses, convexity and linear classifiers",
    ):
        assert title in out
    assert "n·E[x²]" in out  # rich markup would swallow the brackets unescaped
