"""The forward pass: each layer's outputs as formulas, with the numbers substituted.

One writer per module class, registered in ``FORWARD``; a writer gets the pass (the step's own,
or Nesterov's look-ahead pass, whose names end in ``~``) and the layer's position.
"""

from __future__ import annotations

from nablab import nn
from nablab.i18n import M
from nablab.solve.expr import Call, Div, Paren, Pow, Sqrt, Sym, total
from nablab.solve.local import dropout_scale
from nablab.solve.trace import Pass, rows
from nablab.solve.writers.base import ClassRegistry, UnsupportedError, Writer

FORWARD: ClassRegistry = ClassRegistry("forward pass")


def write_forward(w: Writer, p: Pass) -> None:
    """Every layer of the model, in order."""
    for position, module in enumerate(w.built.model):
        writer = FORWARD.lookup(module)
        w.para(
            M("solve.layer", "Layer {n}: {module}", n=position + 1, module=type(module).__name__)
        )
        writer(w, p, position, module)


def _elementwise(w: Writer, p: Pass, position: int, formula) -> None:
    """y_j = f(x_j) per unit and sample; ``formula(z_symbol, z_value)`` → (symbols, numbers)."""
    names_in, values_in = w.entering(p, position)
    tag_in = w.entering_tag(position, p)
    out = rows(p.layers[position].output)
    for row in range(len(p.samples)):
        sfx = p.suffix(row)
        for j, name in enumerate(w.built.output_names[position]):
            z = Sym(names_in[j] + sfx + tag_in)
            symbolic, numeric = formula(z, float(values_in[row, j]))
            w.eq(
                Sym(name + sfx + p.tag),
                symbolic,
                numeric,
                w.n(out[row, j]),
                key=w.key(name + sfx + p.tag),
            )


@FORWARD.register(nn.Linear)
def linear(w: Writer, p: Pass, position: int, module: nn.Linear) -> None:
    """z_j = Σ_i x_i·w_ij + b_j."""
    names_in, values_in = w.entering(p, position)
    tag_in = w.entering_tag(position, p)
    weights = {s.index: s for s in w.scalars(position, "weight")}
    biases = w.scalars(position, "bias")
    out = p.layers[position].output
    for row in range(len(p.samples)):
        sfx = p.suffix(row)
        for j, name in enumerate(w.built.output_names[position]):
            terms_s, terms_n = [], []
            for i, name_in in enumerate(names_in):
                weight = weights[(i, j)]
                terms_s.append(Sym(name_in + sfx + tag_in) * Sym(w.param_name(weight, p)))
                terms_n.append(w.n(values_in[row, i]) * w.n(p.params[weight.name]))
            if biases:
                bias = biases[0] if module.bias.shape == () else biases[j]
                terms_s.append(Sym(w.param_name(bias, p)))
                terms_n.append(w.n(p.params[bias.name]))
            w.eq(
                Sym(name + sfx + p.tag),
                total(terms_s),
                total(terms_n),
                w.n(out[row, j]),
                key=w.key(name + sfx + p.tag),
            )


@FORWARD.register(nn.Sigmoid)
def sigmoid(w: Writer, p: Pass, position: int, module: nn.Module) -> None:
    """a = σ(z) = 1/(1 + e^(−z))."""
    _elementwise(
        w,
        p,
        position,
        lambda z, v: (Call("σ", (z,)), Div(w.n(1), w.n(1) + Call("exp", (w.n(-v),)))),
    )


@FORWARD.register(nn.Tanh)
def tanh(w: Writer, p: Pass, position: int, module: nn.Module) -> None:
    """a = tanh(z)."""
    _elementwise(w, p, position, lambda z, v: (Call("tanh", (z,)), Call("tanh", (w.n(v),))))


