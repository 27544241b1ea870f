"""An exercise recomputed with PyTorch (float64): autograd for every gradient, torch.optim for
the rules it has, and the textbook conventions it lacks written out here from their formulas.

A conv1d kernel is kept in nablab's layout (k, C_in, C_out), so that the tensors compare with
nablab's directly, and permuted to PyTorch's (C_out, C_in, k) for ``F.conv1d``."""

from __future__ import annotations

import numpy as np
import torch

F = torch.nn.functional


def _params(exercise) -> list[tuple[str, list[torch.Tensor]]]:
    layers = []
    for layer in exercise.layers:
        if layer.type == "linear":
            w = torch.tensor(layer.weights, dtype=torch.float64, requires_grad=layer.update_weights)
            b = None
            if layer.bias is not None:
                shared = isinstance(layer.bias, int | float)
                b = torch.tensor(
                    float(layer.bias) if shared else layer.bias,
                    dtype=torch.float64,
                    requires_grad=layer.update_bias,
                )
            layers.append(("linear", [w, b]))
        elif layer.type == "conv1d":
            kernel = np.array(layer.kernel_array(), dtype=np.float64).transpose(2, 1, 0)
            w = torch.tensor(kernel, requires_grad=layer.update_kernel)
            b = None
            if layer.bias is not None:
                b = torch.tensor(layer.bias, dtype=torch.float64, requires_grad=layer.update_bias)
            layers.append(("conv1d", [w, b]))
        elif layer.type == "batchnorm":
            width = layers_width(exercise, len(layers))
            gamma = torch.tensor(layer.gamma or [1.0] * width, dtype=torch.float64)
            beta = torch.tensor(layer.beta or [0.0] * width, dtype=torch.float64)
            gamma.requires_grad_(layer.update)
            beta.requires_grad_(layer.update)
            layers.append(("batchnorm", [gamma, beta]))
        else:
            layers.append((layer.type, []))
    return layers


def layers_width(exercise, position: int) -> int:
    """The width of the rows entering layer ``position``."""
    from nablab.solve.spec import layer_shapes

    return layer_shapes(exercise)[position][-1]


def _forward(exercise, layers, x, samples):
    h = x
    for spec, (kind, params) in zip(exercise.layers, layers, strict=True):
        if kind == "linear":
            w, b = params
            h = h @ w + (b if b is not None else 0.0)
        elif kind == "conv1d":
            w, b = params
            h = F.conv1d(h, w.permute(2, 1, 0), b, spec.stride, spec.padding, spec.dilation)
        elif kind == "maxpool1d":
            h = F.max_pool1d(h, spec.kernel_size, spec.stride, spec.padding, spec.dilation)
        elif kind == "avgpool1d":
            h = F.avg_pool1d(
                h,
                spec.kernel_size,
                spec.stride,
                spec.padding,
                count_include_pad=spec.count_include_pad,
            )
        elif kind == "flatten":
            h = h.flatten(1)
        elif kind == "batchnorm":
            gamma, beta = params
            mean = h.mean(0)
            var = ((h - mean) ** 2).mean(0)
            h = gamma * (h - mean) / torch.sqrt(var + spec.eps) + beta
        elif kind == "dropout":
            mask = torch.tensor(np.array(spec.mask, dtype=np.float64)[samples])
            h = h * mask / (1 - spec.p) if spec.mode == "inverted" else h * mask
        elif kind == "sigmoid":
            h = torch.sigmoid(h)
        elif kind == "tanh":
            h = torch.tanh(h)
        elif kind == "relu":
            h = torch.relu(h)
        elif kind == "leaky_relu":
            h = F.leaky_relu(h, spec.negative_slope)
        elif kind in ("swish", "silu"):
            h = h * torch.sigmoid(spec.beta * h)
        elif kind == "selu":
            h = torch.selu(h)
        elif kind == "softmax":
            h = torch.softmax(h, dim=1)
        elif kind in ("identity", "linear"):
            pass
        else:
            raise AssertionError(kind)
    return h


