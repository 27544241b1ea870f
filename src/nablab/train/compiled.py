"""A whole training epoch as one compiled function, for the common case.

When the model is a :class:`~nablab.nn.Sequential` of :class:`~nablab.nn.Linear` layers (bias
per unit or none) with element-wise activations between them (ReLU, LeakyReLU, tanh, sigmoid,
identity), the loss is softmax cross-entropy on class indices, the optimizer is SGD (plain,
PyTorch momentum or PyTorch Nesterov), Adam or AdamW without AMSGrad, centralization, masks
or weight transforms, and nothing needs to see each step (no hooks, no per-step callbacks),
:func:`plan` returns a :class:`CompiledEpoch` and ``fit`` runs every mini-batch of an epoch
inside one numba function: the same order of operations as the module-by-module engine (the
same softmax cross-entropy loop, the same optimizer formulas, buffers allocated once), with
the matrix products sent to BLAS. Anything else returns ``None`` and ``fit`` uses the engine.

The two paths agree to rounding: numba reaches BLAS through SciPy's build of it and NumPy
through its own, which may sum a product in a different order, so a float64 epoch agrees to
about 1e-15 relative and a float32 one to float32 rounding (tests hold both). The engine stays
the reference; the worked solutions never use this path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nablab import backend, nn
from nablab.optim.adam import Adam, AdamW
from nablab.optim.optimizer import Optimizer
from nablab.optim.sgd import SGD

# activation codes the kernel understands
_IDENTITY, _RELU, _LEAKY, _TANH, _SIGMOID = 0, 1, 2, 3, 4
_CODES = {
    nn.Identity: _IDENTITY,
    nn.ReLU: _RELU,
    nn.LeakyReLU: _LEAKY,
    nn.Tanh: _TANH,
    nn.Sigmoid: _SIGMOID,
}
# optimizer codes
_SGD, _SGD_MOMENTUM, _SGD_NESTEROV, _ADAM = 0, 1, 2, 3

_kernel = None
_update = None  # the compiled optimizer update, which the compiled epoch calls


def _compile():
    global _kernel, _update
    if _kernel is None:
        import numba

        jit = numba.njit(cache=True, nogil=True, error_model="numpy")
        _update = jit(_update_rule)
        _kernel = jit(_epoch)
    return _kernel


@dataclass
class CompiledEpoch:
    """What the kernel needs, gathered once per ``fit``: views of the parameters and their
    gradients, the optimizer's flat state, and work buffers for every layer."""

    model: nn.Sequential
    optimizer: Optimizer
    weights: tuple
    biases: tuple
    weight_grads: tuple
    bias_grads: tuple
    has_bias: np.ndarray
    codes: np.ndarray
    slopes: np.ndarray
    rule: int

    def run(
        self,
        x: np.ndarray,
        y: np.ndarray,
        order: np.ndarray,
        batch: int,
        drop_last: bool,
        global_step: int,
        grad_norm_every: int,
    ):
        """Train one epoch over ``order``; returns per-step losses, per-step correct counts,
        the number of steps taken (fewer than the batches when a loss was not finite: that
        loss is ``losses[done]``), and the weight-gradient norms at the recorded steps."""
        opt = self.optimizer
        run = opt._runs[0]
        dtype = run.w.dtype
        n = len(order)
        steps = n // batch if drop_last else -(-n // batch)
        losses = np.empty(steps)
        correct = np.zeros(steps, np.int64)
        norms = np.zeros((steps, len(self.weights)))
        acts = (
            np.empty((batch, x.shape[1]), dtype),
            *(np.empty((batch, w.shape[1]), dtype) for w in self.weights),
        )
        grads = tuple(np.empty((batch, w.shape[1]), dtype) for w in self.weights)
        ones = np.ones(batch, dtype)
        state = self._state(run, dtype)
        hyper = self._hyper(dtype)
        done, t_end = _compile()(
            x,
            y,
            order,
            batch,
            self.weights,
            self.biases,
            self.weight_grads,
            self.bias_grads,
            self.has_bias,
            self.codes,
            self.slopes,
            run.w,
            run.g,
            state[0],
            state[1],
            hyper,
            self.rule,
            opt.step_count,
            losses,
            correct,
            norms,
            global_step,
            grad_norm_every,
            acts,
            grads,
            ones,
        )
        opt.step_count = int(t_end)
        return losses, correct, done, norms

    def _state(self, run, dtype):
        empty = np.empty(0, dtype)
        opt = self.optimizer
        if isinstance(opt, Adam):
            return run.state["m"], run.state["v"]
        if opt.momentum:
            return run.state["momentum_buffer"], empty
        return empty, empty

    def _hyper(self, dtype) -> np.ndarray:
        opt = self.optimizer
        if isinstance(opt, Adam):
            b1, b2 = opt.betas
            decay = 1.0 - opt.lr * opt.weight_decay if isinstance(opt, AdamW) else 1.0
            wd = 0.0 if isinstance(opt, AdamW) else opt.weight_decay
            values = [opt.lr, b1, b2, opt.eps, wd, decay, float(opt.bias_correction)]
        else:
            values = [opt.lr, opt.weight_decay, opt.momentum, 1.0 - opt.dampening]
        return np.array(values, dtype=np.float64)


