"""The update: each parameter's new value and the optimizer state it reads and writes.

One writer per optimizer class in ``UPDATES``. Every rule starts from the gradient it uses:
∂E/∂w itself, or g = ∂E/∂w + λw (coupled weight decay) minus its output unit's mean
(gradient centralization), written out first. State symbols are those of the naming scheme
(``v_w5`` is ``v(w5)``), so every printed name can be typed back.
"""

from __future__ import annotations

import numpy as np

from nablab.i18n import Listing, M
from nablab.optim import SGD, AdaGrad, Adam, AdamW, Newton, RMSProp
from nablab.solve.expr import (
    Call,
    Div,
    Expr,
    Inverse,
    Paren,
    Partial,
    Pow,
    Sqrt,
    Sym,
    matrix,
    product,
    total,
)
from nablab.solve.names import effective_gradients, newton_direction, state_symbols
from nablab.solve.trace import StepTrace
from nablab.solve.writers.base import LOSS, ClassRegistry, UnsupportedError, Writer

UPDATES: ClassRegistry = ClassRegistry("update")


class Rule:
    """One scalar's update: the gradient it uses (symbol and value) and its state."""

    def __init__(
        self, w: Writer, step: StepTrace, scalar, g: Expr, g_value: float, first: bool
    ) -> None:
        self.w, self.step, self.scalar, self.first = w, step, scalar, first
        self.name = scalar.name
        self.g, self.g_value = g, g_value
        self.optimizer = w.built.optimizer
        self.symbols = state_symbols(self.optimizer)
        self.before = {k: v.get(self.name, 0.0) for k, v in step.state_before.items()}
        self.after = {k: v[self.name] for k, v in step.state.items() if self.name in v}

    def n(self, value: float):
        return self.w.n(value)

    def state(self, engine_name: str) -> Sym:
        return Sym(f"{self.symbols[engine_name]}_{self.name}")

    def assign_state(self, engine_name: str, symbolic: Expr, numeric: Expr, given=None) -> None:
        self.w.eq(
            self.state(engine_name),
            symbolic,
            numeric,
            self.n(self.after[engine_name]),
            relation="←",
            key=self.w.key(f"{self.symbols[engine_name]}({self.name})"),
            given=given,
        )

    def assign(self, symbolic: Expr, numeric: Expr, given=None) -> None:
        self.w.eq(
            Sym(self.name),
            symbolic,
            numeric,
            self.n(self.step.params_after[self.name]),
            relation="←",
            key=self.w.key(self.name),
            given=given,
        )

    @property
    def w0(self):
        return self.n(self.step.params_before[self.name])

    @property
    def gn(self):
        return self.n(self.g_value)


def describe(optimizer) -> str:
    """``SGD, η = 0.5, momentum 0.9, convention velocity``: the options that differ from their
    defaults, from the optimizer's declared options (names as the code spells them)."""
    parts = [f"{type(optimizer).__name__}, η = {optimizer.lr:g}"]
    for option in type(optimizer).options:
        if option.name == "lr":
            continue
        value = getattr(optimizer, option.name, option.default)
        if isinstance(value, tuple):
            value = tuple(float(v) for v in value)
            default = tuple(option.default) if option.default is not None else None
        else:
            default = option.default
        if value != default and value is not None:
            shown = ", ".join(f"{v:g}" for v in value) if isinstance(value, tuple) else value
            parts.append(f"{option.name.replace('_', ' ')} {shown}")
    return ", ".join(parts)


def _stays(w: Writer, step: StepTrace, scalar) -> str:
    value = step.params_before[scalar.name]
    return M(
        "solve.update.stays",
        "{name} stays {value} (not updated in this exercise).",
        name=scalar.name,
        value=f"{value:.{w.digits}g}",
    )


