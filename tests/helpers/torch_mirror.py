"""A nablab Sequential rebuilt in PyTorch as a function of one flat parameter vector, so that
torch.autograd.functional can take Hessians, Jacobians and Hessian-vector products of it."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from nablab import nn


def flat_parameters(model: nn.Module) -> torch.Tensor:
    return torch.tensor(np.concatenate([p.data.ravel() for p in model.parameters()]))


def _split(model: nn.Module, flat: torch.Tensor) -> dict[int, torch.Tensor]:
    parts, start = {}, 0
    for param in model.parameters():
        parts[id(param)] = flat[start : start + param.size].reshape(param.shape)
        start += param.size
    return parts


def forward(model: nn.Sequential, flat: torch.Tensor, x: np.ndarray) -> torch.Tensor:
    """The model's eval-mode output at parameters ``flat`` (masks applied)."""
    values = _split(model, flat)
    h = torch.tensor(x)
    for layer in model:
        if isinstance(layer, nn.Linear):
            w = values[id(layer.weight)]
            if layer.weight.mask is not None:
                w = w * torch.tensor(layer.weight.mask)
            h = h @ w
            if layer.bias is not None:
                b = values[id(layer.bias)]
                if layer.bias.mask is not None:
                    b = b * torch.tensor(layer.bias.mask)
                h = h + b
        elif isinstance(layer, nn.Tanh):
            h = torch.tanh(h)
        elif isinstance(layer, nn.Sigmoid):
            h = torch.sigmoid(h)
        elif isinstance(layer, nn.ReLU):
            h = torch.relu(h)
        elif isinstance(layer, nn.LeakyReLU):
            h = F.leaky_relu(h, layer.negative_slope)
        elif isinstance(layer, nn.Swish):
            h = h * torch.sigmoid(layer.beta * h)
        elif isinstance(layer, nn.Identity):
            pass
        elif isinstance(layer, nn.Softmax):
            h = torch.softmax(h, dim=-1)
        elif isinstance(layer, nn.Dropout):
            h = h if layer.mode == "inverted" else h * (1 - layer.p)
        elif isinstance(layer, nn.BatchNorm1d):
            mean, var = torch.tensor(layer.running_mean), torch.tensor(layer.running_var)
            h = (h - mean) / torch.sqrt(var + layer.eps)
            if layer.affine:
                h = h * values[id(layer.weight)] + values[id(layer.bias)]
        elif isinstance(layer, nn.MeanOnlyBatchNorm1d):
            h = (h - torch.tensor(layer.running_mean)) * values[id(layer.weight)]
            h = h + values[id(layer.bias)]
        else:
            raise TypeError(f"no torch mirror for {type(layer).__name__}")
    return h


def loss_of_output(loss: nn.Loss, out: torch.Tensor, target: np.ndarray) -> torch.Tensor:
    """The nablab loss in torch, on the model's output."""
    t = torch.tensor(target)
    n_elements, n_rows = out.numel(), out.shape[0]
    if isinstance(loss, nn.MSELoss):
        total = loss.factor * ((out - t) ** 2).sum()
        divisor = {"mean": n_elements, "sum": 1, "batch_mean": n_rows}[loss.reduction]
        return total / divisor
    divisor = n_elements if loss.reduction == "mean" else 1
    if isinstance(loss, nn.BCELoss):  # written out: F.binary_cross_entropy's double backward
        # divides by (p(1 − p) + 1e-12)², 1e-9 relative off the exact second derivative
        return -(t * torch.log(out) + (1 - t) * torch.log1p(-out)).sum() / divisor
    if isinstance(loss, nn.BCEWithLogitsLoss):
        return F.binary_cross_entropy_with_logits(out, t, reduction="sum") / divisor
    if isinstance(loss, nn.CrossEntropyLoss):
        divisor = n_rows if loss.reduction == "mean" else 1
        if np.issubdtype(target.dtype, np.integer):
            return F.cross_entropy(out, t, reduction="sum") / divisor
        return -(t * torch.log_softmax(out, dim=1)).sum() / divisor
    raise TypeError(f"no torch mirror for {type(loss).__name__}")


def objective(model, loss, x, target):
    """flat parameters ↦ loss, for torch.autograd.functional."""
    return lambda flat: loss_of_output(loss, forward(model, flat, x), target)


def hessian(model, loss, x, target) -> np.ndarray:
    flat = flat_parameters(model)
    return torch.autograd.functional.hessian(objective(model, loss, x, target), flat).numpy()


def gauss_newton(model, loss, x, target) -> np.ndarray:
    """G = Jᵀ H_ℓ J: J the Jacobian of the model's output in the parameters, H_ℓ the loss's
    Hessian in the output (both by torch.autograd.functional)."""
    flat = flat_parameters(model)
    out = forward(model, flat, x).detach()
    jacobian = torch.autograd.functional.jacobian(lambda f: forward(model, f, x), flat)
    jacobian = jacobian.reshape(out.numel(), -1)
    h_loss = torch.autograd.functional.hessian(
        lambda o: loss_of_output(loss, o.reshape(out.shape), target), out.reshape(-1)
    )
    return (jacobian.T @ h_loss @ jacobian).numpy()