def plan(
    model: nn.Module,
    loss: nn.Loss,
    optimizer: Optimizer,
    y: np.ndarray,
    step_callbacks: Sequence = (),
) -> CompiledEpoch | None:
    """A :class:`CompiledEpoch` for this model, loss and optimizer, or ``None`` when any of
    them is outside the compiled set (then the engine trains, as always)."""
    if backend.kernels() != "numba" or step_callbacks:
        return None
    if not isinstance(model, nn.Sequential) or not isinstance(loss, nn.CrossEntropyLoss):
        return None
    if loss.reduction != "mean" or not np.issubdtype(y.dtype, np.integer):
        return None
    layers = list(model)
    linears = layers[0::2]
    activations = layers[1::2]
    if len(layers) % 2 == 0 or not all(type(m) is nn.Linear for m in linears):
        return None
    if not all(type(m) in _CODES for m in activations):
        return None
    for _, module in model.named_modules():
        if module._forward_hooks or module._backward_hooks or module._weight_transforms:
            return None
    params = model.parameters()
    if any(p.mask is not None or not p.requires_grad for p in params):
        return None
    if any(m.bias_mode == "shared" for m in linears):
        return None
    dtype = params[0].dtype
    if any(p.dtype != dtype for p in params) or dtype not in (np.float32, np.float64):
        return None
    rule = _rule(optimizer)
    if rule is None or len(optimizer._runs) != 1 or optimizer.centralize is not None:
        return None
    run = optimizer._runs[0]
    if [id(p) for p in run.params] != [id(p) for p in params]:
        return None
    if run.group.mask is not None:
        return None
    empty = np.empty(0, dtype)
    return CompiledEpoch(
        model,
        optimizer,
        weights=tuple(m.weight.data for m in linears),
        biases=tuple(m.bias.data if m.bias is not None else empty for m in linears),
        weight_grads=tuple(m.weight.grad for m in linears),
        bias_grads=tuple(m.bias.grad if m.bias is not None else empty for m in linears),
        has_bias=np.array([m.bias is not None for m in linears]),
        codes=np.array([_CODES[type(m)] for m in activations], dtype=np.int64),
        slopes=np.array([getattr(m, "negative_slope", 0.0) for m in activations]),
        rule=rule,
    )


def _rule(optimizer: Optimizer) -> int | None:
    if type(optimizer) in (Adam, AdamW):
        if optimizer.amsgrad or optimizer.eps_placement != "outside":
            return None
        return _ADAM
    if type(optimizer) is SGD and optimizer.convention == "pytorch":
        if optimizer.nesterov == "lookahead":
            return None
        if not optimizer.momentum:
            return _SGD
        return _SGD_NESTEROV if optimizer.nesterov else _SGD_MOMENTUM
    return None


