"""The worked solution as a document: headings, sentences and equations with numbers.

Every number comes from the trace (the engine's own values); the phase writers of
:mod:`nablab.solve.writers` only write the formulas those values satisfy and substitute them.
Each step is its forward pass, its loss, its backward pass (and, for look-ahead Nesterov, the
look-ahead point with its own forward and backward pass) and its update; a result section
ends the document. Every equation carries the key of the quantity it produces
(:mod:`nablab.solve.names`), so the checker can show the formula behind a wrong number and
the verifier (:mod:`nablab.solve.verify`) can check it against the engine.
"""

from __future__ import annotations

from nablab.i18n import Listing, M
from nablab.solve import local
from nablab.solve.document import Document, Equation, Heading, Para
from nablab.solve.expr import Sym
from nablab.solve.trace import Trace
from nablab.solve.writers import conv as _conv  # noqa: F401 (registers its writers)
from nablab.solve.writers.backward import write_backward
from nablab.solve.writers.base import LOSS, Writer
from nablab.solve.writers.forward import write_forward
from nablab.solve.writers.loss import write_loss
from nablab.solve.writers.update import write_lookahead_point, write_update


def _result(w: Writer) -> None:
    trace = w.trace
    w.step = None
    w.heading(M("solve.heading.result", "Result"))
    for s in w.built.scalars:
        w.eq(Sym(s.name), w.n(trace.final_params[s.name]), key=f"{s.name}@final")
    w.para(
        M(
            "solve.final_loss",
            "The loss at the final parameters (forward pass over every sample):",
        )
    )
    w.eq(Sym(LOSS), w.n(trace.final_loss), key="E@final")


def solution_document(trace: Trace, explain: list[str] | None = None) -> Document:
    """The whole worked solution of ``trace`` (and chain-rule expansions of ``explain``)."""
    w = Writer(trace)
    exercise = trace.exercise
    if exercise.description:
        w.para(exercise.description)
    for step in trace.steps:
        w.step = step
        samples = Listing(s + 1 for s in step.samples)
        if len(step.samples) > 1:
            w.heading(
                M(
                    "solve.heading.forward_samples",
                    "Step {step}: forward pass (samples {samples})",
                    step=step.index,
                    samples=samples,
                )
            )
        else:
            w.heading(
                M(
                    "solve.heading.forward_sample",
                    "Step {step}: forward pass (sample {samples})",
                    step=step.index,
                    samples=samples,
                )
            )
        write_forward(w, step.main)
        write_loss(w, step.main)
        w.heading(M("solve.heading.backward", "Step {step}: backward pass", step=step.index))
        write_backward(w, step.main)
        if step.lookahead is not None:
            w.heading(
                M("solve.heading.lookahead", "Step {step}: Nesterov look-ahead", step=step.index)
            )
            write_lookahead_point(w, step)
            write_forward(w, step.lookahead)
            write_loss(w, step.lookahead)
            write_backward(w, step.lookahead)
        write_update(w, step)
    _result(w)
    if explain:
        from nablab.solve.explain import explain_items

        w.items.extend(explain_items(trace, explain))
    return Document(exercise.title, w.items, local.functions(trace.built.model))


__all__ = ["Document", "Equation", "Heading", "Para", "solution_document"]
