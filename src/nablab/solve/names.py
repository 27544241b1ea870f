"""The naming scheme of worked solutions: every quantity a solution prints has one canonical
name, and every way the solution writes it (``γ1[1]``, ``v_w5``, ``∂E/∂w5``) reads back to it.

Canonical names, with ``@k`` the step (``@0`` before the first step, ``@final`` after the last):

- a parameter after step k: ``w5@1``; at Nesterov's look-ahead point: ``w5~@1``;
- a forward value: ``out_h1@1`` (``[n]`` for sample n when a step sees several samples,
  ``~`` at the look-ahead point); inputs and targets: ``x1[2]@1``, ``t1@1``;
- the loss ``E@1`` (also ``loss@1``; ``E@final`` at the final parameters), its data part
  ``E_data@1`` and penalty ``R@1``; softmax probabilities of cross-entropy ``p2[1]@1``;
- a gradient ``grad(w5)@1``, also written ``∂E/∂w5`` or ``dE/dw5``;
- optimizer state after step k, by the symbol the solution prints: ``v(w5)@1`` (velocity),
  ``b(w5)`` (momentum buffer), ``m(w5)``, ``v(w5)``, ``vmax(w5)``, ``mhat(w5)``, ``vhat(w5)``
  (Adam), ``s(w5)`` (AdaGrad's sum), ``r(w5)``, ``gbar(w5)`` (RMSProp); the engine's own names
  (``velocity``, ``momentum_buffer``, ``square_avg``, ``sum``, ``grad_avg``, ``v_max``,
  ``momentum`` for whichever momentum state there is) are accepted too, and so is the printed
  form ``v_w5``;
- the gradient the update uses, after weight decay or centralization: ``g(w5)@1``; Newton's
  direction ``d(w5)@1``; batch normalization's ``mean(z1_1)``, ``var(z1_1)``, ``xhat(z1_1[2])``
  (printed ``mean_z1_1``, ``var_z1_1``, ``xhat_z1_1[2]``);
- signals and feature maps carry the position in brackets and the channel after an underscore
  (left out for one channel): inputs ``x[3]``, ``x_2[3]``, a conv1d layer's kernel ``K1[o,c,j]``
  (``K1[j]`` with one input and one output channel) and bias ``b1[o]`` (``b1``), its outputs
  ``z1_o[t]`` (``z1[t]``), pooled values ``mp1[t]`` and ``ap1[t]``; the sample comes last,
  ``z1[4][2]``; a first conv1d layer's input gradient ``grad(x[3])``.

Greek letters may be typed in ASCII (``gamma1[1]`` for ``γ1[1]``) and ``−`` as ``-``. A name
without ``@`` means the last step for a parameter and step 1 for everything else.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from nablab.optim import SGD, AdaGrad, Adam, Newton, RMSProp
from nablab.solve.expr import GREEK
from nablab.solve.spec import ExerciseError
from nablab.solve.trace import Pass, StepTrace, Trace, rows

# The symbol a solution prints for each optimizer state (engine name → symbol), by class.
STATE_SYMBOLS: dict[type, dict[str, str]] = {
    SGD: {"velocity": "v", "momentum_buffer": "b"},
    Adam: {"m": "m", "v": "v", "v_max": "vmax"},
    AdaGrad: {"sum": "s"},
    RMSProp: {"square_avg": "r", "grad_avg": "gbar", "momentum_buffer": "b"},
    Newton: {},
}
DERIVED = {"mhat", "vhat", "g", "d"}  # worked out by the solution, not kept by the engine
BATCHNORM = ("mean", "var", "xhat")
LOSS_NAMES = ("E", "loss")
LOOKAHEAD = "~"

_ASCII = {letter: name for name, letter in GREEK.items()}
_CALL = re.compile(r"^(?P<fn>[A-Za-z_]+)\((?P<arg>.+)\)$")
_PARTIAL = re.compile(r"^(?:∂|d)(?:E|L|loss)/(?:∂|d)(?P<arg>.+)$")


def state_symbols(optimizer) -> dict[str, str]:
    """Engine state name → printed symbol for ``optimizer``'s class (by its nearest base)."""
    for cls in type(optimizer).__mro__:
        if cls in STATE_SYMBOLS:
            return STATE_SYMBOLS[cls]
    raise ExerciseError(
        [f"worked solutions do not support the optimizer {type(optimizer).__name__} yet"],
        "optimizer",
    )


class UnknownNameError(KeyError):
    """A name that is not a quantity of the exercise; ``close`` holds the nearest valid ones."""

    def __init__(self, typed: str, message: str, close: list[str]) -> None:
        super().__init__(message)
        self.typed, self.message, self.close = typed, message, close

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Quantity:
    key: str
    value: float | np.ndarray
    kind: str