def write_update(w: Writer, step: StepTrace) -> None:
    optimizer = w.built.optimizer
    writer = UPDATES.lookup(optimizer)
    if getattr(optimizer, "centralize", None) == "update":
        raise UnsupportedError("centralize: update (the centralized update)")
    w.heading(
        M(
            "solve.heading.update",
            "Step {step}: update ({optimizer})",
            step=step.index,
            optimizer=describe(optimizer),
        )
    )
    if isinstance(optimizer, Newton):
        writer(w, step, None)
        return
    effective = effective_gradients(w.trace, step)
    source = step.lookahead if step.lookahead is not None else step.main
    if effective:
        _write_effective(w, step, effective)
    first = True
    for scalar in sorted(w.built.scalars, key=lambda s: -s.layer):
        if not scalar.trainable:
            w.para(_stays(w, step, scalar))
            continue
        if effective:
            g, g_value = Sym(f"g_{scalar.name}"), effective[scalar.name]
        else:
            g = Partial(LOSS, scalar.name + source.tag)
            g_value = source.grads[scalar.name]
        writer(w, step, Rule(w, step, scalar, g, g_value, first))
        first = False


def _write_effective(w: Writer, step: StepTrace, effective: dict[str, float]) -> None:
    """g = ∂E/∂w + λ·w (coupled weight decay), centralized over each output unit's weights."""
    optimizer = w.built.optimizer
    decay = optimizer.weight_decay if optimizer.coupled_decay else 0.0
    centralize = optimizer.centralize == "gradient"
    source = step.lookahead if step.lookahead is not None else step.main
    tag = source.tag
    if decay and centralize:
        w.para(
            M(
                "solve.update.decay_centralized",
                "The gradient each update uses: weight decay adds ⁅λ·w⁆ (⁅λ = {decay:g}⁆); "
                "gradient "
                "centralization subtracts the mean over the weights into the same unit (biases "
                "and γ, β are left alone):",
                decay=decay,
            )
        )
    elif decay:
        w.para(
            M(
                "solve.update.decay",
                "The gradient each update uses: weight decay adds ⁅λ·w⁆ (⁅λ = {decay:g}⁆):",
                decay=decay,
            )
        )
    else:
        w.para(
            M(
                "solve.update.centralized",
                "The gradient each update uses: gradient centralization subtracts the mean over "
                "the weights into the same unit (biases and γ, β are left alone):",
            )
        )

    def term(s, numbers: bool) -> Expr:
        if numbers:
            base = w.n(source.grads[s.name])
            return base + w.n(decay) * w.n(source.params[s.name]) if decay else base
        base = Partial(LOSS, s.name + tag)
        return base + Sym("lambda") * Sym(s.name + tag) if decay else base

    for scalar in w.built.scalars:
        if not scalar.trainable:
            continue
        symbolic, numeric = term(scalar, False), term(scalar, True)
        if centralize and scalar.role == "weight":
            column = [
                s
                for s in w.built.scalars
                if s.param is scalar.param and s.index[-1] == scalar.index[-1]
            ]
            count = w.n(len(column))
            symbolic = Paren(symbolic) - Div(
                Paren(total([Paren(term(s, False)) for s in column])), count
            )
            numeric = Paren(numeric) - Div(
                Paren(total([Paren(term(s, True)) for s in column])), count
            )
        w.eq(
            Sym(f"g_{scalar.name}"),
            symbolic,
            numeric,
            w.n(effective[scalar.name]),
            key=w.key(f"g({scalar.name})"),
            given={"lambda": decay},
        )


def write_lookahead_point(w: Writer, step: StepTrace) -> None:
    """w~ = w + μ·v (velocity) or w − η·μ·b (PyTorch's buffer): where Nesterov's look-ahead
    gradient is taken."""
    optimizer = w.built.optimizer
    symbols = state_symbols(optimizer)
    mu, eta = optimizer.momentum, optimizer.lr
    given = {"mu": mu, "eta": eta}
    w.para(
        M(
            "solve.update.lookahead",
            "Nesterov look-ahead: the gradient is taken at the point the momentum is about to "
            "reach, with its own forward and backward pass (names marked ~):",
        )
    )
    for scalar in w.built.scalars:
        if not scalar.trainable:
            continue
        name = scalar.name
        w0 = step.params_before[name]
        if optimizer.convention == "velocity":
            v = Sym(f"{symbols['velocity']}_{name}")
            value = step.state_before["velocity"][name]
            symbolic = Sym(name) + Sym("mu") * v
            numeric = w.n(w0) + w.n(mu) * w.n(value)
        else:
            b = Sym(f"{symbols['momentum_buffer']}_{name}")
            value = step.state_before["momentum_buffer"][name]
            symbolic = Sym(name) - Sym("eta") * Sym("mu") * b
            numeric = w.n(w0) - w.n(eta) * w.n(mu) * w.n(value)
        w.eq(
            Sym(name + "~"),
            symbolic,
            numeric,
            w.n(step.lookahead.params[name]),
            key=w.key(name + "~"),
            given=given,
        )


