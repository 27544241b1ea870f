"""One scalar gradient as the chain rule's sum over paths, with numbers.

∂E/∂w for a weight w feeding unit z is ∂E/∂z · ∂z/∂w, and ∂E/∂z expands through every later
layer: an element-wise activation contributes one factor (∂a/∂z), a linear layer a sum over
the units it feeds (Σ_k ∂E/∂z_k · ∂z_k/∂a, with ∂z_k/∂a the weight), softmax a sum over its
outputs (Jacobian entries a_k(δ_kj − a_j)). Each local derivative is taken from the engine
(the module's backward on a unit vector, or the weight itself).
"""

from __future__ import annotations

import copy

import numpy as np

from nablab import nn
from nablab.solve.expr import Expr, Mul, Paren, Partial, num, total
from nablab.solve.spec import ExerciseError
from nablab.solve.trace import StepTrace, Trace

LOSS = "E"


def _flat(factors: list[Expr]) -> Expr:
    out: list[Expr] = []
    for factor in factors:
        out.extend(factor.factors if isinstance(factor, Mul) else (factor,))
    return out[0] if len(out) == 1 else Mul(tuple(out))


class _Chain:
    def __init__(self, trace: Trace, step: StepTrace) -> None:
        self.trace, self.step = trace, step
        self.model = trace.built.model
        self.names = trace.built.output_names
        self.digits = trace.exercise.digits

    def n(self, value: float):
        return num(value, self.digits)

    def name(self, position: int, unit: int, row: int) -> str:
        return self.names[position][unit] + self.step.suffix(row)

    def local(self, module, position: int, row: int) -> np.ndarray:
        """The Jacobian ∂out/∂in of layer ``position`` for sample ``row`` (engine backward)."""
        entering = (self.step.inputs if position == 0 else self.step.layers[position - 1].output)[
            row : row + 1
        ]
        if isinstance(module, nn.Dropout):
            scale = 1 / (1 - module.p) if module.mode == "inverted" else 1.0
            return np.diag(module.last_mask[row] * scale)
        twin = copy.copy(module)  # its forward/backward caches stay the trace's
        width = entering.shape[1]
        rows = []
        for unit in range(width):
            twin(entering)
            rows.append(twin.backward(np.eye(width)[unit][None, :])[0])
        return np.array(rows)  # rows[k][j] = ∂out_k/∂in_j

    def expand(self, position: int, unit: int, row: int) -> tuple[Expr, Expr]:
        """∂E/∂(output ``unit`` of layer ``position``) as (symbols, numbers)."""
        name = self.name(position, unit, row)
        if position == len(self.model) - 1:
            return (Partial(LOSS, name), self.n(self.step.layers[position].grad[row, unit]))
        following = position + 1
        module = self.model[following]
        if isinstance(module, nn.BatchNorm1d | nn.LayerNorm):
            raise ExerciseError(
                [
                    "--explain: the chain rule through batch normalization couples "
                    "the samples; it is not expanded path by path"
                ],
                self.trace.exercise.title,
            )
        if isinstance(module, nn.Linear):
            weights = self.step.params_before
            scalars = [
                s
                for s in self.trace.built.scalars
                if s.layer == following and s.role == "weight" and s.index[0] == unit
            ]
            targets = [(s.index[1], self.n(weights[s.name])) for s in scalars]
        else:
            jacobian = self.local(module, following, row)
            if isinstance(module, nn.Softmax):
                targets = [(k, self.n(jacobian[k, unit])) for k in range(jacobian.shape[0])]
            else:
                targets = [(unit, self.n(jacobian[unit, unit]))]
        terms_s, terms_n = [], []
        for k, local in targets:
            upstream_s, upstream_n = self.expand(following, k, row)
            local_s = Partial(self.name(following, k, row), name)
            terms_s.append(_flat([upstream_s, local_s]))
            terms_n.append(_flat([upstream_n, local]))
        if len(terms_s) == 1:
            return terms_s[0], terms_n[0]
        return Paren(total(terms_s), square=True), Paren(total(terms_n), square=True)


def explain_items(trace: Trace, names: list[str]) -> list:
    from nablab.solve.derive import Equation, Heading, Para

    built = trace.built
    items: list = []
    unknown = [name for name in names if name not in built.by_name]
    if unknown:
        valid = ", ".join(s.name for s in built.scalars)
        raise ExerciseError(
            [
                f"--explain {name}: no parameter of that name; parameters: {valid}"
                for name in unknown
            ],
            trace.exercise.title,
        )
    step = trace.steps[0]
    chain = _Chain(trace, step)
    for name in names:
        scalar = built.by_name[name]
        position = scalar.layer
        module = built.model[position]
        if not isinstance(module, nn.Linear):
            raise ExerciseError(
                [f"--explain {name}: only weights and biases of linear layers are expanded"],
                trace.exercise.title,
            )
        items.append(Heading(f"Chain rule for ∂{LOSS}/∂{name} (step 1)"))
        entering = step.inputs if position == 0 else step.layers[position - 1].output
        entering_names = built.input_names if position == 0 else built.output_names[position - 1]
        terms_s, terms_n = [], []
        units = (
            [scalar.index[1]]
            if scalar.role == "weight"
            else range(module.out_features)
            if scalar.index == ()
            else [scalar.index[0]]
        )
        for row in range(len(step.samples)):
            for unit in units:
                upstream_s, upstream_n = chain.expand(position, unit, row)
                local_s = Partial(chain.name(position, unit, row), name)
                local_n = (
                    chain.n(entering[row, scalar.index[0]])
                    if scalar.role == "weight"
                    else chain.n(1)
                )
                terms_s.append(_flat([upstream_s, local_s]))
                terms_n.append(_flat([upstream_n, local_n]))
        if scalar.role == "weight":
            source = entering_names[scalar.index[0]]
            items.append(
                Para(
                    f"{name} multiplies {source} on its way into "
                    f"{built.output_names[position][scalar.index[1]]}, so "
                    f"∂z/∂{name} = {source}."
                )
            )
        items.append(
            Equation(
                [Partial(LOSS, name), total(terms_s), total(terms_n), chain.n(step.grads[name])]
            )
        )
    return items