def _loss(exercise, layers, flat, x, t, samples):
    out = _forward(exercise, layers, x, samples)
    spec = exercise.loss
    if spec.type == "mse":
        n = {"mean": out.numel(), "sum": 1, "batch_mean": out.shape[0]}[spec.reduction]
        value = spec.factor * ((out - t) ** 2).sum() / n
    elif spec.type == "bce":
        value = F.binary_cross_entropy(out, t, reduction=spec.reduction)
    elif spec.type == "bce_with_logits":
        value = F.binary_cross_entropy_with_logits(out, t, reduction=spec.reduction)
    else:
        value = F.cross_entropy(out, t, reduction=spec.reduction)
    penalty = exercise.penalty
    if penalty is not None:
        weighted = ("linear", "conv1d")
        weights = [p[0] for kind, p in layers if kind in weighted]
        if penalty.biases:
            weights += [p[1] for kind, p in layers if kind in weighted and p[1] is not None]
        if penalty.type == "l2":
            factor = penalty.strength * (0.5 if penalty.convention == "half" else 1.0)
            value = value + factor * sum((w**2).sum() for w in weights)
        else:
            value = value + penalty.strength * sum(w.abs().sum() for w in weights)
    return value


def torch_run(exercise) -> tuple[list[float], list[np.ndarray]]:
    """The loss of every step and every parameter tensor at the end."""
    layers = _params(exercise)
    flat = [p for _, params in layers for p in params if p is not None]
    trainable = [p for p in flat if p.requires_grad]
    options = dict(exercise.optimizer.options())
    kind = exercise.optimizer.type
    x_all = torch.tensor(exercise.input_array(), dtype=torch.float64)
    classes = exercise.loss.type == "cross_entropy" and isinstance(exercise.targets[0], int)
    t_all = torch.tensor(exercise.targets, dtype=torch.int64 if classes else torch.float64)
    n = len(exercise.inputs)
    schedule = ([list(range(n))] if exercise.batch == "full" else [[i] for i in range(n)]) * (
        exercise.steps
    )
    step_rule = None if kind == "newton" else _rule(kind, options, trainable)
    losses = []
    for t, samples in enumerate(schedule, start=1):
        x, target = x_all[samples], t_all[samples]
        if step_rule is None:
            losses.append(
                _newton_step(exercise, layers, flat, trainable, x, target, samples, options)
            )
            continue

        def closure(x=x, target=target, samples=samples):
            for p in trainable:
                p.grad = None
            value = _loss(exercise, layers, flat, x, target, samples)
            value.backward()
            return value

        losses.append(step_rule(closure, t))
    return losses, [p.detach().numpy().copy() for p in flat]


def _rule(kind, options, params):
    centralize = options.pop("centralize", None)
    # centralization acts on the gradient with weight decay added (as in the paper's code)
    decay = options.pop("weight_decay", 0.0) if centralize == "gradient" else 0.0

    def centralized(step):
        def run(closure, t):
            value = closure()
            if centralize == "gradient":
                for p in params:
                    p.grad += decay * p.detach()
                for p in params:
                    if p.ndim >= 2:  # the output axis is last: the mean over the others
                        p.grad -= p.grad.mean(dim=tuple(range(p.ndim - 1)), keepdim=True)
            step()
            return float(value.detach())

        return run

    if kind == "sgd" and options.get("nesterov") == "lookahead":
        return _lookahead(options, params)
    if kind == "sgd":
        options.pop("convention", None)  # with a constant rate both conventions coincide
        return centralized(torch.optim.SGD(params, **options).step)
    if kind == "adagrad":
        return centralized(torch.optim.Adagrad(params, **options).step)
    if kind == "rmsprop":
        if options.pop("eps_placement", "outside") == "inside":
            return _rmsprop_inside(options, params)
        return centralized(torch.optim.RMSprop(params, **options).step)
    if kind in ("adam", "adamw"):
        manual = options.get("eps_placement") == "inside" or not options.get(
            "bias_correction", True
        )
        if manual:
            return _adam(options, params)
        options = {k: v for k, v in options.items() if k not in ("bias_correction",)}
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        return centralized(cls(params, **options).step)
    raise AssertionError(kind)


