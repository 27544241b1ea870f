"""Training throughput: nablab's ``fit`` against PyTorch eager and a plain NumPy loop.

    python benchmarks/train_throughput.py [--rounds R] [--quick]

The same MLP (ReLU, softmax cross-entropy, Adam lr 1e-3, float32), the same data and the same
batch order (one permutation per epoch from ``default_rng(0)``) for all three:

- nablab: ``nablab.train.fit`` (no progress bar, no diagnostics);
- torch: ``torch.nn`` modules and ``torch.optim.Adam`` with its defaults, eager, on the CPU with
  the same number of threads;
- numpy: a hand-written loop (forward, backward, Adam per tensor) in this file.

Each library times in a worker process of its own, rounds alternate, the best round counts
(see ``_workers.py``). Peak memory is what ``tracemalloc`` sees while building the model and
training one epoch, after a warm-up on a tiny network has done the imports and JIT compilation
(NumPy reports its allocations to it; PyTorch's are not visible, so torch has none).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import itertools

from _workers import compare

CONFIGS = {
    "64-64-10, batch 32 (digits)": ([64, 64, 10], 32, "digits"),
    "784-256-128-10, batch 128": ([784, 256, 128, 10], 128, 8192),
    "784-1024-1024-10, batch 256": ([784, 1024, 1024, 10], 256, 4096),
}


def _data(source, widths):
    import numpy as np

    if source == "digits":
        from nablab import data

        dataset = data.load("digits")
        x = data.Standardizer().fit_transform(dataset.x)
        return x.astype(np.float32), dataset.y
    rng = np.random.default_rng(1)
    x = rng.normal(size=(source, widths[0])).astype(np.float32)
    y = rng.integers(0, widths[-1], size=source)
    return x, y


def _orders(n: int):
    """The batch order of every epoch, as nablab's fit draws it (seed 0)."""
    import numpy as np

    rng = np.random.default_rng(0)
    while True:
        yield rng.permutation(n)


def nablab_epoch(widths, batch, source):
    import numpy as np

    from nablab import nn, optim
    from nablab.train.loop import Trainer

    x, y = _data(source, widths)
    rng = np.random.default_rng(0)
    layers = []
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b, init="he_uniform", rng=rng), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    opt = optim.Adam(model.parameters(), lr=1e-3)
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        opt,
        x,
        y,
        None,
        10**9,
        batch,
        0,
        True,
        False,
        [],
        grad_norm_every=10,
    )
    return trainer.run_epoch  # one epoch of nablab.train.fit's loop


def torch_epoch(widths, batch, source):
    import torch

    x_np, y_np = _data(source, widths)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    torch.manual_seed(0)
    layers = []
    for a, b in itertools.pairwise(widths):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    orders = _orders(len(x_np))

    def epoch():
        order = torch.from_numpy(next(orders))
        for start in range(0, len(order), batch):
            index = order[start : start + batch]
            loss = loss_fn(model(x[index]), y[index])
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch


def numpy_epoch(widths, batch, source):
    """The loop one would write by hand: explicit forward, backward and Adam per tensor."""
    import numpy as np

    x, y = _data(source, widths)
    rng = np.random.default_rng(0)
    weights, biases = [], []
    for a, b in itertools.pairwise(widths):
        bound = np.sqrt(6.0 / a)
        weights.append(rng.uniform(-bound, bound, size=(a, b)).astype(np.float32))
        biases.append(np.zeros(b, np.float32))
    params = weights + biases
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    beta1, beta2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
    state = {"t": 0}
    orders = _orders(len(x))

    def step(xb, yb):
        hs = [xb]
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            z = hs[-1] @ w
            z += b
            hs.append(np.maximum(z, 0) if i < len(weights) - 1 else z)
        logits = hs[-1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        g = e / e.sum(axis=1, keepdims=True)
        g[np.arange(len(yb)), yb] -= 1
        g /= len(yb)
        grads_w, grads_b = [None] * len(weights), [None] * len(weights)
        for i in reversed(range(len(weights))):
            grads_w[i] = hs[i].T @ g
            grads_b[i] = g.sum(axis=0)
            if i:
                g = (g @ weights[i].T) * (hs[i] > 0)
        state["t"] += 1
        t = state["t"]
        c1, c2 = 1 - beta1**t, 1 - beta2**t
        for p, grad, mi, vi in zip(params, grads_w + grads_b, m, v, strict=True):
            mi *= beta1
            mi += (1 - beta1) * grad
            vi *= beta2
            vi += (1 - beta2) * grad * grad
            p -= (lr / c1) * mi / (np.sqrt(vi / c2) + eps)

    def epoch():
        order = next(orders)
        for start in range(0, len(order), batch):
            index = order[start : start + batch]
            step(x[index], y[index])

    return epoch


def _peak_memory(factory, args, queue) -> None:
    import tracemalloc

    factory([64, 4, 10], 4, "digits")()  # imports and JIT compilation happen before tracing
    tracemalloc.start()
    epoch = factory(*args)
    epoch()
    queue.put(tracemalloc.get_traced_memory()[1])


def peak_memory(factory, args) -> int:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_peak_memory, args=(factory, args, queue))
    process.start()
    peak = queue.get()
    process.join()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="only the smallest network")
    args = parser.parse_args()
    import numpy as np
    import torch

    print(
        f"training throughput, float32 MLP + Adam; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), NumPy {np.__version__}; best of {args.rounds} "
        "alternating rounds"
    )
    header = (
        f"{'network':<30} {'nablab':>10} {'torch':>10} {'numpy':>10}  {'vs torch':>8} "
        f"{'vs numpy':>8}  {'memory vs numpy':>15}"
    )
    print(header + "\n" + " " * 30 + "   (samples per second)")
    for name, (widths, batch, source) in CONFIGS.items():
        if args.quick and widths[1] > 64:
            continue
        shape = (widths, batch, source)
        n = 1797 if source == "digits" else source
        repeats = 20 if source == "digits" else (4 if widths[1] < 512 else 2)
        best = compare(
            {
                "nablab": [("nablab", nablab_epoch, shape)],
                "torch": [("torch", torch_epoch, shape)],
                "numpy": [("numpy", numpy_epoch, shape)],
            },
            repeats,
            args.rounds,
        )
        speed = {k: n / v for k, v in best.items()}
        memory = peak_memory(nablab_epoch, shape) / peak_memory(numpy_epoch, shape)
        print(
            f"{name:<30} {speed['nablab']:>10,.0f} {speed['torch']:>10,.0f} "
            f"{speed['numpy']:>10,.0f}  {speed['nablab'] / speed['torch']:>7.2f}× "
            f"{speed['nablab'] / speed['numpy']:>7.2f}×  {memory:>14.2f}×"
        )


if __name__ == "__main__":
    main()