def _epoch(
    x,
    y,
    order,
    batch,
    weights,
    biases,
    weight_grads,
    bias_grads,
    has_bias,
    codes,
    slopes,
    w_flat,
    g_flat,
    s1,
    s2,
    hyper,
    rule,
    step_count,
    losses,
    correct,
    norms,
    global_step,
    grad_norm_every,
    acts,
    grads,
    ones,
):
    """Every mini-batch of one epoch: gather, forward, softmax cross-entropy, backward, the
    optimizer's update. Stops before the update of a batch whose loss is not finite; returns
    (steps done, the optimizer's step count)."""
    n = order.shape[0]
    layers = len(weights)
    steps = losses.shape[0]
    dt = w_flat.dtype.type
    done = 0
    t = step_count
    for k in range(steps):
        start = k * batch
        m = min(batch, n - start)
        # gather the batch
        xb = acts[0]
        for r in range(m):
            row = order[start + r]
            for c in range(x.shape[1]):
                xb[r, c] = x[row, c]
        # forward: Z = A W + b, then the activation, layer by layer
        for li in range(layers):
            w = weights[li]
            units = w.shape[1]
            z = acts[li + 1][:m]
            np.dot(acts[li][:m], w, z)
            if has_bias[li]:
                b = biases[li]
                for r in range(m):
                    for u in range(units):
                        z[r, u] += b[u]
            if li < layers - 1:
                code = codes[li]
                slope = dt(slopes[li])
                for r in range(m):
                    for u in range(units):
                        v = z[r, u]
                        if code == 1:
                            z[r, u] = v if v > 0 else dt(0)
                        elif code == 2:
                            z[r, u] = v if v > 0 else v * slope
                        elif code == 3:
                            z[r, u] = np.tanh(v)
                        elif code == 4:
                            z[r, u] = dt(1) / (dt(1) + np.exp(-v))
        # softmax cross-entropy, as nablab.nn.kernels computes it
        logits = acts[layers][:m]
        classes = logits.shape[1]
        probs = grads[layers - 1][:m]
        total = 0.0
        right = 0
        for r in range(m):
            label = y[order[start + r]]
            top = logits[r, 0]
            for c in range(1, classes):
                if logits[r, c] > top:
                    top = logits[r, c]
            s = 0.0
            for c in range(classes):
                e = np.exp(logits[r, c] - top)
                probs[r, c] = e
                s += e
            for c in range(classes):
                probs[r, c] /= s
            picked = logits[r, label] - top
            right += picked == 0
            total += np.log(s) - picked
        value = total / m
        if not np.isfinite(value):
            losses[k] = value
            return done, t
        losses[k] = value
        correct[k] = right
        scale = dt(m)
        for r in range(m):
            probs[r, y[order[start + r]]] -= dt(1)
            for c in range(classes):
                probs[r, c] = probs[r, c] / scale
        # backward: dW = Aᵀδ, db = 1ᵀδ, δ_prev = (δ Wᵀ) ⊙ f′
        for li in range(layers - 1, -1, -1):
            w = weights[li]
            delta = grads[li][:m]
            below = acts[li][:m]
            wg = weight_grads[li]
            if m == 1:  # an outer product; BLAS is slow at rank 1
                for i in range(wg.shape[0]):
                    for j in range(wg.shape[1]):
                        wg[i, j] = below[0, i] * delta[0, j]
            else:
                np.dot(below.T, delta, wg)
            if has_bias[li]:
                np.dot(ones[:m], delta, bias_grads[li])
            if li > 0:
                previous = grads[li - 1][:m]
                np.dot(delta, w.T, previous)
                code = codes[li - 1]
                slope = dt(slopes[li - 1])
                for r in range(m):
                    for u in range(w.shape[0]):
                        a = below[r, u]
                        if code == 1:
                            previous[r, u] = previous[r, u] * dt(1 if a > 0 else 0)
                        elif code == 2:
                            previous[r, u] = previous[r, u] if a > 0 else previous[r, u] * slope
                        elif code == 3:
                            previous[r, u] = previous[r, u] * (dt(1) - a * a)
                        elif code == 4:
                            previous[r, u] = previous[r, u] * a * (dt(1) - a)
        # the optimizer's update, as nablab.optim.kernels writes it
        t += 1
        _update(w_flat, g_flat, s1, s2, hyper, rule, t)
        done += 1
        if (global_step + done) % grad_norm_every == 0:
            for li in range(layers):
                g = weight_grads[li]
                acc = 0.0
                for i in range(g.shape[0]):
                    for j in range(g.shape[1]):
                        acc += float(g[i, j]) * float(g[i, j])
                norms[k, li] = np.sqrt(acc)
    return done, t


def _update_rule(w, g, s1, s2, hyper, rule, t):
    """One optimizer step over the flat parameters (the formulas of nablab.optim.kernels)."""
    dt = w.dtype.type
    if rule == 3:  # Adam / AdamW
        lr, b1, b2, eps = hyper[0], hyper[1], hyper[2], dt(hyper[3])
        wd, decay, correct = dt(hyper[4]), dt(hyper[5]), hyper[6]
        bc1 = 1.0 - b1**t if correct else 1.0
        bc2 = 1.0 - b2**t if correct else 1.0
        step_size, root_bc2 = dt(lr / bc1), dt(np.sqrt(bc2))
        one_minus_b1, beta2, one_minus_b2 = dt(1.0 - b1), dt(b2), dt(1.0 - b2)
        tiny = dt(np.finfo(w.dtype).tiny)
        for i in range(w.size):
            wi = w[i] * decay
            gi = g[i] + wd * wi
            mi = s1[i] + one_minus_b1 * (gi - s1[i])
            vi = s2[i] * beta2 + one_minus_b2 * (gi * gi)
            mi = dt(0) if abs(mi) < tiny else mi
            vi = dt(0) if vi < tiny else vi
            s1[i] = mi
            s2[i] = vi
            denom = np.sqrt(vi) / root_bc2 + eps
            w[i] = wi - step_size * (mi / denom)
        return
    lr, wd, mu, one_minus_damp = dt(hyper[0]), dt(hyper[1]), dt(hyper[2]), dt(hyper[3])
    if rule == 0:
        for i in range(w.size):
            w[i] -= lr * (g[i] + wd * w[i])
        return
    first = t == 1
    for i in range(w.size):
        gi = g[i] + wd * w[i]
        bi = gi if first else s1[i] * mu + gi * one_minus_damp
        s1[i] = bi
        w[i] -= lr * (gi + bi * mu if rule == 2 else bi)
