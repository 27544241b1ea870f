"""The ``nablab demo`` job: what the engine computes, next to an independent check."""

from __future__ import annotations

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


def run() -> int:
    print(gradient_table())
    return 0