def to_ascii(name: str) -> str:
    """``γ1[1]`` → ``gamma1[1]``, ``−`` → ``-``, spaces dropped."""
    out = "".join(_ASCII.get(c, c) for c in name.strip())
    return out.replace("−", "-").replace(" ", "")


class Quantities:
    """Every named quantity of a solved exercise, by canonical name, with the values the engine
    computed; :meth:`resolve` reads any printed or typed form of a name."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.built = trace.built
        self.last = len(trace.steps)
        self.symbols = state_symbols(self.built.optimizer)
        self.long_names = {**{v: v for v in self.symbols.values()}, **self.symbols}
        self.table: dict[str, Quantity] = {}
        self.params = [s.name for s in self.built.scalars]
        for scalar in self.built.scalars:
            self._add(f"{scalar.name}@0", trace.steps[0].params_before[scalar.name], "parameter")
        for key, values in trace.steps[0].state_before.items():
            for name, value in values.items():
                self._add(f"{self.symbols[key]}({name})@0", value, "optimizer state")
        for step in trace.steps:
            self._step(step)
        for scalar in self.built.scalars:
            self._add(f"{scalar.name}@final", trace.final_params[scalar.name], "parameter")
        self._add("E@final", trace.final_loss, "loss")
        self.bases = {key.rpartition("@")[0] for key in self.table}

    def _add(self, key: str, value, kind: str) -> None:
        self.table[key] = Quantity(key, value, kind)

    def _pass(self, step: StepTrace, p: Pass) -> None:
        k, tag, built = step.index, p.tag, self.built
        if not tag:
            for row in range(len(p.samples)):
                sfx = p.suffix(row)
                for i, name in enumerate(built.input_names):
                    self._add(f"{name}{sfx}@{k}", float(rows(p.inputs)[row, i]), "input")
                if p.targets.ndim == 2:
                    for j, name in enumerate(built.target_names):
                        self._add(f"{name}{sfx}@{k}", float(p.targets[row, j]), "target")
        else:
            for scalar in built.scalars:
                if scalar.trainable:
                    self._add(f"{scalar.name}{tag}@{k}", p.params[scalar.name], "look-ahead")
        for name, value in self.trace.values(p).items():
            self._add(f"{name}@{k}", value, "forward value")
        self._add(f"E{tag}@{k}", p.loss, "loss")
        if built.penalty is not None:
            self._add(f"E_data{tag}@{k}", p.data_loss, "loss")
            self._add(f"R{tag}@{k}", p.penalty, "penalty")
        if self.trace.exercise.loss.type == "cross_entropy":
            logits = p.layers[-1].output
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs = shifted / shifted.sum(axis=1, keepdims=True)
            for row in range(len(p.samples)):
                for j in range(probs.shape[1]):
                    self._add(f"p{j + 1}{p.suffix(row)}{tag}@{k}", float(probs[row, j]), "loss")
        for position, record in enumerate(p.layers):
            if record.x_hat is None:
                continue
            entering = built.input_names if position == 0 else built.output_names[position - 1]
            for j, name in enumerate(entering):
                self._add(f"mean({name}{tag})@{k}", float(record.batch_mean[j]), "batch norm")
                self._add(f"var({name}{tag})@{k}", float(record.batch_var[j]), "batch norm")
                for row in range(len(p.samples)):
                    value = float(record.x_hat[row, j])
                    self._add(f"xhat({name}{p.suffix(row)}{tag})@{k}", value, "batch norm")
        for name, value in self.trace.output_grads(p).items():
            self._add(f"grad({name})@{k}", value, "gradient")
        for name, value in p.grads.items():
            self._add(f"grad({name}{tag})@{k}", value, "gradient")

    def _step(self, step: StepTrace) -> None:
        k, built = step.index, self.built
        self._pass(step, step.main)
        if step.lookahead is not None:
            self._pass(step, step.lookahead)
        for key, values in step.state.items():
            for name, value in values.items():
                self._add(f"{self.symbols[key]}({name})@{k}", value, "optimizer state")
        for name, value in effective_gradients(self.trace, step).items():
            self._add(f"g({name})@{k}", value, "update")
        optimizer = built.optimizer
        if isinstance(optimizer, Adam) and optimizer.bias_correction:
            b1, b2 = optimizer.betas
            for name, m in step.state["m"].items():
                v = step.state.get("v_max", step.state["v"])[name]
                self._add(f"mhat({name})@{k}", m / (1 - b1**k), "optimizer state")
                self._add(f"vhat({name})@{k}", v / (1 - b2**k), "optimizer state")
        if step.hessian is not None:
            for name, value in newton_direction(self.trace, step).items():
                self._add(f"d({name})@{k}", value, "update")
        for name, value in step.params_after.items():
            self._add(f"{name}@{k}", value, "parameter")

    # ----------------------------------------------------------------- reading names
    def canonical(self, base: str) -> str:
        """A name without its step, in canonical form (``γ1[1]`` → ``gamma1[1]``,
        ``∂E/∂w5`` → ``grad(w5)``, ``v_w5`` → ``v(w5)``, ``velocity(w5)`` → ``v(w5)``)."""
        base = to_ascii(base)
        partial = _PARTIAL.match(base)
        if partial:
            return f"grad({self.canonical(partial.group('arg'))})"
        call = _CALL.match(base)
        if call:
            fn, arg = call.group("fn"), self.canonical(call.group("arg"))
            if fn == "momentum":
                present = {self.symbols[k] for k in self.trace.steps[0].state}
                fn = next((s for s in ("v", "b") if s in present), fn)
            return f"{self.long_names.get(fn, fn)}({arg})"
        if base in LOSS_NAMES:
            return "E"
        for fn in (*self.symbols.values(), *DERIVED, *BATCHNORM):
            if base.startswith(fn + "_"):
                rest = base[len(fn) + 1 :]
                candidate = f"{fn}({rest})"
                if any(b == candidate for b in self.bases):
                    return candidate
        return base

    def resolve(self, typed: str) -> str:
        """The canonical key (``name@step``) of a typed name, or :class:`UnknownNameError`."""
        text = typed.strip()
        base, _, at = text.rpartition("@") if "@" in text else (text, "", "")
        name = self.canonical(base)
        if not at:
            at = str(self.last) if name in self.params else "1"
        key = f"{name}@{at}"
        if key in self.table:
            return key
        if name in self.bases:
            steps = sorted({k.rpartition("@")[2] for k in self.table if k.startswith(name + "@")})
            raise UnknownNameError(
                typed,
                f"{typed!r}: {name} has no value at step {at!r}; steps: {', '.join(steps)}",
                [],
            )
        close = self.closest(name)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(
            typed, f"unknown name {typed!r}{hint} (`nablab solve --names` lists every name)", close
        )

    def closest(self, name: str) -> list[str]:
        """The valid names nearest to ``name`` (case-insensitive matches first)."""
        exact = [b for b in sorted(self.bases) if b.lower() == name.lower()]
        lowered = {b.lower(): b for b in self.bases}
        near = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
        return list(dict.fromkeys([*exact, *(lowered[n] for n in near)]))[:3]

    def value(self, key: str):
        return self.table[key].value

    def __contains__(self, key: str) -> bool:
        return key in self.table

    def __iter__(self) -> Iterator[Quantity]:
        return iter(self.table.values())


def effective_gradients(trace: Trace, step: StepTrace) -> dict[str, float]:
    """The gradient each update uses when it is not ∂E/∂w: + λw (coupled weight decay, at the
    look-ahead point for look-ahead Nesterov), then minus its output unit's mean
    (``centralize: gradient``). Empty when the update uses ∂E/∂w itself."""
    built = trace.built
    optimizer = built.optimizer
    decay = optimizer.weight_decay if optimizer.coupled_decay else 0.0
    centralize = optimizer.centralize == "gradient"
    if isinstance(optimizer, Newton) or not (decay or centralize):
        return {}
    source = step.lookahead if step.lookahead is not None else step.main
    out = {}
    for scalar in built.scalars:
        if scalar.trainable:
            out[scalar.name] = source.grads[scalar.name] + decay * source.params[scalar.name]
    if centralize:
        for scalar in built.scalars:
            if scalar.trainable and scalar.role == "weight":
                column = [
                    s.name
                    for s in built.scalars
                    if s.param is scalar.param and s.index[-1] == scalar.index[-1]
                ]
                mean = sum(source.grads[n] + decay * source.params[n] for n in column) / len(column)
                out[scalar.name] = (
                    source.grads[scalar.name] + decay * source.params[scalar.name] - mean
                )
    return out


def newton_direction(trace: Trace, step: StepTrace) -> dict[str, float]:
    """Newton's direction d = (H + λI)⁻¹·∇E over the trainable parameters, in their order."""
    names = [s.name for s in trace.built.scalars if s.trainable]
    gradient = np.array([step.grads[n] for n in names])
    damping = trace.built.optimizer.damping
    solved = np.linalg.solve(step.hessian + damping * np.eye(len(names)), gradient)
    return dict(zip(names, (float(v) for v in solved), strict=True))