@FORWARD.register(nn.ReLU)
def relu(w: Writer, p: Pass, position: int, module: nn.Module) -> None:
    """a = max(0, z)."""
    _elementwise(
        w, p, position, lambda z, v: (Call("max", (w.n(0), z)), Call("max", (w.n(0), w.n(v))))
    )


@FORWARD.register(nn.LeakyReLU)
def leaky_relu(w: Writer, p: Pass, position: int, module: nn.LeakyReLU) -> None:
    """a = max(s·z, z) for a slope s < 1."""
    if not module.negative_slope <= 1:  # max(s·z, z) is the leaky ReLU only for s ≤ 1
        raise UnsupportedError(f"a leaky ReLU slope above 1 (got {module.negative_slope:g})")
    slope = w.n(module.negative_slope)
    _elementwise(
        w,
        p,
        position,
        lambda z, v: (Call("max", (slope * z, z)), Call("max", (slope * w.n(v), w.n(v)))),
    )


@FORWARD.register(nn.Swish)
def swish(w: Writer, p: Pass, position: int, module: nn.Swish) -> None:
    """a = z·σ(βz)."""
    beta = module.beta

    def formula(z, v):
        inner_s = z if beta == 1 else w.n(beta) * z
        inner_n = w.n(v) if beta == 1 else w.n(beta) * w.n(v)
        return z * Call("σ", (inner_s,)), w.n(v) * Call("σ", (inner_n,))

    _elementwise(w, p, position, formula)


@FORWARD.register(nn.SELU)
def selu(w: Writer, p: Pass, position: int, module: nn.SELU) -> None:
    """a = selu(z) = λz for z > 0, else λα(eᶻ − 1)."""
    scale, alpha = w.n(nn.activations.SELU_SCALE), w.n(nn.activations.SELU_ALPHA)

    def formula(z, v):
        if v > 0:
            return Call("selu", (z,)), scale * w.n(v)
        return Call("selu", (z,)), scale * alpha * Paren(Call("exp", (w.n(v),)) - w.n(1))

    _elementwise(w, p, position, formula)


@FORWARD.register(nn.Identity)
def identity(w: Writer, p: Pass, position: int, module: nn.Module) -> None:
    """a = z."""
    _elementwise(w, p, position, lambda z, v: (z, w.n(v)))


@FORWARD.register(nn.Softmax)
def softmax(w: Writer, p: Pass, position: int, module: nn.Module) -> None:
    """a_j = exp(z_j) / Σ_k exp(z_k), over the units of one sample."""
    names_in, values_in = w.entering(p, position)
    tag_in = w.entering_tag(position, p)
    out = p.layers[position].output
    for row in range(len(p.samples)):
        sfx = p.suffix(row)
        exps_s = [Call("exp", (Sym(n + sfx + tag_in),)) for n in names_in]
        exps_n = [Call("exp", (w.n(v),)) for v in values_in[row]]
        for j, name in enumerate(w.built.output_names[position]):
            w.eq(
                Sym(name + sfx + p.tag),
                Div(exps_s[j], Paren(total(exps_s))),
                Div(exps_n[j], Paren(total(exps_n))),
                w.n(out[row, j]),
                key=w.key(name + sfx + p.tag),
            )


