"""Pruning criteria and selection: PyTorch's masks, closed forms for sensitivity, OBD and OBS."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.utils.prune as torch_prune

from nablab import nn
from nablab.analysis import hessian_diagonal
from nablab.prune import CRITERIA, Context, prune, unit_groups
from nablab.prune.obs import Surgeon, obs_entry_saliencies, obs_unit_saliencies

from helpers import torch_mirror
from helpers.oracle import assert_close


def _mlp(rng, widths=(5, 7, 6, 3), activation="tanh", dtype=np.float64):
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(a, b, rng=rng, dtype=dtype))
        if i < len(widths) - 2:
            layers.append(nn.activation(activation))
    model = nn.Sequential(*layers)
    for param in model.parameters():
        param.data = rng.normal(size=param.shape).astype(dtype)
    return model


def _torch_linears(model):
    linears = []
    for layer in model:
        if isinstance(layer, nn.Linear):
            twin = torch.nn.Linear(layer.in_features, layer.out_features)
            twin.weight.data = torch.tensor(layer.weight.data.T.copy())
            linears.append(twin)
    return linears


def _weight_masks(model):
    """Every Linear weight's mask (all ones where nothing is pruned)."""
    return [
        np.ones(layer.weight.shape) if layer.weight.mask is None else layer.weight.mask
        for layer in model
        if isinstance(layer, nn.Linear)
    ]


# --------------------------------------------------------------------------- PyTorch's masks
@pytest.mark.parametrize("amount", [0.1, 0.3, 0.5, 0.75, 0.9])
def test_layer_magnitude_masks_equal_torch_l1_unstructured(rng, amount):
    model = _mlp(rng)
    linears = _torch_linears(model)
    prune(model, amount, "magnitude", scope="layer")
    for twin, mask in zip(linears, _weight_masks(model), strict=True):
        torch_prune.l1_unstructured(twin, "weight", amount=amount)
        assert np.array_equal(mask, twin.weight_mask.numpy().T)


@pytest.mark.parametrize("amount", [0.2, 0.5, 0.8])
def test_global_magnitude_masks_equal_torch_global_unstructured(rng, amount):
    model = _mlp(rng)
    linears = _torch_linears(model)
    prune(model, amount, "magnitude")
    torch_prune.global_unstructured(
        [(twin, "weight") for twin in linears],
        pruning_method=torch_prune.L1Unstructured,
        amount=amount,
    )
    for twin, mask in zip(linears, _weight_masks(model), strict=True):
        assert np.array_equal(mask, twin.weight_mask.numpy().T)


@pytest.mark.parametrize("amount", [0.25, 0.5, 0.7])
def test_structured_magnitude_masks_equal_torch_ln_structured(rng, amount):
    model = _mlp(rng, (5, 8, 6, 3))
    linears = _torch_linears(model)
    prune(model, amount, "magnitude", structured=True, scope="layer")
    for group, twin in zip(unit_groups(model), linears[:-1], strict=True):
        torch_prune.ln_structured(twin, "weight", amount=amount, n=2, dim=0)
        assert np.array_equal(group.weight.mask, twin.weight_mask.numpy().T)
        pruned_units = ~group.weight.mask.any(axis=0)
        assert np.array_equal(group.bias.mask == 0, pruned_units)  # bias entries go too
    assert model[4].weight.mask is None  # the read-out keeps every unit


def test_ties_go_to_the_lowest_index_and_only_tied_entries_differ_from_torch(rng):
    model = nn.Sequential(nn.Linear(6, 5, dtype=np.float64))
    model[0].weight.data = rng.integers(-3, 4, size=(6, 5)).astype(np.float64)
    values = np.abs(model[0].weight.data)
    twin = _torch_linears(model)[0]
    prune(model, 0.4, "magnitude")
    torch_prune.l1_unstructured(twin, "weight", amount=0.4)
    ours, theirs = model[0].weight.mask, twin.weight_mask.numpy().T
    k = round(0.4 * 30)
    assert (ours == 0).sum() == (theirs == 0).sum() == k
    boundary = np.sort(values, axis=None)[k - 1]  # the largest pruned value, shared by ties
    assert np.array_equal(ours[values != boundary], theirs[values != boundary])
    tied = np.flatnonzero(values.ravel() == boundary)
    pruned_tied = tied[ours.ravel()[tied] == 0]
    assert np.array_equal(pruned_tied, tied[: len(pruned_tied)])  # the lowest flat indices


