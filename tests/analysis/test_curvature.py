"""The curvature pass against PyTorch: exact Hessian diagonal, Gauss–Newton diagonal, LeCun's
recursion; Hessian-vector products and dense Hessians."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from nablab import nn
from nablab.analysis import (
    CURVATURES,
    dense_hessian,
    gauss_newton_vector_product,
    hessian_diagonal,
    hessian_vector_product,
)
from nablab.errors import UnsupportedError

from helpers import torch_mirror
from helpers.oracle import assert_close

ACTIVATIONS = ["tanh", "sigmoid", "swish", "relu", "leaky_relu", "identity"]


def _mlp(rng, widths, activation="tanh", bias=True, scale=0.8, last=None):
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(a, b, bias=bias, rng=rng, dtype=np.float64))
        if i < len(widths) - 2:
            layers.append(nn.activation(activation))
    if last is not None:
        layers.append(last)
    model = nn.Sequential(*layers)
    for param in model.parameters():
        param.data = rng.normal(size=param.shape) * scale
    return model


def _diagonal(model, curvature):
    return np.concatenate([curvature[name].ravel() for name, _ in model.named_parameters()])


def _check_exact(model, loss, x, target, rtol=1e-10):
    mine = _diagonal(model, hessian_diagonal(model, loss, x, target, "exact"))
    assert_close(mine, np.diag(torch_mirror.hessian(model, loss, x, target)), rtol)
    stored = np.concatenate([p.curvature.ravel() for p in model.parameters()])
    assert np.array_equal(stored, mine)  # written into the store's curvature slot


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_exact_diagonal_matches_torch_hessian_cross_entropy(rng, activation):
    model = _mlp(rng, [4, 5, 6, 3], activation)
    x, y = rng.normal(size=(7, 4)), rng.integers(0, 3, 7)
    _check_exact(model, nn.CrossEntropyLoss(), x, y)


@pytest.mark.parametrize(
    ("loss", "last"),
    [
        (nn.MSELoss(), None),
        (nn.MSELoss("sum", factor=0.5), None),
        (nn.MSELoss("batch_mean"), None),
        (nn.CrossEntropyLoss("sum"), None),
        (nn.BCEWithLogitsLoss(), None),
        (nn.BCELoss(), nn.Sigmoid()),
        (nn.MSELoss(), nn.Softmax()),
    ],
    ids=["mse", "mse-sum-half", "mse-batch-mean", "ce-sum", "bce-logits", "bce", "softmax-mse"],
)
def test_exact_diagonal_matches_torch_for_every_loss(rng, loss, last):
    model = _mlp(rng, [3, 5, 3], "swish", last=last)
    x = rng.normal(size=(6, 3))
    target = rng.random((6, 3)) if not isinstance(loss, nn.MSELoss) else rng.normal(size=(6, 3))
    if isinstance(loss, nn.BCEWithLogitsLoss | nn.BCELoss):
        target = (target > 0.5).astype(np.float64)
    _check_exact(model, loss, x, target)


def test_exact_diagonal_with_probability_targets_and_masks(rng):
    model = _mlp(rng, [4, 6, 5, 3], "sigmoid")
    model[0].weight.mask = rng.random((4, 6)) > 0.3
    model[2].bias.mask = rng.random(5) > 0.5
    x = rng.normal(size=(8, 4))
    target = rng.dirichlet(np.ones(3), size=8) * rng.uniform(0.5, 1.5, size=(8, 1))
    _check_exact(model, nn.CrossEntropyLoss(), x, target)
    assert np.all(model[0].weight.curvature[model[0].weight.mask == 0] == 0)


def test_exact_diagonal_with_shared_biases(rng):
    model = _mlp(rng, [3, 4, 4, 2], "tanh", bias="shared")
    x, y = rng.normal(size=(5, 3)), rng.integers(0, 2, 5)
    _check_exact(model, nn.CrossEntropyLoss(), x, y)


def test_exact_diagonal_through_eval_dropout_and_batch_norms(rng):
    bn = nn.BatchNorm1d(5, dtype=np.float64)
    bn.running_mean[...] = rng.normal(size=5)
    bn.running_var[...] = rng.uniform(0.5, 2.0, size=5)
    mean_only = nn.MeanOnlyBatchNorm1d(4, dtype=np.float64)
    mean_only.running_mean[...] = rng.normal(size=4)
    model = nn.Sequential(
        nn.Linear(3, 5, rng=rng, dtype=np.float64),
        bn,
        nn.Tanh(),
        nn.Dropout(0.3, mode="scale_at_test", rng=rng),
        nn.Linear(5, 4, rng=rng, dtype=np.float64),
        mean_only,
        nn.Sigmoid(),
        nn.Linear(4, 3, rng=rng, dtype=np.float64),
    )
    for param in model.parameters():
        param.data = rng.normal(size=param.shape)
    x, y = rng.normal(size=(6, 3)), rng.integers(0, 3, 6)
    assert model.training
    _check_exact(model, nn.CrossEntropyLoss(), x, y)
    assert model.training  # the pass ran in eval mode and restored the mode


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "swish", "relu"])
def test_gauss_newton_diagonal_matches_jacobian_form(rng, activation):
    model = _mlp(rng, [4, 5, 6, 3], activation)
    x, y = rng.normal(size=(7, 4)), rng.integers(0, 3, 7)
    loss = nn.CrossEntropyLoss()
    mine = _diagonal(model, hessian_diagonal(model, loss, x, y, "gauss_newton"))
    assert_close(mine, np.diag(torch_mirror.gauss_newton(model, loss, x, y)))
    if activation != "relu":  # f″ ≠ 0: Gauss–Newton is not the Hessian
        assert not np.allclose(mine, np.diag(torch_mirror.hessian(model, loss, x, y)))


def test_gauss_newton_with_sigmoid_outputs_and_bce(rng):
    model = _mlp(rng, [3, 4, 2], "tanh", last=nn.Sigmoid())
    x, t = rng.normal(size=(5, 3)), (rng.random((5, 2)) > 0.5).astype(np.float64)
    loss = nn.BCELoss()
    mine = _diagonal(model, hessian_diagonal(model, loss, x, t, "gauss_newton"))
    assert_close(mine, np.diag(torch_mirror.gauss_newton(model, loss, x, t)))


def test_lecun_recursion_is_gauss_newton_where_no_off_diagonal_terms_arise(rng):
    # One hidden layer feeding one output unit under squared error: every block is 1×1 at the
    # output, so dropping off-diagonal terms drops nothing.
    model = _mlp(rng, [3, 6, 1], "tanh")
    x, t = rng.normal(size=(9, 3)), rng.normal(size=(9, 1))
    loss = nn.MSELoss()
    lecun = _diagonal(model, hessian_diagonal(model, loss, x, t, "lecun"))
    assert_close(lecun, np.diag(torch_mirror.gauss_newton(model, loss, x, t)))


def test_lecun_recursion_is_exact_on_the_last_layer_and_approximate_before(rng):
    model = _mlp(rng, [4, 5, 6, 3], "tanh")
    x, y = rng.normal(size=(7, 4)), rng.integers(0, 3, 7)
    loss = nn.CrossEntropyLoss()
    lecun = hessian_diagonal(model, loss, x, y, "lecun")
    gauss_newton = hessian_diagonal(model, loss, x, y, "gauss_newton")
    for name in ("4.weight", "4.bias"):
        assert_close(lecun[name], gauss_newton[name])
    assert not np.allclose(lecun["0.weight"], gauss_newton["0.weight"], rtol=1e-3)


def test_lecun_recursion_by_hand():
    # z1 = w1·x, a = tanh(z1), z2 = w2·a, E = ½(z2 − t)² for one sample: OBD's recursion gives
    # ∂²E/∂z2² = 1, ∂²E/∂w2² = a², ∂²E/∂a² = w2², ∂²E/∂z1² = (1 − a²)²·w2², ∂²E/∂w1² = x²·that.
    model = nn.Sequential(
        nn.Linear(1, 1, bias=False, dtype=np.float64),
        nn.Tanh(),
        nn.Linear(1, 1, bias=False, dtype=np.float64),
    )
    model[0].weight.data[...] = 0.7
    model[2].weight.data[...] = -1.3
    x, t = np.array([[0.4]]), np.array([[0.2]])
    a = np.tanh(0.7 * 0.4)
    curvature = hessian_diagonal(model, nn.MSELoss("sum", factor=0.5), x, t, "lecun")
    assert curvature["2.weight"][0, 0] == pytest.approx(a * a, rel=1e-14)
    assert curvature["0.weight"][0, 0] == pytest.approx(0.4**2 * (1 - a * a) ** 2 * 1.69, rel=1e-14)


@pytest.mark.parametrize("method", CURVATURES.names())
def test_chunks_add_up_to_the_whole(rng, method):
    model = _mlp(rng, [4, 7, 5, 3], "tanh")
    x, y = rng.normal(size=(11, 4)), rng.integers(0, 3, 11)
    loss = nn.CrossEntropyLoss()
    whole = hessian_diagonal(model, loss, x, y, method)
    chunked = hessian_diagonal(model, loss, x, y, method, batch_size=3)
    for name in whole:
        assert_close(chunked[name], whole[name], 1e-12)


def test_float32_models_get_float32_curvature(rng):
    model = _mlp(rng, [4, 5, 3], "relu")
    twin = nn.Sequential(nn.Linear(4, 5, rng=rng), nn.ReLU(), nn.Linear(5, 3, rng=rng))
    twin.load_state_dict({k: v.astype(np.float32) for k, v in model.state_dict().items()})
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, 6)
    exact = hessian_diagonal(model, nn.CrossEntropyLoss(), x, y, "exact")
    single = hessian_diagonal(twin, nn.CrossEntropyLoss(), x.astype(np.float32), y, "exact")
    for name in exact:
        assert single[name].dtype == np.float32
        np.testing.assert_allclose(single[name], exact[name], rtol=1e-4, atol=1e-6)


def test_unsupported_modules_say_so(rng):
    model = nn.Sequential(nn.Linear(3, 4, dtype=np.float64), nn.LayerNorm(4, dtype=np.float64))
    x, t = rng.normal(size=(5, 3)), rng.normal(size=(5, 4))
    with pytest.raises(UnsupportedError, match=r"LayerNorm '1'.*not supported for LayerNorm"):
        hessian_diagonal(model, nn.MSELoss(), x, t)
    noisy = nn.Sequential(nn.NoisyLinear(3, 4, sigma=0.1, dtype=np.float64))
    with pytest.raises(UnsupportedError, match="weight transforms \\(GaussianNoise\\)"):
        hessian_diagonal(noisy, nn.MSELoss(), x, t)
    batch = nn.Sequential(
        nn.Linear(3, 4, dtype=np.float64),
        nn.BatchNorm1d(4, track_running_stats=False, dtype=np.float64),
    )
    with pytest.raises(UnsupportedError, match="batch statistics"):
        hessian_diagonal(batch, nn.MSELoss(), x, t)
    with pytest.raises(ValueError, match="unknown curvature 'lecunn' \\(did you mean 'lecun'"):
        hessian_diagonal(model, nn.MSELoss(), x, t, "lecunn")


# --------------------------------------------------------------------------- products
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "swish"])
def test_hessian_vector_product_matches_torch(rng, activation):
    model = _mlp(rng, [4, 6, 3], activation)
    x, y = rng.normal(size=(8, 4)), rng.integers(0, 3, 8)
    loss = nn.CrossEntropyLoss()
    flat = torch_mirror.flat_parameters(model)
    v = rng.normal(size=flat.numel())
    _, expected = torch.autograd.functional.hvp(
        torch_mirror.objective(model, loss, x, y), flat, torch.tensor(v)
    )
    before = [p.data.copy() for p in model.parameters()]
    assert_close(hessian_vector_product(model, loss, x, y, v), expected.numpy(), 1e-8)
    np.testing.assert_allclose(
        hessian_vector_product(model, loss, x, y, v, order=2), expected.numpy(), rtol=1e-6
    )
    assert all(np.array_equal(p.data, b) for p, b in zip(model.parameters(), before, strict=True))
    per_parameter = [v[: model[0].weight.size].reshape(4, 6)]
    rest = v[model[0].weight.size :]
    sizes = [p.size for p in model.parameters()][1:]
    per_parameter += [part for part in np.split(rest, np.cumsum(sizes)[:-1])]
    assert_close(hessian_vector_product(model, loss, x, y, per_parameter), expected.numpy(), 1e-8)
    assert not hessian_vector_product(model, loss, x, y, np.zeros_like(v)).any()


def test_dense_hessian_matches_torch_and_refuses_large_models(rng):
    model = _mlp(rng, [3, 4, 2], "tanh")
    x, y = rng.normal(size=(6, 3)), rng.integers(0, 2, 6)
    loss = nn.CrossEntropyLoss()
    expected = torch_mirror.hessian(model, loss, x, y)
    np.testing.assert_allclose(dense_hessian(model, loss, x, y, 100), expected, atol=1e-8)
    with pytest.raises(ValueError, match="26 parameters, more than max_params=25"):
        dense_hessian(model, loss, x, y, 25)


@pytest.mark.parametrize("loss", [nn.CrossEntropyLoss(), nn.MSELoss("batch_mean")])
def test_gauss_newton_products_and_matrix_match_the_jacobian_form(rng, loss):
    model = _mlp(rng, [3, 5, 4], "tanh")
    model.train()
    x = rng.normal(size=(7, 3))
    target = (
        rng.integers(0, 4, 7) if isinstance(loss, nn.CrossEntropyLoss) else rng.normal(size=(7, 4))
    )
    expected = torch_mirror.gauss_newton(model, loss, x, target)
    v = rng.normal(size=expected.shape[0])
    np.testing.assert_allclose(
        gauss_newton_vector_product(model, loss, x, target, v),
        expected @ v,
        rtol=1e-7,
        atol=1e-9,
    )
    dense = dense_hessian(model, loss, x, target, 100, kind="gauss_newton")
    np.testing.assert_allclose(dense, expected, atol=1e-8)
    assert np.linalg.eigvalsh(dense).min() > -1e-8  # positive semidefinite
    assert model.training  # run in eval mode, the mode restored


def test_differencing_needs_float64(rng):
    model = nn.Sequential(nn.Linear(3, 2, rng=rng))
    x, t = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(4, 2))
    with pytest.raises(ValueError, match=r"needs float64 parameters; '0\.weight' is float32"):
        hessian_vector_product(model, nn.MSELoss(), x, t, np.ones(8))


def test_lecun_recursion_through_a_softmax_layer(rng):
    # h_x,i = Σ_k (∂y_k/∂x_i)² h_y,k: the softmax Jacobian from torch, squared entry-wise
    model = _mlp(rng, [3, 4], last=nn.Softmax())
    x, t = rng.normal(size=(5, 3)), rng.normal(size=(5, 4))
    loss = nn.MSELoss("sum", factor=0.5)  # ∂²L/∂y² = 1 on the diagonal
    curvature = hessian_diagonal(model, loss, x, t, "lecun")
    z = x @ model[0].weight.data + model[0].bias.data
    h_x = np.stack(
        [
            (
                torch.autograd.functional.jacobian(
                    lambda v: torch.softmax(v, 0), torch.tensor(row)
                ).numpy()
                ** 2
            ).sum(axis=0)
            for row in z
        ]
    )
    assert_close(curvature["0.weight"], (x * x).T @ h_x)
    assert_close(curvature["0.bias"], h_x.sum(axis=0))
