"""What a training run records: per-step loss and learning rate, per-epoch metrics,
per-layer gradient norms, diagnostic findings and why it stopped."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from typing import Any

EPOCH_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


@dataclass
class Finding:
    """A diagnosis: what was seen (``evidence``) and what to try (``suggestion``)."""

    kind: str
    epoch: int
    message: str
    evidence: str
    suggestion: str

    def __str__(self) -> str:
        """The finding in the language in force (its sentences are messages when they come
        from :mod:`nablab.train.diagnostics`)."""
        from nablab.i18n import M, localized

        return localized(
            M(
                "diagnostics.finding",
                "[{kind}] epoch {epoch}: {message}\n  evidence: {evidence}\n  suggestion: "
                "{suggestion}",
                kind=self.kind,
                epoch=self.epoch,
                message=self.message,
                evidence=self.evidence,
                suggestion=self.suggestion,
            )
        )


@dataclass
class History:
    step_loss: list[float] = field(default_factory=list)
    step_lr: list[float] = field(default_factory=list)
    epochs: list[dict[str, float | None]] = field(default_factory=list)
    grad_norm_steps: list[int] = field(default_factory=list)
    grad_norms: dict[str, list[float]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    stopped: str | None = None

    def column(self, name: str) -> list[float | None]:
        return [row.get(name) for row in self.epochs]

    @property
    def last(self) -> dict[str, float | None]:
        return self.epochs[-1] if self.epochs else {}

    def add_finding(self, finding: Finding) -> bool:
        """Record ``finding`` unless one of its kind is already there; True when new."""
        if any(f.kind == finding.kind for f in self.findings):
            return False
        self.findings.append(finding)
        return True

    def epochs_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EPOCH_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.epochs:
            writer.writerow(
                {key: ("" if row.get(key) is None else row.get(key)) for key in EPOCH_COLUMNS}
            )
        return buffer.getvalue()

    def state(self) -> dict[str, Any]:
        """A JSON-ready dict (for checkpoints and metrics files)."""
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> History:
        findings = [Finding(**f) for f in state.get("findings", [])]
        return cls(
            step_loss=list(state["step_loss"]),
            step_lr=list(state["step_lr"]),
            epochs=list(state["epochs"]),
            grad_norm_steps=list(state["grad_norm_steps"]),
            grad_norms={k: list(v) for k, v in state["grad_norms"].items()},
            findings=findings,
            stopped=state.get("stopped"),
        )

    def figures(self) -> dict:
        """``{"loss": Figure, "accuracy": Figure}`` (accuracy only for classification)."""
        from nablab.viz.history import accuracy_figure, loss_figure

        figures = {"loss": loss_figure(self)}
        accuracy = accuracy_figure(self)
        if accuracy is not None:
            figures["accuracy"] = accuracy
        return figures

    def plot(self, loss_path, accuracy_path=None) -> None:
        """Write the loss (and accuracy) curves as PNG files."""
        from nablab.viz import save

        figures = self.figures()
        save(figures["loss"], loss_path)
        if accuracy_path is not None and "accuracy" in figures:
            save(figures["accuracy"], accuracy_path)

    def _repr_png_(self) -> bytes:
        from nablab.viz import png_bytes

        return png_bytes(self.figures()["loss"])

    def _repr_html_(self) -> str:
        from nablab.viz import html_img

        return history_html(self) + html_img(self.figures()["loss"], "loss curves")


def history_html(history: History) -> str:
    """The per-epoch table and the findings, as HTML."""
    from html import escape

    def cell(value) -> str:
        if value is None:
            return "<td></td>"
        return f"<td>{value:.4g}</td>" if isinstance(value, float) else f"<td>{value}</td>"

    head = "".join(f"<th>{escape(c)}</th>" for c in EPOCH_COLUMNS)
    rows = "".join(
        "<tr>" + "".join(cell(row.get(c)) for c in EPOCH_COLUMNS) + "</tr>"
        for row in history.epochs
    )
    from nablab.i18n import M, localized

    findings = "".join(
        "<li>"
        + localized(
            M(
                "diagnostics.finding_html",
                "{kind} (epoch {epoch}): {message}. {evidence}. Try: {suggestion}",
                kind=f.kind,
                epoch=f.epoch,
                message=f.message,
                evidence=f.evidence,
                suggestion=f.suggestion,
            ),
            html=True,
        )
        + "</li>"
        for f in history.findings
    )
    stopped = f"<p>Stopped: {escape(history.stopped)}</p>" if history.stopped else ""
    found = localized(M("diagnostics.findings", "Findings:"), html=True)
    none = localized(M("diagnostics.none", "No problems found."), html=True)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{stopped}" + (
        f"<p>{found}</p><ul>{findings}</ul>" if findings else f"<p>{none}</p>"
    )