@FORWARD.register(nn.Dropout)
def dropout(w: Writer, p: Pass, position: int, module: nn.Dropout) -> None:
    """d = m·a/(1 − p) (inverted) or m·a, with the exercise's mask entry m (1 kept, 0 dropped)."""
    spec = w.exercise.layers[position]
    scale = dropout_scale(module)
    if scale != 1:
        w.para(
            M(
                "solve.dropout.inverted",
                "m is the exercise's dropout mask entry (1 kept, 0 dropped), ⁅p = {p:g}⁆; kept "
                "units are divided by ⁅1 − p⁆ (inverted dropout).",
                p=module.p,
            )
        )
    else:
        w.para(
            M(
                "solve.dropout.plain",
                "m is the exercise's dropout mask entry (1 kept, 0 dropped), ⁅p = {p:g}⁆.",
                p=module.p,
            )
        )
    names_in, values_in = w.entering(p, position)
    tag_in = w.entering_tag(position, p)
    out = p.layers[position].output
    for row in range(len(p.samples)):
        sfx = p.suffix(row)
        mask = spec.mask[p.samples[row]]
        for j, name in enumerate(w.built.output_names[position]):
            m, a = w.n(mask[j]), Sym(names_in[j] + sfx + tag_in)
            if scale == 1:
                symbolic, numeric = Sym("m") * a, m * w.n(values_in[row, j])
            else:
                keep = Paren(w.n(1) - Sym("p"))
                symbolic = Div(Sym("m") * a, keep)
                numeric = Div(m * w.n(values_in[row, j]), w.n(1 - module.p))
            w.eq(
                Sym(name + sfx + p.tag),
                symbolic,
                numeric,
                w.n(out[row, j]),
                key=w.key(name + sfx + p.tag),
                given={"m": float(mask[j]), "p": module.p},
            )


@FORWARD.register(nn.BatchNorm1d)
def batchnorm(w: Writer, p: Pass, position: int, module: nn.BatchNorm1d) -> None:
    """μ = Σx/m, σ² = Σ(x − μ)²/m (biased), x̂ = (x − μ)/√(σ² + ε), y = γ·x̂ + β."""
    record = p.layers[position]
    names_in, values_in = w.entering(p, position)
    tag_in = w.entering_tag(position, p)
    gammas, betas = w.scalars(position, "gamma"), w.scalars(position, "beta")
    m = len(p.samples)
    eps = {"epsilon": module.eps}
    w.para(
        M(
            "solve.batchnorm.statistics",
            "Batch statistics over the ⁅m = {m}⁆ samples of the step (the biased variance), "
            "⁅ε = {eps:g}⁆:",
            m=m,
            eps=module.eps,
        )
    )
    for j, name_in in enumerate(names_in):
        column = values_in[:, j]
        base = name_in + tag_in
        mean, var = Sym(f"mean_{base}"), Sym(f"var_{base}")
        xs = [Sym(name_in + p.suffix(r) + tag_in) for r in range(m)]
        w.eq(
            mean,
            Div(Paren(total(xs)), w.n(m)),
            Div(Paren(total([w.n(v) for v in column])), w.n(m)),
            w.n(record.batch_mean[j]),
            key=w.key(f"mean({base})"),
        )
        w.eq(
            var,
            Div(Paren(total([Pow(Paren(x - mean), w.n(2)) for x in xs])), w.n(m)),
            Div(
                Paren(
                    total([Pow(Paren(w.n(v) - w.n(record.batch_mean[j])), w.n(2)) for v in column])
                ),
                w.n(m),
            ),
            w.n(record.batch_var[j]),
            key=w.key(f"var({base})"),
        )
        for row in range(m):
            sfx = p.suffix(row)
            xhat = Sym(f"xhat_{name_in}{sfx}{tag_in}")
            w.eq(
                xhat,
                Div(Sym(name_in + sfx + tag_in) - mean, Sqrt(var + Sym("epsilon"))),
                Div(
                    w.n(column[row]) - w.n(record.batch_mean[j]),
                    Sqrt(w.n(record.batch_var[j]) + w.n(module.eps)),
                ),
                w.n(record.x_hat[row, j]),
                key=w.key(f"xhat({name_in}{sfx}{tag_in})"),
                given=eps,
            )
            out_name = w.built.output_names[position][j] + sfx + p.tag
            w.eq(
                Sym(out_name),
                Sym(w.param_name(gammas[j], p)) * xhat + Sym(w.param_name(betas[j], p)),
                w.n(p.params[gammas[j].name]) * w.n(record.x_hat[row, j])
                + w.n(p.params[betas[j].name]),
                w.n(record.output[row, j]),
                key=w.key(out_name),
            )
