"""The worked solution as a document: headings, sentences and equations with numbers.

Every number comes from the trace (the engine's own values); this module only writes the
formulas those values satisfy and substitutes them. Each equation that produces a checkable
quantity carries its key (``out_h1@1``, ``grad(w5)@1``, ``w5@1``, ``loss@1``, ``loss@final``),
so the checker can show the formula behind a student's first wrong number.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from nablab import nn
from nablab.optim import SGD, AdaGrad, Adam, AdamW, Newton, RMSProp
from nablab.solve.expr import (
    Call,
    Div,
    Expr,
    Mul,
    Neg,
    Num,
    Paren,
    Partial,
    Pow,
    Sqrt,
    Sym,
    Transpose,
    matrix,
    num,
    product,
    total,
)
from nablab.solve.spec import DropoutLayer
from nablab.solve.trace import StepTrace, Trace

LOSS = "E"


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str


@dataclass
class Equation:
    """parts[0] relation parts[1] = parts[2] = …; ``relation`` is "=" or "←"."""

    parts: list[Expr]
    key: str | None = None
    relation: str = "="


@dataclass
class Document:
    title: str
    items: list = field(default_factory=list)

    def equations(self) -> dict[str, Equation]:
        return {
            item.key: item
            for item in self.items
            if isinstance(item, Equation) and item.key is not None
        }


class _Writer:
    def __init__(self, trace: Trace) -> None:
        self.trace, self.built = trace, trace.built
        self.exercise = trace.exercise
        self.digits = self.exercise.digits
        self.items: list = []
        self.penalized = {s.name for s in self._penalized()}

    def n(self, value: float) -> Num:
        return num(value, self.digits)

    def eq(self, *parts: Expr, key: str | None = None, relation: str = "=") -> None:
        self.items.append(Equation(list(parts), key, relation))

    # --------------------------------------------------------------------- names
    def input_names(self, step: StepTrace, position: int) -> tuple[list[str], np.ndarray]:
        """Names (without sample suffix) and values (rows) entering layer ``position``."""
        if position == 0:
            return self.built.input_names, step.inputs
        return self.built.output_names[position - 1], step.layers[position - 1].output

    def rows(self, step: StepTrace) -> range:
        return range(len(step.samples))

    # --------------------------------------------------------------------- forward
    def forward(self, step: StepTrace) -> None:
        k = step.index
        samples = ", ".join(str(s + 1) for s in step.samples)
        plural = "s" if len(step.samples) > 1 else ""
        self.items.append(Heading(f"Step {k}: forward pass (sample{plural} {samples})"))
        for position, module in enumerate(self.built.model):
            names_in, values_in = self.input_names(step, position)
            names_out = self.built.output_names[position]
            out = step.layers[position].output
            self.items.append(Para(f"Layer {position + 1}: {type(module).__name__}"))
            if isinstance(module, nn.BatchNorm1d):
                self._batchnorm_forward(step, position, module)
                continue
            for row in self.rows(step):
                sfx = step.suffix(row)
                for j, name in enumerate(names_out):
                    symbolic, numeric = self._unit_forward(
                        module, position, names_in, values_in, row, j, sfx, step.params_before
                    )
                    self.eq(
                        Sym(name + sfx),
                        symbolic,
                        numeric,
                        self.n(out[row, j]),
                        key=f"{name + sfx}@{k}",
                    )

    def _unit_forward(self, module, position, names_in, values_in, row, j, sfx, before):
        x_sym = [Sym(name + sfx) for name in names_in]
        x_num = [self.n(v) for v in values_in[row]]
        if isinstance(module, nn.Linear):
            params = {
                s.index: s for s in self.built.scalars if s.layer == position and s.role == "weight"
            }
            terms_s = [x_sym[i] * Sym(params[(i, j)].name) for i in range(len(x_sym))]
            terms_n = [x_num[i] * self.n(before[params[(i, j)].name]) for i in range(len(x_num))]
            bias = [s for s in self.built.scalars if s.layer == position and s.role == "bias"]
            if bias:
                b = bias[0] if module.bias.shape == () else bias[j]
                terms_s.append(Sym(b.name))
                terms_n.append(self.n(before[b.name]))
            return total(terms_s), total(terms_n)
        z_s, z_n = x_sym[j], x_num[j]
        if isinstance(module, nn.Sigmoid):
            return Call("σ", (z_s,)), Div(self.n(1), self.n(1) + Call("exp", (Neg(z_n),)))
        if isinstance(module, nn.Tanh):
            return Call("tanh", (z_s,)), Call("tanh", (z_n,))
        if isinstance(module, nn.ReLU):
            return Call("max", (self.n(0), z_s)), Call("max", (self.n(0), z_n))
        if isinstance(module, nn.LeakyReLU):
            slope = self.n(module.negative_slope)
            return Call("max", (slope * z_s, z_s)), Call("max", (slope * z_n, z_n))
        if isinstance(module, nn.Swish):
            beta = self.n(module.beta)
            inner_s = z_s if module.beta == 1 else beta * z_s
            inner_n = z_n if module.beta == 1 else beta * z_n
            return z_s * Call("σ", (inner_s,)), z_n * Call("σ", (inner_n,))
        if isinstance(module, nn.SELU):
            scale, alpha = self.n(nn.activations.SELU_SCALE), self.n(nn.activations.SELU_ALPHA)
            if values_in[row][j] > 0:
                return Call("selu", (z_s,)), scale * z_n
            return Call("selu", (z_s,)), scale * alpha * Paren(Call("exp", (z_n,)) - self.n(1))
        if isinstance(module, nn.Softmax):
            exps_s = [Call("exp", (x,)) for x in x_sym]
            exps_n = [Call("exp", (x,)) for x in x_num]
            return Div(exps_s[j], total(exps_s)), Div(exps_n[j], total(exps_n))
        if isinstance(module, nn.Dropout):
            spec = self.exercise.layers[position]
            assert isinstance(spec, DropoutLayer)
            keep = self.n(float(module.last_mask[row, j]) if module.last_mask is not None else 1)
            scale = 1 - module.p if module.mode == "inverted" else 1.0
            if scale == 1.0:
                return Sym("m") * z_s, keep * z_n
            return Div(Sym("m") * z_s, self.n(scale)), Div(keep * z_n, self.n(scale))
        return z_s, z_n  # identity

    def _batchnorm_forward(self, step: StepTrace, position: int, module) -> None:
        record = step.layers[position]
        names_in, values_in = self.input_names(step, position)
        gammas = [s for s in self.built.scalars if s.layer == position and s.role == "gamma"]
        betas = [s for s in self.built.scalars if s.layer == position and s.role == "beta"]
        m = len(step.samples)
        for j, name_in in enumerate(names_in):
            column = values_in[:, j]
            mean_name, var_name = f"mean_{name_in}", f"var_{name_in}"
            self.eq(
                Sym(mean_name),
                Div(total([self.n(v) for v in column]), self.n(m)),
                self.n(record.batch_mean[j]),
            )
            self.eq(
                Sym(var_name),
                Div(
                    total(
                        [
                            Pow(Paren(self.n(v) - self.n(record.batch_mean[j])), self.n(2))
                            for v in column
                        ]
                    ),
                    self.n(m),
                ),
                self.n(record.batch_var[j]),
            )
            for row in self.rows(step):
                sfx = step.suffix(row)
                out_name = self.built.output_names[position][j] + sfx
                symbolic = Sym(gammas[j].name) * Div(
                    Sym(name_in + sfx) - Sym(mean_name), Sqrt(Sym(var_name) + Sym("epsilon"))
                ) + Sym(betas[j].name)
                numeric = self.n(step.params_before[gammas[j].name]) * Div(
                    self.n(column[row]) - self.n(record.batch_mean[j]),
                    Sqrt(self.n(record.batch_var[j]) + self.n(module.eps)),
                ) + self.n(step.params_before[betas[j].name])
                self.eq(
                    Sym(out_name),
                    symbolic,
                    numeric,
                    self.n(record.output[row, j]),
                    key=f"{out_name}@{step.index}",
                )

    # --------------------------------------------------------------------- loss
    def loss(self, step: StepTrace) -> None:
        spec = self.exercise.loss
        out_names = self.built.output_names[-1]
        pred = step.layers[-1].output
        rows = list(self.rows(step))
        t_names = self.built.target_names
        if spec.type == "mse":
            n = self.built.loss.divisor(pred.shape)
            terms_s, terms_n = [], []
            for row in rows:
                sfx = step.suffix(row)
                for j, name in enumerate(out_names):
                    terms_s.append(Pow(Paren(Sym(t_names[j] + sfx) - Sym(name + sfx)), self.n(2)))
                    terms_n.append(
                        Pow(Paren(self.n(step.targets[row, j]) - self.n(pred[row, j])), self.n(2))
                    )
            coefficient = self._coefficient(spec.factor, n)
            sym_sum, num_sum = total(terms_s), total(terms_n)
            parts = (
                [coefficient * Paren(sym_sum), coefficient * Paren(num_sum)]
                if coefficient is not None
                else [sym_sum, num_sum]
            )
            self.items.append(
                Para(
                    f"Loss: mean squared error (reduction {spec.reduction}, factor {spec.factor:g})"
                )
            )
        elif spec.type in ("bce", "bce_with_logits"):
            n = self.built.loss.divisor(pred.shape)
            terms_s, terms_n = [], []
            for row in rows:
                sfx = step.suffix(row)
                for j, name in enumerate(out_names):
                    o_s = Sym(name + sfx) if spec.type == "bce" else Call("σ", (Sym(name + sfx),))
                    p = pred[row, j] if spec.type == "bce" else 1 / (1 + np.exp(-pred[row, j]))
                    t_s, t_v = Sym(t_names[j] + sfx), step.targets[row, j]
                    terms_s.append(
                        t_s * Call("ln", (o_s,))
                        + Paren(self.n(1) - t_s) * Call("ln", (self.n(1) - o_s,))
                    )
                    terms_n.append(
                        self.n(t_v) * Call("ln", (self.n(p),))
                        + self.n(1 - t_v) * Call("ln", (self.n(1 - p),))
                    )
            coefficient = Neg(Div(self.n(1), self.n(n))) if n != 1 else None
            parts = (
                [
                    Mul((coefficient, Paren(total(terms_s)))),
                    Mul((coefficient, Paren(total(terms_n)))),
                ]
                if coefficient is not None
                else [Neg(Paren(total(terms_s))), Neg(Paren(total(terms_n)))]
            )
            self.items.append(
                Para(
                    "Loss: binary cross-entropy"
                    + (" on logits, σ the sigmoid" if spec.type != "bce" else "")
                )
            )
        else:
            probs = nn.Softmax()(pred)
            n = self.built.loss.divisor(pred.shape)
            terms_s, terms_n = [], []
            for row in rows:
                sfx = step.suffix(row)
                if step.targets.ndim == 1:
                    label = int(step.targets[row])
                    terms_s.append(Call("ln", (Sym(f"p{label + 1}{sfx}"),)))
                    terms_n.append(Call("ln", (self.n(probs[row, label]),)))
                else:
                    for j in range(pred.shape[1]):
                        terms_s.append(Sym(t_names[j] + sfx) * Call("ln", (Sym(f"p{j + 1}{sfx}"),)))
                        terms_n.append(
                            self.n(step.targets[row, j]) * Call("ln", (self.n(probs[row, j]),))
                        )
            self.items.append(
                Para(
                    "Loss: softmax cross-entropy, p = softmax of the outputs: "
                    + ", ".join(
                        f"p{j + 1}{step.suffix(r)} = {probs[r, j]:.{self.digits}g}"
                        for r in rows
                        for j in range(pred.shape[1])
                    )
                )
            )
            coefficient = Neg(Div(self.n(1), self.n(n))) if n != 1 else None
            parts = (
                [
                    Mul((coefficient, Paren(total(terms_s)))),
                    Mul((coefficient, Paren(total(terms_n)))),
                ]
                if coefficient is not None
                else [Neg(Paren(total(terms_s))), Neg(Paren(total(terms_n)))]
            )
        if self.built.penalty is not None:
            self.eq(Sym("E_data"), *parts, self.n(step.data_loss))
            self._penalty_value(step)
            self.eq(
                Sym(LOSS),
                Sym("E_data") + Sym("R"),
                self.n(step.data_loss) + self.n(step.penalty),
                self.n(step.loss),
                key=f"loss@{step.index}",
            )
        else:
            self.eq(Sym(LOSS), *parts, self.n(step.loss), key=f"loss@{step.index}")

    def _coefficient(self, factor: float, n: int) -> Expr | None:
        if n == 1:
            return None if factor == 1 else self.n(factor)
        return Div(self.n(factor), self.n(n)) if factor != 1 else Div(self.n(1), self.n(n))

    def _penalty_value(self, step: StepTrace) -> None:
        spec = self.exercise.penalty
        penalized = self._penalized()
        squares = [
            Pow(Sym(s.name), self.n(2)) if spec.type == "l2" else Call("|·|", (Sym(s.name),))
            for s in penalized
        ]
        values = [
            Pow(self.n(step.params_before[s.name]), self.n(2))
            if spec.type == "l2"
            else self.n(abs(step.params_before[s.name]))
            for s in penalized
        ]
        factor = spec.strength * (0.5 if spec.type == "l2" and spec.convention == "half" else 1.0)
        self.eq(
            Sym("R"),
            self.n(factor) * Paren(total(squares)),
            self.n(factor) * Paren(total(values)),
            self.n(step.penalty),
        )

    def _penalized(self):
        params = self.built.penalty.params if self.built.penalty is not None else []
        return [s for s in self.built.scalars if any(s.param is p for p in params)]

    # --------------------------------------------------------------------- backward
    def backward(self, step: StepTrace) -> None:
        k = step.index
        self.items.append(Heading(f"Step {k}: backward pass"))
        self._loss_gradient(step)
        model = self.built.model
        for position in reversed(range(len(model))):
            module = model[position]
            if isinstance(module, nn.Linear):
                self._linear_backward(step, position, module)
            elif position > 0:
                self._activation_backward(step, position, module)

    def _loss_gradient(self, step: StepTrace) -> None:
        spec = self.exercise.loss
        names = self.built.output_names[-1]
        pred, grad = step.layers[-1].output, step.loss_grad
        t_names = self.built.target_names
        self.items.append(Para(f"Gradient of the loss with respect to each output, ∂{LOSS}/∂o:"))
        n_all = self.built.loss.divisor(pred.shape)
        probs = nn.Softmax()(pred) if spec.type == "cross_entropy" else None
        for row in self.rows(step):
            sfx = step.suffix(row)
            for j, name in enumerate(names):
                o_s, o_v = Sym(name + sfx), self.n(pred[row, j])
                if spec.type == "mse":
                    c = 2 * spec.factor / n_all
                    t_s, t_v = Sym(t_names[j] + sfx), self.n(step.targets[row, j])
                    symbolic, numeric = o_s - t_s, o_v - t_v
                    if c != 1:
                        symbolic = self.n(c) * Paren(symbolic)
                        numeric = self.n(c) * Paren(numeric)
                elif spec.type == "bce":
                    n = n_all
                    t_s, t_v = Sym(t_names[j] + sfx), self.n(step.targets[row, j])
                    symbolic = Div(o_s - t_s, Mul((self.n(n), o_s, Paren(self.n(1) - o_s))))
                    numeric = Div(o_v - t_v, Mul((self.n(n), o_v, Paren(self.n(1) - o_v))))
                elif spec.type == "bce_with_logits":
                    n = n_all
                    t_s, t_v = Sym(t_names[j] + sfx), self.n(step.targets[row, j])
                    symbolic = Div(Call("σ", (o_s,)) - t_s, self.n(n))
                    numeric = Div(Call("σ", (o_v,)) - t_v, self.n(n))
                else:
                    n = n_all
                    if step.targets.ndim == 1:
                        t_v = self.n(float(int(step.targets[row]) == j))
                    else:
                        t_v = self.n(step.targets[row, j])
                    symbolic = Div(Sym(f"p{j + 1}{sfx}") - Sym(f"y{j + 1}{sfx}"), self.n(n))
                    numeric = Div(self.n(probs[row, j]) - t_v, self.n(n))
                self.eq(
                    Partial(LOSS, name + sfx),
                    symbolic,
                    numeric,
                    self.n(grad[row, j]),
                    key=f"grad({name + sfx})@{step.index}",
                )

    def _local_derivative(self, module, z: np.ndarray) -> np.ndarray:
        """f'(z) element-wise, from a copy of the engine's own module (its caches stay)."""
        twin = copy.copy(module)
        twin(z)
        return twin.backward(np.ones_like(z))

    def _activation_backward(self, step: StepTrace, position: int, module) -> None:
        names_in, values_in = self.input_names(step, position)
        names_out = self.built.output_names[position]
        g_out, g_in = step.layers[position].grad, step.layers[position - 1].grad
        out = step.layers[position].output
        self.items.append(Para(f"Through layer {position + 1} ({type(module).__name__}):"))
        if isinstance(module, nn.BatchNorm1d):
            self._batchnorm_backward(step, position, module)
            return
        derivative = None
        if not isinstance(module, nn.Softmax | nn.Dropout):
            derivative = self._local_derivative(module, values_in)
        for row in self.rows(step):
            sfx = step.suffix(row)
            for j, (name_in, name_out) in enumerate(zip(names_in, names_out, strict=True)):
                a_s, z_s = Sym(name_out + sfx), Sym(name_in + sfx)
                g_s = Partial(LOSS, name_out + sfx)
                if isinstance(module, nn.Softmax):
                    inner_s = total(
                        [
                            Partial(LOSS, names_out[q] + sfx) * Sym(names_out[q] + sfx)
                            for q in range(len(names_out))
                        ]
                    )
                    inner_n = total(
                        [self.n(g_out[row, q]) * self.n(out[row, q]) for q in range(len(names_out))]
                    )
                    symbolic = a_s * Paren(g_s - Paren(inner_s))
                    numeric = self.n(out[row, j]) * Paren(self.n(g_out[row, j]) - Paren(inner_n))
                elif isinstance(module, nn.Dropout):
                    scale = 1 / (1 - module.p) if module.mode == "inverted" else 1.0
                    keep = float(module.last_mask[row, j])
                    symbolic = g_s * Sym("m") * self.n(scale) if scale != 1 else g_s * Sym("m")
                    numeric = (
                        self.n(g_out[row, j]) * self.n(keep) * self.n(scale)
                        if scale != 1
                        else self.n(g_out[row, j]) * self.n(keep)
                    )
                else:
                    symbolic = g_s * self._derivative_symbol(module, a_s, z_s)
                    numeric = self.n(g_out[row, j]) * self.n(derivative[row, j])
                self.eq(
                    Partial(LOSS, name_in + sfx),
                    symbolic,
                    numeric,
                    self.n(g_in[row, j]),
                    key=f"grad({name_in + sfx})@{step.index}",
                )

    def _derivative_symbol(self, module, a: Sym, z: Sym) -> Expr:
        if isinstance(module, nn.Sigmoid):
            return a * Paren(self.n(1) - a)
        if isinstance(module, nn.Tanh):
            return Paren(self.n(1) - Pow(a, self.n(2)))
        if isinstance(module, nn.ReLU):
            return Call("relu′", (z,))
        if isinstance(module, nn.LeakyReLU):
            return Call("leaky_relu′", (z,))
        if isinstance(module, nn.Swish):
            return Call("swish′", (z,))
        if isinstance(module, nn.SELU):
            return Call("selu′", (z,))
        return self.n(1)

    def _batchnorm_backward(self, step: StepTrace, position: int, module) -> None:
        names_in, _ = self.input_names(step, position)
        g_in = step.layers[position - 1].grad
        for role in ("gamma", "beta"):
            for s in [s for s in self.built.scalars if s.layer == position and s.role == role]:
                j = s.index[0]
                terms = [
                    Partial(LOSS, self.built.output_names[position][j] + step.suffix(r))
                    * (Sym(f"xhat_{names_in[j]}{step.suffix(r)}") if role == "gamma" else self.n(1))
                    for r in self.rows(step)
                ]
                self.eq(
                    Partial(LOSS, s.name),
                    total(terms),
                    self.n(step.grads[s.name]),
                    key=f"grad({s.name})@{step.index}",
                )
        self.items.append(
            Para(
                "with x̂ = (x − μ)/√(σ² + ε) and ĝ = γ·∂E/∂y, each input gradient "
                "is (m·ĝ − Σĝ − x̂·Σ(ĝ·x̂)) / (m·√(σ² + ε)):"
            )
        )
        for row in self.rows(step):
            sfx = step.suffix(row)
            for j, name in enumerate(names_in):
                self.eq(
                    Partial(LOSS, name + sfx),
                    self.n(g_in[row, j]),
                    key=f"grad({name + sfx})@{step.index}",
                )

    def _linear_backward(self, step: StepTrace, position: int, module: nn.Linear) -> None:
        k = step.index
        number = self.built.linear_number[position]
        names_in, values_in = self.input_names(step, position)
        names_out = self.built.output_names[position]
        delta = step.layers[position].grad
        self.items.append(
            Para(f"Layer {position + 1} (linear) in matrix form, δ{number} = ∂{LOSS}/∂Z{number}:")
        )
        a_name = "X" if position == 0 else f"A{number - 1}"
        grad_w = np.array(
            [
                [step.grads[s.name] for s in self._weights(position, i)]
                for i in range(module.in_features)
            ]
        )
        self.eq(Sym(f"delta{number}"), matrix(delta, self.digits))
        self.eq(
            Partial(LOSS, f"W{number}"),
            Transpose(Sym(a_name)) * Sym(f"delta{number}"),
            Transpose(matrix(values_in, self.digits)) * matrix(delta, self.digits),
            matrix(grad_w, self.digits),
        )
        for i in range(module.in_features):
            for s in self._weights(position, i):
                j = s.index[1]
                terms_s = [
                    Sym(names_in[i] + step.suffix(r)) * Partial(LOSS, names_out[j] + step.suffix(r))
                    for r in self.rows(step)
                ]
                terms_n = [self.n(values_in[r, i]) * self.n(delta[r, j]) for r in self.rows(step)]
                self._parameter_gradient(step, s, terms_s, terms_n)
        biases = [s for s in self.built.scalars if s.layer == position and s.role == "bias"]
        for s in biases:
            units = range(len(names_out)) if module.bias.shape == () else [s.index[0]]
            terms_s = [
                Partial(LOSS, names_out[j] + step.suffix(r)) for r in self.rows(step) for j in units
            ]
            terms_n = [self.n(delta[r, j]) for r in self.rows(step) for j in units]
            self._parameter_gradient(step, s, terms_s, terms_n)
        if position == 0:
            return
        g_in = step.layers[position - 1].grad
        for row in self.rows(step):
            sfx = step.suffix(row)
            for i, name in enumerate(names_in):
                weights = self._weights(position, i)
                terms_s = [
                    Partial(LOSS, names_out[s.index[1]] + sfx) * Sym(s.name) for s in weights
                ]
                terms_n = [
                    self.n(delta[row, s.index[1]]) * self.n(step.params_before[s.name])
                    for s in weights
                ]
                self.eq(
                    Partial(LOSS, name + sfx),
                    total(terms_s),
                    total(terms_n),
                    self.n(g_in[row, i]),
                    key=f"grad({name + sfx})@{k}",
                )

    def _parameter_gradient(
        self, step: StepTrace, scalar, terms_s: list[Expr], terms_n: list[Expr]
    ) -> None:
        """∂E/∂p as the sum of its data terms (and its penalty term, if penalized)."""
        if scalar.name in self.penalized:
            penalty_s, penalty_n = self._penalty_gradient(scalar, step, self.exercise.penalty)
            terms_s, terms_n = [*terms_s, penalty_s], [*terms_n, penalty_n]
        self.eq(
            Partial(LOSS, scalar.name),
            total(terms_s),
            total(terms_n),
            self.n(step.grads[scalar.name]),
            key=f"grad({scalar.name})@{step.index}",
        )

    def _weights(self, position: int, i: int):
        return [
            s
            for s in self.built.scalars
            if s.layer == position and s.role == "weight" and s.index[0] == i
        ]

    def _penalty_gradient(self, scalar, step: StepTrace, spec) -> tuple[Expr, Expr]:
        w = step.params_before[scalar.name]
        if spec.type == "l1":
            return (
                self.n(spec.strength) * Call("sign", (Sym(scalar.name),)),
                self.n(spec.strength) * self.n(float(np.sign(w))),
            )
        factor = spec.strength * (1.0 if spec.convention == "half" else 2.0)
        return self.n(factor) * Sym(scalar.name), self.n(factor) * self.n(w)

    # --------------------------------------------------------------------- update
    def update(self, step: StepTrace) -> None:
        optimizer = self.built.optimizer
        self.items.append(Heading(f"Step {step.index}: update ({self._describe(optimizer)})"))
        if isinstance(optimizer, Newton):
            self._newton(step, optimizer)
            return
        order = sorted(self.built.scalars, key=lambda s: -s.layer)
        for scalar in order:
            if not scalar.trainable:
                value = step.params_before[scalar.name]
                self.items.append(
                    Para(
                        f"{scalar.name} stays {value:.{self.digits}g} "
                        "(not updated in this exercise)."
                    )
                )
                continue
            self._update_scalar(step, scalar, optimizer)

    def _describe(self, optimizer) -> str:
        parts = [f"{type(optimizer).__name__}, η = {optimizer.lr:g}"]
        for attribute in ("momentum", "weight_decay"):
            value = getattr(optimizer, attribute, 0)
            if value:
                parts.append(f"{attribute.replace('_', ' ')} {value:g}")
        if isinstance(optimizer, SGD) and optimizer.momentum:
            parts.append(f"{optimizer.convention} convention")
            if optimizer.nesterov:
                parts.append(
                    "Nesterov "
                    + ("look-ahead" if optimizer.nesterov == "lookahead" else "(PyTorch form)")
                )
        return ", ".join(parts)

    def _update_scalar(self, step: StepTrace, scalar, optimizer) -> None:
        name, k = scalar.name, step.index
        w0, w1 = step.params_before[name], step.params_after[name]
        grads = step.update_grads if step.update_grads is not None else step.grads
        g = grads[name]
        g_sym: Expr = Partial(LOSS, name)
        wd = optimizer.weight_decay if optimizer.coupled_decay else 0.0
        if step.update_grads is not None:
            self.items.append(
                Para(f"{name}: gradient taken at the look-ahead point w + μv: {g:.{self.digits}g}")
            )
            g_sym = Sym(f"g_{name}")
        if wd:
            g_eff = g + wd * w0
            self.eq(
                Sym(f"g_{name}"),
                g_sym + self.n(wd) * Sym(name),
                self.n(g) + self.n(wd) * self.n(w0),
                self.n(g_eff),
            )
            g, g_sym = g_eff, Sym(f"g_{name}")
        if optimizer.centralize is not None:
            self.items.append(
                Para(
                    f"{name}: gradient centralization ({optimizer.centralize}) "
                    "subtracts the mean over each output unit's incoming weights."
                )
            )
            self.eq(Sym(name), self.n(w1), key=f"{name}@{k}", relation="←")
            return
        before = {key: values.get(name, 0.0) for key, values in step.state_before.items()}
        after = {key: values[name] for key, values in step.state.items()}
        eta, w_s = Sym("eta"), Sym(name)
        self._eta = self.n(optimizer.lr)
        if isinstance(optimizer, SGD):
            self._sgd(step, optimizer, name, w0, w1, g, g_sym, before, after)
        elif isinstance(optimizer, Adam):
            b1, b2 = optimizer.betas
            t = step.index
            m_s, v_s = Sym(f"m_{name}"), Sym(f"v_{name}")
            self.eq(
                m_s,
                self.n(b1) * m_s + self.n(1 - b1) * g_sym,
                self.n(b1) * self.n(before["m"]) + self.n(1 - b1) * self.n(g),
                self.n(after["m"]),
                relation="←",
                key=f"m({name})@{k}",
            )
            self.eq(
                v_s,
                self.n(b2) * v_s + self.n(1 - b2) * Pow(g_sym, self.n(2)),
                self.n(b2) * self.n(before["v"]) + self.n(1 - b2) * Pow(self.n(g), self.n(2)),
                self.n(after["v"]),
                relation="←",
                key=f"v({name})@{k}",
            )
            v_used = after.get("v_max", after["v"])
            if optimizer.bias_correction:
                c1, c2 = 1 - b1**t, 1 - b2**t
                m_hat, v_hat = after["m"] / c1, v_used / c2
                self.eq(
                    Sym(f"mhat_{name}"),
                    Div(m_s, self.n(1) - Pow(self.n(b1), self.n(t))),
                    Div(self.n(after["m"]), self.n(c1)),
                    self.n(m_hat),
                )
                self.eq(
                    Sym(f"vhat_{name}"),
                    Div(v_s, self.n(1) - Pow(self.n(b2), self.n(t))),
                    Div(self.n(v_used), self.n(c2)),
                    self.n(v_hat),
                )
                m_s, v_s = Sym(f"mhat_{name}"), Sym(f"vhat_{name}")
            else:
                m_hat, v_hat = after["m"], v_used
            denom_s, denom_n = self._root(v_s, self.n(v_hat), optimizer)
            decay = (
                [self.n(1 - optimizer.lr * optimizer.weight_decay)]
                if isinstance(optimizer, AdamW) and optimizer.weight_decay
                else []
            )
            w_term_s = product([*decay, w_s]) if decay else w_s
            w_term_n = product([*decay, self.n(w0)]) if decay else self.n(w0)
            self.eq(
                w_s,
                w_term_s - eta * Div(m_s, denom_s),
                w_term_n - self._eta * Div(self.n(m_hat), denom_n),
                self.n(w1),
                relation="←",
                key=f"{name}@{k}",
            )
        elif isinstance(optimizer, AdaGrad):
            s_s = Sym(f"s_{name}")
            self.eq(
                s_s,
                s_s + Pow(g_sym, self.n(2)),
                self.n(before["sum"]) + Pow(self.n(g), self.n(2)),
                self.n(after["sum"]),
                relation="←",
                key=f"sum({name})@{k}",
            )
            clr = optimizer.lr / (1 + (step.index - 1) * optimizer.lr_decay)
            denom_s, denom_n = self._root(s_s, self.n(after["sum"]), optimizer)
            self.eq(
                w_s,
                w_s - self.n(clr) * Div(g_sym, denom_s),
                self.n(w0) - self.n(clr) * Div(self.n(g), denom_n),
                self.n(w1),
                relation="←",
                key=f"{name}@{k}",
            )
        elif isinstance(optimizer, RMSProp):
            r_s, alpha = Sym(f"r_{name}"), optimizer.alpha
            self.eq(
                r_s,
                self.n(alpha) * r_s + self.n(1 - alpha) * Pow(g_sym, self.n(2)),
                self.n(alpha) * self.n(before["square_avg"])
                + self.n(1 - alpha) * Pow(self.n(g), self.n(2)),
                self.n(after["square_avg"]),
                relation="←",
                key=f"square_avg({name})@{k}",
            )
            if optimizer.centered or optimizer.momentum:
                self.items.append(
                    Para(
                        f"{name}: centered / momentum RMSProp (see the "
                        "optimizer's formula); result:"
                    )
                )
                self.eq(w_s, self.n(w1), relation="←", key=f"{name}@{k}")
                return
            denom_s, denom_n = self._root(r_s, self.n(after["square_avg"]), optimizer)
            self.eq(
                w_s,
                w_s - eta * Div(g_sym, denom_s),
                self.n(w0) - self._eta * Div(self.n(g), denom_n),
                self.n(w1),
                relation="←",
                key=f"{name}@{k}",
            )

    def _root(self, v_s: Expr, v_n: Expr, optimizer) -> tuple[Expr, Expr]:
        eps = self.n(optimizer.eps)
        if optimizer.eps_placement == "inside":
            return Sqrt(v_s + Sym("epsilon")), Sqrt(v_n + eps)
        return Sqrt(v_s) + Sym("epsilon"), Sqrt(v_n) + eps

    def _sgd(self, step, optimizer: SGD, name, w0, w1, g, g_sym, before, after) -> None:
        k, eta, w_s = step.index, Sym("eta"), Sym(name)
        mu, eta_n, mu_n = Sym("mu"), self.n(optimizer.lr), self.n(optimizer.momentum)
        if not optimizer.momentum:
            self.eq(
                w_s,
                w_s - eta * g_sym,
                self.n(w0) - eta_n * self.n(g),
                self.n(w1),
                relation="←",
                key=f"{name}@{k}",
            )
            return
        if optimizer.convention == "velocity":
            v_s = Sym(f"v_{name}")
            self.eq(
                v_s,
                mu * v_s - eta * g_sym,
                mu_n * self.n(before["velocity"]) - eta_n * self.n(g),
                self.n(after["velocity"]),
                relation="←",
                key=f"velocity({name})@{k}",
            )
            if optimizer.nesterov is True:
                self.eq(
                    w_s,
                    w_s + mu * v_s - eta * g_sym,
                    self.n(w0) + mu_n * self.n(after["velocity"]) - eta_n * self.n(g),
                    self.n(w1),
                    relation="←",
                    key=f"{name}@{k}",
                )
            else:
                self.eq(
                    w_s,
                    w_s + v_s,
                    self.n(w0) + self.n(after["velocity"]),
                    self.n(w1),
                    relation="←",
                    key=f"{name}@{k}",
                )
            return
        b_s = Sym(f"b_{name}")
        if step.index == 1:
            self.eq(
                b_s,
                g_sym,
                self.n(g),
                self.n(after["momentum_buffer"]),
                relation="←",
                key=f"momentum_buffer({name})@{k}",
            )
        else:
            damp = 1 - optimizer.dampening
            self.eq(
                b_s,
                mu * b_s + self.n(damp) * g_sym,
                mu_n * self.n(before["momentum_buffer"]) + self.n(damp) * self.n(g),
                self.n(after["momentum_buffer"]),
                relation="←",
                key=f"momentum_buffer({name})@{k}",
            )
        if optimizer.nesterov is True:
            self.eq(
                w_s,
                w_s - eta * Paren(g_sym + mu * b_s),
                self.n(w0) - eta_n * Paren(self.n(g) + mu_n * self.n(after["momentum_buffer"])),
                self.n(w1),
                relation="←",
                key=f"{name}@{k}",
            )
        else:
            self.eq(
                w_s,
                w_s - eta * b_s,
                self.n(w0) - eta_n * self.n(after["momentum_buffer"]),
                self.n(w1),
                relation="←",
                key=f"{name}@{k}",
            )

    def _newton(self, step: StepTrace, optimizer: Newton) -> None:
        trainable = [s for s in self.built.scalars if s.trainable]
        self.items.append(
            Para(
                "Newton's method: w ← w − η·(H + λI)⁻¹·∇E over "
                + ", ".join(s.name for s in trainable)
                + "; the Hessian H by central differences of the gradient."
            )
        )
        if step.hessian is not None:
            self.eq(Sym("H"), matrix(step.hessian, self.digits))
        for s in trainable:
            self.eq(
                Sym(s.name),
                self.n(step.params_after[s.name]),
                relation="←",
                key=f"{s.name}@{step.index}",
            )

    # --------------------------------------------------------------------- document
    def final(self) -> None:
        trace = self.trace
        self.items.append(Heading("Result"))
        for s in self.built.scalars:
            self.eq(Sym(s.name), self.n(trace.final_params[s.name]))
        self.items.append(
            Para("The loss at the final parameters (forward pass over every sample):")
        )
        self.eq(Sym(LOSS), self.n(trace.final_loss), key="loss@final")


def solution_document(trace: Trace, explain: list[str] | None = None) -> Document:
    """The whole worked solution of ``trace`` (and chain-rule expansions of ``explain``)."""
    writer = _Writer(trace)
    exercise = trace.exercise
    if exercise.description:
        writer.items.append(Para(exercise.description))
    for step in trace.steps:
        writer.forward(step)
        writer.loss(step)
        writer.backward(step)
        writer.update(step)
    writer.final()
    if explain:
        from nablab.solve.explain import explain_items

        writer.items.extend(explain_items(trace, explain))
    return Document(exercise.title, writer.items)


__all__ = ["Document", "Equation", "Heading", "Para", "solution_document"]
