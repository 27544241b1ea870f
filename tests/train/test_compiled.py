"""The compiled epoch agrees with the module-by-module engine, and steps aside when it must."""

from __future__ import annotations

import numpy as np
import pytest

from nablab import backend, nn, optim
from nablab.train import Diagnostics, LRSchedule, fit
from nablab.train.compiled import plan

pytestmark = pytest.mark.skipif(
    not backend.numba_available(),
    reason="the compiled epoch needs numba (pip install 'nablab[fast]')",
)

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky": lambda: nn.LeakyReLU(0.1),
    "identity": nn.Identity,
}
OPTIMIZERS = {
    "adam": lambda p: optim.Adam(p, lr=1e-2),
    "adamw": lambda p: optim.AdamW(p, lr=1e-2, weight_decay=0.05),
    "adam-no-correction": lambda p: optim.Adam(
        p, lr=1e-2, bias_correction=False, weight_decay=1e-3
    ),
    "sgd": lambda p: optim.SGD(p, lr=0.1, weight_decay=1e-3),
    "momentum": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1),
    "nesterov": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
}


def _data(dtype, n=203, d=12, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(dtype), rng.integers(0, classes, n)


def _model(activation, dtype, bias=True, seed=1):
    rng = np.random.default_rng(seed)
    act = ACTIVATIONS[activation]
    return nn.Sequential(
        nn.Linear(12, 16, bias=bias, rng=rng, dtype=dtype),
        act(),
        nn.Linear(16, 8, rng=rng, dtype=dtype),
        act(),
        nn.Linear(8, 4, bias=bias, rng=rng, dtype=dtype),
    )


def _train(compiled, activation, optimizer, dtype, bias=True, batch=16, drop_last=False, epochs=3):
    x, y = _data(dtype)
    model = _model(activation, dtype, bias)
    opt = OPTIMIZERS[optimizer](model.parameters())
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        (x, y),
        (x[:50], y[:50]),
        epochs=epochs,
        batch_size=batch,
        seed=3,
        drop_last=drop_last,
        compiled=compiled,
        grad_norm_every=5,
    )
    return model, history, opt


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_the_compiled_epoch_agrees_with_the_engine(optimizer, activation, dtype):
    engine, h_engine, o_engine = _train(False, activation, optimizer, dtype)
    fast, h_fast, o_fast = _train(True, activation, optimizer, dtype)
    rtol = 1e-9 if dtype == np.float64 else 2e-5  # rounding, amplified by training
    np.testing.assert_allclose(h_fast.step_loss, h_engine.step_loss, rtol=rtol)
    for a, b in zip(fast.parameters(), engine.parameters(), strict=True):
        np.testing.assert_allclose(a.data, b.data, rtol=rtol, atol=rtol * 1e-2)
    assert h_fast.grad_norm_steps == h_engine.grad_norm_steps
    for name in h_engine.grad_norms:
        np.testing.assert_allclose(
            h_fast.grad_norms[name], h_engine.grad_norms[name], rtol=10 * rtol
        )
    assert o_fast.step_count == o_engine.step_count
    assert [r["train_acc"] for r in h_fast.epochs] == [r["train_acc"] for r in h_engine.epochs]


@pytest.mark.parametrize(
    ("bias", "batch", "drop_last"),
    [(False, 16, False), (True, 64, True), (True, 1, False), (True, 500, False)],
)
def test_batches_biases_and_partial_batches(bias, batch, drop_last):
    engine, h_engine, _ = _train(False, "relu", "adam", np.float64, bias, batch, drop_last, 2)
    fast, h_fast, _ = _train(True, "relu", "adam", np.float64, bias, batch, drop_last, 2)
    np.testing.assert_allclose(h_fast.step_loss, h_engine.step_loss, rtol=1e-12)
    for a, b in zip(fast.parameters(), engine.parameters(), strict=True):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-14)


def test_float32_relu_adam_is_bit_identical_to_the_engine():
    engine, h_engine, _ = _train(False, "relu", "adam", np.float32)
    fast, h_fast, _ = _train(True, "relu", "adam", np.float32)
    assert h_fast.step_loss == h_engine.step_loss
    for a, b in zip(fast.parameters(), engine.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_divergence_stops_both_paths_at_the_same_step():
    results = []
    for compiled in (False, True):
        x, y = _data(np.float64)
        model = _model("relu", np.float64)
        opt = optim.SGD(model.parameters(), lr=1e300)
        history = fit(
            model, nn.CrossEntropyLoss(), opt, (x, y), epochs=3, batch_size=16, compiled=compiled
        )
        results.append(
            (len(history.step_loss), history.stopped, [f.kind for f in history.findings])
        )
    assert results[0] == results[1] and "divergence" in results[0][2]


def _plan_for(model, opt, loss=None, y=None, hooks=()):
    y = np.zeros(4, np.int64) if y is None else y
    return plan(model, loss or nn.CrossEntropyLoss(), opt, y, hooks)


def test_anything_outside_the_compiled_set_falls_back_to_the_engine():
    def fresh(**kw):
        model = _model("relu", np.float32)
        return model, optim.Adam(model.parameters(), **kw)

    model, opt = fresh()
    assert _plan_for(model, opt) is not None
    assert _plan_for(*fresh(amsgrad=True)) is None
    assert _plan_for(*fresh(centralize="gradient")) is None
    assert _plan_for(model, opt, nn.MSELoss()) is None
    assert _plan_for(model, opt, y=np.zeros(4)) is None  # float targets
    assert _plan_for(model, opt, hooks=[lambda trainer, loss: None]) is None
    with backend.use_kernels("numpy"):
        assert _plan_for(model, opt) is None
    handle = model[1].register_forward_hook(lambda m, x, y: None)
    assert _plan_for(model, opt) is None
    handle.remove()
    model[0].weight.mask = np.ones(model[0].weight.shape)
    assert _plan_for(model, opt) is None
    model[0].weight.mask = None
    assert _plan_for(model, opt) is not None
    bn = nn.Sequential(nn.Linear(12, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4))
    assert _plan_for(bn, optim.Adam(bn.parameters())) is None
    lookahead = _model("relu", np.float32)
    assert (
        _plan_for(
            lookahead, optim.SGD(lookahead.parameters(), lr=0.1, momentum=0.9, nesterov="lookahead")
        )
        is None
    )


def test_diagnostics_and_step_schedules_train_through_the_engine_with_equal_results():
    x, y = _data(np.float64)
    runs = []
    for compiled in (False, True):
        model = _model("relu", np.float64)
        opt = optim.Adam(model.parameters(), lr=1e-2)
        schedule = LRSchedule(optim.ExponentialLR(opt, gamma=0.99), every="step")
        history = fit(
            model,
            nn.CrossEntropyLoss(),
            opt,
            (x, y),
            epochs=2,
            batch_size=32,
            callbacks=[Diagnostics(), schedule],
            compiled=compiled,
        )
        runs.append((history.step_loss, [p.data.copy() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]  # the same engine ran both
