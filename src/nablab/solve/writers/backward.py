"""The backward pass: ∂E/∂(every value and parameter), layer by layer from the loss back.

One writer per module class in ``BACKWARD``. Element-wise activations take their derivative
from :mod:`nablab.solve.local` (shared with ``--explain``); a penalty's term joins the gradient
of every parameter it covers, in the per-weight and in the matrix form.
"""

from __future__ import annotations

import numpy as np

from nablab import nn
from nablab.i18n import M
from nablab.solve import local
from nablab.solve.expr import Div, Mul, Paren, Partial, Sqrt, Sym, Transpose, matrix, total
from nablab.solve.trace import Pass, rows
from nablab.solve.writers.base import LOSS, ClassRegistry, Writer
from nablab.solve.writers.loss import PENALTIES, penalized, penalty_term, write_loss_gradient

BACKWARD: ClassRegistry = ClassRegistry("backward pass")


def write_backward(w: Writer, p: Pass) -> None:
    """∂E/∂o, then every layer from the last to the first."""
    write_loss_gradient(w, p)
    model = w.built.model
    for position in reversed(range(len(model))):
        module = model[position]
        writer = BACKWARD.lookup(module)
        if position == 0 and not any(s.layer == 0 for s in w.built.scalars):
            continue  # nothing before the first layer, and no parameter in it
        writer(w, p, position, module)


def _parameter_gradient(w: Writer, p: Pass, scalar, terms_s: list, terms_n: list) -> None:
    """∂E/∂w as the sum of its data terms, and the penalty's term if it covers w."""
    extra = penalty_term(w, p, scalar)
    if extra is not None:
        terms_s, terms_n = [*terms_s, extra[0]], [*terms_n, extra[1]]
    name = w.param_name(scalar, p)
    w.eq(
        Partial(LOSS, name),
        total(terms_s),
        total(terms_n),
        w.n(p.grads[scalar.name]),
        key=w.key(f"grad({name})"),
    )


def _through(w: Writer, position: int, module) -> None:
    w.para(
        M(
            "solve.through_layer",
            "Through layer {n} ({module}):",
            n=position + 1,
            module=type(module).__name__,
        )
    )


@BACKWARD.register(nn.Linear)
def linear(w: Writer, p: Pass, position: int, module: nn.Linear) -> None:
    """δ = ∂E/∂Z;  ∂E/∂W = Aᵀ·δ (+ penalty);  ∂E/∂b = Σ_rows δ;  ∂E/∂A = δ·Wᵀ."""
    number = w.built.linear_number[position]
    tag = p.tag
    names_in, values_in = w.entering(p, position)
    tag_in = w.entering_tag(position, p)
    names_out = w.built.output_names[position]
    delta = p.layers[position].grad
    weights = w.scalars(position, "weight")
    w.para(
        M(
            "solve.linear_matrix_form",
            "Layer {n} (linear) in matrix form, ⁅δ{number} = ∂{loss}/∂Z{number}⁆:",
            n=position + 1,
            number=number,
            loss=LOSS,
        )
    )
    a_name = ("X" if position == 0 else f"A{number - 1}") + tag_in
    w_name = f"W{number}{tag}"
    delta_name = f"delta{number}{tag}"
    w_values = np.array(
        [[p.params[s.name] for s in weights if s.index[0] == i] for i in range(module.in_features)]
    )
    grad_w = np.array(
        [[p.grads[s.name] for s in weights if s.index[0] == i] for i in range(module.in_features)]
    )
    w.eq(Sym(delta_name), matrix(delta, w.digits), value=delta.copy())
    symbolic = Transpose(Sym(a_name)) * Sym(delta_name)
    numeric = Transpose(matrix(values_in, w.digits)) * matrix(delta, w.digits)
    covered = [s for s in weights if s in penalized(w)]
    if covered:
        term_s, term_n = PENALTIES.lookup(w.built.penalty).matrix(
            w, w.built.penalty, Sym(w_name), w_values
        )
        symbolic, numeric = symbolic + term_s, numeric + term_n
    w.eq(
        Partial(LOSS, w_name),
        symbolic,
        numeric,
        matrix(grad_w, w.digits),
        value=grad_w,
        given={a_name: np.array(values_in), w_name: w_values},
    )
    for i in range(module.in_features):
        for s in (s for s in weights if s.index[0] == i):
            j = s.index[1]
            rows = range(len(p.samples))
            terms_s = [
                Sym(names_in[i] + p.suffix(r) + tag_in)
                * Partial(LOSS, names_out[j] + p.suffix(r) + tag)
                for r in rows
            ]
            terms_n = [w.n(values_in[r, i]) * w.n(delta[r, j]) for r in rows]
            _parameter_gradient(w, p, s, terms_s, terms_n)
    for s in w.scalars(position, "bias"):
        units = range(len(names_out)) if module.bias.shape == () else [s.index[0]]
        rows = range(len(p.samples))
        terms_s = [Partial(LOSS, names_out[j] + p.suffix(r) + tag) for r in rows for j in units]
        terms_n = [w.n(delta[r, j]) for r in rows for j in units]
        _parameter_gradient(w, p, s, terms_s, terms_n)
    if position == 0:
        return
    g_in = p.layers[position - 1].grad
    for row in range(len(p.samples)):
        sfx = p.suffix(row)
        for i, name in enumerate(names_in):
            feeding = [s for s in weights if s.index[0] == i]
            terms_s = [
                Partial(LOSS, names_out[s.index[1]] + sfx + tag) * Sym(w.param_name(s, p))
                for s in feeding
            ]
            terms_n = [w.n(delta[row, s.index[1]]) * w.n(p.params[s.name]) for s in feeding]
            w.eq(
                Partial(LOSS, name + sfx + tag_in),
                total(terms_s),
                total(terms_n),
                w.n(g_in[row, i]),
                key=w.key(f"grad({name}{sfx}{tag_in})"),
            )