def _lookahead(options, params):
    """v ← μv − η·∇E(w + μv), w ← w + v (velocity form, no weight decay)."""
    lr, mu = options["lr"], options["momentum"]
    velocity = [torch.zeros_like(p) for p in params]
    loss_at_w = 0.0

    def run(closure, t):
        nonlocal loss_at_w
        loss_at_w = closure()
        with torch.no_grad():
            for p, v in zip(params, velocity, strict=True):
                p += mu * v
        closure()
        with torch.no_grad():
            for p, v in zip(params, velocity, strict=True):
                p -= mu * v
                v.mul_(mu).sub_(lr * p.grad)
                p += v
        return float(loss_at_w.detach())

    return run


def _rmsprop_inside(options, params):
    """r ← αr + (1 − α)g²;  b ← μb + g/√(r + ε);  w ← w − η·b."""
    lr, alpha, eps = options["lr"], options["alpha"], options["eps"]
    mu = options.get("momentum", 0.0)
    r = [torch.zeros_like(p) for p in params]
    b = [torch.zeros_like(p) for p in params]

    def run(closure, t):
        value = closure()
        with torch.no_grad():
            for p, ri, bi in zip(params, r, b, strict=True):
                ri.mul_(alpha).add_((1 - alpha) * p.grad**2)
                d = p.grad / torch.sqrt(ri + eps)
                if mu:
                    bi.mul_(mu).add_(d)
                    p -= lr * bi
                else:
                    p -= lr * d
        return float(value.detach())

    return run


def _adam(options, params):
    """Adam from its formulas: optional bias correction, ε inside or outside, AMSGrad."""
    lr = options["lr"]
    b1, b2 = options.get("betas", (0.9, 0.999))
    eps = options.get("eps", 1e-8)
    inside = options.get("eps_placement") == "inside"
    correct = options.get("bias_correction", True)
    amsgrad = options.get("amsgrad", False)
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    vmax = [torch.zeros_like(p) for p in params]

    def run(closure, t):
        value = closure()
        with torch.no_grad():
            for p, mi, vi, vm in zip(params, m, v, vmax, strict=True):
                mi.mul_(b1).add_((1 - b1) * p.grad)
                vi.mul_(b2).add_((1 - b2) * p.grad**2)
                used = torch.maximum(vm, vi) if amsgrad else vi
                vm.copy_(used)
                mhat = mi / (1 - b1**t) if correct else mi
                vhat = used / (1 - b2**t) if correct else used
                denom = torch.sqrt(vhat + eps) if inside else torch.sqrt(vhat) + eps
                p -= lr * mhat / denom
        return float(value.detach())

    return run


def _newton_step(exercise, layers, flat, params, x, target, samples, options) -> float:
    """w ← w − η·(H + λI)⁻¹∇E with the exact Hessian (autograd of the gradient)."""
    lr, damping = options.get("lr", 1.0), options.get("damping", 0.0)
    value = _loss(exercise, layers, flat, x, target, samples)
    grads = torch.autograd.grad(value, params, create_graph=True)
    gradient = torch.cat([g.reshape(-1) for g in grads])
    rows = [
        torch.cat([h.reshape(-1) for h in torch.autograd.grad(g, params, retain_graph=True)])
        for g in gradient
    ]
    hessian = torch.stack(rows)
    direction = torch.linalg.solve(hessian + damping * torch.eye(len(gradient)), gradient)
    with torch.no_grad():
        offset = 0
        for p in params:
            p -= lr * direction[offset : offset + p.numel()].reshape(p.shape)
            offset += p.numel()
    return float(value.detach())
