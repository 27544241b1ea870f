"""The ``nablab demo`` job: what the engine computes, next to an independent check."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nablab import nn
from nablab.analysis import gradcheck

DEMO_SEED = 0


def gradient_table(seed: int = DEMO_SEED) -> str:
    """A 2-3-2 sigmoid network with MSE: every parameter's analytic and numerical gradient."""
    rng = np.random.default_rng(seed)
    model = nn.Sequential(
        nn.Linear(2, 3, rng=rng, dtype=np.float64),
        nn.Sigmoid(),
        nn.Linear(3, 2, rng=rng, dtype=np.float64),
        nn.Sigmoid(),
    )
    x = rng.normal(size=(4, 2))
    target = rng.uniform(size=(4, 2))
    loss = nn.MSELoss()
    report = gradcheck(model, loss, x, target)
    title = (
        f"2-3-2 sigmoid network, MSE loss = {loss(model(x), target):.10f} on 4 samples "
        f"(seed {seed})\nbackward pass vs central differences (ε = 1e-6):"
    )
    verdict = f"largest relative error: {report.max_rel_error:.2e}"
    return "\n".join([title, "", report.table(), "", verdict])


def worked_solution(html_path: Path = Path("mazur-solution.html")) -> None:
    """Print the worked solution of the bundled Mazur exercise and write it as HTML."""
    from rich.console import Console

    from nablab._io import write_atomic
    from nablab.solve import load_exercise, run, solution_document, to_html
    from nablab.solve.commands import example_path
    from nablab.solve.renderers import print_rich

    trace = run(load_exercise(example_path("mazur")))
    document = solution_document(trace, explain=["w1"])
    console = Console()
    print_rich(document, console)
    write_atomic(html_path, to_html(document))
    console.print(f"\nwrote {html_path} (open it in a browser: the math is MathML)")


def train_digits(seed: int = DEMO_SEED) -> float:
    """Train a 64-64-10 ReLU MLP on scikit-learn's digits with Adam; return validation
    accuracy."""
    from nablab import data, optim
    from nablab.train import Diagnostics, fit

    digits = data.load("digits")
    x_train, y_train, x_val, y_val = data.train_val_split(digits.x, digits.y, 0.2, seed=seed)
    scaler = data.Standardizer().fit(x_train)
    rng = np.random.default_rng(seed)
    model = nn.Sequential(
        nn.Linear(64, 64, init="he_normal", rng=rng), nn.ReLU(), nn.Linear(64, 10, rng=rng)
    )
    print(
        f"\nTraining a 64-64-10 MLP on digits ({len(x_train)} training, {len(x_val)} "
        "validation images):"
    )
    history = fit(
        model,
        nn.CrossEntropyLoss(),
        optim.Adam(model.parameters(), lr=1e-3),
        (scaler.transform(x_train), y_train),
        (scaler.transform(x_val), y_val),
        epochs=15,
        batch_size=32,
        seed=seed,
        progress=True,
        callbacks=[Diagnostics(verbose=True)],
    )
    accuracy = history.last["val_acc"]
    print(f"validation accuracy: {accuracy:.2%}")
    return accuracy


def run() -> int:
    print(gradient_table())
    print()
    worked_solution()
    train_digits()
    return 0
