"""One gradient as the chain rule's sum over paths, with numbers (``--explain``).

∂E/∂w for a weight w feeding unit z is ∂E/∂z · ∂z/∂w, and ∂E/∂z expands through every later
layer: an element-wise activation contributes one factor (∂a/∂z, from the shared local
derivatives of :mod:`nablab.solve.local`), a linear layer a sum over the units it feeds
(Σ_k ∂E/∂z_k · ∂z_k/∂a, with ∂z_k/∂a the weight), softmax and dropout a sum over their outputs
(their Jacobian entries, from the engine's backward). A penalty adds its own term. Names are
read through the naming scheme, so ``gamma1[1]``, ``γ1[1]`` and ``out_h1`` all work.
"""

from __future__ import annotations

import numpy as np

from nablab import nn
from nablab.i18n import M
from nablab.solve import local
from nablab.solve.document import Equation, Heading, Para
from nablab.solve.expr import Expr, Mul, Num, Paren, Partial, num, partial_key, total
from nablab.solve.names import Quantities, UnknownNameError
from nablab.solve.spec import DropoutLayer, ExerciseError
from nablab.solve.trace import StepTrace, Trace, rows

LOSS = "E"
SPARSE = (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d)  # each output reads a window, not every value


def _flat(factors: list[Expr]) -> Expr:
    out: list[Expr] = []
    for factor in factors:
        out.extend(factor.factors if isinstance(factor, Mul) else (factor,))
    return out[0] if len(out) == 1 else Mul(tuple(out))