# ------------------------------------------------------------------------------- SGD


@UPDATES.register(SGD)
def sgd(w: Writer, step: StepTrace, rule: Rule) -> None:
    """plain: w ← w − η·g;  velocity: v ← μv − η·g, w ← w + v (Nesterov: w + μv − η·g);
    buffer: b ← g (first step) or μb + (1 − dampening)·g, w ← w − η·b (Nesterov:
    w − η·(g + μb)); look-ahead Nesterov takes g at w~."""
    optimizer: SGD = rule.optimizer
    eta, mu, w_s, g = Sym("eta"), Sym("mu"), Sym(rule.name), rule.g
    eta_n, mu_n = rule.n(optimizer.lr), rule.n(optimizer.momentum)
    given = {"eta": optimizer.lr, "mu": optimizer.momentum}
    nesterov = optimizer.nesterov is True
    if not optimizer.momentum:
        rule.assign(w_s - eta * g, rule.w0 - eta_n * rule.gn, given)
        return
    if optimizer.convention == "velocity":
        v = rule.state("velocity")
        rule.assign_state(
            "velocity",
            mu * v - eta * g,
            mu_n * rule.n(rule.before["velocity"]) - eta_n * rule.gn,
            given,
        )
        if nesterov:
            rule.assign(
                w_s + mu * v - eta * g,
                rule.w0 + mu_n * rule.n(rule.after["velocity"]) - eta_n * rule.gn,
                given,
            )
        else:
            rule.assign(w_s + v, rule.w0 + rule.n(rule.after["velocity"]), given)
        return
    b = rule.state("momentum_buffer")
    if step.index == 1:
        rule.assign_state("momentum_buffer", g, rule.gn)
    else:
        damp = 1 - optimizer.dampening
        before = rule.n(rule.before["momentum_buffer"])
        if damp == 1:
            rule.assign_state("momentum_buffer", mu * b + g, mu_n * before + rule.gn, given)
        else:
            rule.assign_state(
                "momentum_buffer",
                mu * b + rule.n(damp) * g,
                mu_n * before + rule.n(damp) * rule.gn,
                given,
            )
    b_after = rule.n(rule.after["momentum_buffer"])
    if nesterov:
        rule.assign(
            w_s - eta * Paren(g + mu * b), rule.w0 - eta_n * Paren(rule.gn + mu_n * b_after), given
        )
    else:
        rule.assign(w_s - eta * b, rule.w0 - eta_n * b_after, given)


# ------------------------------------------------------------------------------- AdaGrad, RMSProp


def _root(rule: Rule, v_s: Expr, v_n: Expr) -> tuple[Expr, Expr]:
    """√v + ε, or √(v + ε) with eps_placement inside."""
    eps = rule.n(rule.optimizer.eps)
    if rule.optimizer.eps_placement == "inside":
        return Sqrt(v_s + Sym("epsilon")), Sqrt(v_n + eps)
    return Sqrt(v_s) + Sym("epsilon"), Sqrt(v_n) + eps


@UPDATES.register(AdaGrad)
def adagrad(w: Writer, step: StepTrace, rule: Rule) -> None:
    """η_t = η/(1 + (t − 1)·lr_decay);  s ← s + g²;  w ← w − η_t·g/(√s + ε)."""
    optimizer: AdaGrad = rule.optimizer
    given = {"eta": optimizer.lr, "epsilon": optimizer.eps}
    t = step.index
    lr_t = optimizer.lr / (1 + (t - 1) * optimizer.lr_decay)
    eta = Sym("eta")
    if optimizer.lr_decay and t > 1:
        eta = Sym("eta_t")
        if rule.first:
            w.eq(
                eta,
                Div(Sym("eta"), Paren(w.n(1) + w.n(t - 1) * w.n(optimizer.lr_decay))),
                Div(w.n(optimizer.lr), Paren(w.n(1) + w.n(t - 1) * w.n(optimizer.lr_decay))),
                w.n(lr_t),
                value=lr_t,
                given=given,
            )
    s = rule.state("sum")
    rule.assign_state(
        "sum", s + Pow(rule.g, w.n(2)), rule.n(rule.before["sum"]) + Pow(rule.gn, w.n(2))
    )
    denom_s, denom_n = _root(rule, s, rule.n(rule.after["sum"]))
    rule.assign(
        Sym(rule.name) - eta * Div(rule.g, Paren(denom_s)),
        rule.w0 - w.n(lr_t) * Div(rule.gn, Paren(denom_n)),
        {**given, "eta_t": lr_t},
    )


