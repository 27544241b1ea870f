"""Per-call overhead of the engine against the same formulas written as a plain NumPy loop.

    python benchmarks/engine_overhead.py

Prints, for a 64-64-10 ReLU MLP with softmax cross-entropy (float32), the time of one forward
and backward pass through ``nablab.nn`` and through hand-written NumPy, measured side by side
(interleaved repeats, best of each), and their ratio.
"""

from __future__ import annotations

import time

import numpy as np

from nablab import nn


def plain_step(x, y, W1, b1, W2, b2, W3, b3, grads):
    z1 = x @ W1
    z1 += b1
    h1 = np.maximum(z1, 0)
    z2 = h1 @ W2
    z2 += b2
    h2 = np.maximum(z2, 0)
    z3 = h2 @ W3
    z3 += b3
    shifted = z3 - z3.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    loss = -(shifted[np.arange(len(y)), y] - np.log(s[:, 0])).mean()
    g = e / s
    g[np.arange(len(y)), y] -= 1
    g /= len(y)
    grads[4] += h2.T @ g
    grads[5] += g.sum(axis=0)
    g = (g @ W3.T) * (h2 > 0)
    grads[2] += h1.T @ g
    grads[3] += g.sum(axis=0)
    g = (g @ W2.T) * (h1 > 0)
    grads[0] += x.T @ g
    grads[1] += g.sum(axis=0)
    return loss


def main(batch: int = 32, repeats: int = 2000) -> None:
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Linear(64, 64, rng=rng),
        nn.ReLU(),
        nn.Linear(64, 64, rng=rng),
        nn.ReLU(),
        nn.Linear(64, 10, rng=rng),
    )
    loss = nn.CrossEntropyLoss()
    x = rng.normal(size=(batch, 64)).astype(np.float32)
    y = rng.integers(0, 10, size=batch)
    params = [p.data.copy() for p in model.parameters()]
    grads = [np.zeros_like(p) for p in params]

    def nablab_step():
        loss(model(x), y)
        model.backward_params(loss.backward())

    def numpy_step():
        plain_step(x, y, *params, grads)

    best = {"nablab": np.inf, "numpy": np.inf}
    for _ in range(5):
        for name, step in (("nablab", nablab_step), ("numpy", numpy_step)):
            start = time.perf_counter()
            for _ in range(repeats):
                step()
            best[name] = min(best[name], (time.perf_counter() - start) / repeats)
    print(f"64-64-10 MLP, batch {batch}, float32, forward + backward (best of 5 x {repeats})")
    for name, seconds in best.items():
        print(f"  {name:<7} {seconds * 1e6:8.1f} µs/step")
    print(f"  nablab / plain NumPy speed ratio: {best['numpy'] / best['nablab']:.2f}")


if __name__ == "__main__":
    main()