class _Chain:
    """Expansions of ∂E/∂(a forward value) in step 1; ``given`` collects every value the
    formulas name, for the verifier."""

    def __init__(self, trace: Trace, step: StepTrace) -> None:
        self.trace, self.step = trace, step
        self.model = trace.built.model
        self.names = trace.built.output_names
        self.digits = trace.exercise.digits
        self.given: dict[str, float] = {}

    def n(self, value: float):
        return num(value, self.digits)

    def name(self, position: int, unit: int, row: int) -> str:
        return self.names[position][unit] + self.step.suffix(row)

    def local(self, position: int, row: int) -> np.ndarray:
        module = self.model[position]
        entering = self.step.inputs if position == 0 else self.step.layers[position - 1].output
        mask = None
        spec = self.trace.exercise.layers[position]
        if isinstance(spec, DropoutLayer):
            mask = spec.mask[self.step.samples[row]]
        return local.jacobian(module, entering, row, mask)

    def expand(self, position: int, unit: int, row: int) -> tuple[Expr, Expr]:
        """∂E/∂(output ``unit`` of layer ``position``) as (symbols, numbers)."""
        name = self.name(position, unit, row)
        upstream = float(rows(self.step.layers[position].grad)[row, unit])
        if position == len(self.model) - 1:
            self.given[partial_key(LOSS, name)] = upstream
            return Partial(LOSS, name), self.n(upstream)
        following = position + 1
        module = self.model[following]
        if isinstance(module, nn.Flatten):  # a renaming: the same value under the same name
            return self.expand(following, unit, row)
        if isinstance(module, nn.BatchNorm1d | nn.LayerNorm):
            raise ExerciseError(
                [
                    "--explain: the chain rule through batch normalization couples the samples; "
                    "it is not expanded path by path (the backward pass gives the closed form)"
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
            targets = [(s.index[1], weights[s.name]) for s in scalars]
        else:
            jacobian = self.local(following, row)
            if local.is_elementwise(module) or isinstance(module, nn.Dropout):
                targets = [(unit, float(jacobian[unit, unit]))]
            elif isinstance(module, SPARSE):  # only the outputs whose windows read the value
                targets = [
                    (k, float(jacobian[k, unit]))
                    for k in range(jacobian.shape[0])
                    if jacobian[k, unit] != 0
                ]
            else:
                targets = [(k, float(jacobian[k, unit])) for k in range(jacobian.shape[0])]
        if not targets:  # no window reads it (or no window's maximum is it)
            return self.n(0), self.n(0)
        terms_s, terms_n = [], []
        for k, factor in targets:
            upstream_s, upstream_n = self.expand(following, k, row)
            local_s = Partial(self.name(following, k, row), name)
            self.given[partial_key(local_s.of, local_s.wrt)] = factor
            terms_s.append(_flat([upstream_s, local_s]))
            terms_n.append(_flat([upstream_n, self.n(factor)]))
        if len(terms_s) == 1:
            return terms_s[0], terms_n[0]
        return Paren(total(terms_s), square=True), Paren(total(terms_n), square=True)


def explain_items(trace: Trace, names: list[str]) -> list:
    """A heading, a sentence and the expanded equation for each name (a parameter or a
    forward value of step 1)."""
    built = trace.built
    quantities = Quantities(trace)
    items: list = []
    problems, resolved = [], []
    for typed in names:
        try:
            key = quantities.resolve(typed)
        except UnknownNameError as error:
            problems.append(f"--explain {error.message}")
            continue
        base = key.rpartition("@")[0]
        kind = quantities.table[key].kind
        if kind not in ("parameter", "forward value"):
            problems.append(
                f"--explain {typed}: {base} is a {kind}; --explain expands the gradient of a "
                "parameter or a forward value"
            )
            continue
        resolved.append(base)
    if problems:
        raise ExerciseError(problems, trace.exercise.title)
    step = trace.steps[0]
    for name in resolved:
        chain = _Chain(trace, step)
        if name in built.by_name:
            items.extend(_parameter(trace, step, chain, name))
        else:
            items.extend(_value(trace, step, chain, name))
    return items


def _value(trace: Trace, step: StepTrace, chain: _Chain, name: str) -> list:
    for position, names in enumerate(trace.built.output_names):
        for unit, base in enumerate(names):
            for row in range(len(step.samples)):
                if base + step.suffix(row) == name:
                    symbolic, numeric = chain.expand(position, unit, row)
                    value = float(rows(step.layers[position].grad)[row, unit])
                    if isinstance(symbolic, Num):  # no path reaches it
                        return [
                            Heading(_chain_heading(name)),
                            Para(
                                M(
                                    "solve.explain.no_path",
                                    "No path from the loss reaches {name}: no later window "
                                    "reads it, or max pooling sends its window's gradient "
                                    "elsewhere.",
                                    name=name,
                                )
                            ),
                            Equation(
                                [Partial(LOSS, name), chain.n(value)], key=f"grad({name})@1", step=1
                            ),
                        ]
                    return [
                        Heading(_chain_heading(name)),
                        Equation(
                            [Partial(LOSS, name), symbolic, numeric, chain.n(value)],
                            key=f"grad({name})@1",
                            step=1,
                            given=chain.given,
                        ),
                    ]
    raise ExerciseError([f"--explain {name}: not a forward value"], trace.exercise.title)


def _paths(trace: Trace, step: StepTrace, scalar) -> list[tuple[int, int, float]]:
    """(sample row, output unit, ∂output/∂scalar) for every output the scalar feeds."""
    position = scalar.layer
    module = trace.built.model[position]
    entering = rows(step.inputs if position == 0 else step.layers[position - 1].output)
    samples = range(len(step.samples))
    if isinstance(module, nn.Conv1d):
        from nablab.solve.writers.base import Writer
        from nablab.solve.writers.conv import windows

        spans = windows(Writer(trace), position)
        length = entering.shape[1] // module.in_channels
        if scalar.role == "bias":
            o = scalar.index[0]
            return [(r, o * len(spans) + t, 1.0) for r in samples for t in range(len(spans))]
        j, c, o = scalar.index
        return [
            (r, o * len(spans) + t, float(entering[r, c * length + u]))
            for r in samples
            for t, window in enumerate(spans)
            for tap, u in window
            if tap == j
        ]
    if scalar.role == "weight":
        return [(r, scalar.index[1], float(entering[r, scalar.index[0]])) for r in samples]
    units = range(module.out_features) if scalar.index == () else [scalar.index[0]]
    return [(r, unit, 1.0) for r in samples for unit in units]


def _parameter(trace: Trace, step: StepTrace, chain: _Chain, name: str) -> list:
    built = trace.built
    scalar = built.by_name[name]
    position = scalar.layer
    module = built.model[position]
    if not isinstance(module, nn.Linear | nn.Conv1d):
        raise ExerciseError(
            [f"--explain {name}: only weights and biases of linear and conv1d layers are expanded"],
            trace.exercise.title,
        )
    entering_names = built.input_names if position == 0 else built.output_names[position - 1]
    terms_s, terms_n = [], []
    for row, unit, factor in _paths(trace, step, scalar):
        upstream_s, upstream_n = chain.expand(position, unit, row)
        local_s = Partial(chain.name(position, unit, row), name)
        chain.given[partial_key(local_s.of, local_s.wrt)] = factor
        terms_s.append(_flat([upstream_s, local_s]))
        terms_n.append(_flat([upstream_n, chain.n(factor)]))
    items: list = [Heading(_chain_heading(name))]
    if scalar.role == "weight" and isinstance(module, nn.Conv1d):
        items.append(
            Para(
                M(
                    "solve.explain.kernel",
                    "{name} multiplies the value under its tap in every window, so ⁅∂z[t]/∂{name}⁆ "
                    "is the input that window t reads there.",
                    name=name,
                )
            )
        )
    elif scalar.role == "weight":
        source = entering_names[scalar.index[0]]
        into = built.output_names[position][scalar.index[1]]
        items.append(
            Para(
                M(
                    "solve.explain.multiplies",
                    "{name} multiplies {source} on its way into {into}, so "
                    "⁅∂z/∂{name} = {source}⁆.",
                    name=name,
                    source=source,
                    into=into,
                )
            )
        )
    penalty = _penalty_term(trace, step, scalar, chain)
    if penalty is not None:
        terms_s.append(penalty[0])
        terms_n.append(penalty[1])
        items.append(
            Para(M("solve.explain.penalty", "The penalty adds its own term to the sum over paths."))
        )
    items.append(
        Equation(
            [Partial(LOSS, name), total(terms_s), total(terms_n), chain.n(step.grads[name])],
            key=f"grad({name})@1",
            step=1,
            given={**chain.given, name: step.params_before[name]},
        )
    )
    return items


def _chain_heading(name: str) -> str:
    return M(
        "solve.explain.heading", "Chain rule for ⁅∂{loss}/∂{name}⁆ (step 1)", loss=LOSS, name=name
    )


def _penalty_term(trace: Trace, step: StepTrace, scalar, chain: _Chain):
    from nablab.solve.writers.base import Writer
    from nablab.solve.writers.loss import penalty_term

    writer = Writer(trace)
    writer.step = step
    return penalty_term(writer, step.main, scalar)