@UPDATES.register(RMSProp)
def rmsprop(w: Writer, step: StepTrace, rule: Rule) -> None:
    """r ← αr + (1 − α)g²;  centered: ḡ ← αḡ + (1 − α)g, r̃ = r − ḡ²;  d = g/(√r̃ + ε);
    momentum: b ← μb + d, w ← w − η·b;  else w ← w − η·d."""
    optimizer: RMSProp = rule.optimizer
    alpha = optimizer.alpha
    given = {"eta": optimizer.lr, "epsilon": optimizer.eps, "mu": optimizer.momentum}
    r = rule.state("square_avg")
    rule.assign_state(
        "square_avg",
        w.n(alpha) * r + w.n(1 - alpha) * Pow(rule.g, w.n(2)),
        w.n(alpha) * rule.n(rule.before["square_avg"]) + w.n(1 - alpha) * Pow(rule.gn, w.n(2)),
    )
    r_s, r_n = r, rule.n(rule.after["square_avg"])
    if optimizer.centered:
        gbar = rule.state("grad_avg")
        rule.assign_state(
            "grad_avg",
            w.n(alpha) * gbar + w.n(1 - alpha) * rule.g,
            w.n(alpha) * rule.n(rule.before["grad_avg"]) + w.n(1 - alpha) * rule.gn,
        )
        r_s = r - Pow(gbar, w.n(2))
        r_n = r_n - Pow(rule.n(rule.after["grad_avg"]), w.n(2))
    denom_s, denom_n = _root(rule, r_s, r_n)
    eta, w_s = Sym("eta"), Sym(rule.name)
    if optimizer.momentum:
        b = rule.state("momentum_buffer")
        rule.assign_state(
            "momentum_buffer",
            Sym("mu") * b + Div(rule.g, Paren(denom_s)),
            w.n(optimizer.momentum) * rule.n(rule.before["momentum_buffer"])
            + Div(rule.gn, Paren(denom_n)),
            given,
        )
        rule.assign(
            w_s - eta * b,
            rule.w0 - w.n(optimizer.lr) * rule.n(rule.after["momentum_buffer"]),
            given,
        )
        return
    rule.assign(
        w_s - eta * Div(rule.g, Paren(denom_s)),
        rule.w0 - w.n(optimizer.lr) * Div(rule.gn, Paren(denom_n)),
        given,
    )


# ------------------------------------------------------------------------------- Adam


