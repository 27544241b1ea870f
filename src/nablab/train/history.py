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
        return (
            f"[{self.kind}] epoch {self.epoch}: {self.message}\n  evidence: {self.evidence}"
            f"\n  suggestion: {self.suggestion}"
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

    def plot(self, loss_path, accuracy_path=None) -> None:
        """Loss curves (per step and per epoch) and accuracy curves as PNG (Agg backend)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from nablab._io import write_atomic

        def save(figure, path) -> None:
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
            plt.close(figure)
            write_atomic(path, buffer.getvalue())

        figure, ax = plt.subplots(figsize=(7, 4))
        if self.step_loss:
            steps_per_epoch = len(self.step_loss) / max(len(self.epochs), 1)
            ax.plot(
                [(i + 1) / steps_per_epoch for i in range(len(self.step_loss))],
                self.step_loss,
                color="tab:blue",
                alpha=0.25,
                lw=0.8,
                label="train (step)",
            )
        epochs = self.column("epoch")
        ax.plot(epochs, self.column("train_loss"), "o-", color="tab:blue", label="train")
        if any(v is not None for v in self.column("val_loss")):
            ax.plot(epochs, self.column("val_loss"), "s-", color="tab:orange", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.set_yscale("log")
        ax.legend()
        ax.grid(alpha=0.3)
        save(figure, loss_path)
        if accuracy_path is None or all(v is None for v in self.column("train_acc")):
            return
        figure, ax = plt.subplots(figsize=(7, 4))
        ax.plot(epochs, self.column("train_acc"), "o-", label="train")
        if any(v is not None for v in self.column("val_acc")):
            ax.plot(epochs, self.column("val_acc"), "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1.0)
        ax.legend()
        ax.grid(alpha=0.3)
        save(figure, accuracy_path)