@BACKWARD.register(*local.FORMULAS)
def elementwise(w: Writer, p: Pass, position: int, module: nn.Module) -> None:
    """∂E/∂z = ∂E/∂a · f′(z), f′ from the shared local-derivative formulas."""
    _through(w, position, module)
    names_in, values_in = w.entering(p, position)
    tag_in = w.entering_tag(position, p)
    names_out = w.built.output_names[position]
    out, g_out = rows(p.layers[position].output), rows(p.layers[position].grad)
    g_in = w.entering_grad(p, position)
    if isinstance(module, nn.LeakyReLU):
        w.para(
            M(
                "solve.leaky_derivative",
                "⁅{name}(z) = 1⁆ for ⁅z > 0⁆, else ⁅{slope:g}⁆.",
                name=local.leaky_name(module),
                slope=module.negative_slope,
            )
        )
    elif isinstance(module, nn.ReLU):
        w.para(M("solve.relu_derivative", "⁅relu′(z) = 1⁆ for ⁅z > 0⁆, else ⁅0.⁆"))
    for row in range(len(p.samples)):
        sfx = p.suffix(row)
        for j, (name_in, name_out) in enumerate(zip(names_in, names_out, strict=True)):
            a, z = Sym(name_out + sfx + p.tag), Sym(name_in + sfx + tag_in)
            g_s, g_n = Partial(LOSS, name_out + sfx + p.tag), w.n(g_out[row, j])
            if isinstance(module, nn.Identity):
                symbolic, numeric = g_s, g_n
            else:
                d_s, d_n = local.derivative(
                    module, z, a, float(values_in[row, j]), float(out[row, j]), w.digits
                )
                symbolic, numeric = Mul((g_s, d_s)), Mul((g_n, d_n))
            w.eq(
                Partial(LOSS, name_in + sfx + tag_in),
                symbolic,
                numeric,
                w.n(g_in[row, j]),
                key=w.key(f"grad({name_in}{sfx}{tag_in})"),
            )


@BACKWARD.register(nn.Softmax)
def softmax(w: Writer, p: Pass, position: int, module: nn.Softmax) -> None:
    """The Jacobian-vector product: ∂E/∂z_j = a_j·(∂E/∂a_j − Σ_k ∂E/∂a_k·a_k)."""
    _through(w, position, module)
    w.para(
        M(
            "solve.softmax_jacobian",
            "softmax's Jacobian is ⁅∂a_k/∂z_j = a_k(δ_kj − a_j)⁆, so each input gradient is "
            "⁅∂E/∂z_j = a_j·(∂E/∂a_j − Σ_k ∂E/∂a_k·a_k)⁆:",
        )
    )
    names_in, _ = w.entering(p, position)
    tag_in = w.entering_tag(position, p)
    names_out = w.built.output_names[position]
    out, g_out = p.layers[position].output, p.layers[position].grad
    g_in = p.layers[position - 1].grad
    for row in range(len(p.samples)):
        sfx = p.suffix(row)
        inner_s = total([Partial(LOSS, q + sfx + p.tag) * Sym(q + sfx + p.tag) for q in names_out])
        inner_n = total([w.n(g_out[row, q]) * w.n(out[row, q]) for q in range(len(names_out))])
        for j, name_in in enumerate(names_in):
            a = Sym(names_out[j] + sfx + p.tag)
            w.eq(
                Partial(LOSS, name_in + sfx + tag_in),
                a * Paren(Partial(LOSS, names_out[j] + sfx + p.tag) - Paren(inner_s)),
                w.n(out[row, j]) * Paren(w.n(g_out[row, j]) - Paren(inner_n)),
                w.n(g_in[row, j]),
                key=w.key(f"grad({name_in}{sfx}{tag_in})"),
            )