# --------------------------------------------------------------------------- selection
def test_counts_follow_round_half_to_even_globally_and_per_layer(rng):
    model = _mlp(rng, (3, 4, 2))  # weights of 12 and 8 entries
    report = prune(model, 0.3, "random", rng=1)
    assert report.pruned == round(0.3 * 20) == 6
    model = _mlp(rng, (3, 4, 2))
    report = prune(model, 0.3, "random", scope="layer", rng=1)
    assert [p.pruned for p in report.params] == [round(3.6), round(2.4)] == [4, 2]
    model = _mlp(rng, (3, 4, 2))
    assert prune(model, 0.125, "magnitude").pruned == round(2.5) == 2  # half to even


def test_random_scores_come_from_the_seed(rng):
    masks = []
    for seed in (7, 7, 8):
        model = _mlp(np.random.default_rng(0))
        prune(model, 0.5, "random", rng=seed)
        masks.append(_weight_masks(model))
    assert all(np.array_equal(a, b) for a, b in zip(masks[0], masks[1], strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(masks[0], masks[2], strict=True))


def test_pruning_again_keeps_what_was_pruned_and_tops_up(rng):
    model = _mlp(rng)
    prune(model, 0.3, "random", rng=3)
    first = [m.copy() for m in _weight_masks(model)]
    report = prune(model, 0.6, "magnitude")
    for before, after in zip(first, _weight_masks(model), strict=True):
        assert np.all(after[before == 0] == 0)
    assert report.pruned == round(0.6 * report.size)
    assert prune(model, 0.2, "magnitude").pruned == report.pruned  # never un-prunes


def test_biases_only_when_asked(rng):
    model = _mlp(rng, (3, 4, 2))
    prune(model, 0.5, "magnitude")
    assert model[0].bias.mask is None
    report = prune(model, 0.5, "magnitude", weights_only=False)
    assert [p.name for p in report.params] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert report.pruned == round(0.5 * 26)


def test_structured_keeps_a_unit_per_layer_and_needs_hidden_units(rng):
    model = _mlp(rng, (4, 3, 5, 2))
    report = prune(model, 0.9, "magnitude", structured=True)
    assert [(u.size, u.pruned) for u in report.units] == [(3, 2), (5, 4)]
    with pytest.raises(ValueError, match="structured pruning removes units of layers that feed"):
        prune(nn.Sequential(nn.Linear(3, 2)), 0.5, structured=True)


def test_bad_arguments_are_named(rng):
    model = _mlp(rng, (3, 4, 2))
    with pytest.raises(ValueError, match=r"amount must be a fraction in \[0, 1\), got 1.0"):
        prune(model, 1.0)
    with pytest.raises(ValueError, match="scope must be one of global, layer"):
        prune(model, 0.5, scope="model")
    with pytest.raises(ValueError, match=r"unknown pruning criterion 'obx'.*valid: random"):
        prune(model, 0.5, "obx")
    with pytest.raises(ValueError, match="criterion 'obd' measures the loss: pass data"):
        prune(model, 0.5, "obd")


# --------------------------------------------------------------------------- closed forms
def _least_squares(rng, n=40, d=5, k=2):
    """A linear model at the least-squares optimum of the mean squared error."""
    x = rng.normal(size=(n, d))
    y = x @ rng.normal(size=(d, k)) + 0.3 * rng.normal(size=(n, k))
    solution = np.linalg.lstsq(np.hstack([x, np.ones((n, 1))]), y, rcond=None)[0]
    model = nn.Sequential(nn.Linear(d, k, dtype=np.float64))
    model[0].weight.data, model[0].bias.data = solution[:d], solution[d]
    return model, x, y


def test_sensitivity_is_the_exact_loss_change_of_a_quadratic(rng):
    model, x, y = _least_squares(rng)
    model[0].weight.data = model[0].weight.data + 0.1 * rng.normal(size=(5, 2))  # g ≠ 0
    loss = nn.MSELoss()
    model.zero_grad()
    loss(model(x), y)
    model.backward(loss.backward())
    g, w = model[0].weight.grad, model[0].weight.data
    h = 2 * (x * x).sum(axis=0)[:, None] / y.size * np.ones((1, 2))  # ∂²L/∂W_ij²
    ctx = Context(model, loss, x, y)
    (scores,) = CRITERIA["sensitivity"].entries(ctx, [model[0].weight])
    assert_close(scores, -g * w + 0.5 * h * w * w, 1e-9)


@pytest.mark.parametrize("curvature", ["lecun", "gauss_newton", "exact"])
def test_obd_saliency_is_the_sensitivity_at_a_minimum_of_a_quadratic(rng, curvature):
    model, x, y = _least_squares(rng)
    ctx = Context(model, nn.MSELoss(), x, y, curvature=curvature)
    (obd,) = CRITERIA["obd"].entries(ctx, [model[0].weight])
    (measured,) = CRITERIA["sensitivity"].entries(ctx, [model[0].weight])
    assert_close(obd, measured, 1e-8)


def test_obd_prunes_the_lowest_half_curvature_times_weight_squared(rng):
    model = _mlp(rng)
    x, y = rng.normal(size=(9, 5)), rng.integers(0, 3, 9)
    loss = nn.CrossEntropyLoss()
    twin = _mlp(rng)
    twin.load_state_dict(model.state_dict())
    curvature = hessian_diagonal(twin, loss, x, y, "exact")
    flat = np.concatenate(
        [(0.5 * curvature[f"{i}.weight"] * twin[i].weight.data ** 2).ravel() for i in (0, 2, 4)]
    )
    report = prune(model, 0.4, "obd", data=(x, y), loss=loss, curvature="exact")
    pruned = np.concatenate([(m == 0).ravel() for m in _weight_masks(model)])
    assert pruned.sum() == round(0.4 * flat.size)
    assert flat[pruned].max() <= flat[~pruned].min()
    assert report.predicted_increase == pytest.approx(flat[pruned].sum(), rel=1e-12)


def test_obs_on_a_quadratic_gives_the_constrained_least_squares_solution(rng):
    model, x, y = _least_squares(rng, n=60, d=8, k=2)
    loss = nn.MSELoss()
    before = loss(model(x), y)
    report = prune(model, 0.5, "obs", data=(x, y), loss=loss, damping=0.0)
    after = loss(model(x), y)
    assert report.predicted_increase == pytest.approx(after - before, rel=1e-8)
    mask = model[0].weight.mask
    for j in range(2):  # the outputs separate: least squares on each one's kept inputs
        keep = np.flatnonzero(mask[:, j])
        design = np.hstack([x[:, keep], np.ones((60, 1))])
        expected = np.linalg.lstsq(design, y[:, j], rcond=None)[0]
        np.testing.assert_allclose(model[0].weight.data[keep, j], expected[:-1], atol=1e-9)
        assert model[0].bias.data[j] == pytest.approx(expected[-1], abs=1e-9)
    assert np.all(model[0].weight.data[mask == 0] == 0)


def test_obs_saliencies_and_updates_follow_the_inverse_hessian(rng):
    model = _mlp(rng, (3, 4, 2))
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    loss = nn.MSELoss()  # (cross-entropy's Hessian is singular: shifting all logits is free)
    hessian = torch_mirror.hessian(model, loss, x, y)
    assert np.linalg.cond(hessian) < 1e4
    inverse = np.linalg.inv(hessian)
    w = np.concatenate([p.data.ravel() for p in model.parameters()])
    ctx = Context(model, loss, x, y, curvature="exact", damping=0.0)
    first, second = obs_entry_saliencies(ctx, [model[0].weight, model[2].weight])
    np.testing.assert_allclose(first.ravel(), w[:12] ** 2 / (2 * np.diag(inverse)[:12]), 1e-6)
    np.testing.assert_allclose(second.ravel(), w[16:24] ** 2 / (2 * np.diag(inverse)[16:24]), 1e-6)
    # unit 1 of the hidden layer: its weights (column 1) and its bias
    unit = np.array([1, 5, 9, 13])
    inner = np.linalg.inv(inverse[np.ix_(unit, unit)])
    (saliencies,) = obs_unit_saliencies(ctx, unit_groups(model))
    assert saliencies[1] == pytest.approx(0.5 * w[unit] @ inner @ w[unit], rel=1e-6)
    surgeon = Surgeon(ctx)
    assert surgeon.remove(unit) == pytest.approx(saliencies[1], rel=1e-6)
    surgeon.write_back()
    moved = np.concatenate([p.data.ravel() for p in model.parameters()])
    expected = w - inverse[:, unit] @ inner @ w[unit]
    np.testing.assert_allclose(
        moved, np.where(np.isin(np.arange(26), unit), 0, expected), atol=1e-7
    )


def test_obs_refuses_models_above_the_limit(rng):
    model = _mlp(rng, (5, 7, 6, 3))  # 35 + 7 + 42 + 6 + 18 + 3 = 111 parameters
    x, y = rng.normal(size=(4, 5)), rng.integers(0, 3, 4)
    with pytest.raises(
        ValueError, match="obs: the model has 111 parameters, more than max_params=100"
    ):
        prune(model, 0.5, "obs", data=(x, y), loss=nn.CrossEntropyLoss(), max_params=100)


def test_structured_obs_removes_whole_units(rng):
    model = _mlp(rng, (3, 6, 2))
    x, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    loss = nn.CrossEntropyLoss()
    report = prune(model, 0.5, "obs", structured=True, data=(x, y), loss=loss, scope="layer")
    assert report.units[0].pruned == 3
    gone = ~model[0].weight.mask.any(axis=0)
    assert gone.sum() == 3 and np.all(model[0].bias.mask[gone] == 0)
    assert np.all(model[0].weight.data[:, gone] == 0) and np.all(model[0].bias.data[gone] == 0)