@UPDATES.register(Adam, AdamW)
def adam(w: Writer, step: StepTrace, rule: Rule) -> None:
    """m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;  (amsgrad: vmax ← max(vmax, v));
    m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ);  w ← w − η·m̂/(√v̂ + ε)  (AdamW: (1 − ηλ)·w − …)."""
    optimizer: Adam = rule.optimizer
    b1, b2 = optimizer.betas
    t = step.index
    given = {"eta": optimizer.lr, "epsilon": optimizer.eps, "lambda": optimizer.weight_decay}
    m, v = rule.state("m"), rule.state("v")
    rule.assign_state(
        "m",
        w.n(b1) * m + w.n(1 - b1) * rule.g,
        w.n(b1) * rule.n(rule.before["m"]) + w.n(1 - b1) * rule.gn,
    )
    rule.assign_state(
        "v",
        w.n(b2) * v + w.n(1 - b2) * Pow(rule.g, w.n(2)),
        w.n(b2) * rule.n(rule.before["v"]) + w.n(1 - b2) * Pow(rule.gn, w.n(2)),
    )
    v_used, v_value = v, rule.after["v"]
    if optimizer.amsgrad:
        vmax = rule.state("v_max")
        rule.assign_state(
            "v_max",
            Call("max", (vmax, v)),
            Call("max", (rule.n(rule.before["v_max"]), rule.n(v_value))),
        )
        v_used, v_value = vmax, rule.after["v_max"]
    m_used, m_value = m, rule.after["m"]
    if optimizer.bias_correction:
        c1, c2 = 1 - b1**t, 1 - b2**t
        mhat, vhat = Sym(f"mhat_{rule.name}"), Sym(f"vhat_{rule.name}")
        w.eq(
            mhat,
            Div(m, Paren(w.n(1) - Pow(w.n(b1), w.n(t)))),
            Div(rule.n(m_value), rule.n(c1)),
            rule.n(m_value / c1),
            key=w.key(f"mhat({rule.name})"),
        )
        w.eq(
            vhat,
            Div(v_used, Paren(w.n(1) - Pow(w.n(b2), w.n(t)))),
            Div(rule.n(v_value), rule.n(c2)),
            rule.n(v_value / c2),
            key=w.key(f"vhat({rule.name})"),
        )
        m_used, v_used = mhat, vhat
        m_value, v_value = m_value / c1, v_value / c2
    denom_s, denom_n = _root(rule, v_used, rule.n(v_value))
    w_s, eta = Sym(rule.name), Sym("eta")
    if isinstance(optimizer, AdamW) and optimizer.weight_decay:
        factor_s = Paren(w.n(1) - eta * Sym("lambda"))
        factor_n = rule.n(1 - optimizer.lr * optimizer.weight_decay)
        start_s, start_n = product([factor_s, w_s]), product([factor_n, rule.w0])
    else:
        start_s, start_n = w_s, rule.w0
    rule.assign(
        start_s - eta * Div(m_used, Paren(denom_s)),
        start_n - w.n(optimizer.lr) * Div(rule.n(m_value), Paren(denom_n)),
        given,
    )


# ------------------------------------------------------------------------------- Newton


@UPDATES.register(Newton)
def newton(w: Writer, step: StepTrace, rule: None) -> None:
    """d = (H + λI)⁻¹·∇E;  w ← w − η·d."""
    optimizer: Newton = w.built.optimizer
    trainable = [s for s in w.built.scalars if s.trainable]
    names = [s.name for s in trainable]
    w.para(
        M(
            "solve.update.newton",
            "Newton's method over ({names}): the Hessian H of E by central differences of the "
            "gradient (step {eps:g}), the direction d solves ⁅(H + λI)·d = ∂E/∂w⁆, and "
            "⁅w ← w − η·d⁆.",
            names=Listing(names),
            eps=optimizer.eps,
        )
    )
    hessian = step.hessian
    gradient = np.array([[step.grads[n]] for n in names])
    direction = newton_direction(w.trace, step)
    d_column = np.array([[direction[n]] for n in names])
    w.eq(Sym("H"), matrix(hessian, w.digits), value=hessian)
    w.eq(Partial(LOSS, "w"), matrix(gradient, w.digits), value=gradient)
    damping = optimizer.damping
    system_s: Expr = Sym("H")
    system_n: Expr = matrix(hessian, w.digits)
    given = {"H": hessian, "I": np.eye(len(names)), "eta": optimizer.lr}
    if damping:
        system_s = system_s + w.n(damping) * Sym("I")
        system_n = system_n + w.n(damping) * matrix(np.eye(len(names)), w.digits)
    w.eq(
        Sym("d"),
        Inverse(Paren(system_s)) * Partial(LOSS, "w"),
        Inverse(Paren(system_n)) * matrix(gradient, w.digits),
        matrix(d_column, w.digits),
        value=d_column,
        given=given,
    )
    for scalar in trainable:
        name = scalar.name
        w.eq(
            Sym(name),
            Sym(name) - Sym("eta") * Sym(f"d_{name}"),
            w.n(step.params_before[name]) - w.n(optimizer.lr) * w.n(direction[name]),
            w.n(step.params_after[name]),
            relation="←",
            key=w.key(name),
            given=given,
        )
    for scalar in w.built.scalars:
        if not scalar.trainable:
            w.para(_stays(w, step, scalar))