@BACKWARD.register(nn.Dropout)
def dropout(w: Writer, p: Pass, position: int, module: nn.Dropout) -> None:
    """∂E/∂a = ∂E/∂d · m/(1 − p) (inverted) or ∂E/∂d · m."""
    _through(w, position, module)
    spec = w.exercise.layers[position]
    scale = local.dropout_scale(module)
    names_in, _ = w.entering(p, position)
    tag_in = w.entering_tag(position, p)
    names_out = w.built.output_names[position]
    g_out, g_in = p.layers[position].grad, p.layers[position - 1].grad
    for row in range(len(p.samples)):
        sfx = p.suffix(row)
        mask = spec.mask[p.samples[row]]
        for j, (name_in, name_out) in enumerate(zip(names_in, names_out, strict=True)):
            g_s, g_n = Partial(LOSS, name_out + sfx + p.tag), w.n(g_out[row, j])
            if scale == 1:
                symbolic, numeric = g_s * Sym("m"), g_n * w.n(mask[j])
            else:
                symbolic = Div(g_s * Sym("m"), Paren(w.n(1) - Sym("p")))
                numeric = Div(g_n * w.n(mask[j]), w.n(1 - module.p))
            w.eq(
                Partial(LOSS, name_in + sfx + tag_in),
                symbolic,
                numeric,
                w.n(g_in[row, j]),
                key=w.key(f"grad({name_in}{sfx}{tag_in})"),
                given={"m": float(mask[j]), "p": module.p},
            )


@BACKWARD.register(nn.BatchNorm1d)
def batchnorm(w: Writer, p: Pass, position: int, module: nn.BatchNorm1d) -> None:
    """∂E/∂γ = Σ ∂E/∂y·x̂, ∂E/∂β = Σ ∂E/∂y, and the closed-form input gradient
    ∂E/∂x_r = γ/(m·√(σ² + ε))·(m·∂E/∂y_r − Σ_s ∂E/∂y_s − x̂_r·Σ_s ∂E/∂y_s·x̂_s)."""
    _through(w, position, module)
    record = p.layers[position]
    names_in, _ = w.entering(p, position)
    tag_in = w.entering_tag(position, p)
    names_out = w.built.output_names[position]
    g_out = record.grad
    rows = range(len(p.samples))
    m = len(p.samples)
    for role in ("gamma", "beta"):
        for s in w.scalars(position, role):
            j = s.index[0]
            terms_s, terms_n = [], []
            for r in rows:
                g_s = Partial(LOSS, names_out[j] + p.suffix(r) + p.tag)
                if role == "gamma":
                    terms_s.append(g_s * Sym(f"xhat_{names_in[j]}{p.suffix(r)}{tag_in}"))
                    terms_n.append(w.n(g_out[r, j]) * w.n(record.x_hat[r, j]))
                else:
                    terms_s.append(g_s)
                    terms_n.append(w.n(g_out[r, j]))
            _parameter_gradient(w, p, s, terms_s, terms_n)
    if position == 0:
        return
    w.para(
        M(
            "solve.batchnorm.input_gradient",
            "Each input gradient, with the batch statistics above (⁅x̂⁆ depends on every sample "
            "through μ and σ²): ⁅∂E/∂x_r = γ/(m·√(σ² + ε))·(m·∂E/∂y_r − Σ_s ∂E/∂y_s − "
            "x̂_r·Σ_s ∂E/∂y_s·x̂_s)⁆:",
        )
    )
    g_in = p.layers[position - 1].grad
    gammas = w.scalars(position, "gamma")
    for j, name_in in enumerate(names_in):
        base = name_in + tag_in
        ys = [Partial(LOSS, names_out[j] + p.suffix(r) + p.tag) for r in rows]
        xhats = [Sym(f"xhat_{name_in}{p.suffix(r)}{tag_in}") for r in rows]
        sum_g_s = Paren(total(ys))
        sum_gx_s = Paren(total([g * x for g, x in zip(ys, xhats, strict=True)]))
        sum_g_n = Paren(total([w.n(g_out[r, j]) for r in rows]))
        sum_gx_n = Paren(total([w.n(g_out[r, j]) * w.n(record.x_hat[r, j]) for r in rows]))
        gamma_s = Sym(w.param_name(gammas[j], p))
        gamma_n = w.n(p.params[gammas[j].name])
        factor_s = Div(gamma_s, Paren(w.n(m) * Sqrt(Sym(f"var_{base}") + Sym("epsilon"))))
        factor_n = Div(gamma_n, Paren(w.n(m) * Sqrt(w.n(record.batch_var[j]) + w.n(module.eps))))
        for r in rows:
            sfx = p.suffix(r)
            symbolic = factor_s * Paren(w.n(m) * ys[r] - sum_g_s - xhats[r] * sum_gx_s)
            numeric = factor_n * Paren(
                w.n(m) * w.n(g_out[r, j]) - sum_g_n - w.n(record.x_hat[r, j]) * sum_gx_n
            )
            w.eq(
                Partial(LOSS, name_in + sfx + tag_in),
                symbolic,
                numeric,
                w.n(g_in[r, j]),
                key=w.key(f"grad({name_in}{sfx}{tag_in})"),
                given={"epsilon": module.eps},
            )
