"""End to end: pruned weights stay zero through retraining with every optimizer and through
checkpoints; schedules; the history of pruning and retraining; the sensitivity scan."""

from __future__ import annotations

import numpy as np
import pytest

from nablab import nn, optim
from nablab.optim.registry import make_optimizer, training_names
from nablab.prune import prune
from nablab.prune.schedule import iterative_pruning, sparsity_schedule
from nablab.prune.sensitivity import sensitivity_scan
from nablab.train.checkpoint import load_checkpoint, save_checkpoint
from nablab.train.loop import fit
from nablab.viz import png_bytes

from helpers.train_helpers import digits_split, mlp


def _problem(rng):
    x = rng.normal(size=(64, 6))
    y = (x[:, :3].sum(axis=1) > 0).astype(np.int64) + (x[:, 3] > 1)
    model = mlp((6, 12, 8, 3), "tanh", seed=1, dtype=np.float64)
    return model, x, y


@pytest.mark.parametrize("name", training_names())
@pytest.mark.parametrize("structured", [False, True])
def test_pruned_weights_stay_zero_while_retraining(rng, name, structured):
    model, x, y = _problem(rng)
    loss = nn.CrossEntropyLoss()
    prune(model, 0.5, "magnitude", structured=structured)
    masks = {n: p.mask.copy() for n, p in model.named_parameters() if p.mask is not None}
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    options = {"lr": 0.05, "weight_decay": 0.01}
    fit(
        model,
        loss,
        make_optimizer(name, model.parameters(), **options),
        (x, y),
        epochs=3,
        batch_size=16,
    )
    params = dict(model.named_parameters())
    for key, mask in masks.items():
        assert np.all(params[key].data[mask == 0] == 0), (name, key)
        kept = params[key].data[mask == 1]
        assert not np.array_equal(kept, before[key][mask == 1])  # the rest did train


def test_masks_travel_through_checkpoints(rng, tmp_path):
    model, _, _ = _problem(rng)
    prune(model, 0.6, "random", rng=5)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    save_checkpoint(tmp_path / "pruned.npz", model, opt, {"note": "pruned"})
    fresh, _, _ = _problem(np.random.default_rng(99))
    fresh_opt = optim.Adam(fresh.parameters(), lr=1e-2)
    assert load_checkpoint(tmp_path / "pruned.npz", fresh, fresh_opt)["note"] == "pruned"
    for (_, a), (_, b) in zip(model.named_parameters(), fresh.named_parameters(), strict=True):
        assert np.array_equal(a.data, b.data)
        assert (a.mask is None) == (b.mask is None)
        if a.mask is not None:
            assert np.array_equal(a.mask, b.mask)


def test_sparsity_schedules():
    assert sparsity_schedule(0.6, 1, "one_shot") == [0.6]
    assert sparsity_schedule(0.6, 3, "linear") == pytest.approx([0.2, 0.4, 0.6])
    geometric = sparsity_schedule(0.75, 2, "geometric")
    assert geometric == pytest.approx([0.5, 0.75])  # half of what is left, twice
    with pytest.raises(ValueError, match="steps must be a positive integer, got 0"):
        sparsity_schedule(0.5, 0)
    with pytest.raises(ValueError, match="unknown pruning schedule 'cubic'"):
        sparsity_schedule(0.5, 2, "cubic")


def test_iterative_pruning_with_retraining_records_every_step():
    x_train, y_train, x_val, y_val = digits_split()
    model = mlp((64, 32, 10), seed=0)
    loss = nn.CrossEntropyLoss()
    fit(model, loss, optim.Adam(model.parameters(), lr=3e-3), (x_train, y_train), epochs=5)
    history = iterative_pruning(
        model,
        loss,
        lambda m: optim.Adam(m.parameters(), lr=1e-3),
        (x_train, y_train),
        (x_val, y_val),
        amount=0.9,
        method="obd",
        steps=3,
        epochs=2,
    )
    sparsities = [step.report.sparsity for step in history.steps]
    assert sparsities == pytest.approx([0.3, 0.6, 0.9], abs=1e-3)
    final = history.steps[-1]
    assert final.retrained["train_loss"] < final.pruned["train_loss"]  # retraining helps
    assert history.baseline["val_acc"] > 0.9
    rows = history.rows()
    assert [r["stage"] for r in rows] == ["baseline"] + ["pruned", "retrained"] * 3
    assert png_bytes(history.figure())[:4] == b"\x89PNG"
    for layer in model:
        if isinstance(layer, nn.Linear):
            assert np.all(layer.weight.data[layer.weight.mask == 0] == 0)


def test_sensitivity_scan_measures_each_layer_alone(rng):
    model, x, y = _problem(rng)
    loss = nn.CrossEntropyLoss()
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    scan = sensitivity_scan(model, loss, x, y, sparsities=(0.0, 0.5, 1.0))
    assert list(scan.loss) == ["0.weight", "2.weight", "4.weight"]
    base = loss(model(x), y)
    assert scan.baseline_loss == pytest.approx(base, rel=1e-12)
    for name in scan.loss:
        assert scan.loss[name][0] == pytest.approx(base, rel=1e-12)
    # all of the last weight gone: the logits are the bias for every sample
    logits = np.broadcast_to(model[4].bias.data, (len(x), 3))
    assert scan.loss["4.weight"][2] == pytest.approx(loss(logits, y), rel=1e-12)
    half = model[2].weight.data.copy()
    order = np.argsort(np.abs(half), axis=None, kind="stable")[: round(0.5 * half.size)]
    half.ravel()[order] = 0
    model[2].weight.data = half
    expected = loss(model(x), y)
    model[2].weight.data = before["2.weight"]
    assert scan.loss["2.weight"][1] == pytest.approx(expected, rel=1e-12)
    assert all(np.array_equal(p.data, before[n]) for n, p in model.named_parameters())
    assert png_bytes(scan.figure())[:4] == b"\x89PNG"
